"""Benchmark: set-based allocation against the original row-by-row algorithm, and
a year of as-of economics in one run, on PostgreSQL.

Run by hand:  .venv/bin/python benchmarks/allocation_benchmark.py [--postgres URL]
    [--days 365] [--customers 2000] [--sample-days 3]

The company: 2,000 customers (2% churned) and 20 services:
- 6 shared services split by their own request counts, 2 resources each (compute and storage);
- 3 compute services split by the api's request counts, 2 resources each;
- 3 services split evenly over active customers, 2 resources each;
- 2 services split by fixed percentages over 10 partners, 2 resources each;
- 3 services with dedicated, customer-tagged resources (500 customers have one);
- 2 internal services (ci, observability) and 1 service no rule covers;
plus staging copies (internal), untagged spend and a tag naming an unknown customer.
Beyond requests: `shared-db` is split by query time (usage_metrics `db_time_ms`),
and an EKS cluster (CUR 2.0 split cost data, as ingestion leaves it in daily_costs:
docs/reference.md#container-split-cost) runs a namespace per customer for 1,000
customers: each pod's split cost on its customer's tag, its unused capacity as
UnusedCapacity (`idle: unallocated`: reason idle), the system pods untagged.

Everything lives in a throw-away schema of the given database, dropped at the end.
The set-based allocation runs for every day as one Dagster run. The row-by-row
algorithm is the original design's attributeCustomerCosts: per shared resource a
usage query, then one INSERT ... ON CONFLICT DO UPDATE per customer. It runs on
a sample of whole days, extrapolated to the year, twice: as the original runs it
(node-postgres `pool.query`, so each statement commits on its own) and, as a
stricter reference, with one transaction per day.
Writes benchmarks/ALLOCATION_RESULTS.md.
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

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import as_of_reports
from cost_assets.analytics.windows import LOOKBACK_DAYS
from cost_assets.resources.warehouse import Warehouse, engine_for
from cost_assets_tests.helpers import materialize_days

RESULTS = Path(__file__).with_name("ALLOCATION_RESULTS.md")
FIRST_MEASURED = dt.date(2026, 1, 1)

SELF_DRIVEN = ["shared-db", "shared-cache", "cdn", "queue", "object-store", "events"]
API_DRIVEN = ["api", "worker", "scheduler"]
EVEN = ["auth", "search", "email"]
FIXED = ["integrations", "billing-gateway"]
DEDICATED = ["data-pipeline", "analytics-warehouse", "ml-training"]
INTERNAL = ["ci", "observability"]
UNRULED = ["notifications"]
SERVICES = SELF_DRIVEN + API_DRIVEN + EVEN + FIXED + DEDICATED + INTERNAL + UNRULED
METERED = SELF_DRIVEN + ["api"]
QUERY_TIME = "shared-db"  # split by usage_metrics db_time_ms, not requests
EKS_CUSTOMERS = 1000  # tenants with a namespace (pods) on the cluster
RESOURCES = [("Amazon Elastic Compute Cloud - Compute", "Hrs", 1.0), ("Amazon Simple Storage Service", "GB-Mo", 0.35)]
PARTNERS = 10
DEDICATED_CUSTOMERS = 500

assert len(SERVICES) == 20


def rules(partners: list[str]) -> dict:
    share = round(100 / len(partners), 6)
    shares = {p: share for p in partners[:-1]}
    shares[partners[-1]] = round(100 - share * (len(partners) - 1), 6)
    return {
        "allocation": {
            "internal_environments": ["staging", "development"],
            "internal_services": INTERNAL,
            "rules": [
                {"name": "dedicated", "method": "direct", "priority": 10},
                {"name": "database", "method": "usage_proportional", "priority": 15, "services": [QUERY_TIME],
                 "driver": {"service": QUERY_TIME, "metric": "db_time_ms"}},
                {"name": "shared", "method": "usage_proportional", "priority": 20,
                 "services": [s for s in SELF_DRIVEN if s != QUERY_TIME], "driver": "self"},
                {"name": "compute", "method": "usage_proportional", "priority": 30, "services": API_DRIVEN, "driver": "api"},
                {"name": "platform", "method": "even", "priority": 40, "services": EVEN},
                {"name": "partners", "method": "fixed", "priority": 50, "services": FIXED, "shares": shares},
            ],
            "overhead": {"enabled": True, "reasons": ["untagged", "no_usage"]},
            "idle": "unallocated",
        }
    }


def _values(rows: list[tuple]) -> str:
    return ", ".join("(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in row) + ")" for row in rows)


def generate(conn, first: dt.date, last: dt.date, customers: int) -> dict[str, int]:
    """Inputs in the warehouse tables, generated in SQL (deterministic)."""
    params = {"first": first, "last": last}
    customer = "'cust-' || lpad(c::text, 5, '0')"
    conn.execute(text(f"""
        INSERT INTO customer_snapshots (date, id, name, mrr, status)
        SELECT d::date, {customer}, 'Customer ' || c, CASE WHEN c % 50 = 0 THEN 0 ELSE 1000 + (c * 37) % 9000 END,
               CASE WHEN c % 50 = 0 THEN 'churned' ELSE 'active' END
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             generate_series(1, {customers}) c
    """), params)
    services = ", ".join(f"('{s}', {i + 1})" for i, s in enumerate(METERED))
    conn.execute(text(f"""
        INSERT INTO service_metrics (date, service, customer_id, request_count)
        SELECT d::date, s.name, {customer},
               1 + abs(hashtext(s.name || c::text || d::date::text)) % 1000 * (1 + c % 7) * s.scale
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             generate_series(1, {customers}) c, (VALUES {services}) AS s(name, scale)
        WHERE c % 50 <> 0
    """), params)

    conn.execute(text(f"""
        INSERT INTO usage_metrics (date, service, customer_id, metric, quantity)
        SELECT d::date, '{QUERY_TIME}', {customer}, 'db_time_ms', 1 + abs(hashtext('q' || c::text || d::date::text)) % 5000
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             generate_series(1, {customers}) c
        WHERE c % 50 <> 0
    """), params)
    # The EKS cluster's nodes, as split cost data leaves them: per tenant pod its split cost (charge
    # category of the node, here SavingsPlanCoveredUsage) and its unused capacity; system pods untagged.
    conn.execute(text(f"""
        INSERT INTO daily_costs (date, provider, account_id, aws_service, charge_category, team, service, customer_id,
                                 environment, usage_unit, billed_cost, effective_cost, usage_quantity, is_estimated, source)
        SELECT d::date, 'AWS', '111111111111', 'Amazon Elastic Compute Cloud - Compute', k.category, 'team-1', 'web',
               {customer}, 'production', 'Hrs', k.share * (2 + c % 9), k.share * (2 + c % 9), 0, false, 'bench'
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             generate_series(1, {min(EKS_CUSTOMERS, customers)}) c,
             (VALUES ('SavingsPlanCoveredUsage', 0.85), ('UnusedCapacity', 0.15)) AS k(category, share)
        WHERE c % 50 <> 0
    """), params)
    conn.execute(text("""
        INSERT INTO daily_costs (date, provider, account_id, aws_service, charge_category, team, service, customer_id,
                                 environment, usage_unit, billed_cost, effective_cost, usage_quantity, is_estimated, source)
        SELECT d::date, 'AWS', '111111111111', 'Amazon Elastic Compute Cloud - Compute', k.category, 'platform',
               'eks-system', 'untagged', 'production', 'Hrs', k.cost, k.cost, 0, false, 'bench'
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             (VALUES ('SavingsPlanCoveredUsage', 120.0), ('UnusedCapacity', 40.0), ('UnsplitInstanceCost', 0.37))
                 AS k(category, cost)
    """), params)

    lines = []  # service, team, customer_id, environment, aws_service, usage_unit, daily cost
    for index, service in enumerate(SERVICES[:14] + INTERNAL + UNRULED):
        for aws_service, unit, factor in RESOURCES:
            lines.append((service, f"team-{index % 5}", "untagged", "production", aws_service, unit, round(200.0 * factor, 2)))
    for service in SELF_DRIVEN[:3] + API_DRIVEN[:2]:
        lines.append((service, "team-0", "untagged", "staging", RESOURCES[0][0], "Hrs", 80.0))
    lines.append(("untagged", "untagged", "untagged", "untagged", RESOURCES[0][0], "Hrs", 150.0))
    lines.append(("data-pipeline", "team-3", "cust-99999", "production", RESOURCES[1][0], "GB-Mo", 12.0))
    conn.execute(text(f"""
        INSERT INTO daily_costs (date, provider, account_id, aws_service, charge_category, team, service, customer_id,
                                 environment, usage_unit, billed_cost, effective_cost, usage_quantity, is_estimated, source)
        SELECT d::date, 'AWS', '111111111111', l.aws_service, 'Usage', l.team, l.service, l.customer_id, l.environment,
               l.usage_unit, l.cost * (1 + (abs(hashtext(l.service || l.aws_service || d::date::text)) % 100) / 1000.0),
               l.cost * (1 + (abs(hashtext(l.service || l.aws_service || d::date::text)) % 100) / 1000.0), 1, false, 'bench'
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             (VALUES {_values(lines)}) AS l(service, team, customer_id, environment, aws_service, usage_unit, cost)
    """), params)
    dedicated = ", ".join(f"('{s}', {i})" for i, s in enumerate(DEDICATED))
    conn.execute(text(f"""
        INSERT INTO daily_costs (date, provider, account_id, aws_service, charge_category, team, service, customer_id,
                                 environment, usage_unit, billed_cost, effective_cost, usage_quantity, is_estimated, source)
        SELECT d::date, 'AWS', '111111111111', 'Amazon EMR', 'Usage', 'team-3', s.name, {customer}, 'production', 'Hrs',
               5 + c % 40, 5 + c % 40, 1, false, 'bench'
        FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
             generate_series(1, {min(DEDICATED_CUSTOMERS, customers)}) c, (VALUES {dedicated}) AS s(name, slot)
        WHERE c % 3 = s.slot AND c % 50 <> 0
    """), params)
    conn.execute(text("ANALYZE"))
    counts = {}
    for table in ["daily_costs", "service_metrics", "usage_metrics", "customer_snapshots"]:
        counts[table] = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    return counts


NAIVE_TABLE = """
    CREATE TABLE naive_customer_cost_allocation (
        date DATE, customer_id VARCHAR(128), service VARCHAR(128), resource VARCHAR(256),
        allocation_method VARCHAR(32), allocated_cost NUMERIC(20, 6), proportion DOUBLE PRECISION,
        PRIMARY KEY (date, customer_id, service, resource, allocation_method))
