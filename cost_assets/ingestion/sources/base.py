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
    """

    line_items: pd.DataFrame
    day_totals: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class BillingSource(Protocol):
    name: str

    def fetch(self, first: dt.date, last: dt.date, rules: Rules) -> SourceResult: ...
