"""Warehouse queries of the forecast asset and the margin alert sensor (SQLAlchemy Core)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, func, literal, select

from cost_assets.allocation.queries import snapshots_for
from cost_assets.forecasts.forecast import COMPANY
from cost_assets.resources.bulk import read_frame
from cost_assets.resources.schema import cost_forecasts, customer_cost_allocation, daily_costs


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def daily_series(conn: Connection, first: dt.date, last: dt.date) -> tuple[pd.DataFrame, dict[str, set[dt.date]]]:
    """Daily cost of first..last per (scope, scope_value): the company and each service (daily_costs
    effective cost), each customer (allocated cost); and per scope the days its table has data."""
    d, a = daily_costs.c, customer_cost_allocation.c
    services = read_frame(conn, select(d.date, d.service.label("scope_value"), func.sum(d.effective_cost).label("cost"))
                          .where(d.date.between(first, last)).group_by(d.date, d.service))
    customers = read_frame(conn, select(a.date, a.customer_id.label("scope_value"), func.sum(a.allocated_cost).label("cost"))
                           .where(a.date.between(first, last)).group_by(a.date, a.customer_id))
    services, customers = _dates(services, "date"), _dates(customers, "date")
    services["scope_value"] = services["scope_value"].astype(str)
    customers["scope_value"] = customers["scope_value"].astype(str)
    company = services.groupby("date", as_index=False)["cost"].sum().assign(scope="company", scope_value=COMPANY)
    costs = pd.concat([company, services.assign(scope="service"), customers.assign(scope="customer")], ignore_index=True)
    bill_days, allocation_days = set(services["date"]), set(customers["date"])
    observed = {"company": bill_days, "service": bill_days, "customer": allocation_days}
    return costs[["date", "scope", "scope_value", "cost"]], observed


def customer_snapshots(conn: Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    return snapshots_for(conn, first, last)


def forecasts_on(conn: Connection, days: list[dt.date], scope: str) -> pd.DataFrame:
    f = cost_forecasts.c
    frame = read_frame(conn, select(cost_forecasts).where(f.as_of_date.in_(days), f.scope == literal(scope)))
    return _dates(frame, "as_of_date", "month_start", "month_end")
