"""Normalization of billing line items into `daily_costs` and `hourly_costs` rows.

Every billing source returns a line-item frame with the columns of
LINE_ITEM_COLUMNS; this module is the one place that turns it into warehouse
rows, so every source is tagged, validated and aggregated the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cost_assets.resources import schema
from cost_assets.rules import Rules
from cost_assets.settings import UNTAGGED

TAG_COLUMNS = ["team", "service", "customer_id", "environment"]
# Tag column -> rules-file dimension.
TAG_DIMENSION = {"team": "team", "service": "service", "customer_id": "customer", "environment": "environment"}
DIMENSION_COLUMNS = ["provider", "account_id", "aws_service", "charge_category", *TAG_COLUMNS, "usage_unit", "invoice_id"]
# The dimensions the bill itself names (the others are allocation tags): '' when missing.
BILL_DIMENSION_COLUMNS = [c for c in DIMENSION_COLUMNS if c not in TAG_COLUMNS]
MONEY_COLUMNS = ["billed_cost", "effective_cost"]
MEASURE_COLUMNS = [*MONEY_COLUMNS, "usage_quantity"]

# What a source hands over. `row_ref` says where a row came from (file:line,
# request and group) so an error can name it; tags are raw values.
LINE_ITEM_COLUMNS = [
    "charge_period_start",
    "charge_period_end",
    *DIMENSION_COLUMNS,
    "resource_id",
    *MEASURE_COLUMNS,
    "is_estimated",
    "row_ref",
]

MONEY_DECIMALS = 6
# The largest amount one billing line may carry, in USD (README "Bad input"): far
# above any real line, and far below what daily_costs' NUMERIC(20, 6) holds, so
# a day's sum of such lines cannot overflow it.
MAX_LINE_AMOUNT = 1e12
MAX_LINE_AMOUNT_TEXT = "10^12"

# Text columns and the widths the warehouse gives them (resource_id: hourly_costs).
TEXT_WIDTHS = {
    **{c: schema.daily_costs.c[c].type.length for c in DIMENSION_COLUMNS},
    "resource_id": schema.hourly_costs.c["resource_id"].type.length,
}


class BadCostDataError(ValueError):
    """Billing data the project refuses; the message names the row(s)."""


def empty_line_items() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in LINE_ITEM_COLUMNS})


def normalize_tags(values: pd.Series, column: str, rules: Rules) -> pd.Series:
    """Trim, lower-case and alias tag values; missing or empty becomes `untagged`."""
    cleaned = values.astype("string").str.strip().str.lower()
    aliases = rules.value_aliases.get(TAG_DIMENSION[column], {})
    if aliases:
        cleaned = cleaned.replace(aliases)
    return cleaned.fillna(UNTAGGED).replace("", UNTAGGED).astype(object)


def out_of_range(amounts: pd.Series) -> pd.Series:
    """Per row, whether a parsed amount is a number but not one a billing line can carry
    (infinite, or MAX_LINE_AMOUNT or more either way)."""
    return amounts.notna() & ~(amounts.abs() < MAX_LINE_AMOUNT)


def too_wide(values: pd.Series, column: str) -> pd.Series:
    """Per row, the length of a text value longer than the warehouse column holds, else 0."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # billing text repeats: measure each value once
    lengths = np.array([len(str(u)) for u in uniques] + [0], dtype=np.int64)
    lengths = np.where(lengths > TEXT_WIDTHS[column], lengths, 0)
    return pd.Series(lengths[codes], index=values.index)


def _refuse(items: pd.DataFrame, bad: pd.Series, column: str, problem: str) -> None:
    if bad.any():
        examples = ", ".join(
            f"{ref} ({column}={value!r})"
            for ref, value in items.loc[bad, ["row_ref", column]].head(5).itertuples(index=False)
        )
        raise BadCostDataError(f"{int(bad.sum())} billing row(s) have {problem}: {examples}")


