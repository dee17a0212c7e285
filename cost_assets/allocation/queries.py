"""Warehouse queries of the allocation assets (SQLAlchemy Core, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, case, func, literal, select

from cost_assets.resources.schema import (
    allocation_hops,
    customer_cost_allocation,
    customer_snapshots,
    daily_costs,
    service_metrics,
    unallocated_costs,
    usage_metrics,
)
from cost_assets.allocation.allocation import USAGE_COLUMNS
from cost_assets.ingestion.container_splits import CAPACITY_CATEGORIES
from cost_assets.allocation.rules import REQUESTS
from cost_assets.resources.bulk import read_frame


def _dates(frame: pd.DataFrame, column: str = "date") -> pd.DataFrame:
    frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def cost_rows(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Effective cost per day and allocation tags (the grain rules look at), and `capacity`:
    the charge category of unused container capacity, else '' (allocation.CAPACITY)."""
    capacity = case((daily_costs.c.charge_category.in_(CAPACITY_CATEGORIES), daily_costs.c.charge_category),
                    else_=literal("")).label("capacity")
    tags = [daily_costs.c.date, daily_costs.c.team, daily_costs.c.service, daily_costs.c.customer_id,
            daily_costs.c.environment, capacity]
    query = (
        select(*tags, func.sum(daily_costs.c.effective_cost).label("effective_cost"))
        .where(daily_costs.c.date.between(first, last))
        .group_by(*tags)
    )
    return _dates(read_frame(conn, query))


def driver_metrics(conn: Connection, first: dt.date, last: dt.date, services: set[str],
                   metrics: set[str] = frozenset()) -> pd.DataFrame:
    """date, service, customer_id, metric, quantity: request counts of the driver services
    (service_metrics, customers with requests only) and the rules' other metrics (usage_metrics,
    every service, service-level rows included)."""
    m = service_metrics.c
    query = (
        select(m.date, m.service, m.customer_id, m.request_count.label("quantity"))
        .where(m.date.between(first, last), m.service.in_(sorted(services)), m.request_count > 0)
    )
    requests = _dates(read_frame(conn, query)).assign(metric=REQUESTS)
    others = sorted(metrics - {REQUESTS})
    if not others:
        return requests[USAGE_COLUMNS]
    u = usage_metrics.c
    query = select(u.date, u.service, u.customer_id, u.metric, u.quantity).where(
        u.date.between(first, last), u.metric.in_(others))
    usage = _dates(read_frame(conn, query))
    return pd.concat([requests[USAGE_COLUMNS], usage[USAGE_COLUMNS]], ignore_index=True)


def known_drivers(conn: Connection) -> tuple[set[str], set[str]]:
    """(metrics of usage_metrics, services named by daily_costs, service_metrics or usage_metrics)."""
    metrics = {r[0] for r in conn.execute(select(usage_metrics.c.metric).distinct())}
    services = set()
    for table in (daily_costs, service_metrics, usage_metrics):
        services |= {r[0] for r in conn.execute(select(table.c.service).distinct())}
    return metrics, services


def snapshots_for(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """customer_snapshots of first..last plus the latest one before `first` (days without their own snapshot use it)."""
    s = customer_snapshots.c
    before = select(func.max(s.date)).where(s.date <= first).scalar_subquery()
    query = select(s.date, s.id, s.name, s.mrr, s.status).where(s.date >= func.coalesce(before, first), s.date <= last)
    return _dates(read_frame(conn, query))


def _per_day(conn: Connection, table, value, label: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    query = (
        select(table.c.date, func.sum(value).label(label))
        .where(table.c.date.between(first, last))
        .group_by(table.c.date)
    )
    return _dates(pd.read_sql(query, conn))


def conservation_totals(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Per day: effective (daily_costs.effective_cost), allocated and unallocated totals as written."""
    effective = _per_day(conn, daily_costs, daily_costs.c.effective_cost, "effective", first, last)
    allocated = _per_day(conn, customer_cost_allocation, customer_cost_allocation.c.allocated_cost, "allocated", first, last)
    unallocated = _per_day(conn, unallocated_costs, unallocated_costs.c.cost, "unallocated", first, last)
    totals = effective.merge(allocated, on="date", how="outer").merge(unallocated, on="date", how="outer")
    return totals.fillna(0.0).sort_values("date").reset_index(drop=True)


def allocation_results(conn: Connection, first: dt.date, last: dt.date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(customer_cost_allocation, allocation_hops, unallocated_costs) rows of first..last, as written."""
    frames = []
    for table in (customer_cost_allocation, allocation_hops, unallocated_costs):
        frames.append(_dates(read_frame(conn, select(table).where(table.c.date.between(first, last)))))
    return frames[0], frames[1], frames[2]
