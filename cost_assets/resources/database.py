"""Database URLs and engines: one driver, timeouts on every connection, safe messages.

Every PostgreSQL URL form users write (`postgresql://`, `postgres://`,
`postgresql+psycopg://`, `postgresql+psycopg2://`) is normalized to psycopg 3,
the driver the COPY paths need; SQLAlchemy alone would map `postgresql://` to
psycopg2 (installed by dagster-postgres) and reject `postgres://`.
"""

from __future__ import annotations

import re
import socket
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cost_assets.settings import DatabaseTimeouts, SettingError, get_settings

POSTGRES_DRIVER = "postgresql+psycopg"
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
# TCP keepalives find a dead peer (host gone, connection dropped) in about a minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
TCP_USER_TIMEOUT_MS = 60_000


def _split_userinfo(raw: str) -> tuple[str, str | None, str | None, str]:
    """(scheme, user, password, rest) with the password taken up to the LAST '@',
    so an unencoded '@' in a password stays in the password."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return raw, None, None, ""
    authority_end = len(rest.split("?", 1)[0])
    at = rest.rfind("@", 0, authority_end)
    if at < 0:
        return scheme, None, None, rest
    user, colon, password = rest[:at].partition(":")
    return scheme, user, (password if colon else None), rest[at + 1:]


def display_url(raw: str) -> str:
    """The URL with any password masked, safe to log, however the password was written."""
    scheme, user, password, rest = _split_userinfo(raw)
    if user is None:
        return raw
    return f"{scheme}://{user}{':***' if password is not None else ''}@{rest}"


def normalize_url(raw: str, setting: str = "COST_WAREHOUSE_URL") -> URL:
    """The SQLAlchemy URL to connect with; PostgreSQL forms go to psycopg 3."""
    scheme, user, password, rest = _split_userinfo(raw)
    text = raw
    if user is not None:
        # Re-encode userinfo so a raw '@', ':' or '/' in a password parses as written.
        encoded_password = "" if password is None else ":" + quote(unquote(password), safe="")
        text = f"{scheme}://{quote(unquote(user), safe='')}{encoded_password}@{rest}"
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise SettingError(f"{setting}={display_url(raw)!r} is not a database URL "
                           "(e.g. postgresql://user:password@host/db or sqlite:///path)") from exc
    if url.drivername in POSTGRES_SCHEMES:
        url = url.set(drivername=POSTGRES_DRIVER)
    return url


def _postgres_options(url: URL, timeouts: DatabaseTimeouts) -> dict:
    """connect_args: timeouts as libpq parameters, merged with the URL's own `options`."""
    limits = [f"-c statement_timeout={int(timeouts.statement_s * 1000)}", f"-c lock_timeout={int(timeouts.lock_s * 1000)}"]
    options = " ".join([*([url.query["options"]] if "options" in url.query else []), *limits])
    args = {"options": options, **KEEPALIVES, "tcp_user_timeout": TCP_USER_TIMEOUT_MS}
    if timeouts.connect_s:
        args["connect_timeout"] = max(2, round(timeouts.connect_s))  # libpq's minimum is 2 s
    return args


def engine_for(url: str, timeouts: DatabaseTimeouts | None = None, setting: str = "COST_WAREHOUSE_URL") -> Engine:
    """The pooled engine of `url` (one per URL and timeouts in this process); `setting`
    names where the URL came from, for error messages."""
    return _engine(url, timeouts or get_settings().db_timeouts, setting)


@lru_cache(maxsize=32)
def _engine(raw: str, timeouts: DatabaseTimeouts, setting: str) -> Engine:
    url = normalize_url(raw, setting)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time: a writer waits up to the lock timeout.
        engine = create_engine(url, connect_args={"timeout": timeouts.lock_s or 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # WAL lets readers (the API) run during writes
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url.difference_update_query(["options"]), pool_pre_ping=True, pool_size=5,
                               max_overflow=10, pool_timeout=max(timeouts.connect_s, 1),
                               connect_args=_postgres_options(url, timeouts))
        _install_statement_guard(engine, timeouts)
        return engine
    return create_engine(url, pool_pre_ping=True)


_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN|TABLE|COPY)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)


def tables_in(statement: str | None) -> list[str]:
    """Table names a SQL statement touches, in order of appearance."""
    return list(dict.fromkeys(_TABLE.findall(statement or "")))


def timeout_setting(message: str) -> str | None:
    """The setting behind a driver's timeout message, if it is one."""
    text = message.lower()
    if "lock timeout" in text or "lock_timeout" in text:
        return "COST_DB_LOCK_TIMEOUT_S"
    if "statement timeout" in text or "canceling statement" in text:
        return "COST_DB_STATEMENT_TIMEOUT_S"
    if "timeout expired" in text or "connection timed out" in text or "timed out" in text:
        return "COST_DB_CONNECT_TIMEOUT_S"
    if "database is locked" in text:  # SQLite's busy timeout
        return "COST_DB_LOCK_TIMEOUT_S"
    return None


# A frozen network path (a proxy or NAT that stops forwarding but keeps TCP up)
# never reaches the server, so its statement_timeout cannot fire and keepalives
# are answered: a client-side guard cuts the connection a little after the
# server's own limit would have.
GUARD_GRACE_S = 10.0


class StatementGuard:
    """Shuts the connection's socket down if one statement outlives `seconds`;
    the driver then raises instead of waiting forever."""

    def __init__(self, dbapi_connection, seconds: float):
        self._timer = None
        if seconds > 0 and hasattr(dbapi_connection, "pgconn"):
            self._timer = threading.Timer(seconds, _shutdown, (dbapi_connection,))
            self._timer.daemon = True

    def __enter__(self):
        if self._timer:
            self._timer.start()
        return self

    def __exit__(self, *exc):
        if self._timer:
            self._timer.cancel()


def _shutdown(dbapi_connection) -> None:
    try:
        fd = dbapi_connection.pgconn.socket
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:  # a dup: libpq keeps its own fd
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError, AttributeError):
        pass  # already closed


def guarded(conn) -> StatementGuard:
    """A guard for a statement run on the driver connection itself (COPY), as the engine's own statements have."""
    return StatementGuard(conn.connection.driver_connection, conn.info.get("guard_seconds", 0.0))


def guard_seconds(timeouts: DatabaseTimeouts) -> float:
    return timeouts.statement_s + GUARD_GRACE_S if timeouts.statement_s else 0.0


def _install_statement_guard(engine: Engine, timeouts: DatabaseTimeouts) -> None:
    seconds = guard_seconds(timeouts)

    # The pool's pre-ping (SELECT 1 on checkout) runs outside the execute events.
    ping = engine.dialect.do_ping

    def _guarded_ping(dbapi_connection):
        with StatementGuard(dbapi_connection, timeouts.connect_s + GUARD_GRACE_S):
            return ping(dbapi_connection)

    engine.dialect.do_ping = _guarded_ping

    @event.listens_for(engine, "engine_connect")
    def _remember(conn):
        conn.info["guard_seconds"] = seconds

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn, cursor, statement, parameters, context, executemany):
        guard = StatementGuard(conn.connection.driver_connection, seconds)
        conn.info.setdefault("statement_guards", []).append(guard.__enter__())

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn, cursor, statement, parameters, context, executemany):
        guards = conn.info.get("statement_guards")
        if guards:
            guards.pop().__exit__(None, None, None)

    @event.listens_for(engine, "handle_error")
    def _disarm_on_error(context):
        guards = context.connection.info.get("statement_guards") if context.connection is not None else None
        while guards:
            guards.pop().__exit__(None, None, None)
