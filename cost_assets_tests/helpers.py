"""Test helpers: in-process materialization over a range of days."""

from __future__ import annotations

import datetime as dt
import multiprocessing

import pandas as pd
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from sqlalchemy import Boolean, Date, DateTime, Float, Numeric

from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources import schema
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse


def materialize_days(assets, warehouse: Warehouse, first: dt.date, last: dt.date, *, instance=None,
                     raise_on_error: bool = True, **resources):
    """Materialize `assets` for UTC days first..last in one run, demo inputs by default."""
    all_resources = {
        "warehouse": warehouse,
        "product_db": ProductDatabase(),
        "billing": BillingSourceResource(source="demo"),
        **resources,
    }
    return materialize(
        assets,
        resources=all_resources,
        instance=instance or DagsterInstance.ephemeral(),
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        raise_on_error=raise_on_error,
    )


def failure_message(result) -> str:
    """The failed step's error with its causes: what a user reads in the run log."""
    error = result.get_step_failure_events()[0].step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def _comparable(value, column_type):
    """One value as both warehouses give it back: days, hours, flags, money to the micro-dollar."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(column_type, DateTime):
        return pd.Timestamp(value).isoformat()
    if isinstance(column_type, Date):
        return pd.Timestamp(value).date().isoformat()
    if isinstance(column_type, Boolean):
        return bool(value)
    if isinstance(column_type, (Numeric, Float)):
        return round(float(value), 6)
    return value


def table_contents(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every row of every table, sorted."""
    contents = {}
    for table in schema.metadata.sorted_tables:
        frame = warehouse.read(f"SELECT * FROM {table.name}")
        types = [table.c[name].type for name in frame.columns]
        rows = (tuple(_comparable(v, t) for v, t in zip(row, types)) for row in frame.itertuples(index=False))
        contents[table.name] = sorted(rows, key=repr)
    return contents


def empty_tables(warehouse: Warehouse) -> None:
    """Delete every row, keeping the schema (to compare two ways of filling one warehouse)."""
    with warehouse.transaction() as conn:
        for table in schema.metadata.sorted_tables:
            conn.execute(table.delete())


def fresh_processes(test_module: str):
    """A multiprocessing context for tests that need several processes at once (run workers,
    concurrent migrators): each is a new process holding none of the test's connections or
    engines, forked from a server that imported Dagster, pandas, the project and `test_module`
    once, so it starts in a fraction of a second instead of re-importing them all as a
    "spawn" process does. (The server starts on first use, with the environment of that
    moment; later preloads are ignored.)"""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cost_assets.definitions", "cost_assets.api.app", test_module])
    return context


def product_database(path, customers: list[tuple], requests: list[tuple], usage: list[tuple] = ()) -> str:
    """A product database (SQLite file at `path`) as a company keeps it: customers (id, name, mrr, status),
    service_metrics (date, service, customer_id, request_count) and usage_metrics (date, service,
    customer_id or None for the service's own usage, metric, quantity). Returns its URL."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{path}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, mrr NUMERIC, status TEXT)"))
        conn.execute(text("CREATE TABLE service_metrics (date DATE, service TEXT, customer_id TEXT, request_count BIGINT)"))
        conn.execute(text("CREATE TABLE usage_metrics (date DATE, service TEXT, customer_id TEXT NULL, metric TEXT, "
                          "quantity NUMERIC)"))
        for row in customers:
            conn.execute(text("INSERT INTO customers VALUES (:i, :n, :m, :s)"), dict(zip("inms", row)))
        for day, service, customer, count in requests:
            conn.execute(text("INSERT INTO service_metrics VALUES (:d, :s, :c, :n)"),
                         {"d": day.isoformat(), "s": service, "c": customer, "n": count})
        for day, service, customer, metric, quantity in usage:
            conn.execute(text("INSERT INTO usage_metrics VALUES (:d, :s, :c, :m, :q)"),
                         {"d": day.isoformat(), "s": service, "c": customer, "m": metric, "q": quantity})
    return url


def company_settings(monkeypatch, tmp_path, source: str, source_uri, rules: dict, app_db: str) -> dict:
    """Point the settings at a company a test built: its billing source, its rules file (written
    from `rules` to tmp_path/rules.yaml) and its product database. Returns the resources to run with."""
    import yaml

    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules))
    monkeypatch.setenv("COST_SOURCE", source)
    monkeypatch.setenv("COST_SOURCE_URI", str(source_uri))
    monkeypatch.setenv("COST_ALLOCATION_RULES", str(rules_path))
    return {"billing": BillingSourceResource(), "product_db": ProductDatabase(url=app_db)}
