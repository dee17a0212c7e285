"""Test helpers: in-process materialization over a range of days."""

from __future__ import annotations

import datetime as dt

from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse


def materialize_days(assets, warehouse: Warehouse, first: dt.date, last: dt.date, *, instance=None,
                     raise_on_error: bool = True, **resources):
    """Materialize `assets` for UTC days first..last in one run, demo inputs by default."""
    all_resources = {
        "warehouse": warehouse,
        "product_db": ProductDatabase(),
        "billing": BillingSourceResource(source="demo"),
        **resources,
    }
    return materialize(
        assets,
        resources=all_resources,
        instance=instance or DagsterInstance.ephemeral(),
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        raise_on_error=raise_on_error,
    )


def failure_message(result) -> str:
    """The failed step's error with its causes: what a user reads in the run log."""
    error = result.get_step_failure_events()[0].step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)
