"""Warehouse queries of the as-of report assets (SQLAlchemy Core, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, func, select

from cost_assets.resources.schema import (
    customer_cost_allocation,
    customer_overhead_allocation,
    daily_costs,
    service_metrics,
    unallocated_costs,
)
from cost_assets.resources.bulk import read_frame


def allocated_costs(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """date, customer_id, service, allocated_cost rows of first..last (every method).

    customer_id and service come back as categoricals: a year holds millions of
    rows but only thousands of distinct values, and every consumer groups by them.
    """
    a = customer_cost_allocation.c
    query = select(a.date, a.customer_id, a.service, a.allocated_cost).where(a.date.between(first, last))
    return read_frame(conn, query).astype({"customer_id": "category", "service": "category"})


def overhead_costs(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    o = customer_overhead_allocation.c
    query = (
        select(o.date, o.customer_id, func.sum(o.overhead_cost).label("overhead_cost"))
        .where(o.date.between(first, last))
        .group_by(o.date, o.customer_id)
    )
    return read_frame(conn, query)


def unallocated_days(conn: Connection, first: dt.date, last: dt.date) -> list[dt.date]:
    """Days of first..last with unallocated_costs rows."""
    u = unallocated_costs.c
    return list(read_frame(conn, select(u.date).where(u.date.between(first, last)).distinct())["date"])


def service_costs(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """date, service, team, aws_service, effective_cost of first..last."""
    d = daily_costs.c
    keys = [d.date, d.service, d.team, d.aws_service]
    query = (
        select(*keys, func.sum(d.effective_cost).label("effective_cost"))
        .where(d.date.between(first, last))
        .group_by(*keys)
    )
    return read_frame(conn, query)


def service_requests(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    m = service_metrics.c
    query = (
        select(m.date, m.service, func.sum(m.request_count).label("request_count"))
        .where(m.date.between(first, last))
        .group_by(m.date, m.service)
    )
    return read_frame(conn, query)