def _parse_measures(items: pd.DataFrame) -> pd.DataFrame:
    for column in MEASURE_COLUMNS:
        parsed = pd.to_numeric(items[column], errors="coerce")
        bad = parsed.isna()
        if column == "usage_quantity":
            bad &= items[column].notna()  # a missing usage amount is 0, a garbled one is not
        _refuse(items, bad, column, f"a non-numeric {column}")
        parsed = parsed.astype(float)
        if column in MONEY_COLUMNS:
            _refuse(items, out_of_range(parsed), column,
                    f"a {column} that is not a finite amount under {MAX_LINE_AMOUNT_TEXT} USD")
        else:
            _refuse(items, parsed.notna() & ~np.isfinite(parsed), column, f"a {column} that is not finite")
        items[column] = parsed.fillna(0.0)
    return items


def prepare_line_items(raw: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Validate and tag a source's line items; adds `date` and `hour_start` (UTC)."""
    missing = [column for column in LINE_ITEM_COLUMNS if column not in raw.columns]
    if missing:
        raise BadCostDataError(f"billing line items lack column(s) {', '.join(missing)}")
    items = raw[LINE_ITEM_COLUMNS].copy()
    items = _parse_measures(items)
    start = pd.to_datetime(items["charge_period_start"], utc=True, errors="coerce")
    end = pd.to_datetime(items["charge_period_end"], utc=True, errors="coerce")
    bad_time = start.isna()
    if bad_time.any():
        refs = ", ".join(items.loc[bad_time, "row_ref"].astype(str).head(5))
        raise BadCostDataError(f"{int(bad_time.sum())} billing row(s) have no valid charge period start: {refs}")
    items["charge_period_start"] = start
    items["charge_period_end"] = end
    for column in TAG_COLUMNS:
        items[column] = normalize_tags(items[column], column, rules)
    for column in [*BILL_DIMENSION_COLUMNS, "resource_id"]:
        items[column] = items[column].astype("string").fillna("").astype(object)
    for column in TEXT_WIDTHS:
        lengths = too_wide(items[column], column)
        if lengths.any():
            examples = ", ".join(f"{ref} ({length} characters)" for ref, length
                                 in zip(items.loc[lengths > 0, "row_ref"].head(5), lengths[lengths > 0].head(5)))
            raise BadCostDataError(
                f"{int((lengths > 0).sum())} billing row(s) have a {column} longer than the "
                f"{TEXT_WIDTHS[column]} characters the warehouse holds: {examples}"
            )
    items["is_estimated"] = items["is_estimated"].fillna(False).astype(bool)
    items["date"] = start.dt.date
    items["hour_start"] = start.dt.floor("h").dt.tz_localize(None)
    return items


def _aggregate(items: pd.DataFrame, keys: list[str], source: str) -> pd.DataFrame:
    grouped = (
        items.groupby(keys, sort=True, dropna=False)
        .agg(
            billed_cost=("billed_cost", "sum"),
            effective_cost=("effective_cost", "sum"),
            usage_quantity=("usage_quantity", "sum"),
            is_estimated=("is_estimated", "any"),
        )
        .reset_index()
    )
    grouped[MONEY_COLUMNS] = grouped[MONEY_COLUMNS].round(MONEY_DECIMALS)
    grouped["source"] = source
    return grouped


def to_daily_costs(items: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per UTC day and daily_costs key."""
    return _aggregate(items, ["date", *DIMENSION_COLUMNS], source)


def to_hourly_costs(items: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rows whose charge period is one hour or shorter, per hour and resource."""
    duration = items["charge_period_end"] - items["charge_period_start"]
    hourly = items[duration.notna() & (duration <= pd.Timedelta(hours=1))]
    return _aggregate(hourly, ["hour_start", "date", *DIMENSION_COLUMNS, "resource_id"], source)


def totals_by_day(items: pd.DataFrame) -> pd.DataFrame:
    """The source's own per-day totals, for the reconciliation check."""
    return (
        items.groupby("date")[MONEY_COLUMNS].sum().round(MONEY_DECIMALS).reset_index()
    )
