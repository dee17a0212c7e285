"""Benchmark: backfill 365 days of the demo company as one run, into SQLite and PostgreSQL.

Run by hand:  .venv/bin/python benchmarks/ingestion_backfill.py [--postgres URL]
Prints a markdown table and writes it to benchmarks/INGESTION_RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.resources.warehouse import Warehouse, engine_for
from cost_assets_tests.helpers import materialize_days

FIRST, LAST = dt.date(2025, 11, 1), dt.date(2026, 10, 31)
TABLES = ["daily_costs", "hourly_costs", "customer_snapshots", "service_metrics"]


def run(warehouse: Warehouse) -> tuple[float, int]:
    started = time.perf_counter()
    result = materialize_days([billing_costs, customer_snapshots, service_metrics], warehouse, FIRST, LAST)
    seconds = time.perf_counter() - started
    assert result.success
    rows = sum(int(warehouse.read(f"SELECT COUNT(*) AS n FROM {t}")["n"].iloc[0]) for t in TABLES)
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(("SQLite", *run(Warehouse(url=f"sqlite:///{Path(tmp) / 'bench.db'}"))))

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        results.append(("PostgreSQL 15", *run(Warehouse(url=url))))
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))

    lines = [
        f"Backfill of {(LAST - FIRST).days + 1} demo days ({FIRST}..{LAST}) as one run: "
        "daily_costs, hourly_costs, customer_snapshots, service_metrics.",
        f"Measured {dt.date.today()} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| warehouse | seconds | rows written | rows/s |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {seconds:.1f} | {rows:,} | {rows / seconds:,.0f} |" for name, seconds, rows in results),
    ]
    report = "\n".join(lines)
    print(report)
    Path(__file__).with_name("INGESTION_RESULTS.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