"""
# The original's upsert (its key lacks the resource, so a service's second resource
# overwrote the first; the key here keeps both so the dollars can be compared).
INSERT = text(
    "INSERT INTO naive_customer_cost_allocation VALUES (:date, :customer_id, :service, :resource, :method, :cost, :proportion) "
    "ON CONFLICT (date, customer_id, service, resource, allocation_method) DO UPDATE SET "
    "allocated_cost = EXCLUDED.allocated_cost, proportion = EXCLUDED.proportion")


def row_by_row_day(conn, day: dt.date, partners: list[str]) -> int:
    """The original algorithm for one day: every shared resource, every customer, one INSERT;
    customer-tagged resources in one INSERT ... SELECT, as the original does."""
    resources = conn.execute(text(
        "SELECT service, aws_service, effective_cost FROM daily_costs "
        "WHERE date = :day AND environment = 'production' AND customer_id = 'untagged'"), {"day": day}).fetchall()
    active = [r[0] for r in conn.execute(text(
        "SELECT id FROM customer_snapshots WHERE date = :day AND status = 'active' ORDER BY id"), {"day": day})]
    inserts = 0
    for service, resource, cost in resources:
        cost = float(cost)
        if service == QUERY_TIME:  # the same usage query, on the query-time metric
            usage = conn.execute(text(
                "SELECT customer_id, SUM(quantity) AS quantity FROM usage_metrics "
                "WHERE service = :service AND metric = 'db_time_ms' AND date = :day GROUP BY customer_id"),
                {"day": day, "service": service}).fetchall()
            usage = [(c, float(n)) for c, n in usage]
            total = sum(n for _, n in usage)
            shares = [(c, n / total) for c, n in usage]
            method = "usage_proportional"
        elif service in SELF_DRIVEN or service in API_DRIVEN:
            driver = service if service in SELF_DRIVEN else "api"
            usage = conn.execute(text(
                "SELECT customer_id, SUM(request_count) AS requests FROM service_metrics "
                "WHERE service = :service AND date = :day GROUP BY customer_id"),
                {"day": day, "service": driver}).fetchall()
            usage = [(c, int(n)) for c, n in usage]  # SUM of bigint comes back as NUMERIC
            total = sum(n for _, n in usage)
            shares = [(c, n / total) for c, n in usage]
            method = "usage_proportional"
        elif service in EVEN:
            shares = [(c, 1 / len(active)) for c in active]
            method = "even"
        elif service in FIXED:
            shares = [(c, 1 / len(partners)) for c in partners]
            method = "fixed"
        else:
            continue
        for customer_id, share in shares:
            conn.execute(INSERT, {"date": day, "customer_id": customer_id, "service": service, "resource": resource,
                                  "method": method, "cost": round(cost * share, 6), "proportion": share})
            inserts += 1
    direct = conn.execute(text(
        "INSERT INTO naive_customer_cost_allocation "
        "SELECT date, customer_id, service, aws_service, 'direct', effective_cost, 1.0 FROM daily_costs "
        "WHERE date = :day AND environment = 'production' AND customer_id <> 'untagged' "
        "AND charge_category <> 'UnusedCapacity' "  # idle: unallocated
        "ON CONFLICT (date, customer_id, service, resource, allocation_method) DO UPDATE SET "
        "allocated_cost = EXCLUDED.allocated_cost"), {"day": day})
    return inserts + direct.rowcount


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--sample-days", type=int, default=4)
    args = parser.parse_args()

    first_input = FIRST_MEASURED - dt.timedelta(days=LOOKBACK_DAYS - 1)
    last = FIRST_MEASURED + dt.timedelta(days=args.days - 1)
    partners = [f"cust-{c:05d}" for c in range(1, PARTNERS + 1)]
    schema = f"alloc_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    figures: dict[str, object] = {}
    try:
        warehouse = Warehouse(url=url)
        warehouse.create_schema()
        with tempfile.TemporaryDirectory() as tmp:
            rules_path = Path(tmp) / "rules.yaml"
            rules_path.write_text(yaml.safe_dump(rules(partners)))
            os.environ["COST_ALLOCATION_RULES"] = str(rules_path)

            with warehouse.engine.begin() as conn:
                figures["inputs"] = generate(conn, first_input, last, args.customers)
            # The 59 days before the measured year, so its first as-of day has a full window.
            assert materialize_days([cost_allocation], warehouse, first_input, FIRST_MEASURED - dt.timedelta(days=1)).success

            figures["set_based_s"] = timed_run(cost_allocation, warehouse, FIRST_MEASURED, last)
            figures["allocation_rows"] = count(warehouse, "customer_cost_allocation", FIRST_MEASURED)
            figures["economics_s"] = timed_run(as_of_reports, warehouse, FIRST_MEASURED, last)
            figures["economics_rows"] = count(warehouse, "customer_unit_economics", FIRST_MEASURED, "as_of_date")
            # Re-running replaces every row of the window (delete + insert in one transaction).
            figures["set_based_rerun_s"] = timed_run(cost_allocation, warehouse, FIRST_MEASURED, last)
            figures["economics_rerun_s"] = timed_run(as_of_reports, warehouse, FIRST_MEASURED, last)

        with warehouse.engine.begin() as conn:
            # What Postgres alone needs to write the year's allocation rows into a table of the same keys.
            conn.execute(text("CREATE TABLE allocation_copy (LIKE customer_cost_allocation INCLUDING ALL)"))
            started = time.perf_counter()
            conn.execute(text("INSERT INTO allocation_copy SELECT * FROM customer_cost_allocation WHERE date >= :first"),
                         {"first": FIRST_MEASURED})
            figures["postgres_insert_floor_s"] = time.perf_counter() - started
            conn.execute(text(NAIVE_TABLE))

        sample = [FIRST_MEASURED + dt.timedelta(days=i * (args.days // args.sample_days)) for i in range(args.sample_days)]
        # As the original runs: every statement commits on its own.
        autocommit = warehouse.engine.execution_options(isolation_level="AUTOCOMMIT")
        figures["autocommit"] = row_by_row(autocommit.connect, sample, partners, args.days)
        figures["same_dollars"] = same_dollars(warehouse, sample)
        with warehouse.engine.begin() as conn:
            conn.execute(text("TRUNCATE naive_customer_cost_allocation"))
        # Stricter reference: the same statements, one transaction per day.
        figures["daily_commit"] = row_by_row(warehouse.engine.begin, sample, partners, args.days)
        figures["same_dollars"] = max(figures["same_dollars"], same_dollars(warehouse, sample))
        figures["sample"] = sample
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    report(args, figures)


def row_by_row(connect, sample: list[dt.date], partners: list[str], days: int) -> dict[str, float]:
    """The original algorithm on each sample day (a new connection or transaction per day), extrapolated."""
    inserts, started = 0, time.perf_counter()
    for day in sample:
        with connect() as conn:
            inserts += row_by_row_day(conn, day, partners)
    per_day = (time.perf_counter() - started) / len(sample)
    return {"day_s": per_day, "year_s": per_day * days, "inserts_per_day": inserts / len(sample)}


def timed_run(assets, warehouse: Warehouse, first: dt.date, last: dt.date) -> float:
    started = time.perf_counter()
    result = materialize_days([assets], warehouse, first, last)
    seconds = time.perf_counter() - started
    assert result.success
    return seconds


def count(warehouse: Warehouse, table: str, first: dt.date, column: str = "date") -> int:
    return int(warehouse.read(f"SELECT COUNT(*) AS n FROM {table} WHERE {column} >= :first", first=first)["n"].iloc[0])


def same_dollars(warehouse: Warehouse, days: list[dt.date]) -> float:
    """Largest daily difference between what the two algorithms place on customers.

    The original algorithm does not check customer ids, so it also places the
    unknown customer's tagged cost, which the set-based allocation keeps in
    unallocated_costs; that cost is added back before comparing.
    """
    worst = 0.0
    for day in days:
        totals = warehouse.read(
            "SELECT (SELECT SUM(allocated_cost) FROM naive_customer_cost_allocation WHERE date = :day) AS naive, "
            "(SELECT SUM(allocated_cost) FROM customer_cost_allocation WHERE date = :day) AS allocated, "
            "(SELECT COALESCE(SUM(cost), 0) FROM unallocated_costs WHERE date = :day AND reason = 'unknown_customer') AS unknown",
            day=day).iloc[0]
        worst = max(worst, abs(totals["naive"] - totals["allocated"] - totals["unknown"]))
    assert worst < 0.05, f"the two algorithms place different dollars: {worst}"
    return worst


def report(args, f: dict) -> None:
    original, strict = f["autocommit"], f["daily_commit"]
    naive_rows = original["inserts_per_day"] * args.days
    sampled = f"{len(f['sample'])} days measured ({', '.join(d.isoformat() for d in f['sample'])}), x {args.days}"
    lines = [
        "# Allocation benchmark",
        "",
        f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, PostgreSQL on localhost (fsync on). "
        "Run by hand: `.venv/bin/python benchmarks/allocation_benchmark.py`.",
        "",
        f"Company: {args.customers:,} customers x 20 services x {args.days} days: 12 services split over customers "
        "(6 by their own requests, 3 by the api's, 3 evenly; 2 resources each), 2 by fixed shares, 3 with "
        "dedicated customer resources, 2 internal, 1 without a rule; staging, untagged and unknown-customer spend. "
        f"`shared-db` is split by query time (usage_metrics), and an EKS cluster's pods (split cost data) place node "
        f"cost on {min(EKS_CUSTOMERS, args.customers):,} customers' namespaces, their unused capacity idle. "
        f"Inputs: {', '.join(f'{k} {v:,} rows' for k, v in f['inputs'].items())} (the year plus the 59 days before it).",
        "",
        "The row-by-row algorithm is the original design's `attributeCustomerCosts`: per shared resource and day a "
        "usage query, then one `INSERT ... ON CONFLICT DO UPDATE` per customer. The original issues each statement "
        "through node-postgres `pool.query`, so each commits on its own; the stricter reference runs the same "
        "statements in one transaction per day.",
        "",
        "| | time | rows |",
        "|---|---|---|",
        f"| **set-based allocation**, {args.days} days as one Dagster run (allocation, unallocated, overhead, "
        f"conservation check) | **{f['set_based_s']:.1f} s** | {f['allocation_rows']:,} allocation rows |",
        f"| same, re-run over the existing year (every row replaced) | {f['set_based_rerun_s']:.1f} s | |",
        f"| **row-by-row, as the original** (each statement committed on its own), {sampled} "
        f"| **{original['year_s']:,.0f} s** ({original['day_s']:.1f} s a day) | {naive_rows:,.0f} INSERTs |",
        f"| row-by-row, one transaction per day (stricter reference), same days | {strict['year_s']:,.0f} s "
        f"({strict['day_s']:.1f} s a day) | |",
        f"| Postgres alone: `INSERT ... SELECT` of the year's allocation rows into an empty copy of the table | "
        f"{f['postgres_insert_floor_s']:.1f} s | {f['allocation_rows']:,} |",
        f"| **as-of economics** (customer_unit_economics, service_cost_report, team_costs), {args.days} as-of days "
        f"as one Dagster run | **{f['economics_s']:.1f} s** | {f['economics_rows']:,} customer rows |",
        f"| same, re-run | {f['economics_rerun_s']:.1f} s | |",
        "",
        f"- Set-based allocation is **{original['year_s'] / f['set_based_s']:.0f}x** faster than the original "
        f"row-by-row algorithm (target: 100x), and {strict['year_s'] / f['set_based_s']:.0f}x faster than the same "
        "algorithm committing once a day.",
        f"- Postgres alone needs {f['postgres_insert_floor_s']:.1f} s to write the year's allocation rows into this "
        f"table (no client, no computation): any implementation that writes them is capped at "
        f"{original['year_s'] / f['postgres_insert_floor_s']:.0f}x the original here "
        f"({strict['year_s'] / f['postgres_insert_floor_s']:.0f}x the daily-transaction variant). The set-based run "
        f"takes {f['set_based_s'] / f['postgres_insert_floor_s']:.1f}x that floor: it also reads "
        f"{f['inputs']['service_metrics'] / 1e6:.1f}M request counts and "
        f"{f['inputs']['usage_metrics'] / 1e6:.1f}M query-time rows, "
        f"writes unallocated and overhead rows, checks conservation, and Dagster records {args.days} partitions "
        "x 3 assets.",
        f"- Both place the same dollars on the sampled days (largest daily difference ${f['same_dollars']:.4f}, "
        "after adding back the unknown customer's cost, which the original algorithm does not catch).",
        f"- A year of as-of economics builds in {f['economics_s']:.1f} s (target: under 60 s).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
