"""What the database timeouts do when the network path freezes (run by hand).

A loopback proxy forwards to PostgreSQL and then stops forwarding while keeping
both TCP connections open: keepalives are answered, the server never sees the
statement, so neither TCP keepalives nor the server's statement_timeout can end
the wait. Three cases, each with its wall time to failure:

  1. one statement, guard off (what keepalives + server timeouts alone do): capped at --cap seconds;
  2. one statement, the client-side guard (statement timeout + GUARD_GRACE_S);
  3. a Dagster run of billing_costs frozen mid-run, with COST_DB_STATEMENT_TIMEOUT_S set.

    .venv/bin/python benchmarks/frozen_network.py [--statement-timeout 20] [--cap 120]
"""

from __future__ import annotations

import argparse
import datetime as dt
import threading
import time
import uuid

from sqlalchemy import create_engine, text

from cost_assets.ingestion.assets import billing_costs
from cost_assets.resources import database
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.freezing_proxy import FreezingProxy
from cost_assets_tests.helpers import failure_message, materialize_days

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def one_statement(proxy: FreezingProxy, url: str, statement_s: float, cap: float) -> str:
    warehouse = Warehouse(url=proxy.url(url), statement_timeout_s=statement_s)
    outcome: list[str] = []
    with warehouse.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        proxy.frozen.set()
        started = time.monotonic()

        def statement():
            try:
                conn.execute(text("SELECT 1"))
                outcome.append("answered")
            except Exception as exc:  # noqa: BLE001 - reported
                outcome.append(f"{type(exc.orig if hasattr(exc, 'orig') else exc).__name__}")

        worker = threading.Thread(target=statement, daemon=True)
        worker.start()
        worker.join(cap)
        elapsed = time.monotonic() - started
        at_cap = list(outcome)
        proxy.frozen.clear()
        worker.join(30)
    if at_cap:
        return f"{elapsed:.1f} s: {at_cap[0]}"
    return f"still waiting at the {cap:g} s cap; {outcome[0] if outcome else 'no answer'} once traffic resumed"


def frozen_run(url: str, statement_s: float) -> str:
    proxy = FreezingProxy()
    warehouse = Warehouse(url=proxy.url(url), statement_timeout_s=statement_s)
    day = dt.date(2026, 11, 9)
    materialize_days([billing_costs], warehouse, day, day)  # schema and a first day
    threading.Timer(0.5, proxy.frozen.set).start()  # freeze half a second into the next run
    started = time.monotonic()
    result = materialize_days([billing_costs], warehouse, day - dt.timedelta(days=120), day, raise_on_error=False)
    elapsed = time.monotonic() - started
    proxy.close()
    status = "succeeded (finished before the freeze)" if result.success else failure_message(result).splitlines()[-1][:160]
    return f"{elapsed:.1f} s: {status}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statement-timeout", type=float, default=20)
    parser.add_argument("--cap", type=float, default=120)
    args = parser.parse_args()
    schema = f"frozen_{uuid.uuid4().hex[:8]}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{SERVER}?options=-csearch_path%3D{schema}"
    try:
        grace = database.GUARD_GRACE_S
        database.GUARD_GRACE_S = 1e6  # effectively off
        print("1. keepalives and server timeouts alone:", one_statement(FreezingProxy(), url, args.statement_timeout, args.cap))
        database.GUARD_GRACE_S = grace
        print(f"2. client-side guard (statement timeout {args.statement_timeout:g} s + {grace:g} s):",
              one_statement(FreezingProxy(), url, args.statement_timeout, args.cap))
        print(f"3. a billing_costs run frozen mid-run (COST_DB_STATEMENT_TIMEOUT_S={args.statement_timeout:g}):",
              frozen_run(url, args.statement_timeout))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
