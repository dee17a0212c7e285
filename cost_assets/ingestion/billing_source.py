"""The billing source as a Dagster resource (COST_SOURCE)."""

from __future__ import annotations

from typing import Optional

from dagster import ConfigurableResource

from cost_assets import settings
from cost_assets.ingestion.sources import BillingSource, get_source


class BillingSourceResource(ConfigurableResource):
    """`source` defaults to COST_SOURCE, else `demo`."""

    source: Optional[str] = None

    def get(self) -> BillingSource:
        return get_source(self.source or settings.cost_source())
