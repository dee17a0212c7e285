"""The allocation assets run through Dagster on a temporary warehouse."""

import datetime as dt
import logging

import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance
from sqlalchemy import create_engine, text

from cost_assets.allocation import assets as allocation_assets
from cost_assets.allocation.assets import CONSERVATION_CHECK, cost_allocation
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.rules import DEFAULT_RULES_PATH, DEMO_RULES_PATH
from cost_assets_tests.helpers import failure_message, materialize_days
from cost_assets_tests.ingestion.billing_files import focus_row, write_focus

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
        "SELECT b.date, b.effective, a.allocated, u.unallocated FROM "
        "(SELECT date, SUM(effective_cost) AS effective FROM daily_costs GROUP BY date) b "
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
    assert ((balance["allocated"] + balance["unallocated"] - balance["effective"]).abs() <= 0.01).all()
    reasons = set(warehouse.read("SELECT DISTINCT reason FROM unallocated_costs")["reason"])
    assert reasons == {"internal", "untagged", "unknown_customer", "idle"}  # idle: the EKS cluster's unused capacity
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
    raw = yaml.safe_load(DEMO_RULES_PATH.read_text())
    raw["allocation"]["rules"][1]["method"] = "proportional"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("COST_ALLOCATION_RULES", str(path))
    materialize_days(INGESTION, sqlite_warehouse, FIRST, FIRST)
    result = materialize_days([cost_allocation], sqlite_warehouse, FIRST, FIRST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert str(path) in message and "allocation.rules[1].method (rule 'shared-infrastructure') is 'proportional'" in message


def test_costs_without_a_customer_snapshot_fail_naming_the_table_and_day(sqlite_warehouse):
    materialize_days([billing_costs, service_metrics], sqlite_warehouse, FIRST, FIRST)
    result = materialize_days([cost_allocation], sqlite_warehouse, FIRST, FIRST, raise_on_error=False)
    assert not result.success
    assert "customer_snapshots has no snapshot on or before 2026-11-09" in failure_message(result)


@pytest.mark.parametrize("failing_step", ["write", "read"])
def test_a_failure_in_a_later_chunk_keeps_the_committed_days_and_leaves_the_rest(warehouse, monkeypatch, failing_step):
    materialize_days([*INGESTION, cost_allocation], warehouse, FIRST, LAST)
    before = tables(warehouse)["customer_cost_allocation"]
    # New usage for every day: cust-001 now makes ten times its requests.
    with warehouse.transaction() as conn:
        conn.exec_driver_sql("UPDATE service_metrics SET request_count = request_count * 10 WHERE customer_id = 'cust-001'")

    monkeypatch.setenv("COST_RUN_CHUNK_DAYS", "1")  # one chunk per day
    if failing_step == "write":
        real_commit = allocation_assets._commit_chunk

        def failing_commit(warehouse_, start, end, result):
            if start == LAST:
                raise RuntimeError(f"disk full while writing {start}")
            return real_commit(warehouse_, start, end, result)

        monkeypatch.setattr(allocation_assets, "_commit_chunk", failing_commit)
    else:  # the last chunk's read fails while the previous chunk's write is in flight
        real_cost_rows = allocation_assets.queries.cost_rows

        def failing_cost_rows(conn, start, end):
            if start == LAST:
                raise RuntimeError(f"connection lost while reading {start}")
            return real_cost_rows(conn, start, end)

        monkeypatch.setattr(allocation_assets.queries, "cost_rows", failing_cost_rows)
    result = materialize_days([cost_allocation], warehouse, FIRST, LAST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert f"failed on days {LAST}..{LAST}" in message
    assert f"{'disk full while writing' if failing_step == 'write' else 'connection lost while reading'} {LAST}" in message
    assert f"committed before the failure: days {FIRST}..{LAST - dt.timedelta(days=1)}" in message
    assert f"days {LAST}..{LAST} were left as they were" in message

    after = tables(warehouse)["customer_cost_allocation"]
    balance = day_balance(warehouse)  # every day still balances, old or new
    assert (balance["allocated"] + balance["unallocated"] - balance["effective"]).abs().max() < 0.01

    def cust_001_usage_share(frame, day):
        rows = frame[(frame["customer_id"] == "cust-001") & (frame["allocation_method"] == "usage_proportional")
                     & (frame["date"].astype(str).str[:10] == day.isoformat())]
        return rows["allocated_cost"].sum()

    for day in (FIRST, LAST - dt.timedelta(days=1)):  # committed: the new usage
        assert cust_001_usage_share(after, day) > 2 * cust_001_usage_share(before, day) > 0
    last_before = before[before["date"].astype(str).str[:10] == LAST.isoformat()].reset_index(drop=True)
    last_after = after[after["date"].astype(str).str[:10] == LAST.isoformat()].reset_index(drop=True)
    pd.testing.assert_frame_equal(last_after, last_before)  # left as it was


# --- a company that is not the demo: its own FOCUS file and product database ---------------

DAY1, DAY2 = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
# Per day: (service, customer tag, environment tag, cost). The demo's rules would split
# api and worker by the api's requests and search and auth evenly; a stranger's must not.
COMPANY_COSTS = [
    ("api", "c1", "prod", 10.0),
    ("api", None, "prod", 20.0),
    ("worker", None, "prod", 5.0),
    ("search", None, "prod", 7.0),
    ("auth", None, "prod", 3.0),
    ("shared-db", None, "prod", 40.0),
    ("shared-cache", None, "prod", 6.0),  # no service_metrics: its driver (itself) never has requests
    ("api", None, "stage", 4.0),
]
SHARED_DB_REQUESTS = {"c1": 30, "c2": 10}


def stranger_company(tmp_path, monkeypatch, api_requests: bool = True) -> dict:
    """COST_SOURCE=focus with a FOCUS file and a product database the test writes; resources to run it."""
    rows = []
    for day in (DAY1, DAY2):
        for n, (service, customer, environment, cost) in enumerate(COMPANY_COSTS):
            tags = {"service": service, "team": "core", "env": environment, **({"customer": customer} if customer else {})}
            rows.append(focus_row(day, cost, cost, tags=tags, resource=f"{service}-{n}"))
    app_db = f"sqlite:///{tmp_path / 'app.db'}"
    with create_engine(app_db).begin() as conn:
        conn.execute(text("CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, mrr NUMERIC, status TEXT)"))
        conn.execute(text("CREATE TABLE service_metrics (date DATE, service TEXT, customer_id TEXT, request_count BIGINT)"))
        conn.execute(text("INSERT INTO customers VALUES ('c1', 'One', 500, 'active'), ('c2', 'Two', 300, 'active')"))
        for day in (DAY1, DAY2):
            for customer, requests in SHARED_DB_REQUESTS.items():
                conn.execute(text("INSERT INTO service_metrics VALUES (:d, 'shared-db', :c, :n)"),
                             {"d": day.isoformat(), "c": customer, "n": requests})
                if api_requests:
                    conn.execute(text("INSERT INTO service_metrics VALUES (:d, 'api', :c, 100)"),
                                 {"d": day.isoformat(), "c": customer})
    monkeypatch.setenv("COST_SOURCE", "focus")
    monkeypatch.setenv("COST_SOURCE_URI", str(write_focus(tmp_path / "focus.csv", rows)))
    monkeypatch.delenv("COST_ALLOCATION_RULES", raising=False)
    return {"billing": BillingSourceResource(), "product_db": ProductDatabase(url=app_db)}


def allocation_metadata(result) -> dict:
    return result.asset_materializations_for_node("cost_allocation")[0].metadata


def warnings_logged(instance: DagsterInstance, result) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(result.run_id)
            if entry.level == logging.WARNING and entry.dagster_event is None]


def test_a_company_that_is_not_the_demo_gets_the_generic_rules_and_its_own_services_stay_untagged(
        warehouse, tmp_path, monkeypatch):
    resources = stranger_company(tmp_path, monkeypatch)
    instance = DagsterInstance.ephemeral()
    result = materialize_days([*INGESTION, cost_allocation], warehouse, DAY1, DAY2, instance=instance, **resources)

    metadata = allocation_metadata(result)
    assert metadata["rules_file"].value == str(DEFAULT_RULES_PATH)
    unallocated = warehouse.read("SELECT service, reason, SUM(cost) AS cost FROM unallocated_costs "
                                 "GROUP BY service, reason ORDER BY service, reason")
    assert {(r.service, r.reason): round(r.cost, 2) for r in unallocated.itertuples()} == {
        ("api", "untagged"): 40.0, ("worker", "untagged"): 10.0, ("search", "untagged"): 14.0,
        ("auth", "untagged"): 6.0, ("shared-cache", "no_usage"): 12.0, ("api", "internal"): 8.0,
    }
    allocated = warehouse.read("SELECT customer_id, service, rule, SUM(allocated_cost) AS cost FROM customer_cost_allocation "
                               "GROUP BY customer_id, service, rule ORDER BY customer_id, service")
    assert [(r.customer_id, r.service, r.rule, round(r.cost, 2)) for r in allocated.itertuples()] == [
        ("c1", "api", "dedicated-resources", 20.0),
        ("c1", "shared-db", "shared-infrastructure", 60.0),
        ("c2", "shared-db", "shared-infrastructure", 20.0),
    ]
    # shared-cache is split by its own requests, and the product database has none on any day.
    gaps = metadata["drivers_without_metrics"].value.records
    assert [gap.data for gap in gaps] == [{"rule": "shared-infrastructure", "driver": "shared-cache", "services": "shared-cache",
                                           "days": "2026-03-30, 2026-03-31", "day_count": 2, "cost": 12.0}]
    assert any("allocation rule 'shared-infrastructure': driver service 'shared-cache' has no service_metrics requests"
               in message and "$12.00 on 2026-03-30, 2026-03-31" in message for message in warnings_logged(instance, result))


def test_a_driver_service_that_never_has_metrics_is_a_warning_naming_the_rule_the_driver_and_the_days(
        sqlite_warehouse, tmp_path, monkeypatch):
    resources = stranger_company(tmp_path, monkeypatch, api_requests=False)
    rules = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    rules["allocation"]["rules"].append({"name": "application-compute", "method": "usage_proportional", "priority": 30,
                                         "services": ["api", "worker"], "driver": "api"})
    path = tmp_path / "company-rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    monkeypatch.setenv("COST_ALLOCATION_RULES", str(path))  # an explicit file wins over the source's default
    instance = DagsterInstance.ephemeral()
    result = materialize_days([*INGESTION, cost_allocation], sqlite_warehouse, DAY1, DAY2, instance=instance, **resources)

    metadata = allocation_metadata(result)
    assert metadata["rules_file"].value == str(path)
    gaps = {gap.data["driver"]: gap.data for gap in metadata["drivers_without_metrics"].value.records}
    assert gaps["api"] == {"rule": "application-compute", "driver": "api", "services": "api, worker",
                           "days": "2026-03-30, 2026-03-31", "day_count": 2, "cost": 50.0}
    assert set(gaps) == {"api", "shared-cache"}
    warnings = warnings_logged(instance, result)
    assert any(message.startswith("allocation rule 'application-compute': driver service 'api' has no service_metrics")
               and "the cost of api, worker ($50.00 on 2026-03-30, 2026-03-31)" in message for message in warnings)
    no_usage = sqlite_warehouse.read("SELECT SUM(cost) AS cost FROM unallocated_costs WHERE reason = 'no_usage'")
    assert round(no_usage["cost"].iloc[0], 2) == 50.0 + 12.0


def test_the_demo_reports_no_driver_without_metrics(sqlite_warehouse, monkeypatch):
    monkeypatch.delenv("COST_SOURCE", raising=False)
    monkeypatch.delenv("COST_ALLOCATION_RULES", raising=False)
    result = materialize_days([*INGESTION, cost_allocation], sqlite_warehouse, FIRST, FIRST)
    metadata = allocation_metadata(result)
    assert metadata["rules_file"].value == str(DEMO_RULES_PATH)
    assert metadata["drivers_without_metrics"].value.records == []
