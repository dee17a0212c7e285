"""Ingestion assets: daily_costs / hourly_costs from the billing source, and the
product database's customers and service metrics, per UTC day."""


import datetime as dt

import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, asset, multi_asset

from cost_assets.ingestion import checks, container_splits, queries, rejected
from cost_assets.ingestion.hourly import hourly_costs_rows
from cost_assets.ingestion.line_items import (
    LINE_ITEM_COLUMNS,
    prepare_line_items,
    to_daily_costs,
    totals_by_day,
)
from cost_assets.metadata import money, table
from cost_assets.partitions import (
    day_range,
    daily_partitions,
    days_before_partitions,
    describe_days_before_partitions,
    first_partition_day,
    backfill_policy,
    window_days,
)
from cost_assets.resources import schema
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse
from cost_assets.rules import load_rules

GROUP = "ingestion"


def _top_services(daily: pd.DataFrame) -> pd.DataFrame:
    return (
        daily.groupby(["service", "aws_service"], as_index=False)["effective_cost"].sum()
        .sort_values("effective_cost", ascending=False)
        .round({"effective_cost": 2})
    )


@multi_asset(
    specs=[
        AssetSpec("daily_costs", group_name=GROUP, kinds={"sql"},
                  description="Cloud cost per UTC day, account, provider service, charge category and allocation tags."),
        AssetSpec("hourly_costs", group_name=GROUP, kinds={"sql"},
                  description="Hourly cost rows, where the source has hourly data (non-production in the demo)."),
    ],
    check_specs=checks.DAILY_COSTS_CHECK_SPECS,
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
)
def billing_costs(context: AssetExecutionContext, warehouse: Warehouse, billing: BillingSourceResource):
    first, last = window_days(context.partition_time_window)
    rules = load_rules()
    source = billing.get()
    result = source.fetch(first, last, rules)
    line_items, split_metadata = _with_container_splits(context, result)
    items = prepare_line_items(line_items, rules)
    items = items[(items["date"] >= first) & (items["date"] <= last)]
    rejected_rows = rejected.in_window(result.rejected_rows, first, last)
    # Raise before anything is written when unparseable rows hide an unknown cost or carry too much.
    rejected.check_unreadable(result.rejected_rows, rejected.max_unreadable_amounts())
    rejected_share = rejected.check_share(result.rejected_rows, items, rules.rejected_cost_share_max, rules.path)
    daily = to_daily_costs(items, source.name)
    hourly, hourly_span = hourly_costs_rows(result, items, rules, first, last, source.name)
    source_totals = result.day_totals if result.day_totals is not None else totals_by_day(items)
    history_metadata = _days_before_partitions_metadata(context, result.held_days)
    empty_days = checks.days_without_rows(day_range(first, last), items["date"], rejected_rows["date"])

    with warehouse.transaction() as conn:
        warehouse.lock_window(conn, schema.daily_costs, first, last)  # what it holds cannot change under the check
        late = checks.late_days(empty_days, queries.days_with_costs(conn, first, last), result.complete_days)
        if late:  # an export not there yet must not replace good days with nothing
            raise checks.LateBillingData(checks.describe_late(late, source.name, result.metadata.get("source_uri")))
        undated = rejected_rows.loc[rejected_rows[rejected.UNDATED].astype(bool), ["file", "row_number"]]
        rejected_rows = rejected.not_stored_yet(rejected_rows, queries.rejected_rows_stored_outside(
            conn, set(zip(undated["file"], undated["row_number"].astype(int))), first, last))
        warehouse.replace_window(conn, schema.daily_costs, first, last, daily)
        if hourly_span:  # None: the source fetched no hourly day; keep what hourly_costs holds
            warehouse.replace_window(conn, schema.hourly_costs, *hourly_span, hourly)
        warehouse.replace_window(conn, schema.rejected_cost_rows, first, last, rejected_rows)
        mismatches = checks.total_mismatches(queries.day_totals(conn, first, last), source_totals)
        if not mismatches.empty:
            # Raising rolls the transaction back: the previous good data stays.
            raise checks.SourceTotalMismatch(checks.describe_mismatches(mismatches))
        duplicates = queries.duplicate_key_count(conn, first, last)
        shares = queries.untagged_shares(conn, first, last)

    estimated_days = sorted({d.isoformat() for d in daily.loc[daily["is_estimated"], "date"]})
    yield MaterializeResult(
        asset_key="daily_costs",
        metadata={
            "source": source.name,
            "days": len(day_range(first, last)),
            "row_count": len(daily),
            "line_items": len(items),
            "total_effective_cost": money(daily["effective_cost"].sum()),
            "total_billed_cost": money(daily["billed_cost"].sum()),
            "estimated_days": ", ".join(estimated_days) or "none",
            "days_without_billing_rows": ", ".join(day.isoformat() for day in empty_days) or "none",
            "top_services": table(_top_services(daily), limit=10),
            "preview": table(daily.sort_values("effective_cost", ascending=False), limit=10),
            **rejected.materialization_metadata(rejected_rows, result.rejected_rows, rejected_share),
            **result.metadata,
            **split_metadata,
            **history_metadata,
        },
        check_results=[
            checks.source_total_result(source_totals),
            checks.duplicate_keys_result(duplicates),
            checks.tag_coverage_result(shares, rules.tag_coverage_dimensions, rules.tag_coverage_warn_share),
        ],
    )
    yield MaterializeResult(
        asset_key="hourly_costs",
        metadata={"row_count": len(hourly), "total_effective_cost": money(hourly["effective_cost"].sum())},
    )


