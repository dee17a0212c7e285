"""Runs the run queue executes side by side (README "Parallel backfills").

Each run is a real worker process, as the queued run coordinator starts them;
a barrier makes them begin their materialization at the same moment.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import team_daily_costs
from cost_assets.definitions import defs
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.helpers import empty_tables, failure_message, fresh_processes, materialize_days, table_contents

# Assets whose days depend only on the same day's inputs: a month's run of them
# never reads another month's output.
DAY_LOCAL = [billing_costs, customer_snapshots, service_metrics, cost_allocation, team_daily_costs]
FIRST, LAST = dt.date(2026, 10, 30), dt.date(2026, 11, 2)
OCTOBER, NOVEMBER = (FIRST, dt.date(2026, 10, 31)), (dt.date(2026, 11, 1), LAST)


def _trailing_assets():
    day_local = {key for asset in DAY_LOCAL for key in asset.keys}
    return [asset for asset in defs.assets if not set(asset.keys) <= day_local]


def _run(url: str, first: dt.date, last: dt.date, barrier, outcomes) -> None:
    barrier.wait(120)  # both runs start materializing at once
    result = materialize_days(DAY_LOCAL, Warehouse(url=url), first, last, raise_on_error=False)
    outcomes.put((first.isoformat(), result.success, "" if result.success else failure_message(result)))


def _run_at_once(url: str, ranges: list[tuple[dt.date, dt.date]]) -> list[tuple[str, bool, str]]:
    context = fresh_processes(__name__)
    barrier, outcomes = context.Barrier(len(ranges)), context.Queue()
    workers = [context.Process(target=_run, args=(url, first, last, barrier, outcomes)) for first, last in ranges]
    try:
        for worker in workers:
            worker.start()
        results = [outcomes.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join(60)  # each ends on its own once its run is done (no terminate: Dagster handles SIGTERM)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    return results


@pytest.fixture
def sequential(warehouse) -> dict[str, list[tuple]]:
    """One sequential run over the whole range, every asset; then the warehouse is emptied
    (same database engine, so even the engine's rounding is the same)."""
    assert materialize_days(list(defs.assets), warehouse, FIRST, LAST).success
    contents = table_contents(warehouse)
    empty_tables(warehouse)
    return contents


def test_two_runs_over_disjoint_months_at_once_equal_one_sequential_run(warehouse, sequential):
    results = _run_at_once(warehouse.resolved_url, [OCTOBER, NOVEMBER])
    assert all(success for _, success, _ in results), results
    # The trailing-window assets follow in their own run, as Dagster's backfill orders them
    # after the upstream days they read (their partition mappings).
    assert materialize_days(_trailing_assets(), warehouse, FIRST, LAST).success
    actual = table_contents(warehouse)
    assert actual["daily_costs"] and actual["customer_cost_allocation"] and actual["customer_unit_economics"]
    assert actual == sequential


def test_two_runs_over_the_same_days_at_once_never_duplicate_or_lose_a_row(warehouse, sequential):
    results = _run_at_once(warehouse.resolved_url, [(FIRST, LAST), (FIRST, LAST)])
    for _, success, message in results:  # a loser, if any, says what happened; never a raw driver error
        assert success or "another run is writing" in message, message
    assert any(success for _, success, _ in results), results
    assert materialize_days(_trailing_assets(), warehouse, FIRST, LAST).success
    assert table_contents(warehouse) == sequential


def test_backfills_can_be_cut_into_runs_the_queue_executes_side_by_side(tmp_path):
    """COST_BACKFILL_RUN_DAYS=31: every asset's backfill policy is runs of at most 31 days."""
    probe = (
        "from cost_assets.definitions import defs\n"
        "graph = defs.resolve_asset_graph()\n"
        "print(sorted({repr(graph.get(k).backfill_policy) for k in graph.get_all_asset_keys()}))\n"
    )
    environment = {**os.environ, "COST_BACKFILL_RUN_DAYS": "31", "DAGSTER_HOME": str(tmp_path)}
    printed = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == "['BackfillPolicy(max_partitions_per_run=31)']", printed
