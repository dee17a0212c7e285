"""Billing sources behind one interface (docs/reference.md#billing-inputs)."""

from __future__ import annotations

from cost_assets.ingestion.sources.base import BillingSource, SourceResult
from cost_assets.settings import SOURCES, SettingError


def get_source(name: str) -> BillingSource:
    """The billing source called `name` (the COST_SOURCE setting)."""
    if name == "demo":
        from cost_assets.ingestion.sources.demo import DemoSource

        return DemoSource()
    if name == "cost_explorer":
        from cost_assets.ingestion.sources.cost_explorer import CostExplorerSource

        return CostExplorerSource.from_settings()
    if name == "focus":
        from cost_assets.ingestion.sources.focus import FocusSource

        return FocusSource.from_settings()
    if name == "cur2":
        from cost_assets.ingestion.sources.cur2 import Cur2Source

        return Cur2Source.from_settings()
    if name in SOURCES:
        raise SettingError(f"COST_SOURCE={name!r} is not implemented yet")
    raise SettingError(f"COST_SOURCE={name!r} is not a known billing source; use one of {', '.join(SOURCES)}")


__all__ = ["BillingSource", "SourceResult", "get_source"]
