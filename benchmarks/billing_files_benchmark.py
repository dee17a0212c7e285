"""Benchmark: CUR 2.0 Parquet billing files through the `cur2` source into daily_costs,
against a DuckDB scan-aggregate of the same files.

Run by hand:  .venv/bin/python benchmarks/billing_files_benchmark.py [--days-in-month 30] [--repeat 2] [--keep]

1. one day of 1,000,000 line items;
2. a month file of N x 1,000,000 line items (N = --days-in-month), backfilled in one run.

Each measurement runs in a fresh child process (wall time and that process's
peak RSS): `billing_costs` against a fresh SQLite warehouse, and the DuckDB
reference: one query over the same file to the same daily_costs groups (UTC
day, account, service, line item type, the rules file's tag keys, unit), with
the same amortization by line item type, checked to give the same groups and
effective-cost total. Target: billing_costs within 2x the reference, measured
in the same run (--repeat times each, alternating; the best of each is
compared). The files are written to benchmarks/out/ one day at a time and
deleted afterwards (unless --keep). Results go to
benchmarks/BILLING_FILES_RESULTS.md.

The generated data is resource-level with daily granularity, like a mid-size
organisation's export: 40,000 resources x 25 line items a day, 20 accounts,
15 services, every amortization line item type, five tags per resource in the
resource_tags map, and 20 columns the source does not read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "billing_files"
RESULTS = ROOT / "BILLING_FILES_RESULTS.md"
ROWS_PER_DAY = 1_000_000
RESOURCES = 40_000
MONTH_START = dt.date(2026, 3, 1)

ACCOUNTS = [f"{100000000000 + 7919 * i}" for i in range(20)]
PRODUCTS = ["AmazonEC2", "AmazonRDS", "AmazonS3", "AWSLambda", "AmazonElastiCache", "AmazonCloudFront",
            "AmazonDynamoDB", "AmazonEKS", "AmazonSQS", "AmazonCloudWatch", "AmazonES", "AmazonEMR",
            "AWSELB", "AmazonVPC", "AmazonKinesis"]
UNITS = ["Hrs", "Hrs", "GB-Mo", "Lambda-GB-Second", "Hrs", "GB", "WriteCapacityUnit-Hrs", "Hrs", "Requests",
         "Metrics", "Hrs", "Hrs", "LCU-Hrs", "Hrs", "ShardHour"]
TEAMS = [f"team-{i}" for i in range(12)]
SERVICES = [f"svc-{i}" for i in range(25)]
CUSTOMERS = [f"cust-{i:03d}" for i in range(60)]
ENVIRONMENTS = ["prod", "staging", "dev"]
# line item type -> share of rows
TYPES = {"Usage": 0.78, "SavingsPlanCoveredUsage": 0.08, "SavingsPlanNegation": 0.08, "DiscountedUsage": 0.05,
         "Tax": 0.004, "Credit": 0.003, "Refund": 0.001, "SavingsPlanRecurringFee": 0.0005,
         "SavingsPlanUpfrontFee": 0.0001, "RIFee": 0.0003, "Fee": 0.0001}
FILLER_COLUMNS = [f"product_attribute_{i}" for i in range(20)]  # CUR has ~125 columns; the source reads 24


def _resource_tags(rng: np.random.Generator) -> pa.MapArray:
    """One day's resource_tags column: each row carries its resource's five tags."""
    team = rng.integers(0, len(TEAMS), RESOURCES)
    keys, values, lengths = [], [], []
    for r in range(RESOURCES):
        tags = {"user_team": TEAMS[team[r]], "user_service": SERVICES[(team[r] * 2 + r) % len(SERVICES)],
                "user_environment": ENVIRONMENTS[r % 3], "aws_createdBy": "IAMUser:ci", "user_Name": f"res-{r}"}
        if r % 4 == 0:
            tags["user_customer"] = CUSTOMERS[r % len(CUSTOMERS)]
        if r % 19 == 0:
            tags.pop("user_team")  # some untagged spend
        keys.extend(tags)
        values.extend(tags.values())
        lengths.append(len(tags))
    lengths = np.array(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row_resource = np.arange(ROWS_PER_DAY) % RESOURCES
    row_lengths = lengths[row_resource]
    offsets = np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int32)
    flat = np.repeat(starts[row_resource], row_lengths) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], row_lengths))
    return pa.MapArray.from_arrays(pa.array(offsets), pa.array(np.array(keys, dtype=object)[flat]),
                                   pa.array(np.array(values, dtype=object)[flat]))


def _pick(names: list[str], indices: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(names)).cast(pa.string())


def day_table(day: dt.date, rng: np.random.Generator, tags: pa.MapArray) -> pa.Table:
    n = ROWS_PER_DAY
    resource_of_row = np.arange(n) % RESOURCES
    product = resource_of_row % len(PRODUCTS)
    kinds = list(TYPES)
    kind = rng.choice(len(kinds), n, p=np.array(list(TYPES.values())) / sum(TYPES.values()))
    unblended = np.round(rng.gamma(1.2, 0.08, n), 6)
    unblended = np.where(np.isin(kind, [kinds.index("Credit"), kinds.index("Refund"), kinds.index("SavingsPlanNegation")]),
                         -unblended, unblended)
    is_kind = {k: kind == i for i, k in enumerate(kinds)}
    zero = np.zeros(n)

    def only(name: str, values: np.ndarray) -> pa.Array:
        return pa.array(np.where(is_kind[name], values, np.nan), from_pandas=True)

    start = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
    period = dt.datetime.combine(day.replace(day=1), dt.time(), dt.timezone.utc)
    columns = {
        "identity_line_item_id": pa.array(np.char.add(f"{day:%Y%m%d}-", np.arange(n).astype(str))),
        "bill_payer_account_id": pa.array(["999988887777"] * n),
        "bill_billing_period_start_date": pa.array([period] * n, pa.timestamp("ms", tz="UTC")),
        "bill_invoice_id": pa.array(["INV-2026-03"] * n),
        "line_item_usage_start_date": pa.array([start] * n, pa.timestamp("ms", tz="UTC")),
        "line_item_usage_end_date": pa.array([start + dt.timedelta(days=1)] * n, pa.timestamp("ms", tz="UTC")),
        "line_item_line_item_type": _pick(kinds, kind),
        "line_item_unblended_cost": pa.array(unblended),
        "line_item_usage_account_id": _pick(ACCOUNTS, resource_of_row % len(ACCOUNTS)),
        "line_item_product_code": _pick(PRODUCTS, product),
        "product_servicecode": _pick(PRODUCTS, product),
        "line_item_currency_code": pa.array(["USD"] * n),
        "line_item_resource_id": pa.array(np.char.add("arn:aws:res/", resource_of_row.astype(str))),
        "line_item_usage_amount": pa.array(np.round(rng.gamma(2.0, 3.0, n), 4)),
        "pricing_unit": _pick(UNITS, product),
        "savings_plan_savings_plan_effective_cost": only("SavingsPlanCoveredUsage", unblended * 0.72),
        "savings_plan_total_commitment_to_date": only("SavingsPlanRecurringFee", unblended),
        "savings_plan_used_commitment": only("SavingsPlanRecurringFee", unblended * 0.9),
        "reservation_effective_cost": only("DiscountedUsage", unblended * 0.6 + 0.01),
        "reservation_unused_amortized_upfront_fee_for_billing_period": only("RIFee", unblended * 0.05),
        "reservation_unused_recurring_fee": only("RIFee", unblended * 0.03),
        "resource_tags": tags,
        **{name: pa.array(np.where(zero == 0, f"value-{i}", "")) for i, name in enumerate(FILLER_COLUMNS[:4])},
        **{name: pa.array(zero + i) for i, name in enumerate(FILLER_COLUMNS[4:])},
    }
    return pa.table(columns)


def write_month(days: int) -> tuple[Path, Path]:
    """The one-day file and the month file, in the Data Exports layout, written a day at a time
    (the generator holds one day's table, whatever the month's size)."""
    rng = np.random.default_rng(2026)
    tags = _resource_tags(rng)
    day_file = OUT / "day" / "cur" / "data" / "BILLING_PERIOD=2026-03" / "cur-00001.snappy.parquet"
    month_file = OUT / "month" / "cur" / "data" / "BILLING_PERIOD=2026-03" / "cur-00001.snappy.parquet"
    for path in (day_file, month_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    first = day_table(MONTH_START, rng, tags)
    # store_schema=False: like AWS's files, no Arrow schema (plain strings when read back)
    pq.write_table(first, day_file, row_group_size=ROWS_PER_DAY, store_schema=False)
    with pq.ParquetWriter(month_file, first.schema, store_schema=False) as writer:
        for offset in range(days):
            table = first if offset == 0 else day_table(MONTH_START + dt.timedelta(days=offset), rng, tags)
            writer.write_table(table, row_group_size=ROWS_PER_DAY)
            del table
    return day_file, month_file


def reference_query(path: Path) -> str:
    """DuckDB: the file straight to daily_costs groups, amortized by line item type as `cur2` does,
    tagged by the rules file's tag keys (first non-empty wins)."""
    from cost_assets.ingestion.sources.cur2 import AMORTIZATION, UNBLENDED
    from cost_assets.rules import load_rules

    keys = load_rules().tag_keys

    def tag(dimension: str) -> str:
        return "coalesce(" + ", ".join(f"nullif(trim(resource_tags['{k}']), '')" for k in keys[dimension]) + ")"

    effective = " ".join(
        f"WHEN '{kind}' THEN " + " + ".join(["0.0", *(f"({sign} * {column})" for column, sign in terms)])
        for kind, terms in AMORTIZATION.items()
    )
    return f"""
        SELECT CAST(line_item_usage_start_date AS DATE) AS date, line_item_usage_account_id,
               coalesce(product_servicecode, line_item_product_code) AS aws_service, line_item_line_item_type,
               {tag("team")} AS team, {tag("service")} AS service, {tag("customer")} AS customer_id,
               {tag("environment")} AS environment, pricing_unit,
               sum({UNBLENDED}) AS billed_cost,
               sum(CASE line_item_line_item_type {effective} ELSE {UNBLENDED} END) AS effective_cost,
               sum(line_item_usage_amount) AS usage_quantity
        FROM read_parquet('{path}') GROUP BY ALL"""


def reference(path: str) -> None:
    """One measured DuckDB reference run: print JSON figures."""
    import duckdb

    query = reference_query(Path(path))
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    groups, effective, rows = con.execute(
        f"SELECT count(*), round(sum(effective_cost), 2), sum(lines) FROM ("
        f"{query.replace('FROM read_parquet', ', count(*) AS lines FROM read_parquet')})").fetchall()[0]
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows_read": int(rows), "daily_rows": int(groups), "effective": float(effective),
                      "peak_rss_mb": peak_rss_mb(), "load_average": os.getloadavg()[0]}))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux
    carries that over from the parent across exec, so it would count the generator."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(uri: str, first: dt.date, last: dt.date) -> None:
    """One measured run: billing_costs for first..last, then print JSON figures."""
    os.environ["COST_SOURCE_URI"] = uri
    from cost_assets.ingestion.assets import billing_costs
    import cost_assets.ingestion.sources.cur2  # noqa: F401 - imported before timing, as the reference imports duckdb
    from cost_assets.ingestion.billing_source import BillingSourceResource
    from cost_assets.resources.warehouse import Warehouse
    from cost_assets_tests.helpers import materialize_days

    from dagster import DagsterInstance

    phases = _timed_phases()
    warehouse = Warehouse(url=f"sqlite:///{OUT / f'warehouse-{first}-{last}.db'}")
    warehouse.create_schema()
    instance = DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = materialize_days([billing_costs], warehouse, first, last, billing=BillingSourceResource(source="cur2"),
                              instance=instance)
    seconds = time.perf_counter() - started
    assert result.success
    # The billing_costs step alone (read, parse, sum, normalize, write, check), without the in-process run around it.
    events = {log.dagster_event.event_type_value: log.timestamp
              for log in instance.all_logs(result.run_id) if log.dagster_event is not None}
    metadata = result.asset_materializations_for_node("billing_costs")[0].metadata
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    print(json.dumps({
        "seconds": seconds,
        "step_seconds": events["STEP_SUCCESS"] - events["STEP_START"],
        "rows_read": metadata["rows_read"].value,
        "daily_rows": metadata["row_count"].value,
        "effective": metadata["total_effective_cost"].value,
        "reconciled": checks["daily_costs_match_source_totals"],
        "peak_rss_mb": peak_rss_mb(),
        "load_average": os.getloadavg()[0],  # other work on the machine slows the run
        "phases": dict(phases),
    }))


