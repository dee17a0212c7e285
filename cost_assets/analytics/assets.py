"""As-of report assets: customer_unit_economics, service_cost_report and
team_costs, per UTC as-of day, each over its trailing 30 (and previous 30) days;
and daily_team_costs, the per day and team summary behind /costs/trend."""

import datetime as dt
from dataclasses import dataclass, field
from functools import partial

import pandas as pd
from dagster import AssetDep, AssetExecutionContext, AssetSpec, MaterializeResult, asset, multi_asset
from sqlalchemy import Connection

from cost_assets.allocation import queries as allocation_queries
from cost_assets.allocation.allocation import customers_by_day
from cost_assets.analytics import queries
from cost_assets.analytics.economics import lowest_margin_first, unit_economics
from cost_assets.analytics.reports import service_report, team_report
from cost_assets.analytics.windows import LOOKBACK_DAYS, AsOfWindows
from cost_assets.metadata import money, table
from cost_assets.partitions import commit_in_chunks, daily_partitions, day_range, backfill_policy, trailing_dependency, window_days
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse

GROUP = "analytics"
LOWEST_MARGIN_ROWS = 15


def _window_dep(asset: str) -> AssetDep:
    """As-of day D reads the days D-59 .. D of its inputs."""
    return trailing_dependency(asset, LOOKBACK_DAYS - 1)


def _lowest_margin_table(economics: pd.DataFrame) -> pd.DataFrame:
    latest = economics[economics["as_of_date"] == economics["as_of_date"].max()]
    columns = ["customer_id", "customer_name", "mrr", "monthly_infra_cost", "gross_margin_pct",
               "fully_loaded_cost", "fully_loaded_margin_pct", "cost_trend_pct", "missing_days"]
    return lowest_margin_first(latest)[columns].round(2)


@dataclass
class AsOfSummary:
    """What the metadata needs of the reports written so far: counts, and the latest as-of day's rows."""

    rows: dict[str, int] = field(default_factory=lambda: {"economics": 0, "services": 0, "teams": 0})
    as_of_with_data: set = field(default_factory=set)
    as_of_with_missing_days: set = field(default_factory=set)
    latest: tuple[pd.DataFrame, ...] = ()

    def add(self, economics: pd.DataFrame, services: pd.DataFrame, teams: pd.DataFrame) -> None:
        for name, frame in (("economics", economics), ("services", services), ("teams", teams)):
            self.rows[name] += len(frame)
        self.as_of_with_data.update(economics["as_of_date"])
        self.as_of_with_missing_days.update(economics.loc[economics["missing_days"] > 0, "as_of_date"])
        self.latest = tuple(frame[frame["as_of_date"] == frame["as_of_date"].max()] for frame in (economics, services, teams))


def _write_as_of_reports(warehouse: Warehouse, summary: AsOfSummary, reads: queries.TrailingReads, conn: Connection,
                         first: dt.date, last: dt.date) -> None:
    """The three as-of reports of as-of days first..last, written inside `conn`'s transaction."""
    windows = AsOfWindows(first, last)
    allocated = reads.read(conn, queries.allocated_costs, windows.start, last)
    # Days the allocation ran for: it writes allocated or unallocated rows for every day with costs.
    allocation_days = (set(pd.unique(allocated["date"]))
                       | set(reads.read(conn, queries.unallocated_days, windows.start, last)["date"]))
    snapshots = allocation_queries.snapshots_for(conn, first, last)
    customers = customers_by_day(snapshots, windows.as_of_days)
    economics = unit_economics(windows, allocated, reads.read(conn, queries.overhead_costs, windows.start, last),
                               allocation_days, customers)

    costs = reads.read(conn, queries.service_costs, windows.start, last)
    bill_days = set(costs["date"])
    served = allocated.loc[allocated["allocated_cost"] != 0, ["date", "service", "customer_id"]]
    services = service_report(windows, costs, reads.read(conn, queries.service_requests, windows.start, last),
                              served, bill_days)
    teams = team_report(windows, costs, bill_days)

    warehouse.replace_window(conn, schema.customer_unit_economics, first, last, economics, date_column="as_of_date")
    warehouse.replace_window(conn, schema.service_cost_report, first, last, services, date_column="as_of_date")
    warehouse.replace_window(conn, schema.team_costs, first, last, teams, date_column="as_of_date")
    summary.add(economics, services, teams)


