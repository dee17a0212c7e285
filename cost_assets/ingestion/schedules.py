"""The daily refresh: re-materialize the last days, and every day the provider still calls estimated."""


import datetime as dt

from dagster import AssetSelection, RunRequest, ScheduleEvaluationContext, define_asset_job, schedule
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.ingestion import queries
from cost_assets.partitions import daily_partitions
from cost_assets.resources.warehouse import Warehouse, WarehouseError

REFRESH_DAYS = 3
# A month's costs are final a few days after it ends; estimated rows older than
# this are left as they are rather than re-fetched every day.
MAX_REVISION_DAYS = 45
REFRESH_CRON = "0 6 * * *"
ESTIMATED_FROM_TAG = "cost/estimated_from"

daily_refresh_job = define_asset_job(
    "daily_refresh", selection=AssetSelection.all(), partitions_def=daily_partitions,
    description="Every asset, for a range of days, in one run.",
)


def refresh_range(now: dt.datetime, days: int = REFRESH_DAYS) -> tuple[dt.date, dt.date]:
    """The last `days` complete UTC days before `now`."""
    last = now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
    return last - dt.timedelta(days=days - 1), last


@schedule(job=daily_refresh_job, cron_schedule=REFRESH_CRON, execution_timezone="UTC")
def daily_refresh_schedule(context: ScheduleEvaluationContext, warehouse: Warehouse) -> RunRequest:
    first, last = refresh_range(context.scheduled_execution_time)
    try:
        with warehouse.reader() as conn:  # a schedule reads; runs migrate the schema
            oldest = queries.oldest_estimated_day(conn, last - dt.timedelta(days=MAX_REVISION_DAYS - 1), last)
    except WarehouseError as exc:
        # The run still starts, and fails on the warehouse with the same message where it is seen.
        context.log.warning("%s; refreshing the last %d days only", exc, REFRESH_DAYS)
        oldest = None
    tags = {}
    if oldest is not None:
        first = min(first, oldest)
        tags[ESTIMATED_FROM_TAG] = oldest.isoformat()
    tags |= {ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()}
    return RunRequest(run_key=f"daily_refresh:{first}:{last}", tags=tags)
