"""The warehouse: a Dagster resource over a SQLAlchemy engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Iterator, Optional

import pandas as pd
from dagster import ConfigurableResource, InitResourceContext
from psycopg import OperationalError as DriverOperationalError
from pydantic import PrivateAttr
from sqlalchemy import Connection, Engine, Table, delete, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import Executable

from cost_assets import settings
from cost_assets.partitions import day_range
from cost_assets.settings import DatabaseTimeouts
from cost_assets.resources.bulk import insert_rows
from cost_assets.resources.database import display_url, engine_for, tables_in, timeout_setting  # noqa: F401 (re-exported)


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or used; the message names the URL (no password)."""


class SchemaNotCurrentError(WarehouseError):
    """The warehouse schema is not this release's (empty, behind or newer); the message names the command to run."""


# URLs whose schema this process found (or made) current: schemas only move forward.
_SCHEMA_READY: set[str] = set()


class Warehouse(ConfigurableResource):
    """Every output table lives here. `url` defaults to COST_WAREHOUSE_URL, else SQLite;
    the timeouts default to COST_DB_*_TIMEOUT_S."""

    url: Optional[str] = None
    connect_timeout_s: Optional[float] = None
    statement_timeout_s: Optional[float] = None
    lock_timeout_s: Optional[float] = None
    _migrates_on_use: bool = PrivateAttr(default=False)  # set for runs by setup_for_execution

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

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # In a run (not a sensor or schedule) the first use, read or write, migrates the
        # schema; it happens in the step, so a failure is reported where it is seen.
        self._migrates_on_use = context.dagster_run is not None

    def create_schema(self) -> None:
        """Migrate the warehouse to this release's schema (Alembic upgrade to head), once per process.

        The write path only: runs call it; readers call require_current_schema instead.
        """
        from cost_assets.resources import migrations

        if self.resolved_url in _SCHEMA_READY:
            return
        try:
            with self._translate_errors():
                migrations.upgrade(self.engine)
        except migrations.WarehouseSchemaError as exc:
            raise WarehouseError(f"warehouse {display_url(self.resolved_url)}: {exc}") from exc
        _SCHEMA_READY.add(self.resolved_url)

    def require_current_schema(self, where: Optional[str] = None) -> None:
        """Refuse (SchemaNotCurrentError naming the upgrade command) unless the schema is this release's.
        Reads only: the API, sensors and schedules never change the warehouse. `where` names
        the warehouse in the message (default: its masked URL)."""
        from cost_assets.resources import migrations

        if self.resolved_url in _SCHEMA_READY:
            return
        with self._translate_errors(), self.engine.connect() as conn:
            try:
                migrations.require_current(conn, where or display_url(self.resolved_url))
            except migrations.WarehouseSchemaError as exc:
                raise SchemaNotCurrentError(str(exc)) from exc
        _SCHEMA_READY.add(self.resolved_url)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self.create_schema()
        with self._translate_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A connection for reading, once the schema is current: checked (never DDL) outside runs."""
        if self._migrates_on_use:
            self.create_schema()
        else:
            self.require_current_schema()
        with self._translate_errors(), self.engine.connect() as conn:
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
        first..last: readers that decide what to write take it before they read.

        Another run writing those months is waited for up to COST_DB_STATEMENT_TIMEOUT_S
        (runs queue behind each other), not the lock timeout meant for stray table locks.
        """
        if conn.dialect.name != "postgresql":
            return  # SQLite has one writer at a time already
        months = sorted({day.year * 12 + day.month - 1 for day in day_range(first, last)})
        timeouts = self.timeouts
        try:
            conn.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{int(timeouts.statement_s * 1000)}"})
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:table), month) FROM unnest(CAST(:months AS integer[])) AS month "
                              "ORDER BY month"), {"table": f"cost_assets.{table.name}", "months": months})
            conn.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{int(timeouts.lock_s * 1000)}"})
        except OperationalError as exc:
            if timeout_setting(str(exc.orig)) is None:
                raise
            raise WarehouseError(
                f"another run is writing {table.name} for {first}..{last} in warehouse "
                f"{display_url(self.resolved_url)}; this run waited COST_DB_STATEMENT_TIMEOUT_S={timeouts.statement_s:g} s "
                "for it and gave up: re-run it when the other run has finished"
            ) from exc

    def read(self, query: Executable | str, **params) -> pd.DataFrame:
        statement = text(query) if isinstance(query, str) else query
        with self.reader() as conn:
            return pd.read_sql(statement, conn, params=params or None)

    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            raise WarehouseError(self.describe_error(exc)) from exc
