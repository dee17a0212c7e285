"""Shared fixtures: temporary warehouses on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cost_assets.resources.warehouse import Warehouse, engine_for

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_server_url() -> str:
    return os.environ.get("COST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_or_skip() -> str:
    url = postgres_server_url()
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        if os.environ.get("COST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (COST_REQUIRE_POSTGRES=1) but {make_url(url).render_as_string(hide_password=True)} is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL at {make_url(url).render_as_string(hide_password=True)} (set COST_TEST_POSTGRES_URL): {exc}")
    return url


@contextmanager
def _postgres_schema():
    url = _postgres_or_skip()
    schema = f"cost_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped_url = scoped.render_as_string(hide_password=False)
    yield scoped_url
    engine_for(scoped_url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def postgres_schema_url():
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    with _postgres_schema() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_schema_url():
    """postgres_schema_url shared by a module's tests."""
    with _postgres_schema() as url:
        yield url


@pytest.fixture
def sqlite_warehouse(tmp_path) -> Warehouse:
    return Warehouse(url=f"sqlite:///{tmp_path / 'warehouse.db'}")


WAREHOUSE_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=WAREHOUSE_KINDS)
def warehouse(request, tmp_path) -> Warehouse:
    """The same test on both warehouses."""
    if request.param == "sqlite":
        return Warehouse(url=f"sqlite:///{tmp_path / 'warehouse.db'}")
    return Warehouse(url=request.getfixturevalue("postgres_schema_url"))


@pytest.fixture(scope="module", params=WAREHOUSE_KINDS)
def module_warehouse(request, tmp_path_factory) -> Warehouse:
    """`warehouse` shared by a module's tests: only for tests that do not write to it."""
    if request.param == "sqlite":
        return Warehouse(url=f"sqlite:///{tmp_path_factory.mktemp('warehouse') / 'warehouse.db'}")
    return Warehouse(url=request.getfixturevalue("module_postgres_schema_url"))


@pytest.fixture
def clean_env(monkeypatch, request):
    """The settings the test module names in SETTINGS, unset."""
    for name in request.module.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
