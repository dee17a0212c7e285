"""Billing-file rows that could not be parsed: kept in `rejected_cost_rows`,
counted on the materialization, and fatal above the rules-file cost share, or
when more rows than COST_MAX_UNREADABLE_AMOUNTS have an amount that cannot be
read (their cost is unknown, not $0)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cost_assets.ingestion.line_items import BadCostDataError
from cost_assets.metadata import money, table
from cost_assets.settings import get_settings

REJECTED_COLUMNS = ["date", "source", "file", "row_number", "reason", "billed_cost", "effective_cost", "raw"]
# Set on a row without a charge day or billing period: dated on the window's first
# day, stored by the first run that reads it (not_stored_yet), never again.
UNDATED = "undated"

MAX_UNREADABLE_SETTING = "COST_MAX_UNREADABLE_AMOUNTS"


class RejectedCostShareError(BadCostDataError):
    """Rejected rows carry more cost than the rules file allows; the message names them."""


class UnreadableAmountsError(BadCostDataError):
    """More rejected rows of unknown amount than COST_MAX_UNREADABLE_AMOUNTS; the message names them."""


def empty_rejected() -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series(dtype="object") for column in REJECTED_COLUMNS})
    frame[UNDATED] = pd.Series(dtype=bool)
    return frame


def in_window(rejected: pd.DataFrame | None, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The rejected rows dated first..last: the ones a run over those days writes."""
    if rejected is None or rejected.empty:
        return empty_rejected()
    if UNDATED not in rejected:
        rejected = rejected.assign(**{UNDATED: False})
    return rejected[(rejected["date"] >= first) & (rejected["date"] <= last)].reset_index(drop=True)


def max_unreadable_amounts() -> int:
    """COST_MAX_UNREADABLE_AMOUNTS: how many rejected rows of unknown amount a run accepts."""
    # Default 0: one row of unknown amount may carry any share of the bill,
    # which checks.rejected_cost_share_max cannot bound.
    return get_settings().max_unreadable_amounts


def unreadable(rejected: pd.DataFrame | None) -> pd.DataFrame:
    """The rejected rows whose billed or effective cost could not be read."""
    if rejected is None or rejected.empty:
        return empty_rejected()
    return rejected[rejected["billed_cost"].isna() | rejected["effective_cost"].isna()]


def check_unreadable(rejected: pd.DataFrame | None, max_count: int) -> int:
    """The number of rows of unknown amount; raises when there are more than `max_count`.

    Such a row may carry any cost: it is never weighed as $0 against the share limit.
    """
    rows = unreadable(rejected)
    if len(rows) > max_count:
        files = ", ".join(sorted(set(rows["file"])))
        raise UnreadableAmountsError(
            f"{len(rows)} billing row(s) have an amount that cannot be read, more than "
            f"{MAX_UNREADABLE_SETTING} = {max_count} allows: their cost is unknown, so the totals cannot be "
            f"trusted and nothing was written. File(s): {files}. {describe(rows, limit=10)}"
            + (f"; and {len(rows) - 10} more" if len(rows) > 10 else "")
        )
    return len(rows)


def not_stored_yet(rejected: pd.DataFrame, stored_elsewhere: set[tuple[str, int]]) -> pd.DataFrame:
    """`rejected` without the UNDATED rows that `stored_elsewhere` (file, row number) already holds."""
    if rejected.empty or not stored_elsewhere:
        return rejected
    keys = zip(rejected["file"], rejected["row_number"].astype(int))
    stored = pd.Series([key in stored_elsewhere for key in keys], index=rejected.index)
    return rejected[~(stored & rejected[UNDATED].astype(bool))].reset_index(drop=True)


def _weight(billed: pd.Series, effective: pd.Series) -> pd.Series:
    # A purchase has billed cost but no effective cost, covered usage the reverse:
    # a row weighs the larger of the two.
    return pd.concat([billed.abs(), effective.abs()], axis=1).max(axis=1).fillna(0.0)


def rejected_cost_share(rejected: pd.DataFrame, items: pd.DataFrame) -> float:
    """Share of the window's cost carried by rejected rows (0..1).

    A rejected row whose amounts are unreadable counts here with its readable
    amount only (check_unreadable bounds how many there may be); if nothing in
    the window has a readable amount but rows were rejected, the share is 1.
    """
    if rejected.empty:
        return 0.0
    numbers = lambda s: pd.to_numeric(s, errors="coerce").astype(float)  # noqa: E731
    lost = float(_weight(numbers(rejected["billed_cost"]), numbers(rejected["effective_cost"])).sum())
    kept = float(_weight(items["billed_cost"], items["effective_cost"]).sum())
    if lost + kept == 0.0:
        return 1.0
    return lost / (lost + kept)


def describe(rejected: pd.DataFrame, limit: int = 5) -> str:
    return "; ".join(f"{row.file} row {row.row_number}: {row.reason}" for row in rejected.head(limit).itertuples())


def check_share(rejected: pd.DataFrame | None, items: pd.DataFrame, max_share: float, rules_path: str) -> float:
    """The share of cost that a source's rejected rows carry; raises when it passes `max_share`.

    `rejected` is every row the source rejected for the window, including rows
    without a readable day that are stored on another day (see in_window).
    """
    if rejected is None or rejected.empty:
        return 0.0
    share = rejected_cost_share(rejected, items)
    if share > max_share:
        raise RejectedCostShareError(
            f"{len(rejected)} billing row(s) could not be parsed and carry {share:.2%} of the cost, more than "
            f"checks.rejected_cost_share_max = {max_share:.2%} in the rules file {rules_path}: {describe(rejected)}"
        )
    return share


def materialization_metadata(rejected: pd.DataFrame, all_rejected: pd.DataFrame | None, share: float) -> dict:
    """`rejected`: the rows written for the window; `all_rejected`: every row the source rejected for it."""
    numbers = lambda s: pd.to_numeric(s, errors="coerce").fillna(0.0)  # noqa: E731
    metadata = {
        "rejected_rows": len(rejected),
        "rejected_rows_stored_on_other_days": (0 if all_rejected is None else len(all_rejected)) - len(rejected),
        "rejected_billed_cost": money(numbers(rejected["billed_cost"]).sum()),
        "rejected_cost_share": round(share, 6),
        # Their cost is unknown: rejected_billed_cost and the share leave it out.
        "rejected_unreadable_amounts": len(unreadable(all_rejected)),
    }
    if not rejected.empty:
        metadata["rejected_preview"] = table(rejected[["date", "file", "row_number", "reason"]], limit=10)
    return metadata
