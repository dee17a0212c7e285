"""The product database (docs/reference.md#product-database), read only: customers, service_metrics
and the optional usage_metrics."""

from __future__ import annotations

import datetime as dt
from typing import Optional

import pandas as pd
from dagster import ConfigurableResource
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from cost_assets import settings
from cost_assets.allocation.allocation import check_usage_quantities
from cost_assets.demo import company
from cost_assets.resources.database import display_url, engine_for

CUSTOMERS_SQL = "SELECT id, name, mrr, status FROM customers ORDER BY id"
SERVICE_METRICS_SQL = (
    "SELECT date, service, customer_id, SUM(request_count) AS request_count FROM service_metrics "
    "WHERE date >= :first AND date <= :last GROUP BY date, service, customer_id"
)
USAGE_METRICS_SQL = (
    "SELECT date, service, customer_id, metric, quantity FROM usage_metrics WHERE date >= :first AND date <= :last"
)
USAGE_KEYS = ["date", "service", "customer_id", "metric"]
REQUESTS = "requests"
REQUIRED_COLUMNS = {
    "usage_metrics": {"date", "service", "customer_id", "metric", "quantity"},
    "customers": {"id", "name", "mrr", "status"},
    "service_metrics": {"date", "service", "customer_id", "request_count"},
}


class ProductDatabaseError(RuntimeError):
    """The product database lacks a table or column, or cannot be read."""


class ProductDatabase(ConfigurableResource):
    """`url` defaults to COST_APP_DB_URL; unset means the demo company's data."""

    url: Optional[str] = None

    @property
    def resolved_url(self) -> str | None:
        return self.url or settings.get_settings().app_db_url

    @property
    def engine(self):
        return engine_for(self.resolved_url, setting="COST_APP_DB_URL")

    @property
    def is_demo(self) -> bool:
        return self.resolved_url is None

    def _check_table(self, table: str) -> None:
        url = self.resolved_url
        try:
            inspector = inspect(self.engine)
            if not inspector.has_table(table):
                raise ProductDatabaseError(
                    f"product database {display_url(url)} (COST_APP_DB_URL) has no table `{table}`"
                )
            columns = {c["name"] for c in inspector.get_columns(table)}
        except DBAPIError as exc:
            raise ProductDatabaseError(
                f"product database {display_url(url)} (COST_APP_DB_URL) cannot be read: {exc.orig}"
            ) from exc
        missing = REQUIRED_COLUMNS[table] - columns
        if missing:
            raise ProductDatabaseError(
                f"product database table `{table}` lacks column(s) {', '.join(sorted(missing))}"
            )

    def _read(self, table: str, sql: str, **params) -> pd.DataFrame:
        self._check_table(table)
        try:
            with self.engine.connect() as conn:
                return pd.read_sql(text(sql), conn, params=params or None)
        except DBAPIError as exc:
            raise ProductDatabaseError(
                f"product database {display_url(self.resolved_url)} (COST_APP_DB_URL): reading `{table}` failed "
                f"(COST_DB_STATEMENT_TIMEOUT_S / COST_DB_LOCK_TIMEOUT_S bound each statement): {exc.orig}"
            ) from exc

    def customers(self, day: dt.date) -> pd.DataFrame:
        """id, name, mrr, status; the demo's as of `day`, a real database's as it is now."""
        if self.is_demo:
            frame = company.customers(day)
        else:
            frame = self._read("customers", CUSTOMERS_SQL)
        frame["mrr"] = pd.to_numeric(frame["mrr"], errors="raise")
        return frame

    def has_usage_metrics(self) -> bool:
        """The optional usage_metrics table exists (absent: requests are the only metric); the demo has one."""
        if self.is_demo:
            return True
        try:
            return inspect(self.engine).has_table("usage_metrics")
        except DBAPIError as exc:
            raise ProductDatabaseError(
                f"product database {display_url(self.resolved_url)} (COST_APP_DB_URL) cannot be read: {exc.orig}"
            ) from exc

    def usage_metrics(self, first: dt.date, last: dt.date) -> pd.DataFrame:
        """date, service, customer_id ('' for a service's own usage), metric, quantity: every metric,
        requests (service_metrics.request_count) included, one row per key. Raises
        InvalidUsageMetric naming the rows with a negative or missing quantity."""
        requests = self.service_metrics(first, last).rename(columns={"request_count": "quantity"}).assign(metric=REQUESTS)
        frames = [requests]
        if self.has_usage_metrics():
            if self.is_demo:
                other = company.usage_metrics(first, last)
            else:
                other = self._read("usage_metrics", USAGE_METRICS_SQL, first=first, last=last)
            other["date"] = pd.to_datetime(other["date"]).dt.date
            other["customer_id"] = other["customer_id"].fillna("").astype(str).str.strip()
            other["metric"] = other["metric"].astype(str).str.strip()
            other["quantity"] = pd.to_numeric(other["quantity"], errors="coerce")
            check_usage_quantities(other)
            if (other["metric"] == REQUESTS).any():
                raise ProductDatabaseError(
                    "product database table `usage_metrics` has rows of metric 'requests'; requests come from "
                    "service_metrics.request_count: keep them there only")
            frames.append(other)
        frame = pd.concat(frames, ignore_index=True)
        frame["quantity"] = frame["quantity"].astype(float)
        return frame.groupby(USAGE_KEYS, as_index=False, sort=True)["quantity"].sum()[[*USAGE_KEYS, "quantity"]]

    def service_metrics(self, first: dt.date, last: dt.date) -> pd.DataFrame:
        if self.is_demo:
            frame = company.service_metrics(first, last)
        else:
            frame = self._read("service_metrics", SERVICE_METRICS_SQL, first=first, last=last)
            frame["date"] = pd.to_datetime(frame["date"]).dt.date
        frame["request_count"] = pd.to_numeric(frame["request_count"], errors="raise").astype("int64")
        return frame
