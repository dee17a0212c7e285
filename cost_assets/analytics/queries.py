"""Warehouse queries of the as-of report assets (SQLAlchemy Core, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, delete, func, insert, select

from cost_assets.resources.schema import (
    customer_cost_allocation,
    customer_overhead_allocation,
    daily_costs,
    daily_team_costs,
    service_metrics,
    unallocated_costs,
)
from cost_assets.resources.bulk import read_frame
from cost_assets.resources.sql import any_true


def allocated_costs(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """date, customer_id, service, allocated_cost rows of first..last (every method).

    date, customer_id and service come back as categoricals: a year holds millions of
    rows but only thousands of distinct values, and every consumer groups by them.
    """
    a = customer_cost_allocation.c
    query = select(a.date, a.customer_id, a.service, a.allocated_cost).where(a.date.between(first, last))
    return read_frame(conn, query, categories=("date", "customer_id", "service"))


def overhead_costs(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    o = customer_overhead_allocation.c
    query = (
        select(o.date, o.customer_id, func.sum(o.overhead_cost).label("overhead_cost"))
        .where(o.date.between(first, last))
        .group_by(o.date, o.customer_id)
    )
    return read_frame(conn, query)


def unallocated_days(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """date: the days of first..last with unallocated_costs rows."""
    u = unallocated_costs.c
    return read_frame(conn, select(u.date).where(u.date.between(first, last)).distinct())


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


def rebuild_daily_team_costs(conn: Connection, first: dt.date, last: dt.date) -> None:
    """Replace first..last of daily_team_costs from daily_costs, in SQL."""
    conn.execute(delete(daily_team_costs).where(daily_team_costs.c.date.between(first, last)))
    totals = (
        select(daily_costs.c.date, daily_costs.c.team,
               func.sum(daily_costs.c.billed_cost), func.sum(daily_costs.c.effective_cost),
               any_true(daily_costs.c.is_estimated))
        .where(daily_costs.c.date.between(first, last))
        .group_by(daily_costs.c.date, daily_costs.c.team)
    )
    columns = ["date", "team", "billed_cost", "effective_cost", "is_estimated"]
    conn.execute(insert(daily_team_costs).from_select(columns, totals))


def daily_team_costs_totals(first: dt.date, last: dt.date) -> Select:
    """Row count and effective cost of first..last of daily_team_costs."""
    return (
        select(func.count().label("rows"), func.sum(daily_team_costs.c.effective_cost).label("cost"))
        .where(daily_team_costs.c.date.between(first, last))
    )


WindowRead = Callable[[Connection, dt.date, dt.date], pd.DataFrame]


class TrailingReads:
    """Reads of consecutive chunks' trailing windows (one per chunk, in order, in one run).

    A chunk's as-of days need the 59 days before them, which the previous chunk
    read: those rows are kept and only the chunk's own days are read, so a run
    reads each day once whatever its chunk size. Rows are kept per query
    function; each frame has a `date` column.
    """

    def __init__(self) -> None:
        self._read: dict[WindowRead, tuple[dt.date, dt.date, pd.DataFrame]] = {}

    def read(self, conn: Connection, query: WindowRead, first: dt.date, last: dt.date) -> pd.DataFrame:
        """query's rows of first..last."""
        kept = self._read.pop(query, None)
        if kept is None or not kept[0] <= first <= kept[1] + dt.timedelta(days=1) <= last:
            frame = query(conn, first, last)
        else:
            frame = _concat(_days_from(kept[2], first), query(conn, kept[1] + dt.timedelta(days=1), last))
        self._read[query] = (first, last, frame)
        return frame


def _days_from(frame: pd.DataFrame, first: dt.date) -> pd.DataFrame:
    dates = frame["date"]
    if isinstance(dates.dtype, pd.CategoricalDtype):  # compare the few days, not every row
        keep = np.asarray([day >= first for day in dates.cat.categories], dtype=bool)[dates.cat.codes.to_numpy()]
    else:
        keep = (dates >= first).to_numpy(dtype=bool)
    return frame[keep]


def _concat(kept: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """kept then new rows; categorical columns stay categorical over both frames' values."""
    if new.empty:
        return kept.reset_index(drop=True)
    for name in kept.columns:
        if isinstance(kept[name].dtype, pd.CategoricalDtype):
            added = new[name].astype("category")
            union = kept[name].cat.categories.union(added.cat.categories)
            kept = kept.assign(**{name: kept[name].cat.set_categories(union)})
            new = new.assign(**{name: added.cat.set_categories(union)})
    frame = pd.concat([kept, new], ignore_index=True)
    if "date" in frame and isinstance(frame["date"].dtype, pd.CategoricalDtype):
        frame["date"] = frame["date"].cat.remove_unused_categories()
    return frame
