"""cost_forecasts: month-end cost forecasts of the company, each service and each customer,
per as-of day (docs/reference.md#cost_forecasts)."""

import datetime as dt

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset

from cost_assets.allocation.allocation import customers_by_day
from cost_assets.forecasts import queries
from cost_assets.forecasts.forecast import HISTORY_DAYS, forecast_days, series_matrix, with_margins
from cost_assets.metadata import money, table
from cost_assets.partitions import (commit_in_chunks, day_range, daily_partitions, backfill_policy, trailing_dependency,
                                    window_days)
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse

GROUP = "forecasts"


def month_end_forecasts(costs: pd.DataFrame, observed: dict[str, set[dt.date]], snapshots: pd.DataFrame,
                        first: dt.date, last: dt.date) -> pd.DataFrame:
    """The cost_forecasts rows of as-of days first..last from daily costs (see forecast.py) and
    customer snapshots (MRR as of each day)."""
    as_of_days = day_range(first, last)
    series = series_matrix(costs, observed, first - dt.timedelta(days=HISTORY_DAYS), last)
    forecasts = forecast_days(series, as_of_days)
    if snapshots.empty:
        mrr = pd.DataFrame(columns=["as_of_date", "customer_id", "mrr"])
    else:
        mrr = (customers_by_day(snapshots, as_of_days)
               .rename(columns={"date": "as_of_date", "id": "customer_id"})[["as_of_date", "customer_id", "mrr"]])
    return with_margins(forecasts, mrr)


@asset(
    group_name=GROUP, kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
    deps=[trailing_dependency("daily_costs", HISTORY_DAYS), trailing_dependency("customer_cost_allocation", HISTORY_DAYS),
          "customer_snapshots"],
    description="Month-end cost forecast of the company, each service (effective cost) and each customer (allocated "
                "cost) as of each day, weekday-aware, with an 80% interval; customers' forecast margin against MRR.",
)
def cost_forecasts(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)

    def write_chunk(conn, start: dt.date, end: dt.date) -> pd.DataFrame:
        costs, observed = queries.daily_series(conn, start - dt.timedelta(days=HISTORY_DAYS), end)
        forecasts = month_end_forecasts(costs, observed, queries.customer_snapshots(conn, start, end), start, end)
        warehouse.replace_window(conn, schema.cost_forecasts, start, end, forecasts, date_column="as_of_date")
        return forecasts[forecasts["as_of_date"] == end]

    # Only each chunk's last day is kept: the metadata shows the latest.
    latest = commit_in_chunks(warehouse, first, last, write_chunk, context.log, "cost_forecasts")[-1]
    company = latest[latest["scope"] == "company"]
    customers = latest[latest["scope"] == "customer"].sort_values("forecast_margin_pct")
    return MaterializeResult(metadata={
        "series_forecast": len(latest),
        "company_forecast": money(company["forecast"].sum()),
        "company_interval": f"{company['low'].sum():,.2f} .. {company['high'].sum():,.2f}",
        "customers_below_zero_margin": int((customers["forecast_margin_pct"] < 0).sum()),
        "lowest_forecast_margins": table(customers[["scope_value", "actual_to_date", "forecast", "low", "high", "mrr",
                                                    "forecast_margin_pct"]].round(2), limit=15),
    })
