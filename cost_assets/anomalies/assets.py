"""Anomaly assets: cost_anomalies per service (alerted) with their root causes, and
cost_anomalies_by_dimension per team and per account (shown, not alerted)."""

import datetime as dt

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset
from sqlalchemy import Connection

from cost_assets.anomalies import queries
from cost_assets.anomalies.detection import AnomalySettings, detect_anomalies
from cost_assets.anomalies.history import cost_history
from cost_assets.anomalies.root_causes import DIMENSIONS as ROOT_CAUSE_DIMENSIONS, SLICE_COLUMNS, root_causes
from cost_assets.anomalies.settings import describe
from cost_assets.settings import get_settings
from cost_assets.metadata import money, table
from cost_assets.partitions import commit_in_chunks, day_range, daily_partitions, backfill_policy, trailing_dependency, window_days
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse

GROUP = "anomalies"
# History behind each scored day: the weekday profile, the level and the drift windows.
HISTORY_DAYS = 120
DETECTION_COLUMNS = ["severity", "detector", "actual_cost", "expected_cost", "impact_usd", "score",
                     "is_provisional", "incident_id"]
# dimension value in cost_anomalies_by_dimension -> daily_costs column
DIMENSIONS = {"team": "team", "account": "account_id"}
# Both anomaly assets score each day of their window against the same trailing daily_costs.
DAILY_ANOMALY_ASSET = dict(group_name=GROUP, kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
                           deps=[trailing_dependency("daily_costs", HISTORY_DAYS)])


def _detect(
    warehouse: Warehouse, first: dt.date, last: dt.date, key: str, settings: AnomalySettings
) -> tuple[pd.DataFrame, int]:
    """Anomalies of first..last per value of daily_costs' `key` column, and how many values were scored."""
    history = cost_history(queries.cost_days(warehouse, first - dt.timedelta(days=HISTORY_DAYS), last, key), key)
    return detect_anomalies(history, day_range(first, last), settings), int(history["key"].nunique())


def _rows_of_chunks(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks' rows in one frame (empty chunks left out: they carry no column types)."""
    found = [frame for frame in frames if not frame.empty]
    return pd.concat(found, ignore_index=True) if found else frames[0]


def _metadata(anomalies: pd.DataFrame, keys: list[str], settings: AnomalySettings) -> dict:
    ranked = anomalies.sort_values(["severity", "impact_usd"], ascending=[True, False])
    return {
        "thresholds": describe(settings),
        "anomalies": len(anomalies),
        "critical": int((anomalies["severity"] == "critical").sum()),
        "incidents": int(anomalies["incident_id"].nunique()),
        "total_impact_usd": money(anomalies["impact_usd"].sum()),
        "anomaly_table": table(ranked[["date", *keys, *DETECTION_COLUMNS]].round(2), limit=50),
    }


@asset(
    **DAILY_ANOMALY_ASSET,
    description="Per-service cost anomalies: weekday-aware robust baseline, drift and new-service rules, incidents; "
                "and their root causes by account, provider service, charge category, environment and customer "
                "(cost_anomaly_root_causes, written in the same transaction).",
)
def cost_anomalies(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    settings = get_settings().anomaly

    def write_chunk(conn: Connection, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame, int]:
        found, scored = _detect(warehouse, start, end, "service", settings)
        found = found.rename(columns={"key": "service"})
        causes = _root_causes(warehouse, found, end, settings)
        warehouse.replace_window(conn, schema.cost_anomalies, start, end, found)
        warehouse.replace_window(conn, schema.cost_anomaly_root_causes, start, end, causes)
        return found, causes, scored

    # Anomalies are few: the chunks' rows are kept for the metadata.
    chunks = commit_in_chunks(warehouse, first, last, write_chunk, context.log, "cost_anomalies")
    anomalies = _rows_of_chunks([chunk[0] for chunk in chunks])
    causes = _rows_of_chunks([chunk[1] for chunk in chunks])
    scored = max(chunk[2] for chunk in chunks)
    return MaterializeResult(metadata={
        **_metadata(anomalies, ["service"], settings),
        "scored_services": scored,
        "root_causes": table(causes[causes["rank"] <= 3].sort_values(["date", "service", "dimension", "rank"]), limit=50),
    })


def _root_causes(warehouse: Warehouse, anomalies: pd.DataFrame, last: dt.date, settings: AnomalySettings) -> pd.DataFrame:
    """The anomalies' excess split over daily_costs' dimensions (root_causes.py), from the
    anomalous services' cost since the history the detector read before their incidents."""
    if anomalies.empty:
        return root_causes(anomalies, pd.DataFrame(columns=SLICE_COLUMNS), settings.level_days)
    since = min(anomalies["incident_start"]) - dt.timedelta(days=HISTORY_DAYS)
    slices = queries.service_cost_slices(warehouse, sorted(anomalies["service"].unique()), since, last,
                                         list(ROOT_CAUSE_DIMENSIONS.values()))
    return root_causes(anomalies, slices, settings.level_days)


@asset(
    **DAILY_ANOMALY_ASSET,
    description="Cost anomalies of each team's and each AWS account's daily total, by the same detector as "
                "cost_anomalies: catches a rise spread over services that are each too small to flag. "
                "Not alerted (the service incidents are).",
)
def cost_anomalies_by_dimension(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    settings = get_settings().anomaly
    scored = {dimension: 0 for dimension in DIMENSIONS}

    def write_chunk(conn: Connection, start: dt.date, end: dt.date) -> pd.DataFrame:
        frames = []
        for dimension, column in DIMENSIONS.items():
            found, count = _detect(warehouse, start, end, column, settings)
            scored[dimension] = max(scored[dimension], count)
            frames.append(found.rename(columns={"key": "dimension_value"}).assign(
                dimension=dimension,
                # Ids stay unique beside the service incidents': a team may share a service's name.
                incident_id=lambda f, d=dimension: d + "/" + f["incident_id"].astype(str)))
        found = pd.concat(frames, ignore_index=True)
        warehouse.replace_window(conn, schema.cost_anomalies_by_dimension, start, end, found)
        return found

    anomalies = _rows_of_chunks(commit_in_chunks(warehouse, first, last, write_chunk, context.log,
                                                 "cost_anomalies_by_dimension"))
    return MaterializeResult(metadata={
        **_metadata(anomalies, ["dimension", "dimension_value"], settings),
        "scored_teams": scored["team"],
        "scored_accounts": scored["account"],
    })
