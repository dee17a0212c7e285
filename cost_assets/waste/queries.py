"""Warehouse queries of the off-hours waste asset (SQLAlchemy Core)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import false, func, select

from cost_assets.resources.schema import hourly_costs, off_hours_waste
from cost_assets.resources.warehouse import Warehouse

_KEYS = [
    hourly_costs.c.hour_start,
    hourly_costs.c.environment,
    hourly_costs.c.service,
    hourly_costs.c.team,
    hourly_costs.c.charge_category,
    hourly_costs.c.usage_unit,
    hourly_costs.c.aws_service,
    hourly_costs.c.resource_id,
]


def hourly_spend(warehouse: Warehouse, first: dt.date, last: dt.date, environments: tuple[str, ...]) -> pd.DataFrame:
    """Effective cost per hour and the keys the analysis needs, for UTC days first..last.

    Accounts and providers are summed away; the analysis needs neither.
    """
    query = (
        select(*_KEYS, func.sum(hourly_costs.c.effective_cost).label("effective_cost"))
        .where(hourly_costs.c.date.between(first, last), hourly_costs.c.environment.in_(environments))
        .group_by(*_KEYS)
    )
    frame = warehouse.read(query)
    frame["hour_start"] = pd.to_datetime(frame["hour_start"])
    return frame


def waste_rows(warehouse: Warehouse, as_of: dt.date | None = None) -> pd.DataFrame:
    """off_hours_waste rows of one as-of day (default: the latest one)."""
    if as_of is None:
        latest = warehouse.read(select(func.max(off_hours_waste.c.as_of_date).label("as_of")))["as_of"].iloc[0]
        if latest is None or pd.isna(latest):
            return warehouse.read(select(off_hours_waste).where(false()))
        as_of = pd.to_datetime(latest).date()
    frame = warehouse.read(select(off_hours_waste).where(off_hours_waste.c.as_of_date == as_of))
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    return frame
