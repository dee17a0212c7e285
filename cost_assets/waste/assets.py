"""The off_hours_waste asset: non-production spend outside working hours (trailing 30 days)."""

import datetime as dt

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset
from sqlalchemy import Connection

from cost_assets.metadata import money, table
from cost_assets.partitions import commit_in_chunks, day_range, daily_partitions, backfill_policy, trailing_dependency, window_days
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse
from cost_assets.waste import queries
from cost_assets.waste.analysis import WINDOW_DAYS, off_hours_waste_table, ranked_opportunities
from cost_assets.settings import get_settings

OPPORTUNITY_COLUMNS = ["environment", "service", "team", "monthly_saving", "off_hours_cost",
                       "schedulable_share", "total_cost", "coverage"]
ENVIRONMENT_COLUMNS = ["monthly_saving", "off_hours_cost", "total_cost"]
ROUNDING = {"monthly_saving": 2, "off_hours_cost": 2, "total_cost": 2, "schedulable_share": 4, "coverage": 4}


def _by_environment(latest: pd.DataFrame) -> pd.DataFrame:
    return (latest.groupby("environment", as_index=False)[ENVIRONMENT_COLUMNS].sum()
            .sort_values("monthly_saving", ascending=False).round(2))


def _coverage(latest: pd.DataFrame) -> str:
    per_env = latest.groupby("environment")[["hours_observed", "hours_expected"]].first()
    return ", ".join(f"{env} {int(r.hours_observed)}/{int(r.hours_expected)} h" for env, r in per_env.iterrows())


@asset(
    group_name="waste",
    kinds={"sql"},
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
    deps=[trailing_dependency("hourly_costs", WINDOW_DAYS - 1)],
    description="Non-production spend outside working hours per environment, service and team over the "
                "trailing 30 days, the part a schedule could stop and its monthly saving.",
)
def off_hours_waste(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    schedule = get_settings().work_schedule  # a bad setting fails here, by name, before anything is written
    written = {"rows": 0, "latest": None}

    def write_chunk(conn: Connection, start: dt.date, end: dt.date) -> None:
        hourly = queries.hourly_spend(warehouse, start - dt.timedelta(days=WINDOW_DAYS - 1), end, schedule.environments)
        rows = off_hours_waste_table(hourly, day_range(start, end), schedule)
        warehouse.replace_window(conn, schema.off_hours_waste, start, end, rows, date_column="as_of_date")
        written["rows"] += len(rows)
        written["latest"] = rows

    commit_in_chunks(warehouse, first, last, write_chunk, context.log, "off_hours_waste")
    # Metadata describes the window's last as-of day: the current picture.
    latest = ranked_opportunities(written["latest"], last)
    missing = [env for env in schedule.environments if env not in set(latest["environment"])]
    if missing:
        context.log.warning(f"no hourly_costs rows for environment(s) {', '.join(missing)} in the 30 days to "
                            f"{last}: nothing to report for them (does the billing source have hourly data?)")
    partial = latest[latest["hours_observed"] < latest["hours_expected"]]
    if not partial.empty:
        context.log.warning(f"hourly coverage to {last} is incomplete ({_coverage(partial)}): missing hours are "
                            "not counted as $0; the saving extrapolates the observed off-hours")
    return MaterializeResult(
        metadata={
            "as_of": last.isoformat(),
            "working_hours": schedule.describe(),
            "environments": ", ".join(schedule.environments),
            "environments_without_hourly_data": ", ".join(missing) or "none",
            "row_count": written["rows"],
            "monthly_saving": money(latest["monthly_saving"].sum()),
            "off_hours_cost_30d": money(latest["off_hours_cost"].sum()),
            "total_cost_30d": money(latest["total_cost"].sum()),
            "coverage": _coverage(latest) or "no data",
            "by_environment": table(_by_environment(latest)),
            "top_opportunities": table(latest[OPPORTUNITY_COLUMNS].round(ROUNDING), limit=20),
        }
    )
