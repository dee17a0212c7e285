"""Environment settings (CONTRACT §1) and project-wide constants.

Every setting is optional; with none set the project runs the demo company on
an embedded SQLite warehouse.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

SOURCES = ("demo", "cost_explorer", "focus", "cur2")

# Tag value given to a missing or empty allocation tag (CONTRACT §2).
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


def warehouse_url() -> str:
    url = env("COST_WAREHOUSE_URL")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'cost_warehouse.db'}"


def cost_source() -> str:
    source = env("COST_SOURCE", "demo")
    if source not in SOURCES:
        raise SettingError(
            f"COST_SOURCE={source!r} is not a known billing source; use one of {', '.join(SOURCES)}"
        )
    return source


def parse_date_setting(name: str, default: str) -> dt.date:
    raw = env(name, default)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingError(f"{name}={raw!r} is not a YYYY-MM-DD date") from exc


def int_setting(name: str, default: int) -> int:
    raw = env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingError(f"{name}={raw!r} is not a whole number") from exc


def float_setting(name: str, default: float) -> float:
    """A finite, non-negative number."""
    raw = env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingError(f"{name}={raw!r} is not a number") from exc
    if not math.isfinite(value) or value < 0:
        raise SettingError(f"{name}={raw!r} must be a finite number of at least 0")
    return value


def partitions_start_date() -> dt.date:
    """First day of the shared daily partitions (COST_PARTITIONS_START)."""
    return parse_date_setting("COST_PARTITIONS_START", "2025-01-01")