@multi_asset(
    specs=[
        AssetSpec("customer_unit_economics", group_name=GROUP, kinds={"sql"},
                  deps=[_window_dep("customer_cost_allocation"), _window_dep("customer_overhead_allocation"),
                        _window_dep("unallocated_costs"), "customer_snapshots"],
                  description="Per customer as of a day: 30-day cost, MRR, direct and fully loaded margin, trend, "
                              "service breakdown."),
        AssetSpec("service_cost_report", group_name=GROUP, kinds={"sql"},
                  deps=[_window_dep("daily_costs"), _window_dep("service_metrics"),
                        _window_dep("customer_cost_allocation")],
                  description="Per service as of a day: 30-day cost, daily average, trend, top provider services, "
                              "cost per request and per customer served."),
        AssetSpec("team_costs", group_name=GROUP, kinds={"sql"}, deps=[_window_dep("daily_costs")],
                  description="Per team as of a day: 30-day cost, daily average, trend, service count."),
    ],
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
)
def as_of_reports(context: AssetExecutionContext, warehouse: Warehouse):
    first, last = window_days(context.partition_time_window)
    summary = AsOfSummary()
    write_chunk = partial(_write_as_of_reports, warehouse, summary, queries.TrailingReads())
    commit_in_chunks(warehouse, first, last, write_chunk, context.log,
                     "customer_unit_economics, service_cost_report and team_costs")
    as_of_without_data = sorted(set(day_range(first, last)) - summary.as_of_with_data)
    latest, latest_services, latest_teams = summary.latest
    yield MaterializeResult(
        asset_key="customer_unit_economics",
        metadata={
            "row_count": summary.rows["economics"],
            "as_of_days": (last - first).days + 1,
            "latest_as_of": str(latest["as_of_date"].max()) if len(latest) else "none",
            "negative_margin_customers": ", ".join(
                lowest_margin_first(latest[latest["is_negative_margin"]])["customer_id"]) or "none",
            "lowest_margin_customers": table(_lowest_margin_table(latest), limit=LOWEST_MARGIN_ROWS),
            "as_of_days_without_data": ", ".join(str(d) for d in as_of_without_data[:31]) or "none",
            "as_of_days_with_missing_days": len(summary.as_of_with_missing_days),
        },
    )
    yield MaterializeResult(
        asset_key="service_cost_report",
        metadata={
            "row_count": summary.rows["services"],
            "latest": table(latest_services.sort_values("last_30_days_cost", ascending=False)
                            .drop(columns=["as_of_date", "top_cost_drivers"]).round(4), limit=30),
        },
    )
    yield MaterializeResult(
        asset_key="team_costs",
        metadata={
            "row_count": summary.rows["teams"],
            "total_last_30_days_cost": money(latest_teams["last_30_days_cost"].sum()),
            "latest": table(latest_teams.sort_values("last_30_days_cost", ascending=False)
                            .drop(columns=["as_of_date"]).round(2)),
        },
    )


@asset(group_name="reports", kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
       deps=["daily_costs"], description="Cost per day and team: the summary behind /costs/trend.")
def team_daily_costs(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    commit_in_chunks(warehouse, first, last, queries.rebuild_daily_team_costs, context.log, "daily_team_costs")
    summary = warehouse.read(queries.daily_team_costs_totals(first, last))
    return MaterializeResult(metadata={"row_count": int(summary["rows"].iloc[0]),
                                       "total_effective_cost": money(summary["cost"].iloc[0] or 0.0)})
