"""Warehouse schema migrations (Alembic): fresh, adopted from the release before them, views, readers."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from dagster import build_schedule_context
from fastapi.testclient import TestClient
from sqlalchemy import Float, Integer, Numeric, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cost_assets.api.app import create_app
from cost_assets.definitions import defs
from cost_assets.ingestion.schedules import daily_refresh_schedule
from cost_assets.resources import migrations, schema
from cost_assets.resources.migrations.cli import main as cost_warehouse
from cost_assets.resources.warehouse import Warehouse, WarehouseError, engine_for
from cost_assets.resources.views import VIEWS
from cost_assets_tests.api.conftest import AUTH, TOKEN
from cost_assets_tests.fixtures import build_pre_migration_warehouse as fixture
from cost_assets_tests.helpers import fresh_processes, materialize_days

VIEW_NAMES = [view.name for view in VIEWS]
STALE_CUSTOMERS_VIEW = "CREATE VIEW customers AS SELECT id, name FROM customer_snapshots"


def tables_and_views(warehouse: Warehouse) -> set[str]:
    inspector = inspect(warehouse.engine)
    return set(inspector.get_table_names()) | set(inspector.get_view_names())


def schema_diff(warehouse: Warehouse) -> list:
    with warehouse.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, schema.metadata)


def assert_primary_keys_current(warehouse: Warehouse) -> None:
    """Every table is keyed as schema.py keys it, in its order (compare_metadata does not look at keys)."""
    inspector = inspect(warehouse.engine)
    for table in schema.metadata.sorted_tables:
        assert inspector.get_pk_constraint(table.name)["constrained_columns"] == [c.name for c in table.primary_key], table.name


def assert_views_current(warehouse: Warehouse) -> None:
    """Every view is defined as views.VIEWS defines it now."""
    dialect = warehouse.dialect()
    creates = [s for s in migrations.view_statements(dialect) if s.startswith("CREATE")]
    assert len(creates) == len(VIEW_NAMES)
    with warehouse.engine.begin() as conn:
        for name, statement in zip(VIEW_NAMES, creates):
            select_sql = re.sub(r"^CREATE (OR REPLACE )?VIEW (IF NOT EXISTS )?\w+ AS ", "", statement)
            if dialect == "sqlite":
                stored = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = :n"),
                                      {"n": name}).scalar_one()
                assert stored == f"CREATE VIEW {name} AS {select_sql}", name
            else:  # PostgreSQL keeps a normalized definition: compare with the code's, normalized the same way
                conn.execute(text(f"CREATE TEMP VIEW expected_{name} AS {select_sql}"))
                stored, expected = conn.execute(text(
                    f"SELECT pg_get_viewdef('{name}'::regclass), pg_get_viewdef('expected_{name}'::regclass)")).one()
                assert stored == expected, name
                conn.execute(text(f"DROP VIEW expected_{name}"))


def head_views_fingerprint() -> tuple[str, str]:
    """(revision, views_fingerprint) of the newest revision that records one."""
    for script in migrations.scripts().walk_revisions():
        recorded = getattr(script.module, "views_fingerprint", None)
        if recorded:
            return script.revision, recorded
    raise AssertionError("no revision records views_fingerprint")


# --- fresh warehouses ---------------------------------------------------------------------------


def test_a_fresh_warehouse_migrated_to_head_is_exactly_schema_py(warehouse):
    warehouse.create_schema()
    assert schema_diff(warehouse) == []
    assert_primary_keys_current(warehouse)
    assert set(schema.metadata.tables) | set(VIEW_NAMES) | {"alembic_version"} == tables_and_views(warehouse)
    assert_views_current(warehouse)
    with warehouse.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()


def test_views_of_the_code_are_those_the_head_revision_records():
    """A changed view needs a revision: every upgrade that moves the revision recreates the views."""
    revision, recorded = head_views_fingerprint()
    assert recorded == migrations.views_fingerprint(), (
        f"views.VIEWS changed since revision {revision}: add a revision (`python -m cost_assets.resources.migrations "
        f"revision -m '...'`) recording views_fingerprint = {migrations.views_fingerprint()!r}")


def next_revision(tmp_path: Path, revision: str) -> Path:
    """A folder with one empty revision after this release's head: an upgrade to it moves the revision."""
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / f"{revision}.py").write_text(
        f'revision = "{revision}"\ndown_revision = "{migrations.head()}"\n'
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n")
    return versions


def test_a_revision_recreates_changed_views(warehouse, tmp_path):
    warehouse.create_schema()
    with warehouse.engine.begin() as conn:  # the view as an older release defined it
        conn.execute(text("DROP VIEW customers"))
        conn.execute(text(STALE_CUSTOMERS_VIEW))
        # and a view of the user's own that reads ours
        conn.execute(text('CREATE VIEW my_spend AS SELECT "ServiceName", SUM("BilledCost") AS billed '
                          'FROM focus_costs GROUP BY "ServiceName"'))
        conn.execute(text("CREATE VIEW my_customers AS SELECT id FROM customers"))
    with pytest.raises(AssertionError):
        assert_views_current(warehouse)

    versions = next_revision(tmp_path, "9999_test_view_change")
    before, after = migrations.upgrade(warehouse.engine, extra_version_locations=[versions])

    assert (before, after) == (migrations.head(), "9999_test_view_change")
    assert_views_current(warehouse)
    assert "status" in {c["name"] for c in inspect(warehouse.engine).get_columns("customers")}
    assert warehouse.read("SELECT COUNT(*) AS n FROM my_spend")["n"].iloc[0] == 0  # still there, still answers
    assert warehouse.read("SELECT COUNT(*) AS n FROM my_customers")["n"].iloc[0] == 0


@pytest.mark.postgres
def test_a_view_whose_columns_change_names_the_users_views_that_read_it(postgres_schema_url, tmp_path):
    """PostgreSQL replaces a view in place only when its columns stay (new ones at the end)."""
    warehouse = Warehouse(url=postgres_schema_url)
    warehouse.create_schema()
    with warehouse.engine.begin() as conn:  # an older customers view with a column this release drops
        conn.execute(text("DROP VIEW customers"))
        conn.execute(text("CREATE VIEW customers AS SELECT id, name, mrr, status, 1 AS legacy FROM customer_snapshots"))
        conn.execute(text("CREATE VIEW my_customers AS SELECT id, legacy FROM customers"))
    versions = next_revision(tmp_path, "9999_test_view_change")

    with pytest.raises(migrations.WarehouseSchemaError,
                       match=r"view customers changes its columns in this release and cannot be replaced while "
                             r"my_customers read it: drop them, run `cost-warehouse upgrade`, then create them again"):
        migrations.upgrade(warehouse.engine, extra_version_locations=[versions])
    with warehouse.engine.connect() as conn:  # nothing was changed
        assert migrations.current(conn) == migrations.head()

    with warehouse.engine.begin() as conn:
        conn.execute(text("DROP VIEW my_customers"))
    assert migrations.upgrade(warehouse.engine, extra_version_locations=[versions])[1] == "9999_test_view_change"
    assert_views_current(warehouse)


def test_an_upgrade_at_head_changes_nothing(warehouse):
    warehouse.create_schema()
    with warehouse.engine.begin() as conn:
        conn.execute(text("DROP VIEW customers"))
        conn.execute(text(STALE_CUSTOMERS_VIEW))
    assert migrations.upgrade(warehouse.engine) == (migrations.head(), migrations.head())
    with pytest.raises(AssertionError):  # untouched: no revision was applied
        assert_views_current(warehouse)


def _upgrade_at_once(url: str, barrier) -> None:
    barrier.wait()
    Warehouse(url=url).create_schema()


def test_parallel_steps_can_migrate_a_fresh_warehouse(warehouse):
    """A multiprocess run starts several steps at once on an empty warehouse (the CLI range run does)."""
    context = fresh_processes(__name__)
    barrier = context.Barrier(6)
    workers = [context.Process(target=_upgrade_at_once, args=(warehouse.resolved_url, barrier)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * 6
    assert warehouse.read("SELECT version_num FROM alembic_version")["version_num"].tolist() == [migrations.head()]
    assert schema_diff(warehouse) == []


def test_a_run_migrates_even_when_its_first_use_of_the_warehouse_is_a_read(sqlite_warehouse):
    """cost_anomalies reads daily_costs before it writes: in a run, that read migrates."""
    from cost_assets.anomalies.assets import cost_anomalies

    day = dt.date(2026, 3, 10)
    assert materialize_days([cost_anomalies], sqlite_warehouse, day, day).success
    with sqlite_warehouse.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()


# --- readers never migrate ----------------------------------------------------------------------


def test_readers_refuse_a_warehouse_without_the_schema_and_create_nothing(warehouse, capsys):
    with pytest.raises(WarehouseError, match=r"has no cost tables yet: run `cost-warehouse upgrade`"):
        warehouse.read("SELECT 1")

    client = TestClient(create_app(warehouse.resolved_url, TOKEN))
    response = client.get("/costs/teams", headers=AUTH)
    assert response.status_code == 503
    assert "run `cost-warehouse upgrade`" in response.json()["detail"]

    tick = dt.datetime(2026, 3, 10, 6, tzinfo=dt.timezone.utc)
    context = build_schedule_context(scheduled_execution_time=tick, resources={"warehouse": warehouse})
    assert daily_refresh_schedule.evaluate_tick(context).run_requests  # still requests the run, which migrates

    assert cost_warehouse(["--url", warehouse.resolved_url, "check"]) == 1
    assert "cost-warehouse upgrade" in capsys.readouterr().err
    assert tables_and_views(warehouse) == set()

    assert cost_warehouse(["--url", warehouse.resolved_url, "upgrade"]) == 0
    assert f"upgraded from nothing to schema revision {migrations.head()}" in capsys.readouterr().out
    assert cost_warehouse(["--url", warehouse.resolved_url, "check"]) == 0
    assert client.get("/costs/teams", headers=AUTH).json()["teams"] == []  # migrated, no report rows yet


def test_readers_refuse_a_warehouse_behind_or_ahead_of_this_release(warehouse, tmp_path):
    warehouse.create_schema()
    versions = next_revision(tmp_path, "9999_newer")
    with warehouse.engine.connect() as conn:  # a release whose head is one revision further
        with pytest.raises(migrations.WarehouseSchemaError,
                           match=rf"at schema revision {migrations.head()}, this release needs 9999_newer: "
                                 r"run `cost-warehouse upgrade`"):
            migrations.require_current(conn, "w", extra_version_locations=[versions])

    migrations.upgrade(warehouse.engine, extra_version_locations=[versions])
    with warehouse.engine.connect() as conn:  # and this release, behind that warehouse, says so
        with pytest.raises(migrations.WarehouseSchemaError, match="does not know .written by a newer release"):
            migrations.require_current(conn, "w")


# --- the release before migrations --------------------------------------------------------------

FIXTURE_FIRST, FIXTURE_LAST = fixture.FIRST, fixture.LAST
USER_VIEWS = ["CREATE VIEW my_daily_bill AS SELECT date, SUM(billed_cost) AS billed FROM daily_costs GROUP BY date",
              "CREATE VIEW my_hourly_rows AS SELECT hour_start, resource_id FROM hourly_costs"]


def load_pre_migration_warehouse(warehouse: Warehouse, tmp_path: Path) -> None:
    """The vendored warehouse written by the release before migrations (main at 412de38)."""
    if warehouse.dialect() == "sqlite":
        shutil.copyfile(fixture.SQLITE_FILE, make_url(warehouse.resolved_url).database)
        return
    schema_name = make_url(warehouse.resolved_url).query["options"].removeprefix("-csearch_path=")
    dump = fixture.POSTGRES_FILE.read_text().replace(f"{fixture.SCHEMA_TOKEN}.", f"{schema_name}.")
    loader = create_engine(warehouse.resolved_url, poolclass=NullPool)  # the dump resets search_path
    raw = loader.raw_connection()
    try:
        raw.driver_connection.execute(dump)
        raw.driver_connection.commit()
    finally:
        raw.close()
        loader.dispose()


def totals_per_table(warehouse: Warehouse) -> dict[str, tuple]:
    """Row count and the sum of every numeric column, per baseline table."""
    totals = {}
    with warehouse.engine.connect() as conn:
        for table in migrations.scripts().get_revision(migrations.BASELINE).module.metadata.sorted_tables:
            numeric = [c for c in table.columns if isinstance(c.type, (Numeric, Float, Integer))]
            row = conn.execute(select(func.count(), *[func.sum(c) for c in numeric]).select_from(table)).one()
            totals[table.name] = tuple(round(float(value), 6) if value is not None else None for value in row)
    return totals


def test_a_warehouse_of_the_release_before_migrations_is_upgraded_and_keeps_every_row(warehouse, tmp_path, capsys):
    load_pre_migration_warehouse(warehouse, tmp_path)
    before = totals_per_table(warehouse)
    assert before["daily_costs"][0] > 0 and before["customer_unit_economics"][0] > 0
    with warehouse.engine.begin() as conn:  # an old view: SQLite never replaced views before migrations
        conn.execute(text("DROP VIEW customers"))
        conn.execute(text(STALE_CUSTOMERS_VIEW))
        for statement in USER_VIEWS:  # and the user's own, on the tables 0008 re-keys
            conn.execute(text(statement))
    with pytest.raises(WarehouseError, match="release from before schema migrations: run `cost-warehouse upgrade`"):
        warehouse.read("SELECT COUNT(*) FROM daily_costs")

    assert cost_warehouse(["--url", warehouse.resolved_url, "upgrade"]) == 0
    assert "upgraded from a release from before schema migrations" in capsys.readouterr().out

    assert totals_per_table(warehouse) == before
    assert schema_diff(warehouse) == []
    assert_primary_keys_current(warehouse)
    # 0008: the old rows are on no invoice as far as the warehouse knows, until their days are read again
    assert warehouse.read("SELECT DISTINCT invoice_id FROM daily_costs")["invoice_id"].tolist() == [""]
    # the user's views are kept and still answer
    assert warehouse.read("SELECT SUM(billed) AS total FROM my_daily_bill")["total"].iloc[0] == pytest.approx(
        warehouse.read("SELECT SUM(billed_cost) AS total FROM daily_costs")["total"].iloc[0])
    assert warehouse.read("SELECT COUNT(*) AS n FROM my_hourly_rows")["n"].iloc[0] == before["hourly_costs"][0]
    assert_views_current(warehouse)
    with warehouse.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()

    # The new release writes the next days next to the old ones, and the API serves both.
    new_first, new_last = FIXTURE_LAST + dt.timedelta(days=1), FIXTURE_LAST + dt.timedelta(days=2)
    assert materialize_days(list(defs.assets), warehouse, new_first, new_last).success
    days = warehouse.read("SELECT DISTINCT date FROM daily_costs ORDER BY date")["date"].astype(str).tolist()
    assert days == [str(FIXTURE_FIRST + dt.timedelta(days=i)) for i in range((new_last - FIXTURE_FIRST).days + 1)]
    old_rows = warehouse.read("SELECT COUNT(*) AS n FROM daily_costs WHERE date <= :last", last=FIXTURE_LAST)
    assert old_rows["n"].iloc[0] == before["daily_costs"][0]

    client = TestClient(create_app(warehouse.resolved_url, TOKEN))
    trend = client.get(f"/costs/trend?days=5&as_of={new_last}", headers=AUTH)
    assert trend.status_code == 200
    assert [d["date"] for d in trend.json()["trend"]] == days
    customers = client.get("/costs/customers", headers=AUTH)
    assert customers.status_code == 200 and customers.json()["customers"]
    teams = client.get(f"/costs/teams?as_of={FIXTURE_LAST}", headers=AUTH)  # a day the old release computed
    assert teams.status_code == 200 and teams.json()["teams"]
