"""The warehouse: a Dagster resource over a SQLAlchemy engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import pandas as pd
from dagster import ConfigurableResource
from psycopg import OperationalError as DriverOperationalError
from sqlalchemy import Connection, Engine, Table, delete, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.schema import CreateColumn, SetColumnComment
from sqlalchemy.sql import Executable

from cost_assets import settings
from cost_assets.partitions import day_range
from cost_assets.settings import DatabaseTimeouts
from cost_assets.resources import schema
from cost_assets.resources.bulk import insert_rows
from cost_assets.resources.database import display_url, engine_for, tables_in, timeout_setting  # noqa: F401 (re-exported)
from cost_assets.resources.views import VIEWS


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or used; the message names the URL (no password)."""


_SCHEMA_READY: set[str] = set()
SCHEMA_ATTEMPTS = 5


def _add_new_columns(conn: Connection) -> None:
    """Add the columns a newer release declares to tables an older one created.

    Only additions, and only of columns an existing row can take (nullable, or
    with a server default); anything else needs a hand-written migration.
    """
    inspector = inspect(conn)
    for table in schema.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise WarehouseError(f"{table.name}.{column.name} is missing from the warehouse and cannot be added "
                                     "to existing rows (NOT NULL without a default)")
            conn.execute(text(f"ALTER TABLE {table.name} ADD {CreateColumn(column).compile(dialect=conn.dialect)}"))
            if conn.dialect.supports_comments and column.comment:
                conn.execute(SetColumnComment(column))


class Warehouse(ConfigurableResource):
    """Every output table lives here. `url` defaults to COST_WAREHOUSE_URL, else SQLite;
    the timeouts default to COST_DB_*_TIMEOUT_S."""

    url: Optional[str] = None
    connect_timeout_s: Optional[float] = None
    statement_timeout_s: Optional[float] = None
    lock_timeout_s: Optional[float] = None

    @property
    def resolved_url(self) -> str:
        return self.url or settings.warehouse_url()

    @property
    def timeouts(self) -> DatabaseTimeouts:
        default = settings.get_settings().db_timeouts
        return DatabaseTimeouts(
            connect_s=default.connect_s if self.connect_timeout_s is None else self.connect_timeout_s,
            statement_s=default.statement_s if self.statement_timeout_s is None else self.statement_timeout_s,
            lock_s=default.lock_s if self.lock_timeout_s is None else self.lock_timeout_s,
        )

    @property
    def engine(self) -> Engine:
        return engine_for(self.resolved_url, self.timeouts)

    def describe_error(self, exc: BaseException, tables: list[str] | None = None) -> str:
        """What went wrong, naming the warehouse (masked), the tables and the setting to change."""
        orig = getattr(exc, "orig", None) or exc
        message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        tables = tables or tables_in(getattr(exc, "statement", None))
        where = f" on table {', '.join(tables)}" if tables else ""
        setting = timeout_setting(message)
        limit = ""
        if setting:
            value = {"COST_DB_CONNECT_TIMEOUT_S": self.timeouts.connect_s,
                     "COST_DB_STATEMENT_TIMEOUT_S": self.timeouts.statement_s,
                     "COST_DB_LOCK_TIMEOUT_S": self.timeouts.lock_s}[setting]
            limit = f" (gave up after {setting}={value:g} s)"
        return f"warehouse {display_url(self.resolved_url)} (COST_WAREHOUSE_URL) cannot be used{where}{limit}: {message}"

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except WarehouseError:
            raise
        except OperationalError as exc:
            raise WarehouseError(self.describe_error(exc)) from exc
        except DriverOperationalError as exc:  # raised by the driver itself on the COPY paths
            raise WarehouseError(self.describe_error(exc)) from exc

    def create_schema(self) -> None:
        """Create missing tables (with keys and comments) and the views, once per process."""
        if self.resolved_url in _SCHEMA_READY:
            return
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                with self._translate_errors(), self.engine.begin() as conn:
                    schema.metadata.create_all(conn)
                    _add_new_columns(conn)
                    for view in VIEWS:
                        view.create(conn)
                break
            except (WarehouseError, DBAPIError):
                # Parallel run steps (processes) may create the same table at the same
                # moment on a fresh warehouse; the next pass finds it and skips it.
                if attempt == SCHEMA_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        _SCHEMA_READY.add(self.resolved_url)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self.create_schema()
        with self._translate_errors(), self.engine.begin() as conn:
            yield conn

    def replace_window(
        self,
        conn: Connection,
        table: Table,
        first: dt.date,
        last: dt.date,
        rows: pd.DataFrame,
        date_column: str = "date",
    ) -> int:
        """Delete the days first..last from `table` and insert `rows` (inside `conn`'s transaction).

        On PostgreSQL the transaction first takes an advisory lock per table and month
        written, so two runs over the same days take turns instead of racing into a
        duplicate key; runs over other months go on side by side.
        """
        self.lock_window(conn, table, first, last)
        column = table.c[date_column]
        conn.execute(delete(table).where(column >= first, column <= last))
        if rows.empty:
            return 0
        outside = (rows[date_column] < first) | (rows[date_column] > last)
        if outside.any():
            raise ValueError(f"{table.name}: {int(outside.sum())} row(s) fall outside {first}..{last}")
        try:
            insert_rows(conn, table, rows)
        except DriverOperationalError as exc:
            raise WarehouseError(self.describe_error(exc, [table.name])) from exc
        return len(rows)

    def lock_window(self, conn: Connection, table: Table, first: dt.date, last: dt.date) -> None:
        """Take (until the transaction ends) the PostgreSQL advisory lock of `table`'s months
        first..last: readers that decide what to write take it before they read."""
        if conn.dialect.name != "postgresql":
            return  # SQLite has one writer at a time already
        months = sorted({day.year * 12 + day.month - 1 for day in day_range(first, last)})
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:table), month) FROM unnest(CAST(:months AS integer[])) AS month "
                              "ORDER BY month"), {"table": f"cost_assets.{table.name}", "months": months})
        except OperationalError as exc:
            if timeout_setting(str(exc.orig)) != "COST_DB_LOCK_TIMEOUT_S":
                raise
            raise WarehouseError(
                f"another run is writing {table.name} for {first}..{last} in warehouse "
                f"{display_url(self.resolved_url)}; this run waited COST_DB_LOCK_TIMEOUT_S={self.timeouts.lock_s:g} s "
                "for it and gave up: re-run it when the other run has finished"
            ) from exc

    def read(self, query: Executable | str, **params) -> pd.DataFrame:
        statement = text(query) if isinstance(query, str) else query
        self.create_schema()
        with self._translate_errors(), self.engine.connect() as conn:
            return pd.read_sql(statement, conn, params=params or None)

    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            raise WarehouseError(self.describe_error(exc)) from exc
