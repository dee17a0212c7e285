"""Summary tables the API reads, so its answers stay fast as history grows."""

import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, asset
from sqlalchemy import Connection, delete, func, insert, select

from cost_assets.metadata import money
from cost_assets.partitions import daily_partitions, single_run, window_days
from cost_assets.resources.schema import daily_costs, daily_team_costs
from cost_assets.resources.sql import any_true
from cost_assets.resources.warehouse import Warehouse


def rebuild_daily_team_costs(conn: Connection, first: dt.date, last: dt.date) -> None:
    """Replace first..last of daily_team_costs from daily_costs, in SQL."""
    conn.execute(delete(daily_team_costs).where(daily_team_costs.c.date.between(first, last)))
    totals = (
        select(daily_costs.c.date, daily_costs.c.team,
               func.sum(daily_costs.c.billed_cost), func.sum(daily_costs.c.effective_cost),
               any_true(daily_costs.c.is_estimated))
        .where(daily_costs.c.date.between(first, last))
        .group_by(daily_costs.c.date, daily_costs.c.team)
    )
    columns = ["date", "team", "billed_cost", "effective_cost", "is_estimated"]
    conn.execute(insert(daily_team_costs).from_select(columns, totals))


@asset(group_name="reports", kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=single_run,
       deps=["daily_costs"], description="Cost per day and team: the summary behind /costs/trend.")
def team_daily_costs(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    with warehouse.transaction() as conn:
        rebuild_daily_team_costs(conn, first, last)
    summary = warehouse.read(
        select(func.count().label("rows"), func.sum(daily_team_costs.c.effective_cost).label("cost"))
        .where(daily_team_costs.c.date.between(first, last))
    )
    return MaterializeResult(metadata={"row_count": int(summary["rows"].iloc[0]),
                                       "total_effective_cost": money(summary["cost"].iloc[0] or 0.0)})
