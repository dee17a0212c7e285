"""A database that stops answering fails a run in bounded time, and overlapping runs take turns."""

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from fastapi.testclient import TestClient

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import team_daily_costs
from cost_assets.api.app import create_app
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.resources.database import normalize_url
from cost_assets.resources import database, schema
from cost_assets.resources.warehouse import Warehouse, WarehouseError
from cost_assets_tests.freezing_proxy import FreezingProxy
from cost_assets_tests.helpers import failure_message, fresh_processes, materialize_days

DAY = dt.date(2026, 11, 9)
INGESTION = [billing_costs, customer_snapshots, service_metrics]


class TableLock:
    """Another session (a BI tool's forgotten transaction, a migration) holding a table exclusively."""

    def __init__(self, url: str, table: str):
        self.engine = create_engine(normalize_url(url))
        self.conn = self.engine.connect()
        self.transaction = self.conn.begin()
        self.conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))

    def release(self) -> None:
        if not self.conn.closed:
            self.transaction.rollback()
            self.conn.close()
            self.engine.dispose()


def _wait_for_lock_waiters(lock: TableLock, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    with lock.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT granted")).scalar()
            if waiting >= count:
                return
            time.sleep(0.2)
    raise AssertionError(f"{count} runs never waited on the held lock")


@pytest.mark.postgres
def test_a_locked_table_fails_the_run_in_time_naming_the_table_and_the_setting(postgres_schema_url):
    materialize_days([billing_costs], Warehouse(url=postgres_schema_url), DAY, DAY)
    before = Warehouse(url=postgres_schema_url).read("SELECT SUM(effective_cost) AS total FROM daily_costs")
    lock = TableLock(postgres_schema_url, "daily_costs")
    try:
        started = time.monotonic()
        result = materialize_days([billing_costs], Warehouse(url=postgres_schema_url, lock_timeout_s=2), DAY, DAY,
                                  raise_on_error=False)
        elapsed = time.monotonic() - started
    finally:
        lock.release()
    assert not result.success
    message = failure_message(result)
    assert "daily_costs" in message and "COST_DB_LOCK_TIMEOUT_S=2" in message
    assert elapsed < 30, elapsed
    after = Warehouse(url=postgres_schema_url).read("SELECT SUM(effective_cost) AS total FROM daily_costs")
    assert after["total"].iloc[0] == before["total"].iloc[0]


@pytest.mark.postgres
def test_a_statement_past_its_timeout_fails_naming_the_setting(postgres_schema_url):
    warehouse = Warehouse(url=postgres_schema_url, statement_timeout_s=1)
    with pytest.raises(Exception, match="COST_DB_STATEMENT_TIMEOUT_S=1"):
        with warehouse.transaction() as conn, warehouse._translate_errors():
            conn.execute(text("SELECT pg_sleep(5)"))


def _totals(warehouse: Warehouse) -> dict:
    return {
        table: warehouse.read(f"SELECT COUNT(*) AS n, ROUND(CAST(SUM({column}) AS numeric), 6) AS total FROM {table}")
        .iloc[0].tolist()
        for table, column in [("daily_costs", "effective_cost"), ("customer_cost_allocation", "allocated_cost"),
                              ("unallocated_costs", "cost")]
    }


def _run_in_own_process(url: str, first: dt.date, last: dt.date, outcomes) -> None:
    result = materialize_days([*INGESTION, cost_allocation], Warehouse(url=url), first, last, raise_on_error=False)
    outcomes.put((result.success, "" if result.success else failure_message(result)))


@pytest.mark.postgres
def test_two_overlapping_runs_take_turns_and_equal_one_clean_run(postgres_schema_url):
    first, last = DAY - dt.timedelta(days=2), DAY
    assets = [*INGESTION, cost_allocation]
    warehouse = Warehouse(url=postgres_schema_url)
    materialize_days(assets, warehouse, first, last)
    clean = _totals(warehouse)

    # Two run workers, as the queued run coordinator would start them, made to
    # overlap: both wait behind a held lock on daily_costs, then go at once.
    context = fresh_processes(__name__)
    outcomes = context.Queue()
    workers = [context.Process(target=_run_in_own_process, args=(postgres_schema_url, first, last, outcomes))
               for _ in range(2)]
    lock = TableLock(postgres_schema_url, "daily_costs")
    try:
        for worker in workers:
            worker.start()
        _wait_for_lock_waiters(lock, 2)
        lock.release()
        # Each worker ends on its own once its run is done (no terminate: Dagster handles SIGTERM).
        results = [outcomes.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join(60)
    finally:
        lock.release()
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    for success, message in results:  # a loser, if any, says what happened; never a raw driver error
        assert success or ("another run is writing" in message and "UniqueViolation" not in message), message
    assert _totals(warehouse) == clean


@pytest.mark.postgres
def test_a_frozen_network_path_fails_the_statement_instead_of_hanging(postgres_schema_url, monkeypatch):
    """Keepalives are answered and the server never sees the statement; the client-side guard
    cuts the connection GUARD_GRACE_S after the statement timeout."""
    monkeypatch.setattr(database, "GUARD_GRACE_S", 2.0)
    proxy = FreezingProxy()
    try:
        warehouse = Warehouse(url=proxy.url(postgres_schema_url), statement_timeout_s=1, connect_timeout_s=3)
        with warehouse._translate_errors(), warehouse.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            proxy.frozen.set()  # mid-session: the statement is held on the way
            started = time.monotonic()
            with pytest.raises(OperationalError, match="closed|lost|terminat"):
                conn.execute(text("SELECT 1"))
            assert time.monotonic() - started < 3 + 1 + 2  # statement timeout + grace, with slack
        started = time.monotonic()  # a new checkout: the pool's ping, then a reconnect, are bounded too
        with pytest.raises(WarehouseError, match="COST_DB_CONNECT_TIMEOUT_S"):
            warehouse.ping()
        assert time.monotonic() - started < 15
    finally:
        proxy.close()


@pytest.mark.postgres
def test_an_api_request_on_a_locked_table_answers_503_in_time(postgres_schema_url, monkeypatch):
    monkeypatch.setenv("COST_DB_LOCK_TIMEOUT_S", "1")
    materialize_days([billing_costs, team_daily_costs], Warehouse(url=postgres_schema_url), DAY, DAY)
    client = TestClient(create_app(postgres_schema_url, "stall-token-0123456789"))
    headers = {"Authorization": "Bearer stall-token-0123456789"}
    assert client.get("/costs/trend?days=1", headers=headers).status_code == 200
    lock = TableLock(postgres_schema_url, "daily_team_costs")
    try:
        started = time.monotonic()
        answer = client.get("/costs/trend?days=1", headers=headers)
        elapsed = time.monotonic() - started
    finally:
        lock.release()
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert elapsed < 10, elapsed


class OtherRunWriting:
    """Another run's write transaction, holding daily_costs' advisory lock for `day`'s month."""

    def __init__(self, url: str, day: dt.date):
        self.warehouse = Warehouse(url=url)
        self.conn = self.warehouse.engine.connect()
        self.transaction = self.conn.begin()
        self.warehouse.lock_window(self.conn, schema.daily_costs, day, day)

    def finish(self) -> None:
        if not self.conn.closed:
            self.transaction.commit()
            self.conn.close()


@pytest.mark.postgres
def test_a_run_waits_for_another_run_writing_its_month_beyond_the_lock_timeout(postgres_schema_url):
    materialize_days([billing_costs], Warehouse(url=postgres_schema_url), DAY, DAY)
    other = OtherRunWriting(postgres_schema_url, DAY)
    threading.Timer(3.0, other.finish).start()
    started = time.monotonic()
    result = materialize_days([billing_costs], Warehouse(url=postgres_schema_url, lock_timeout_s=1), DAY, DAY)
    assert result.success
    assert time.monotonic() - started >= 2.5  # it waited for the other run, past its 1 s lock timeout


@pytest.mark.postgres
def test_a_run_that_waits_past_the_statement_timeout_for_another_run_says_so(postgres_schema_url):
    materialize_days([billing_costs], Warehouse(url=postgres_schema_url), DAY, DAY)
    other = OtherRunWriting(postgres_schema_url, DAY)
    try:
        result = materialize_days([billing_costs], Warehouse(url=postgres_schema_url, statement_timeout_s=2), DAY, DAY,
                                  raise_on_error=False)
    finally:
        other.finish()
    assert not result.success
    message = failure_message(result)
    assert f"another run is writing daily_costs for {DAY}..{DAY}" in message
    assert "COST_DB_STATEMENT_TIMEOUT_S=2" in message