def _with_container_splits(context: AssetExecutionContext, result) -> tuple[pd.DataFrame, dict]:
    """The source's line items plus the split cost allocation items that move each instance's cost
    onto its pods (ingestion.container_splits); metadata and warnings say what moved."""
    parents, pods = result.container_parts or container_splits.parts(result.line_items)
    if pods.empty:
        return result.line_items, {}
    moved, report = container_splits.reclassification(parents, pods)
    for warning in report.warnings():
        context.log.warning(warning)
    line_items = pd.concat([result.line_items[LINE_ITEM_COLUMNS], moved], ignore_index=True)
    return line_items, report.metadata()


def _days_before_partitions_metadata(context: AssetExecutionContext, held: tuple[dt.date, dt.date] | None) -> dict:
    """Days the billing source holds before the first partition: in the metadata, and a warning in the log."""
    if held is None:  # the source cannot tell
        return {}
    start = first_partition_day()
    before = days_before_partitions(held, start)
    if before is None:
        return {"days_before_partitions_start": "none"}
    context.log.warning(describe_days_before_partitions(before, start))
    return {
        "days_before_partitions_start": f"{before[0].isoformat()}..{before[1].isoformat()}",
        "partitions_start": f"{start.isoformat()} (COST_PARTITIONS_START)",
    }


@asset(group_name=GROUP, kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
       description="The product database's customers as read for each day (MRR history).")
def customer_snapshots(context: AssetExecutionContext, warehouse: Warehouse, product_db: ProductDatabase) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    days = day_range(first, last)
    if product_db.is_demo:
        snapshots = pd.concat([product_db.customers(day).assign(date=day) for day in days], ignore_index=True)
    else:
        snapshots = _real_snapshots(warehouse, product_db, days)
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.customer_snapshots, first, last, snapshots)
    latest = snapshots[snapshots["date"] == snapshots["date"].max()]
    return MaterializeResult(
        metadata={
            "row_count": len(snapshots),
            "active_customers": int((latest["status"] == "active").sum()),
            "total_mrr": money(latest.loc[latest["status"] == "active", "mrr"].sum()),
            "preview": table(latest.drop(columns=["date"])),
        }
    )


def _real_snapshots(warehouse: Warehouse, product_db: ProductDatabase, days: list[dt.date]) -> pd.DataFrame:
    """A live database only knows today's MRR: keep the snapshots already taken
    for past days (they are the history) and use today's read for the rest."""
    current = product_db.customers(days[-1])
    kept = warehouse.read(
        "SELECT date, id, name, mrr, status FROM customer_snapshots WHERE date >= :first AND date <= :last",
        first=days[0], last=days[-1],
    )
    kept["date"] = pd.to_datetime(kept["date"]).dt.date
    today = dt.datetime.now(dt.timezone.utc).date()
    kept = kept[kept["date"] < today - dt.timedelta(days=1)]
    missing = [day for day in days if day not in set(kept["date"])]
    fresh = [current.assign(date=day) for day in missing]
    return pd.concat([frame for frame in [kept, *fresh] if not frame.empty], ignore_index=True)


@asset(group_name=GROUP, kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
       description="Per-customer request counts per service and day: the drivers of usage-proportional allocation.")
def service_metrics(context: AssetExecutionContext, warehouse: Warehouse, product_db: ProductDatabase) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    metrics = product_db.service_metrics(first, last)
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.service_metrics, first, last, metrics)
    by_service = metrics.groupby("service", as_index=False)["request_count"].sum()
    return MaterializeResult(
        metadata={"row_count": len(metrics), "requests_by_service": table(by_service)}
    )


@asset(group_name=GROUP, kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
       description="Usage per service, customer and metric (requests included; customer_id '' for a service's own "
                   "usage): the drivers of allocation rules.")
def usage_metrics(context: AssetExecutionContext, warehouse: Warehouse, product_db: ProductDatabase) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    metrics = product_db.usage_metrics(first, last)
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.usage_metrics, first, last, metrics)
    by_metric = metrics.assign(service_level=metrics["customer_id"] == "").groupby(
        ["metric", "service_level"], as_index=False).agg(services=("service", "nunique"), quantity=("quantity", "sum"))
    return MaterializeResult(metadata={"row_count": len(metrics), "by_metric": table(by_metric)})
