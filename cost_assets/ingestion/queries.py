"""Warehouse queries used by the ingestion assets and their checks (SQLAlchemy Core)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, case, func, literal, select

from cost_assets.ingestion.line_items import DIMENSION_COLUMNS, TAG_COLUMNS
from cost_assets.resources.schema import daily_costs, rejected_cost_rows
from cost_assets.settings import UNTAGGED


def _in_window(first: dt.date, last: dt.date):
    return daily_costs.c.date.between(first, last)


def day_totals(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    query = (
        select(
            daily_costs.c.date,
            func.sum(daily_costs.c.billed_cost).label("billed_cost"),
            func.sum(daily_costs.c.effective_cost).label("effective_cost"),
        )
        .where(_in_window(first, last))
        .group_by(daily_costs.c.date)
    )
    frame = pd.read_sql(query, conn)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def duplicate_key_count(conn: Connection, first: dt.date, last: dt.date) -> int:
    keys = [daily_costs.c.date, *(daily_costs.c[c] for c in DIMENSION_COLUMNS)]
    duplicated = (
        select(*keys).where(_in_window(first, last)).group_by(*keys).having(func.count() > 1).subquery()
    )
    return int(conn.execute(select(func.count()).select_from(duplicated)).scalar_one())


def untagged_shares(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Per day, the share of effective cost whose tag is `untagged`, per tag column."""
    cost = daily_costs.c.effective_cost
    shares = [
        (func.sum(case((daily_costs.c[c] == literal(UNTAGGED), cost), else_=0.0)) / func.nullif(func.sum(cost), 0)).label(c)
        for c in TAG_COLUMNS
    ]
    query = select(daily_costs.c.date, *shares).where(_in_window(first, last)).group_by(daily_costs.c.date)
    return pd.read_sql(query, conn)


def oldest_estimated_day(conn: Connection, first: dt.date, last: dt.date) -> dt.date | None:
    """The first day of first..last that daily_costs still holds as estimated by the provider."""
    query = select(func.min(daily_costs.c.date)).where(_in_window(first, last), daily_costs.c.is_estimated.is_(True))
    oldest = conn.execute(query).scalar_one()
    return None if oldest is None else pd.Timestamp(oldest).date()


def days_with_costs(conn: Connection, first: dt.date, last: dt.date) -> set[dt.date]:
    """The days of first..last that daily_costs holds rows for."""
    rows = conn.execute(select(daily_costs.c.date).where(_in_window(first, last)).distinct())
    return {pd.Timestamp(day).date() for (day,) in rows}


def rejected_rows_stored_outside(conn: Connection, keys: set[tuple[str, int]], first: dt.date,
                                 last: dt.date) -> set[tuple[str, int]]:
    """Which (file, row number) of `keys` rejected_cost_rows holds on a day outside first..last."""
    if not keys:
        return set()
    table = rejected_cost_rows
    files = sorted({file for file, _ in keys})
    query = select(table.c.file, table.c.row_number).where(
        table.c.file.in_(files), (table.c.date < first) | (table.c.date > last))
    return {(file, int(row)) for file, row in conn.execute(query)} & keys
