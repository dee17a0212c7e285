"""The daily refresh: re-materialize the last days, which the provider still revises."""


import datetime as dt

from dagster import AssetSelection, RunRequest, ScheduleEvaluationContext, define_asset_job, schedule
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.partitions import daily_partitions

REFRESH_DAYS = 3
REFRESH_CRON = "0 6 * * *"

daily_refresh_job = define_asset_job(
    "daily_refresh", selection=AssetSelection.all(), partitions_def=daily_partitions,
    description="Every asset, for a range of days, in one run.",
)


def refresh_range(now: dt.datetime, days: int = REFRESH_DAYS) -> tuple[str, str]:
    """The last `days` complete UTC days before `now`, as partition keys."""
    last = now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=days - 1)
    return first.isoformat(), last.isoformat()


@schedule(job=daily_refresh_job, cron_schedule=REFRESH_CRON, execution_timezone="UTC")
def daily_refresh_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    first, last = refresh_range(context.scheduled_execution_time)
    return RunRequest(
        run_key=f"daily_refresh:{first}:{last}",
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )
