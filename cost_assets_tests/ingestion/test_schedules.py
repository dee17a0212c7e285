import datetime as dt

from dagster import build_schedule_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.ingestion.schedules import daily_refresh_schedule


def test_daily_refresh_reruns_the_last_three_complete_days_in_one_run():
    context = build_schedule_context(scheduled_execution_time=dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.timezone.utc))
    request = daily_refresh_schedule.evaluate_tick(context).run_requests[0]
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-03-07"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-03-09"
    assert daily_refresh_schedule.cron_schedule == "0 6 * * *"
    assert daily_refresh_schedule.execution_timezone == "UTC"
