"""The allocation assets run through Dagster on a temporary warehouse."""

import datetime as dt

import pandas as pd
import yaml

from cost_assets.allocation import assets as allocation_assets
from cost_assets.allocation.assets import CONSERVATION_CHECK, cost_allocation
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.rules import DEFAULT_RULES_PATH
from cost_assets_tests.helpers import failure_message, materialize_days

INGESTION = [billing_costs, customer_snapshots, service_metrics]
FIRST, LAST = dt.date(2026, 11, 9), dt.date(2026, 11, 11)
TABLES = {
    "customer_cost_allocation": "date, customer_id, service, allocation_method",
    "unallocated_costs": "date, service, team, reason",
    "customer_overhead_allocation": "date, customer_id, reason",
}


def tables(warehouse) -> dict[str, pd.DataFrame]:
    return {name: warehouse.read(f"SELECT * FROM {name} ORDER BY {order}") for name, order in TABLES.items()}


def day_balance(warehouse) -> pd.DataFrame:
    return warehouse.read(
        "SELECT b.date, b.billed, a.allocated, u.unallocated FROM "
        "(SELECT date, SUM(effective_cost) AS billed FROM daily_costs GROUP BY date) b "
        "JOIN (SELECT date, SUM(allocated_cost) AS allocated FROM customer_cost_allocation GROUP BY date) a ON a.date = b.date "
        "JOIN (SELECT date, SUM(cost) AS unallocated FROM unallocated_costs GROUP BY date) u ON u.date = b.date "
        "ORDER BY b.date"
    )


def test_demo_days_are_allocated_conserved_and_rerunning_is_idempotent(warehouse):
    materialize_days(INGESTION, warehouse, FIRST, LAST)
    result = materialize_days([cost_allocation], warehouse, FIRST, LAST)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {CONSERVATION_CHECK: True}

    balance = day_balance(warehouse)
    assert len(balance) == 3
    assert ((balance["allocated"] + balance["unallocated"] - balance["billed"]).abs() <= 0.01).all()
    reasons = set(warehouse.read("SELECT DISTINCT reason FROM unallocated_costs")["reason"])
    assert reasons == {"internal", "untagged", "unknown_customer"}
    assert warehouse.read("SELECT COUNT(*) AS n FROM customer_overhead_allocation")["n"].iloc[0] > 0

    before = tables(warehouse)
    materialize_days([cost_allocation], warehouse, LAST, LAST)  # overlapping re-run
    materialize_days([cost_allocation], warehouse, FIRST, LAST)
    after = tables(warehouse)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)


def test_a_run_that_does_not_conserve_cost_fails_and_keeps_the_previous_allocation(sqlite_warehouse, monkeypatch):
    materialize_days([*INGESTION, cost_allocation], sqlite_warehouse, FIRST, LAST)
    before = tables(sqlite_warehouse)

    real_allocate = allocation_assets.allocate

    def leaky_allocate(*args, **kwargs):
        result = real_allocate(*args, **kwargs)
        return type(result)(allocated=result.allocated, unallocated=result.unallocated.iloc[1:],
                            overhead=result.overhead, unspread_overhead=result.unspread_overhead)

    monkeypatch.setattr(allocation_assets, "allocate", leaky_allocate)
    result = materialize_days([cost_allocation], sqlite_warehouse, FIRST, LAST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "allocation does not conserve cost on 1 day(s): 2026-11-09" in message
    for name, frame in tables(sqlite_warehouse).items():
        pd.testing.assert_frame_equal(frame, before[name], obj=name)


def test_a_bad_rules_file_fails_the_run_naming_the_file_and_rule(sqlite_warehouse, tmp_path, monkeypatch):
    raw = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    raw["allocation"]["rules"][1]["method"] = "proportional"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("COST_ALLOCATION_RULES", str(path))
    materialize_days(INGESTION, sqlite_warehouse, FIRST, FIRST)
    result = materialize_days([cost_allocation], sqlite_warehouse, FIRST, FIRST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert str(path) in message and "allocation.rules[1] (shared-infrastructure) has method 'proportional'" in message


def test_costs_without_a_customer_snapshot_fail_naming_the_table_and_day(sqlite_warehouse):
    materialize_days([billing_costs, service_metrics], sqlite_warehouse, FIRST, FIRST)
    result = materialize_days([cost_allocation], sqlite_warehouse, FIRST, FIRST, raise_on_error=False)
    assert not result.success
    assert "customer_snapshots has no snapshot on or before 2026-11-09" in failure_message(result)


def test_a_failure_after_some_chunks_were_written_rolls_back_the_whole_window(warehouse, monkeypatch):
    materialize_days([*INGESTION, cost_allocation], warehouse, FIRST, LAST)
    before = tables(warehouse)

    monkeypatch.setattr(allocation_assets, "CHUNK_DAYS", 1)  # one chunk per day
    real_write = allocation_assets._write_chunk

    def failing_write(warehouse_, conn, start, end, result):
        if start == LAST:
            raise RuntimeError(f"disk full while writing {start}")
        real_write(warehouse_, conn, start, end, result.__class__(
            allocated=result.allocated.iloc[:0], unallocated=result.unallocated,
            overhead=result.overhead, unspread_overhead=result.unspread_overhead))

    monkeypatch.setattr(allocation_assets, "_write_chunk", failing_write)
    result = materialize_days([cost_allocation], warehouse, FIRST, LAST, raise_on_error=False)
    assert not result.success
    assert "disk full while writing 2026-11-11" in failure_message(result)
    for name, frame in tables(warehouse).items():
        pd.testing.assert_frame_equal(frame, before[name], obj=name)
