"""Warehouse queries of the anomaly assets and sensors (SQLAlchemy Core)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import func, select

from cost_assets.resources.schema import cost_anomalies, cost_anomaly_root_causes, daily_costs
from cost_assets.resources.sql import any_true
from cost_assets.resources.warehouse import Warehouse


def cost_days(warehouse: Warehouse, first: dt.date, last: dt.date, key: str) -> pd.DataFrame:
    """Effective cost per day and value of daily_costs' `key` column (service, team,
    account_id), with whether the day is still estimated."""
    query = (
        select(
            daily_costs.c.date,
            daily_costs.c[key],
            func.sum(daily_costs.c.effective_cost).label("cost"),
            any_true(daily_costs.c.is_estimated).label("is_estimated"),
        )
        .where(daily_costs.c.date.between(first, last))
        .group_by(daily_costs.c.date, daily_costs.c[key])
    )
    frame = warehouse.read(query)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["is_estimated"] = frame["is_estimated"].astype(bool)
    return frame


def anomalies_on(warehouse: Warehouse, days: list[dt.date]) -> pd.DataFrame:
    frame = warehouse.read(select(cost_anomalies).where(cost_anomalies.c.date.in_(days)))
    for column in ("date", "incident_start"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def service_cost_slices(warehouse: Warehouse, services: list[str], first: dt.date, last: dt.date,
                        columns: list[str]) -> pd.DataFrame:
    """Effective cost per day, service and the daily_costs `columns`, of `services` over first..last."""
    dimensions = [daily_costs.c[column] for column in columns]
    query = (
        select(daily_costs.c.date, daily_costs.c.service, *dimensions,
               func.sum(daily_costs.c.effective_cost).label("cost"))
        .where(daily_costs.c.date.between(first, last), daily_costs.c.service.in_(services))
        .group_by(daily_costs.c.date, daily_costs.c.service, *dimensions)
    )
    frame = warehouse.read(query)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["cost"] = frame["cost"].astype(float)
    return frame


def root_causes_on(warehouse: Warehouse, days: list[dt.date]) -> pd.DataFrame:
    """Stored root causes of the anomalies of `days`, largest first within each dimension."""
    causes = cost_anomaly_root_causes.c
    frame = warehouse.read(
        select(cost_anomaly_root_causes).where(causes.date.in_(days))
        .order_by(causes.date, causes.service, causes.dimension, causes.rank))
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame
