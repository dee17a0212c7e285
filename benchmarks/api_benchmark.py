"""Benchmark: the cost API over real HTTP under concurrent load, on PostgreSQL.

The warehouse holds 365 days x 2,000 customers x 20 services of report rows
(written straight into the output tables with COPY; the pipeline's own speed
is measured by the other benchmarks). `cost-api` runs as users start it; a
concurrent asyncio client measures latency.

Run by hand:  .venv/bin/python benchmarks/api_benchmark.py [--postgres URL]
Prints a markdown table and writes it to benchmarks/API_RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cost_assets.analytics.queries import rebuild_daily_team_costs
from cost_assets.resources.warehouse import Warehouse, engine_for

DAYS, CUSTOMERS, SERVICES, TEAMS = 365, 2000, 20, 5
LAST_DAY = dt.date(2026, 10, 31)
TOKEN = "benchmark-token"
CONCURRENCY = 4
COST_API = Path(sys.executable).with_name("cost-api")


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows) -> int:
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def fill(dsn: str, schema: str, url: str) -> dict[str, int]:
    rng = random.Random(7)
    days = [LAST_DAY - dt.timedelta(days=i) for i in range(DAYS)]
    services = [f"service-{i:02d}" for i in range(SERVICES)]
    team_of = {s: f"team-{i % TEAMS}" for i, s in enumerate(services)}
    customers = [f"cust-{i:04d}" for i in range(CUSTOMERS)]
    counts = {}
    with psycopg.connect(dsn, options=f"-csearch_path={schema}") as conn:
        counts["daily_costs"] = _copy(conn, "daily_costs", [
            "date", "provider", "account_id", "aws_service", "charge_category", "team", "service", "customer_id",
            "environment", "usage_unit", "billed_cost", "effective_cost", "usage_quantity", "is_estimated", "source"],
            ((d, "AWS", "1", f"aws-{k}", "Usage", team_of[s], s, "untagged", env, "Hrs", c, c, 1.0, False, "bench")
             for d in days for s in services for k in range(3) for env in ("production", "staging")
             for c in [round(rng.uniform(10, 200), 6)]))
        counts["customer_unit_economics"] = _copy(conn, "customer_unit_economics", [
            "as_of_date", "customer_id", "customer_name", "mrr", "monthly_infra_cost", "gross_margin_pct",
            "cost_trend_pct", "is_negative_margin", "status", "allocated_cost_30d", "previous_30_days_cost",
            "days_with_data", "missing_days", "overhead_cost", "fully_loaded_cost", "fully_loaded_margin_pct",
            "is_negative_margin_fully_loaded", "cost_breakdown"],
            ((d, c, f"Customer {c}", mrr, cost, (mrr - cost) / mrr * 100, 1.5, cost > mrr, "active", cost, cost, 30, 0,
              cost * 0.05, cost * 1.05, (mrr - cost * 1.05) / mrr * 100, cost * 1.05 > mrr,
              json.dumps([{"service": s, "cost": round(cost / 8, 2)} for s in services[:8]]))
             for d in days for c in customers
             for mrr, cost in [(rng.uniform(500, 20000), rng.uniform(100, 5000))]))
        counts["service_cost_report"] = _copy(conn, "service_cost_report", [
            "as_of_date", "service", "team", "last_30_days_cost", "daily_average", "trend_pct", "cost_per_request",
            "previous_30_days_cost", "days_with_data", "missing_days", "request_count", "customers_served",
            "cost_per_customer", "top_cost_drivers"],
            ((d, s, team_of[s], 30000.0, 1000.0, 2.0, 0.001, 29000.0, 30, 0, 30_000_000, CUSTOMERS, 15.0,
              json.dumps([{"awsService": f"aws-{k}", "cost": 10000.0} for k in range(3)]))
             for d in days for s in services))
        counts["team_costs"] = _copy(conn, "team_costs", [
            "as_of_date", "team", "last_30_days_cost", "service_count", "daily_average", "previous_30_days_cost",
            "trend_pct", "days_with_data", "missing_days"],
            ((d, f"team-{t}", 120000.0, 4, 4000.0, 118000.0, 1.7, 30, 0) for d in days for t in range(TEAMS)))
        conn.commit()
    warehouse = Warehouse(url=url)
    with warehouse.transaction() as conn:
        rebuild_daily_team_costs(conn, days[-1], days[0])
    with psycopg.connect(dsn, options=f"-csearch_path={schema}") as conn:
        conn.execute("ANALYZE")
    return counts


async def measure(base: str, paths: list[str]) -> list[float]:
    latencies: list[float] = []
    queue = list(paths)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        async def worker():
            while queue:
                path = queue.pop()
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code, response.text[:200])
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    server = None
    try:
        Warehouse(url=url).create_schema()
        started = time.perf_counter()
        counts = fill(make_url(args.postgres).set(drivername="postgresql").render_as_string(hide_password=False), schema, url)
        print(f"filled {counts} in {time.perf_counter() - started:.0f} s", flush=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "COST_WAREHOUSE_URL": url, "COST_API_TOKEN": TOKEN}
        server = subprocess.Popen([str(COST_API), "--port", str(port), "--workers", "2"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/openapi.json")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        rng = random.Random(1)
        scenarios = [
            ("/costs/customers/{id}", [f"/costs/customers/cust-{rng.randrange(CUSTOMERS):04d}" for _ in range(3000)], "p50 ≤ 10 ms, p99 ≤ 50 ms"),
            ("/costs/customers (2,000)", ["/costs/customers"] * 100, "p50 ≤ 300 ms"),
            ("/costs/trend?days=365", ["/costs/trend?days=365"] * 300, "p50 ≤ 100 ms"),
        ]
        rows = []
        for name, paths, target in scenarios:
            asyncio.run(measure(base, paths[:20]))  # warm up
            latencies = asyncio.run(measure(base, paths))
            rows.append(f"| `{name}` | {len(latencies)} | {percentile(latencies, 50):.1f} | {percentile(latencies, 99):.1f} | {target} |")
            print(rows[-1], flush=True)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=10)
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    report = "\n".join([
        f"Cost API over real HTTP (uvicorn, 2 worker processes), {CONCURRENCY} concurrent clients, PostgreSQL 15 holding "
        f"{DAYS} days x {CUSTOMERS:,} customers x {SERVICES} services "
        f"({counts['customer_unit_economics']:,} customer_unit_economics rows, {counts['daily_costs']:,} daily_costs rows).",
        f"Measured {dt.date.today()} on {platform.machine()}, {os.cpu_count()} cores (load generator on the same machine).",
        "",
        "| endpoint | requests | p50 ms | p99 ms | target |",
        "|---|---:|---:|---:|---|",
        *rows,
    ])
    print(report)
    Path(__file__).with_name("API_RESULTS.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
