"""The warehouse: a Dagster resource over a SQLAlchemy engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional

import pandas as pd
from dagster import ConfigurableResource
from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.schema import CreateColumn, SetColumnComment
from sqlalchemy.sql import Executable

from cost_assets import settings
from cost_assets.resources import schema
from cost_assets.resources.bulk import insert_rows
from cost_assets.resources.views import VIEWS


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or used; the message names the URL (no password)."""


def display_url(url: str) -> str:
    """The URL with any password masked, safe to log."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


_SCHEMA_READY: set[str] = set()
SCHEMA_ATTEMPTS = 5


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # WAL lets readers (the API) run during writes
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


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
    """Every output table lives here. `url` defaults to COST_WAREHOUSE_URL, else SQLite."""

    url: Optional[str] = None

    @property
    def resolved_url(self) -> str:
        return self.url or settings.warehouse_url()

    @property
    def engine(self) -> Engine:
        return engine_for(self.resolved_url)

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise WarehouseError(
                f"warehouse {display_url(self.resolved_url)} (COST_WAREHOUSE_URL) cannot be used: {exc.orig}"
            ) from exc

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
        """Delete the days first..last from `table` and insert `rows` (inside `conn`'s transaction)."""
        column = table.c[date_column]
        conn.execute(delete(table).where(column >= first, column <= last))
        if rows.empty:
            return 0
        outside = (rows[date_column] < first) | (rows[date_column] > last)
        if outside.any():
            raise ValueError(f"{table.name}: {int(outside.sum())} row(s) fall outside {first}..{last}")
        insert_rows(conn, table, rows)
        return len(rows)

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
            raise WarehouseError(
                f"warehouse {display_url(self.resolved_url)} (COST_WAREHOUSE_URL) is unreachable: {exc.orig}"
            ) from exc
