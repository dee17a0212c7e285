"""Warehouse schema migrations (Alembic), run from code.

`cost-warehouse upgrade` (or `python -m cost_assets.resources.migrations upgrade`)
brings a warehouse to this release's schema; runs do it themselves when they
start (Warehouse.create_schema). Readers (the API, sensors, schedules) never
change the schema: they check it (require_current) and refuse when it is behind.

- The revisions live in versions/ next to this file; no alembic.ini is read.
- A warehouse written before migrations existed (its tables, no alembic_version)
  is adopted: brought to the baseline as that release would have, then stamped.
- Views are not versioned table by table: every upgrade that moves the revision
  drops and recreates all of them from views.VIEWS. A revision records the
  views' fingerprint (`views_fingerprint`); a test fails when the code's views
  differ from the head's, which is when a new revision is due.
"""

from __future__ import annotations

import hashlib
import time
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_mock_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn, SetColumnComment

from cost_assets.resources.views import VIEWS

HERE = Path(__file__).resolve().parent
BASELINE = "0001_baseline"
VERSION_TABLE = "alembic_version"
UPGRADE_COMMAND = "cost-warehouse upgrade"
UPGRADE_ATTEMPTS = 5


class WarehouseSchemaError(RuntimeError):
    """The warehouse schema is not the one this release reads (behind, missing or newer)."""


def config(connection: Optional[Connection] = None, extra_version_locations: Iterable[Path] = ()) -> Config:
    """An Alembic config built in code: the scripts shipped in the package, `connection` for env.py."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    locations = [HERE / "versions", *map(Path, extra_version_locations)]
    cfg.set_main_option("version_locations", " ".join(str(location) for location in locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("file_template", "%%(rev)s")  # rev ids read 0002_add_x
    cfg.attributes["connection"] = connection
    return cfg


def scripts(extra_version_locations: Iterable[Path] = ()) -> ScriptDirectory:
    locations = tuple(extra_version_locations)
    return _scripts(locations) if not locations else ScriptDirectory.from_config(config(None, locations))


@lru_cache(maxsize=1)
def _scripts(_: tuple = ()) -> ScriptDirectory:
    return ScriptDirectory.from_config(config(None))


@lru_cache(maxsize=1)
def head() -> str:
    """The revision this release's code reads and writes."""
    return scripts().get_current_head()


def current(conn: Connection) -> Optional[str]:
    """The warehouse's revision; None when it has no alembic_version (fresh, or from before migrations)."""
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def is_unversioned_existing(conn: Connection) -> bool:
    """Cost tables written by a release from before migrations, and no alembic_version."""
    tables = set(inspect(conn).get_table_names())
    return VERSION_TABLE not in tables and bool(tables & set(_baseline_metadata().tables))


def _baseline_metadata():
    return scripts().get_revision(BASELINE).module.metadata


def view_statements(dialect: str) -> list[str]:
    """The statements views.VIEWS issue to create every view on `dialect` (sqlite, postgresql), without running them."""
    statements: list[str] = []
    driver = {"postgresql": "postgresql+psycopg"}.get(dialect, dialect)
    engine = create_mock_engine(f"{driver}://", lambda sql, *a, **k: statements.append(str(sql)))
    for view in VIEWS:
        view.create(engine)
    return statements


def views_fingerprint() -> str:
    """sha256 of the statements that create every view, on SQLite and PostgreSQL."""
    digest = hashlib.sha256()
    for dialect in ("sqlite", "postgresql"):
        digest.update("\n".join(view_statements(dialect)).encode())
    return digest.hexdigest()


def recreate_views(conn: Connection) -> None:
    """Every view as the code defines it.

    SQLite has no OR REPLACE: each view is dropped and created (SQLite lets views that read it be).
    PostgreSQL replaces each in place, so the user's own views that read ours survive; a view whose
    columns changed other than by new ones at the end must be dropped and created, which PostgreSQL
    refuses while another view reads it: the error names those views."""
    if conn.dialect.name != "postgresql":
        for view in reversed(VIEWS):
            conn.execute(text(f"DROP VIEW IF EXISTS {view.name}"))
        for view in VIEWS:
            view.create(conn)
        return
    for view in VIEWS:
        try:
            with conn.begin_nested():
                view.create(conn)
            continue
        except DBAPIError:  # e.g. a column dropped or renamed: CREATE OR REPLACE cannot
            pass
        try:
            with conn.begin_nested():
                conn.execute(text(f"DROP VIEW IF EXISTS {view.name}"))
        except DBAPIError as exc:
            readers = ", ".join(_views_reading(conn, view.name)) or "other objects"
            raise WarehouseSchemaError(
                f"view {view.name} changes its columns in this release and cannot be replaced while {readers} "
                f"read it: drop them, run `{UPGRADE_COMMAND}`, then create them again") from exc
        view.create(conn)


