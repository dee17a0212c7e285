"""Long runs work in chunks of COST_RUN_CHUNK_DAYS days, each committed on its own."""

from __future__ import annotations

import datetime as dt

import pytest

from cost_assets.analytics import assets as analytics_assets
from cost_assets.analytics.assets import as_of_reports
from cost_assets.definitions import defs
from cost_assets.partitions import day_range
from cost_assets_tests.helpers import empty_tables, failure_message, materialize_days, table_contents

FIRST, LAST = dt.date(2026, 10, 23), dt.date(2026, 10, 29)


def test_a_range_run_equals_day_by_day_runs(warehouse, monkeypatch):
    monkeypatch.setenv("COST_RUN_CHUNK_DAYS", "3")  # 7 days: chunks of 3, 3 and 1
    assets = list(defs.assets)
    for day in day_range(FIRST, LAST):
        assert materialize_days(assets, warehouse, day, day).success
    day_by_day = table_contents(warehouse)
    empty_tables(warehouse)
    assert materialize_days(assets, warehouse, FIRST, LAST).success
    assert day_by_day["customer_unit_economics"] and day_by_day["off_hours_waste"]
    assert table_contents(warehouse) == day_by_day


def test_a_failure_in_a_later_chunk_keeps_the_committed_days_and_leaves_the_rest(warehouse, monkeypatch):
    upstream = [asset for asset in defs.assets if asset is not as_of_reports]
    assert materialize_days(upstream, warehouse, FIRST, LAST).success
    assert materialize_days([as_of_reports], warehouse, FIRST, LAST).success
    before = warehouse.read("SELECT as_of_date, customer_id, mrr FROM customer_unit_economics")

    # The product database now says every MRR doubled; the re-run fails on its third chunk.
    with warehouse.transaction() as conn:
        conn.exec_driver_sql("UPDATE customer_snapshots SET mrr = mrr * 2")
    monkeypatch.setenv("COST_RUN_CHUNK_DAYS", "3")
    failing_day = FIRST + dt.timedelta(days=6)  # the third chunk: days 7..7
    computed = analytics_assets.unit_economics

    def fails_on_the_third_chunk(windows, *args):
        if windows.first == failing_day:
            raise RuntimeError("injected failure")
        return computed(windows, *args)

    monkeypatch.setattr(analytics_assets, "unit_economics", fails_on_the_third_chunk)
    result = materialize_days([as_of_reports], warehouse, FIRST, LAST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "injected failure" in message
    assert f"committed before the failure: days {FIRST}..{FIRST + dt.timedelta(days=5)}" in message
    assert f"days {failing_day}..{LAST} were left as they were" in message

    after = warehouse.read("SELECT as_of_date, customer_id, mrr FROM customer_unit_economics")
    merged = before.merge(after, on=["as_of_date", "customer_id"], suffixes=("_before", "_after"), validate="1:1")
    assert len(merged) == len(before) == len(after)
    committed = merged["as_of_date"].map(lambda d: dt.date.fromisoformat(str(d)[:10]) < failing_day)
    assert committed.sum() > 0 and (~committed).sum() > 0
    with_mrr = merged["mrr_before"].notna()
    rewritten, kept = merged[committed & with_mrr], merged[~committed & with_mrr]
    assert list(rewritten["mrr_after"]) == pytest.approx(list(2 * rewritten["mrr_before"]))
    assert list(kept["mrr_after"]) == pytest.approx(list(kept["mrr_before"]))
