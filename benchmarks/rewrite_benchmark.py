"""Benchmark: re-writing one window of customer_cost_allocation on PostgreSQL with one
month of data in the table and with a year of it (README "Scale").

Run by hand, on a warehouse benchmarks/scale_benchmark.py --keep left behind:
    .venv/bin/python benchmarks/rewrite_benchmark.py --warehouse URL [--first 2026-01-01]
        [--window-days 31] [--months 12] [--repeat 3]

The window's rows are the allocation's own (read from the kept warehouse) and the
re-write is the asset's path: Warehouse.replace_window (advisory lock, DELETE of the
window's days, COPY of its rows) in one transaction. The "one month" table is a
fresh schema holding only the window's rows; the "year" table is the kept
warehouse's, extended with copies of its rows shifted forward (whole days) until
it holds --months months (the copies stay: drop the kept schema by hand). Each
measurement starts after VACUUM ANALYZE, as autovacuum would leave the table
between runs. The fresh schema is dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from cost_assets.resources import schema
from cost_assets.resources.bulk import read_frame
from cost_assets.resources.warehouse import Warehouse

TABLE = schema.customer_cost_allocation


def held_days(warehouse: Warehouse) -> tuple[dt.date, dt.date, int]:
    with warehouse.engine.connect() as conn:
        first, last, rows = conn.execute(select(func.min(TABLE.c.date), func.max(TABLE.c.date), func.count())).one()
    return first, last, rows


def vacuum(warehouse: Warehouse) -> None:
    with warehouse.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {TABLE.name}"))


def table_gb(warehouse: Warehouse) -> float:
    with warehouse.engine.connect() as conn:
        return conn.execute(text(f"SELECT pg_total_relation_size('{TABLE.name}')")).scalar_one() / 1e9


def rewrite_seconds(warehouse: Warehouse, first: dt.date, last: dt.date, rows) -> float:
    vacuum(warehouse)
    started = time.perf_counter()
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, TABLE, first, last, rows)
    return time.perf_counter() - started


def extend(warehouse: Warehouse, until: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Copy the table's rows forward in blocks of the days it holds until it reaches `until`; the blocks added."""
    added = []
    while True:
        first, last, _ = held_days(warehouse)
        if last >= until:
            return added
        shift = (last - first).days + 1
        with warehouse.transaction() as conn:
            columns = ", ".join(c.name for c in TABLE.columns)
            shifted = ", ".join(f"date + {shift}" if c.name == "date" else c.name for c in TABLE.columns)
            conn.execute(text(f"INSERT INTO {TABLE.name} ({columns}) SELECT {shifted} FROM {TABLE.name} "
                              f"WHERE date + {shift} <= :until ORDER BY date, customer_id, service, allocation_method"),
                         {"until": until})
        added.append((last + dt.timedelta(days=1), min(until, last + dt.timedelta(days=shift))))
        print(f"extended to {added[-1][1]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", required=True, help="the kept warehouse's URL (scale_benchmark.py --keep)")
    parser.add_argument("--first", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    parser.add_argument("--window-days", type=int, default=31)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    first, last = args.first, args.first + dt.timedelta(days=args.window_days - 1)

    year = Warehouse(url=args.warehouse)
    held_first, held_last, _ = held_days(year)
    until = held_first + dt.timedelta(days=round(args.months * 365.25 / 12) - 1)
    extend(year, until)

    month_schema = f"rewrite_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.warehouse, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {month_schema}"))
    month_url = make_url(args.warehouse).update_query_dict({"options": f"-csearch_path={month_schema}"})
    month = Warehouse(url=month_url.render_as_string(hide_password=False))
    try:
        month.create_schema()
        with year.engine.connect() as conn:
            rows = read_frame(conn, select(*TABLE.columns).where(TABLE.c.date.between(first, last))
                              .order_by(*TABLE.primary_key.columns))
        with month.transaction() as conn:
            month.replace_window(conn, TABLE, first, last, rows)
        sizes = {"month": held_days(month), "year": held_days(year)}
        print(f"window {first}..{last}: {len(rows):,} rows; one month: {sizes['month'][2]:,} rows "
              f"({table_gb(month):.1f} GB); year: {sizes['year'][2]:,} rows, days {sizes['year'][0]}.."
              f"{sizes['year'][1]} ({table_gb(year):.1f} GB)", flush=True)
        seconds: dict[str, list[float]] = {"month": [], "year": []}
        for _ in range(args.repeat):  # alternate, so load from other work falls on both
            for name, warehouse in (("month", month), ("year", year)):
                seconds[name].append(rewrite_seconds(warehouse, first, last, rows))
                print(f"{name}: {seconds[name][-1]:.1f} s", flush=True)
        best = {name: min(values) for name, values in seconds.items()}
        print(f"re-writing {args.window_days} days ({len(rows):,} rows): best of {args.repeat} "
              f"{best['month']:.1f} s with one month in the table, {best['year']:.1f} s with "
              f"{sizes['year'][2]:,} rows ({args.months} months): ratio {best['year'] / best['month']:.2f}", flush=True)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {month_schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
