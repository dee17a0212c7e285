"""Settings of the off-hours waste analysis: working hours, days, time zone, environments.

    COST_WORK_HOURS          working hours, local time, `HH-HH` or `HH:MM-HH:MM`   08-20
    COST_WORK_DAYS           working days: ranges and lists of mon..sun            mon-fri
    COST_WORK_TIMEZONE       IANA time zone the working hours are in              UTC
    COST_WASTE_ENVIRONMENTS  environments analysed (values of the `environment` tag) staging,development

A bad value raises SettingError naming the setting.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass

from cost_assets.settings import SettingError, env

HOURS_SETTING = "COST_WORK_HOURS"
DAYS_SETTING = "COST_WORK_DAYS"
TIMEZONE_SETTING = "COST_WORK_TIMEZONE"
ENVIRONMENTS_SETTING = "COST_WASTE_ENVIRONMENTS"

DEFAULT_HOURS = "08-20"
DEFAULT_DAYS = "mon-fri"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_ENVIRONMENTS = "staging,development"

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = Python weekday()
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = r"(\d{1,2})(?::(\d{2}))?"


@dataclass(frozen=True)
class WorkSchedule:
    """When people work: [start, end) in minutes after local midnight, on `days` (0 = Monday)."""

    start_minute: int = 8 * 60
    end_minute: int = 20 * 60
    days: frozenset[int] = frozenset(range(5))
    timezone: str = DEFAULT_TIMEZONE
    environments: tuple[str, ...] = ("staging", "development")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def describe(self) -> str:
        """e.g. `mon-fri 08:00-20:00 UTC`, stored beside every row."""
        return f"{_describe_days(self.days)} {_hhmm(self.start_minute)}-{_hhmm(self.end_minute)} {self.timezone}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_days(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
    return ",".join(DAY_NAMES[d] for d in ordered)


def parse_hours(raw: str) -> tuple[int, int]:
    match = re.fullmatch(rf"\s*{_TIME}\s*-\s*{_TIME}\s*", raw)
    if not match:
        raise SettingError(f"{HOURS_SETTING}={raw!r} is not a range of local hours like 08-20 or 08:30-17:30")
    sh, sm, eh, em = (int(g) if g else 0 for g in match.groups())
    start, end = sh * 60 + sm, eh * 60 + em
    if sh > 23 or sm > 59 or em > 59 or end > 24 * 60:
        raise SettingError(f"{HOURS_SETTING}={raw!r}: hours must lie within 00:00-24:00")
    if start >= end:
        raise SettingError(
            f"{HOURS_SETTING}={raw!r}: the start must be before the end (overnight working hours are not supported)"
        )
    return start, end


def _day(name: str, raw: str) -> int:
    key = name.strip().lower()
    for names in (DAY_NAMES, FULL_DAY_NAMES):
        if key in names:
            return names.index(key)
    raise SettingError(f"{DAYS_SETTING}={raw!r}: {name.strip()!r} is not a day; use mon, tue, wed, thu, fri, sat, sun")


def parse_days(raw: str) -> frozenset[int]:
    """`mon-fri`, `sun-thu` (wraps round the week), `mon,wed,fri`, `mon-thu,sat`."""
    days: set[int] = set()
    for part in raw.split(","):
        if not part.strip():
            continue
        if "-" in part:
            first, _, last = part.partition("-")
            start, end = _day(first, raw), _day(last, raw)
            days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
        else:
            days.add(_day(part, raw))
    if not days:
        raise SettingError(f"{DAYS_SETTING}={raw!r} names no day")
    return frozenset(days)


def parse_timezone(raw: str) -> str:
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingError(f"{TIMEZONE_SETTING}={raw!r} is not an IANA time zone such as UTC or America/New_York") from exc
    return raw


def parse_environments(raw: str) -> tuple[str, ...]:
    # Tag values are lower-cased on ingestion (line_items.normalize_tags), so compare lower-case.
    names = tuple(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    if not names:
        raise SettingError(f"{ENVIRONMENTS_SETTING}={raw!r} names no environment")
    return names


def work_schedule() -> WorkSchedule:
    """The schedule from the environment, defaults where a setting is unset."""
    start, end = parse_hours(env(HOURS_SETTING, DEFAULT_HOURS))
    return WorkSchedule(
        start_minute=start,
        end_minute=end,
        days=parse_days(env(DAYS_SETTING, DEFAULT_DAYS)),
        timezone=parse_timezone(env(TIMEZONE_SETTING, DEFAULT_TIMEZONE)),
        environments=parse_environments(env(ENVIRONMENTS_SETTING, DEFAULT_ENVIRONMENTS)),
    )