PHASES = {  # (module, attribute) -> phase of the billing_costs step
    ("cost_assets.ingestion.sources.billing_files", "BillingFileSource.fetch"): "fetch",
    ("cost_assets.ingestion.sources.billing_files", "extract_tags"): "tags",
    ("cost_assets.ingestion.sources.billing_files", "BillingFileSource._collect_fast"): "duckdb",
    ("cost_assets.resources.warehouse", "Warehouse.replace_window"): "write",
}


def _timed_phases() -> dict[str, float]:
    """Seconds spent in each of PHASES' functions (wrapped in place; a handful of calls per batch)."""
    import functools
    import importlib

    spent = dict.fromkeys(PHASES.values(), 0.0)
    for (module_name, attribute), phase in PHASES.items():
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        function = getattr(owner, name)

        def timed(*args, _function=function, _phase=phase, **kwargs):
            started = time.perf_counter()
            try:
                return _function(*args, **kwargs)
            finally:
                spent[_phase] += time.perf_counter() - started
        setattr(owner, name, functools.wraps(function)(timed))
    return spent


def measure(*args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False, cwd=ROOT.parent,
    )
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-4000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def compare(name: str, uri: Path, file: Path, first: dt.date, last: dt.date, repeat: int) -> dict:
    """billing_costs and the reference, alternating, `repeat` times each; the best run of each."""
    runs, references = [], []
    for _ in range(repeat):
        references.append(measure("--reference", str(file)))
        print(f"{name} reference:", references[-1], flush=True)
        runs.append(measure("--child", str(uri), first.isoformat(), last.isoformat()))
        print(f"{name} billing_costs:", runs[-1], flush=True)
    best = min(runs, key=lambda r: r["seconds"])
    best_reference = min(references, key=lambda r: r["seconds"])
    return {"name": name, "run": best, "reference": best_reference, "size": file.stat().st_size,
            "loads": [r["load_average"] for r in runs + references],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "reference_peak_rss_mb": max(r["peak_rss_mb"] for r in references)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days-in-month", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternating; the best of each counts")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--reuse", action="store_true", help="use the files a --keep run left")
    parser.add_argument("--child", nargs=3, metavar=("URI", "FIRST", "LAST"), help=argparse.SUPPRESS)
    parser.add_argument("--reference", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        uri, first, last = args.child
        child(uri, dt.date.fromisoformat(first), dt.date.fromisoformat(last))
        return
    if args.reference:
        reference(args.reference)
        return

    day_file = OUT / "day" / "cur" / "data" / "BILLING_PERIOD=2026-03" / "cur-00001.snappy.parquet"
    month_file = OUT / "month" / "cur" / "data" / "BILLING_PERIOD=2026-03" / "cur-00001.snappy.parquet"
    if not (args.reuse and day_file.exists() and month_file.exists()):
        shutil.rmtree(OUT, ignore_errors=True)
    try:
        if not (args.reuse and day_file.exists() and month_file.exists()):
            started = time.perf_counter()
            write_month(args.days_in_month)
            print(f"generated in {time.perf_counter() - started:.0f} s: {day_file.stat().st_size / 1e6:.0f} MB day "
                  f"file, {month_file.stat().st_size / 1e6:.0f} MB month file", flush=True)
        month_days = pq.ParquetFile(month_file).metadata.num_rows // ROWS_PER_DAY
        last_day = MONTH_START + dt.timedelta(days=month_days - 1)
        results = [
            compare("1 day, 1 file", OUT / "day", day_file, MONTH_START, MONTH_START, args.repeat),
            compare(f"{month_days} days, 1 month file, one run", OUT / "month", month_file, MONTH_START, last_day,
                    args.repeat),
        ]
    finally:
        if not args.keep:
            shutil.rmtree(OUT, ignore_errors=True)

    lines = [
        "# Billing files benchmark (`cur2`, CUR 2.0 Parquet)",
        "",
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite warehouse; `benchmarks/billing_files_benchmark.py`.",
        "Each run is `billing_costs` (read, amortize, tag, normalize, write daily_costs, reconcile) in a fresh process; "
        "the reference is one DuckDB query from the same file to the same daily_costs groups and effective-cost total, "
        f"in a fresh process too. Best of {args.repeat} alternating runs each.",
        f"Data: {ROWS_PER_DAY:,} resource-level line items per day (daily granularity, {RESOURCES:,} resources, "
        "every amortization line item type, five tags each), 44 columns of which the source reads 24.",
        "",
        "| run | line items | file | billing_costs run s (step s) | DuckDB reference s | ratio | peak RSS "
        "| reference peak RSS | daily_costs rows (reference groups) | effective cost (reference) | reconciled |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        run, ref = result["run"], result["reference"]
        lines.append(
            f"| {result['name']} | {run['rows_read']:,} | {result['size'] / 1e6:,.0f} MB | {run['seconds']:.1f} "
            f"({run['step_seconds']:.1f}) | "
            f"{ref['seconds']:.1f} | {run['seconds'] / ref['seconds']:.2f}x | {result['peak_rss_mb']:,.0f} MB | "
            f"{result['reference_peak_rss_mb']:,.0f} MB | {run['daily_rows']:,} ({ref['daily_rows']:,}) | "
            f"{run['effective']:,.2f} ({ref['effective']:,.2f}) | {'yes' if run['reconciled'] else 'NO'} |"
        )
    lines += [
        "",
        "Where the best run's step went (s): `fetch` reads the files (Parquet batches, the next read in a background "
        "thread), takes the tags from the map column (`tags`) and sums each batch in DuckDB (`duckdb`: trimming, "
        "the grouped query, line item id hashes); then line items are prepared, checked and written (`write`: "
        "daily_costs, hourly_costs, rejected rows). The reference does none of the id hashing, validation or writing.",
        "",
        "| run | step | fetch | of which tags | of which DuckDB | of which reading and the rest | write | the rest of the step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        run, phase = result["run"], result["run"]["phases"]
        lines.append(
            f"| {result['name']} | {run['step_seconds']:.2f} | {phase['fetch']:.2f} | {phase['tags']:.2f} | "
            f"{phase['duckdb']:.2f} | {phase['fetch'] - phase['tags'] - phase['duckdb']:.2f} | {phase['write']:.2f} | "
            f"{run['step_seconds'] - phase['fetch'] - phase['write']:.2f} |")
    loads = [load for result in results for load in result["loads"]]
    lines += [
        "",
        "Target: billing_costs within 2x the reference. Peak RSS is the run process's VmHWM. "
        f"1-minute load average at the end of the runs: {min(loads):.1f} to {max(loads):.1f} on "
        f"{os.cpu_count()} cores (other work on the machine slows both alike).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
