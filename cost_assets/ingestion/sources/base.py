"""The interface every billing source implements."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from cost_assets.rules import Rules


@dataclass
class SourceResult:
    """What a source returns for a range of UTC days.

    line_items: columns of cost_assets.ingestion.line_items.LINE_ITEM_COLUMNS.
    day_totals: the source's own per-day totals (date, billed_cost,
      effective_cost), obtained independently of the line items where the
      source allows it; None means "sum the raw line items".
    metadata: shown on the materialization (request counts, files read, ...).
    rejected_rows: rows of the window the source could not parse, with the
      columns of cost_assets.ingestion.rejected.REJECTED_COLUMNS; a row whose
      day is unknown may be dated outside the window (counted, not written
      by this run). None when the source has none.
    hourly_line_items: optional extra line items (same columns) with one-hour
      charge periods, fetched beside line_items (Cost Explorer HOURLY). They
      feed hourly_costs only, never daily_costs or the totals check, so a cost
      is not counted twice; they must not repeat hourly rows of line_items.
      None: there are none.
    hourly_days: the consecutive days whose hourly_costs rows this fetch
      replaces; None (default) means every day of the window, [] means none
      (hourly_costs keeps what it holds, e.g. days older than the 14 days of
      Cost Explorer's hourly data).
    held_days: the first and last UTC day the source holds, inside the window
      or not (billing files read whole periods, so they know); None when the
      source does not know. The asset reports days before the first partition.
    complete_days: the days of the window the source vouches for even without
      a row (billing files: their billing period is final). None (default):
      every day, as an API answers for each day it is asked. A day without
      rows that is not complete may only be late: it never replaces data
      (checks.late_days).
    container_parts: (parents, pods) of split cost allocation data
      (ingestion.container_splits PARENT_COLUMNS, POD_COLUMNS) collected while
      reading; None: taken from line_items' optional split columns, if any.
    """

    line_items: pd.DataFrame
    day_totals: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    rejected_rows: pd.DataFrame | None = None
    hourly_line_items: pd.DataFrame | None = None
    hourly_days: list[dt.date] | None = None
    held_days: tuple[dt.date, dt.date] | None = None
    complete_days: set[dt.date] | None = None
    container_parts: tuple[pd.DataFrame, pd.DataFrame] | None = None


class BillingSource(Protocol):
    name: str

    def fetch(self, first: dt.date, last: dt.date, rules: Rules) -> SourceResult: ...
