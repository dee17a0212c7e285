"""The `demo` billing source: the synthetic company (docs/reference.md#the-demo-company)."""

from __future__ import annotations

import datetime as dt

from cost_assets.demo import company
from cost_assets.ingestion.sources.base import SourceResult
from cost_assets.rules import Rules


class DemoSource:
    name = "demo"

    def fetch(self, first: dt.date, last: dt.date, rules: Rules) -> SourceResult:
        items = company.line_items(first, last)
        return SourceResult(line_items=items, metadata={"demo_spike_start": company.spike_start().isoformat()})
