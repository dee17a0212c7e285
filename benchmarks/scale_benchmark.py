"""Benchmark: allocation plus as-of economics at several company sizes and ranges, on PostgreSQL:
wall time and the peak RSS of the process that runs them (README "Scale").

Run by hand:  .venv/bin/python benchmarks/scale_benchmark.py [--postgres URL]
    [--sizes 2000x60,2000x365,20000x60,20000x365] [--chunk-days 7] [--keep]

Each size gets a throw-away schema with the allocation benchmark's company
(benchmarks/allocation_benchmark.py: 20 services, every rule kind), its inputs
generated in SQL, and the 59 days before the measured range allocated first so
the first as-of day has a full window. Then one child process (a fresh Python,
as a run worker would be) runs cost_allocation and as_of_reports over the
range, each as one Dagster run, and reports its own peak RSS (VmHWM). Writes
benchmarks/SCALE_RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.allocation_benchmark import FIRST_MEASURED, PARTNERS, generate, rules  # noqa: E402
from cost_assets.analytics.windows import LOOKBACK_DAYS  # noqa: E402

RESULTS = Path(__file__).with_name("SCALE_RESULTS.md")

CHILD = """
import json, sys, time, datetime as dt
from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import as_of_reports
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.helpers import materialize_days
url, first, last = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
warehouse = Warehouse(url=url)
seconds = {}
for name, asset in (("allocation_s", cost_allocation), ("economics_s", as_of_reports)):
    started = time.perf_counter()
    assert materialize_days([asset], warehouse, first, last).success
    seconds[name] = time.perf_counter() - started
# VmHWM: this process's own peak since exec. wait4's ru_maxrss would also count the parent's
# pages at spawn (Linux carries the pre-exec high-water mark over), and the parent ran the setup.
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
seconds["peak_rss_gb"] = int(status["VmHWM"].split()[0]) / 1024 / 1024
print(json.dumps(seconds))
"""


CHUNK_LINE = re.compile(r"customer_unit_economics, service_cost_report and team_costs: committed days "
                        r"\S+ in (?P<seconds>[\d.]+) s")


def measure(url: str, first: dt.date, last: dt.date, environment: dict) -> dict:
    """Run the child; its wall times, peak RSS (GB), and the as-of reports' seconds per chunk."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as log:
        child = subprocess.run([sys.executable, "-c", CHILD, url, first.isoformat(), last.isoformat()],
                               stdout=out, stderr=log, env=environment, check=False)
        out.seek(0)
        printed = out.read().strip().splitlines()
        log.seek(0)
        chunk_seconds = [float(m["seconds"]) for m in CHUNK_LINE.finditer(log.read())]
    if child.returncode != 0:
        raise RuntimeError(f"the measured run failed (exit {child.returncode})")
    figures = json.loads(printed[-1])
    figures["load_average"] = os.getloadavg()[0]  # other work on the machine slows the run
    # Whether a chunk's cost grows as the tables do: the first and last quarter of the chunks.
    quarter = max(1, len(chunk_seconds) // 4)
    figures["economics_chunk_s"] = (statistics.median(chunk_seconds[:quarter]) if chunk_seconds else None,
                                    statistics.median(chunk_seconds[-quarter:]) if chunk_seconds else None)
    return figures


def run_size(server: str, customers: int, days: int, chunk_days: int, keep: bool = False) -> dict:
    first_input = FIRST_MEASURED - dt.timedelta(days=LOOKBACK_DAYS - 1)
    last = FIRST_MEASURED + dt.timedelta(days=days - 1)
    partners = [f"cust-{c:05d}" for c in range(1, PARTNERS + 1)]
    schema = f"scale_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rules_path = Path(tmp) / "rules.yaml"
            rules_path.write_text(yaml.safe_dump(rules(partners)))
            environment = {**os.environ, "COST_ALLOCATION_RULES": str(rules_path),
                           "COST_RUN_CHUNK_DAYS": str(chunk_days)}
            os.environ.update(environment)
            from cost_assets.allocation.assets import cost_allocation
            from cost_assets.resources.warehouse import Warehouse
            from cost_assets_tests.helpers import materialize_days

            warehouse = Warehouse(url=url)
            warehouse.create_schema()
            started = time.perf_counter()
            with warehouse.engine.begin() as conn:
                inputs = generate(conn, first_input, last, customers)
            generate_s = time.perf_counter() - started
            print(f"{customers}x{days}: inputs generated in {generate_s:.0f} s", flush=True)
            assert materialize_days([cost_allocation], warehouse, first_input,
                                    FIRST_MEASURED - dt.timedelta(days=1)).success
            setup_s = time.perf_counter() - started
            figures = measure(url, FIRST_MEASURED, last, environment)
            with warehouse.engine.connect() as conn:
                figures["allocation_rows"] = conn.execute(text(
                    "SELECT COUNT(*) FROM customer_cost_allocation WHERE date >= :first"), {"first": FIRST_MEASURED}).scalar()
        figures.update(customers=customers, days=days, chunk_days=chunk_days, setup_s=setup_s, generate_s=generate_s,
                       daily_cost_rows=inputs.get("daily_costs"))
        return figures
    finally:
        if keep:
            print(f"kept the warehouse: {url}", flush=True)
        else:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _pair(seconds: tuple) -> str:
    return " / ".join("-" if s is None else f"{s:.1f}" for s in seconds)


def write_results(rows: list[dict]) -> str:
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, PostgreSQL "
        "on the same machine. One child process per size runs cost_allocation then as_of_reports, each as one "
        "Dagster run over the range.",
        "",
        "| customers | days | chunk (days) | allocation rows | allocation s | economics s | total s | "
        "s per 1M customer-days | peak RSS (GB) | economics s per chunk, first / last quarter (median) | "
        "load average at the end |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        total = r["allocation_s"] + r["economics_s"]
        per = total / (r["customers"] * r["days"] / 1e6)
        lines.append(f"| {r['customers']:,} | {r['days']} | {r['chunk_days']} | {r['allocation_rows']:,} | "
                     f"{r['allocation_s']:.1f} | {r['economics_s']:.1f} | {total:.1f} | {per:.1f} | "
                     f"{r['peak_rss_gb']:.2f} | {_pair(r['economics_chunk_s'])} | {r['load_average']:.1f} |")
    text_ = "\n".join(lines) + "\n"
    RESULTS.write_text(text_)
    return text_


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="2000x60,2000x365,20000x60,20000x365")
    parser.add_argument("--chunk-days", type=int, default=7)
    parser.add_argument("--keep", action="store_true",
                        help="keep the last size's schema (for benchmarks/rewrite_benchmark.py); drop it by hand")
    args = parser.parse_args()
    rows = []
    sizes = args.sizes.split(",")
    for index, size in enumerate(sizes):
        customers, days = (int(part) for part in size.split("x"))
        rows.append(run_size(args.postgres, customers, days, args.chunk_days, keep=args.keep and index == len(sizes) - 1))
        print(json.dumps(rows[-1]), flush=True)
        print(write_results(rows), flush=True)


if __name__ == "__main__":
    main()
