import datetime as dt

import pandas as pd
from dagster import build_schedule_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.ingestion.schedules import ESTIMATED_FROM_TAG, daily_refresh_schedule
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse

TICK = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.timezone.utc)


def refresh_request(warehouse):
    context = build_schedule_context(scheduled_execution_time=TICK, resources={"warehouse": warehouse})
    return daily_refresh_schedule.evaluate_tick(context).run_requests[0]


def store_days(warehouse, estimated: dict[dt.date, bool]):
    rows = pd.DataFrame([
        {"date": day, "provider": "AWS", "account_id": "111111111111", "aws_service": "Amazon EC2",
         "charge_category": "Usage", "team": "core", "service": "api", "customer_id": "untagged",
         "environment": "production", "usage_unit": "Hrs", "billed_cost": 10.0, "effective_cost": 10.0,
         "usage_quantity": 1.0, "is_estimated": is_estimated, "source": "cost_explorer"}
        for day, is_estimated in estimated.items()
    ])
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.daily_costs, min(estimated), max(estimated), rows)


def test_daily_refresh_reruns_the_last_three_complete_days_in_one_run(warehouse):
    request = refresh_request(warehouse)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-03-07"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-03-09"
    assert ESTIMATED_FROM_TAG not in request.tags
    assert daily_refresh_schedule.cron_schedule == "0 6 * * *"
    assert daily_refresh_schedule.execution_timezone == "UTC"


def test_days_still_estimated_are_refreshed_until_final(warehouse):
    # Cost Explorer calls the month to date estimated; final days before it are left alone.
    days = [dt.date(2026, 2, 20) + dt.timedelta(days=n) for n in range(18)]
    store_days(warehouse, {day: day >= dt.date(2026, 3, 1) for day in days})
    request = refresh_request(warehouse)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-03-01"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-03-09"
    assert request.tags[ESTIMATED_FROM_TAG] == "2026-03-01"


def test_estimated_rows_older_than_the_revision_limit_are_not_chased(warehouse):
    # 45 days up to 2026-03-09 start on 2026-01-24.
    store_days(warehouse, {dt.date(2026, 1, 23): True, dt.date(2026, 2, 1): True})
    request = refresh_request(warehouse)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-02-01"
    assert request.tags[ESTIMATED_FROM_TAG] == "2026-02-01"


def test_an_unreachable_warehouse_still_requests_the_last_three_days(capfd):
    # Nothing listens on port 1: the run is still requested, and fails where the failure is seen.
    unreachable = Warehouse(url="postgresql+psycopg://costs:secret-password@127.0.0.1:1/costs")
    request = refresh_request(unreachable)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-03-07"
    assert ESTIMATED_FROM_TAG not in request.tags
    logged = capfd.readouterr().err
    assert "cannot be used" in logged and "refreshing the last 3 days only" in logged
    assert "secret-password" not in logged
