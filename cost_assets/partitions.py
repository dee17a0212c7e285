"""The one daily partitions definition shared by every asset (UTC days)."""

from __future__ import annotations

import datetime as dt

from dagster import BackfillPolicy, DailyPartitionsDefinition, TimeWindow

from cost_assets.settings import partitions_start_date

daily_partitions = DailyPartitionsDefinition(
    start_date=partitions_start_date().isoformat(), timezone="UTC", end_offset=0
)

# A backfill over any range is one run; assets read their whole time window.
single_run = BackfillPolicy.single_run()


def window_days(window: TimeWindow) -> tuple[dt.date, dt.date]:
    """The [first, last] UTC days covered by a partition time window."""
    first = window.start.date()
    last = (window.end - dt.timedelta(days=1)).date()
    return first, last


def day_range(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def day_chunks(first: dt.date, last: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    """first..last cut into consecutive [start, end] spans of at most `days` days."""
    starts = day_range(first, last)[::days]
    return [(start, min(start + dt.timedelta(days=days - 1), last)) for start in starts]
