"""Environment settings and project-wide constants (docs/reference.md#settings).

Every setting is optional; with none set the project runs the demo company on
an embedded SQLite warehouse. `get_settings()` reads and validates them all at
once, so a bad value fails the first thing that needs settings, naming it.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from cost_assets.anomalies.detection import AnomalySettings
    from cost_assets.waste.settings import WorkSchedule

SOURCES = ("demo", "cost_explorer", "focus", "cur2")

# Tag value given to a missing or empty allocation tag.
UNTAGGED = "untagged"


class SettingError(ValueError):
    """A setting has a value the project cannot use; the message names it."""


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def data_dir() -> Path:
    home = env("DAGSTER_HOME")
    return Path(home) if home else Path.cwd() / ".cost_data"


def parse_date_setting(name: str, default: str) -> dt.date:
    raw = env(name, default)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingError(f"{name}={raw!r} is not a YYYY-MM-DD date") from exc


def int_setting(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingError(f"{name}={raw!r} is not a whole number") from exc
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingError(f"{name}={raw!r} must be {bounds}")
    return value


def float_setting(name: str, default: float, minimum: float = 0.0, maximum: float | None = None) -> float:
    """A finite number within [minimum, maximum]."""
    raw = env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingError(f"{name}={raw!r} is not a number") from exc
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum:g} to {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise SettingError(f"{name}={raw!r} must be a finite number {bounds}")
    return value


def switch_setting(name: str, default: bool = False) -> bool:
    raw = env(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"{name}={raw!r} is not a switch; use 1 or 0")


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Limits applied to every database connection the project opens (seconds; 0 = none)."""

    connect_s: float
    statement_s: float
    lock_s: float


# Defaults: a run's longest statement (a year's COPY on PostgreSQL) takes about a
# minute; the API's queries take milliseconds, so it gives up much sooner.
DEFAULT_TIMEOUTS = DatabaseTimeouts(connect_s=10, statement_s=900, lock_s=60)
API_TIMEOUTS = DatabaseTimeouts(connect_s=5, statement_s=30, lock_s=5)


@dataclass(frozen=True)
class Settings:
    """Every COST_* setting, read and validated once (see `get_settings`)."""

    warehouse_url: str
    source: str
    source_uri: str | None
    app_db_url: str | None
    allocation_rules: str | None
    partitions_start: dt.date
    backfill_run_days: int
    run_chunk_days: int
    db_timeouts: DatabaseTimeouts
    api_host: str
    api_port: int
    api_workers: int
    alert_recent_days: int
    forecast_margin_alert_pct: float
    dagster_ui_url: str
    ce_max_requests: int
    ce_hourly: bool
    max_unreadable_amounts: int
    demo_spike_start: dt.date
    anomaly: "AnomalySettings"
    work_schedule: "WorkSchedule"
    # Secrets: never shown by repr (Dagster logs, tracebacks).
    alert_webhook_url: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)


def _source() -> str:
    source = env("COST_SOURCE", "demo")
    if source not in SOURCES:
        raise SettingError(
            f"COST_SOURCE={source!r} is not a known billing source; use one of {', '.join(SOURCES)}"
        )
    return source


def _read_settings() -> Settings:
    # The domain parsers live with their domains (they import this module).
    from cost_assets.anomalies.settings import anomaly_settings
    from cost_assets.waste.settings import work_schedule

    return Settings(
        warehouse_url=env("COST_WAREHOUSE_URL") or f"sqlite:///{data_dir() / 'cost_warehouse.db'}",
        source=_source(),
        source_uri=env("COST_SOURCE_URI"),
        app_db_url=env("COST_APP_DB_URL"),
        allocation_rules=env("COST_ALLOCATION_RULES"),
        partitions_start=parse_date_setting("COST_PARTITIONS_START", DEFAULT_PARTITIONS_START),
        backfill_run_days=int_setting("COST_BACKFILL_RUN_DAYS", 0, minimum=0),
        # Days computed and committed together: bounds a run's memory whatever its range.
        run_chunk_days=int_setting("COST_RUN_CHUNK_DAYS", 31, minimum=1, maximum=366),
        db_timeouts=DatabaseTimeouts(
            connect_s=float_setting("COST_DB_CONNECT_TIMEOUT_S", DEFAULT_TIMEOUTS.connect_s, maximum=3600),
            statement_s=float_setting("COST_DB_STATEMENT_TIMEOUT_S", DEFAULT_TIMEOUTS.statement_s, maximum=86400),
            lock_s=float_setting("COST_DB_LOCK_TIMEOUT_S", DEFAULT_TIMEOUTS.lock_s, maximum=86400),
        ),
        api_host=env("COST_API_HOST", "127.0.0.1"),
        api_port=int_setting("COST_API_PORT", 8080, minimum=1, maximum=65535),
        api_workers=int_setting("COST_API_WORKERS", 1, minimum=1, maximum=256),
        # Only anomalies this recent alert: backfilling history must not flood the channel.
        alert_recent_days=int_setting("COST_ALERT_RECENT_DAYS", 3, minimum=1),
        # A customer whose forecast month-end margin falls below this percent is posted once a month.
        forecast_margin_alert_pct=float_setting("COST_FORECAST_MARGIN_ALERT_PCT", 0.0, minimum=-1000.0, maximum=100.0),
        dagster_ui_url=(env("COST_DAGSTER_UI_URL") or "http://127.0.0.1:3000").rstrip("/"),
        ce_max_requests=int_setting("COST_CE_MAX_REQUESTS", 200, minimum=1),
        ce_hourly=switch_setting("COST_CE_HOURLY"),
        # A row of unknown amount may carry any part of the bill: by default none is accepted.
        max_unreadable_amounts=int_setting("COST_MAX_UNREADABLE_AMOUNTS", 0, minimum=0),
        demo_spike_start=parse_date_setting("COST_DEMO_SPIKE_START", "2026-11-10"),
        anomaly=anomaly_settings(),
        work_schedule=work_schedule(),
        alert_webhook_url=env("COST_ALERT_WEBHOOK_URL"),
        api_token=env("COST_API_TOKEN"),
    )


@lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:
    return _read_settings()


def _relevant(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in environ.items() if k.startswith("COST_") or k == "DAGSTER_HOME"))


def get_settings() -> Settings:
    """The settings of this process, read and validated once per environment."""
    return _settings_for(_relevant(os.environ))


DEFAULT_PARTITIONS_START = "2023-01-01"


# Shorthands kept for the call sites that need one value.
def warehouse_url() -> str:
    return get_settings().warehouse_url


def cost_source() -> str:
    return get_settings().source


def partitions_start_date() -> dt.date:
    """First day of the shared daily partitions (COST_PARTITIONS_START)."""
    return get_settings().partitions_start
