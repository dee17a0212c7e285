"""Checks on `daily_costs`: pure functions over frames, wired in assets.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from cost_assets.ingestion.line_items import MONEY_COLUMNS
from cost_assets.metadata import table

RECONCILIATION_TOLERANCE_USD = 0.01

SOURCE_TOTAL_CHECK = "daily_costs_match_source_totals"
DUPLICATE_KEYS_CHECK = "daily_costs_unique_keys"
TAG_COVERAGE_CHECK = "daily_costs_tag_coverage"

DAILY_COSTS_CHECK_SPECS = [
    AssetCheckSpec(SOURCE_TOTAL_CHECK, asset="daily_costs", blocking=True,
                   description="Each day's billed and effective totals equal the billing source's own totals (±$0.01)."),
    AssetCheckSpec(DUPLICATE_KEYS_CHECK, asset="daily_costs",
                   description="No two rows share the daily_costs key."),
    AssetCheckSpec(TAG_COVERAGE_CHECK, asset="daily_costs",
                   description="Share of effective cost untagged per allocation tag; WARN above the rules-file threshold."),
]


class SourceTotalMismatch(RuntimeError):
    """The warehouse's day totals differ from the billing source's; the message names the days."""


class LateBillingData(RuntimeError):
    """The source has no rows for days the warehouse holds; the message names the days."""


def days_without_rows(days: list[dt.date], *dated: Iterable[dt.date]) -> list[dt.date]:
    """The `days` on which none of `dated` (line items, rejected rows) falls."""
    seen = set().union(*(set(d) for d in dated))
    return [day for day in days if day not in seen]


def late_days(empty: list[dt.date], held: set[dt.date], complete: set[dt.date] | None) -> list[dt.date]:
    """Days without rows that the warehouse holds and the source does not call complete.

    No rows may mean the export is late or that nothing was spent: only a
    complete (final) billing period says which, so until then a day with data
    is kept rather than replaced with nothing. `complete` None: the source
    answers for every day (an API).
    """
    if complete is None:
        return []
    return [day for day in empty if day in held and day not in complete]


def describe_late(days: list[dt.date], source: str, where: str | None) -> str:
    listed = ", ".join(day.isoformat() for day in days)
    origin = f"COST_SOURCE_URI={where}" if where else f"the {source} source"
    return (
        f"{origin} has no billing rows for {listed}, which daily_costs already holds: the export is probably "
        f"late. Nothing was replaced; those days are kept until the source has rows for them or calls their "
        f"billing period final (README, Bad input)"
    )


def _by_date(frame: pd.DataFrame) -> pd.DataFrame:
    # An empty frame's columns may be float dates or object amounts: merge plain dates, subtract floats.
    return frame.astype({"date": object, **{column: float for column in MONEY_COLUMNS}})


def total_mismatches(written: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """Days whose written totals differ from the source totals by more than a cent."""
    merged = _by_date(source).merge(_by_date(written), on="date", how="outer",
                                    suffixes=("_source", "_written")).fillna(0.0)
    differs = pd.Series(False, index=merged.index)
    for column in MONEY_COLUMNS:
        merged[f"{column}_difference"] = (merged[f"{column}_written"] - merged[f"{column}_source"]).round(6)
        differs |= merged[f"{column}_difference"].abs() > RECONCILIATION_TOLERANCE_USD
    return merged[differs].sort_values("date")


def describe_mismatches(mismatches: pd.DataFrame) -> str:
    days = ", ".join(
        f"{row.date} (source {row.effective_cost_source:.2f}, written {row.effective_cost_written:.2f})"
        for row in mismatches.head(10).itertuples()
    )
    return f"daily_costs totals differ from the billing source on {len(mismatches)} day(s): {days}"


def source_total_result(source_totals: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=SOURCE_TOTAL_CHECK,
        asset_key="daily_costs",
        passed=True,
        metadata={
            "days": len(source_totals),
            "source_effective_cost": float(source_totals["effective_cost"].sum().round(2)),
            "tolerance_usd": RECONCILIATION_TOLERANCE_USD,
        },
    )


def duplicate_keys_result(duplicates: int) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=DUPLICATE_KEYS_CHECK, asset_key="daily_costs", passed=duplicates == 0,
        metadata={"duplicate_keys": duplicates},
    )


def tag_coverage_result(shares: pd.DataFrame, dimensions: list[str], warn_share: float) -> AssetCheckResult:
    """WARN when any day's untagged share in a checked dimension exceeds `warn_share`."""
    worst = shares.drop(columns=["date"]).astype(float).max().fillna(0.0)
    failing = [d for d in dimensions if worst.get(d, 0.0) > warn_share]
    return AssetCheckResult(
        check_name=TAG_COVERAGE_CHECK,
        asset_key="daily_costs",
        passed=not failing,
        severity=AssetCheckSeverity.WARN,
        metadata={
            **{f"worst_untagged_share_{d}": MetadataValue.float(round(float(worst.get(d, 0.0)), 4)) for d in worst.index},
            "warn_share": warn_share,
            "checked_dimensions": ", ".join(dimensions),
            "failing_dimensions": ", ".join(failing) or "none",
            "by_day": table(shares.round(4), limit=31),
        },
    )
