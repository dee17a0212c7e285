"""The ways users run the project: the CLI range run and a Postgres-backed Dagster instance."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from dagster import AssetKey, DagsterInstance
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cost_assets.ingestion.assets import billing_costs
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.conftest import _postgres_or_skip
from cost_assets_tests.helpers import materialize_days

import datetime as dt
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_headless_partition_range_run_from_the_cli(tmp_path):
    """docs/reference.md#headless-runs: one command materializes every asset for a range of days."""
    warehouse_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "COST_WAREHOUSE_URL": warehouse_url}
    env.pop("COST_SOURCE", None)
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "cost_assets.definitions", "--select", "*",
         "--partition-range", "2026-03-01...2026-03-03"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout
    days = Warehouse(url=warehouse_url).read("SELECT COUNT(DISTINCT date) AS n FROM daily_costs")
    assert days["n"].iloc[0] == 3


@pytest.fixture
def postgres_dagster_home(tmp_path):
    """A DAGSTER_HOME using the shipped deploy/dagster.yaml on a fresh Postgres database."""
    server = make_url(_postgres_or_skip())
    database = f"dagster_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))
    shutil.copy(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {"DAGSTER_PG_HOST": server.host, "DAGSTER_PG_DB": database,
           "DAGSTER_PG_USER": server.username, "DAGSTER_PG_PASSWORD": server.password or ""}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield tmp_path, server.set(database=database)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {database} WITH (FORCE)"))
    admin.dispose()


@pytest.mark.postgres
def test_materialization_on_a_postgres_backed_dagster_instance(postgres_dagster_home, sqlite_warehouse):
    home, dagster_db = postgres_dagster_home
    instance = DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize_days([billing_costs], sqlite_warehouse, dt.date(2026, 3, 1), dt.date(2026, 3, 2), instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(AssetKey("daily_costs")) is not None
    finally:
        instance.dispose()
    engine = create_engine(dagster_db)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM event_logs WHERE asset_key LIKE '%daily_costs%'")).scalar_one()
    engine.dispose()
    assert stored >= 2  # one materialization per partition, in Postgres
