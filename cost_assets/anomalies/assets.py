"""The cost_anomalies asset: per-service anomalies for each day of the window."""

import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, asset

from cost_assets.anomalies import queries
from cost_assets.anomalies.detection import AnomalySettings, detect_anomalies
from cost_assets.anomalies.history import service_history
from cost_assets.metadata import money, table
from cost_assets.partitions import day_range, daily_partitions, single_run, trailing_dependency, window_days
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse

# History behind each scored day: the weekday profile, the level and the drift windows.
LOOKBACK_DAYS = 120
TABLE_COLUMNS = ["date", "service", "severity", "detector", "actual_cost", "expected_cost", "impact_usd",
                 "score", "is_provisional", "incident_id"]


@asset(
    group_name="anomalies",
    kinds={"sql"},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    deps=[trailing_dependency("daily_costs", LOOKBACK_DAYS)],
    description="Per-service cost anomalies: weekday-aware robust baseline, drift and new-service rules, incidents.",
)
def cost_anomalies(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    history = service_history(queries.service_days(warehouse, first - dt.timedelta(days=LOOKBACK_DAYS), last))
    anomalies = detect_anomalies(history, day_range(first, last), AnomalySettings())
    anomalies = anomalies.rename(columns={"key": "service"})
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.cost_anomalies, first, last, anomalies)
    ranked = anomalies.sort_values(["severity", "impact_usd"], ascending=[True, False])
    return MaterializeResult(
        metadata={
            "anomalies": len(anomalies),
            "critical": int((anomalies["severity"] == "critical").sum()),
            "incidents": int(anomalies["incident_id"].nunique()),
            "total_impact_usd": money(anomalies["impact_usd"].sum()),
            "scored_services": int(history["key"].nunique()),
            "anomaly_table": table(ranked[TABLE_COLUMNS].round(2), limit=50),
        }
    )