def _views_reading(conn: Connection, name: str) -> list[str]:
    """PostgreSQL: the views whose definitions read the relation `name` (of the search path)."""
    return list(conn.execute(text(
        "SELECT DISTINCT reader.relname FROM pg_depend d "
        "JOIN pg_rewrite r ON d.objid = r.oid JOIN pg_class reader ON r.ev_class = reader.oid "
        "JOIN pg_class source ON d.refobjid = source.oid "
        "WHERE source.relname = :name AND pg_table_is_visible(source.oid) AND reader.oid <> source.oid "
        "ORDER BY 1"), {"name": name}).scalars())


def adopt_existing(conn: Connection) -> None:
    """Bring a warehouse from before migrations to the baseline, as its release's
    create_schema would have on the next run (missing tables, and missing columns
    an existing row can take), then stamp it at the baseline."""
    baseline = _baseline_metadata()
    baseline.create_all(conn)  # checkfirst: only the missing tables
    inspector = inspect(conn)
    for table in baseline.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise WarehouseSchemaError(
                    f"{table.name}.{column.name} is missing from the warehouse and cannot be added to existing rows "
                    "(NOT NULL without a default): this warehouse predates the migration baseline")
            conn.execute(text(f"ALTER TABLE {table.name} ADD {CreateColumn(column).compile(dialect=conn.dialect)}"))
            if conn.dialect.supports_comments and column.comment:
                conn.execute(SetColumnComment(column))
    command.stamp(config(conn), BASELINE)


def _lock(conn: Connection) -> None:
    """Serialize upgraders: parallel run steps (processes) may start on the same fresh warehouse."""
    if conn.dialect.name == "postgresql":
        # A migration may rewrite large tables (COST_DB_STATEMENT_TIMEOUT_S is for queries), and
        # parallel steps wait for the one that migrates, however long; a table another session
        # holds still fails the upgrade after COST_DB_LOCK_TIMEOUT_S.
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("SET LOCAL lock_timeout = 0"))
        # Per schema: one database may hold several warehouses (one per search_path).
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.cost_assets_migrations'))"))
        conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    elif conn.dialect.name == "sqlite":
        # pysqlite leaves DDL outside transactions; take the write lock now so the
        # whole upgrade is one transaction and a second upgrader waits, then finds it done.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_connection(conn: Connection, target: str = "head", extra_version_locations: Iterable[Path] = ()) -> tuple[Optional[str], str]:
    """Upgrade inside `conn`'s transaction (the caller commits). Returns (revision before, revision after)."""
    _lock(conn)
    before = current(conn)
    adopted = before is None and is_unversioned_existing(conn)
    if adopted:
        adopt_existing(conn)
    cfg = config(conn, extra_version_locations)
    command.upgrade(cfg, target)
    after = current(conn)
    if adopted or after != before:
        recreate_views(conn)
    return before, after


def upgrade(engine: Engine, target: str = "head", extra_version_locations: Iterable[Path] = ()) -> tuple[Optional[str], str]:
    """Upgrade the warehouse to `target` in one transaction; retried when SQLite is busy."""
    for attempt in range(UPGRADE_ATTEMPTS):
        try:
            with engine.connect() as conn:
                outcome = upgrade_connection(conn, target, extra_version_locations)
                conn.commit()
                return outcome
        except DBAPIError:
            # SQLite: another process held the database past the busy timeout. The next
            # pass finds its work done (or does it); PostgreSQL waits on the lock instead.
            if attempt == UPGRADE_ATTEMPTS - 1 or engine.dialect.name != "sqlite":
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def require_current(conn: Connection, where: str, extra_version_locations: Iterable[Path] = ()) -> None:
    """Raise WarehouseSchemaError, naming the command to run, unless the warehouse is at this release's head.
    Reads only: the API, sensors and schedules call it."""
    script_directory = scripts(extra_version_locations)
    revision = current(conn)
    wanted = script_directory.get_current_head()
    if revision == wanted:
        return
    if revision is None:
        state = ("was written by a release from before schema migrations"
                 if is_unversioned_existing(conn) else "has no cost tables yet")
        raise WarehouseSchemaError(f"warehouse {where} {state}: run `{UPGRADE_COMMAND}` (or any asset run) "
                                   f"to bring it to schema revision {wanted}")
    if not _known(script_directory, revision):
        raise WarehouseSchemaError(f"warehouse {where} is at schema revision {revision}, which this release "
                                   f"does not know (written by a newer release?): upgrade this code")
    raise WarehouseSchemaError(f"warehouse {where} is at schema revision {revision}, this release needs {wanted}: "
                               f"run `{UPGRADE_COMMAND}`")


def _known(script_directory: ScriptDirectory, revision: str) -> bool:
    try:
        return script_directory.get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
        return False
