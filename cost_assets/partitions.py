"""The one daily partitions definition shared by every asset (UTC days)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Callable, TypeVar

from dagster import AssetDep, BackfillPolicy, DailyPartitionsDefinition, TimeWindow, TimeWindowPartitionMapping

from sqlalchemy import Connection

from cost_assets.settings import get_settings, partitions_start_date

if TYPE_CHECKING:
    from cost_assets.resources.warehouse import Warehouse

T = TypeVar("T")

daily_partitions = DailyPartitionsDefinition(
    start_date=partitions_start_date().isoformat(), timezone="UTC", end_offset=0
)


def _backfill_policy() -> BackfillPolicy:
    """One run per backfill (assets read their whole window), or runs of at most
    COST_BACKFILL_RUN_DAYS days that the run queue can execute side by side."""
    days = get_settings().backfill_run_days
    return BackfillPolicy.multi_run(max_partitions_per_run=days) if days else BackfillPolicy.single_run()


backfill_policy = _backfill_policy()


def trailing_dependency(asset: str, days_before: int) -> AssetDep:
    """Day D depends on `asset`'s days D-days_before .. D (clipped at the first partition)."""
    return AssetDep(asset, partition_mapping=TimeWindowPartitionMapping(
        start_offset=-days_before, allow_nonexistent_upstream_partitions=True))


def window_days(window: TimeWindow) -> tuple[dt.date, dt.date]:
    """The [first, last] UTC days covered by a partition time window."""
    first = window.start.date()
    last = (window.end - dt.timedelta(days=1)).date()
    return first, last


def day_range(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def first_partition_day() -> dt.date:
    return daily_partitions.start.date()


def days_before_partitions(held: tuple[dt.date, dt.date] | None, start: dt.date) -> tuple[dt.date, dt.date] | None:
    """The part [first, last] of the days a source holds that lies before the first partition `start`."""
    if held is None or held[0] >= start:
        return None
    return held[0], min(held[1], start - dt.timedelta(days=1))


def describe_days_before_partitions(before: tuple[dt.date, dt.date], start: dt.date) -> str:
    first, last = before
    return (
        f"the billing source holds days {first.isoformat()}..{last.isoformat()} before the first daily partition "
        f"{start.isoformat()} (COST_PARTITIONS_START); they cannot be ingested until COST_PARTITIONS_START "
        f"is set to {first.isoformat()} or earlier"
    )


def day_chunks(first: dt.date, last: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    """first..last cut into consecutive [start, end] spans of at most `days` days."""
    starts = day_range(first, last)[::days]
    return [(start, min(start + dt.timedelta(days=days - 1), last)) for start in starts]


class ChunkFailed(RuntimeError):
    """A chunk of a run failed: the message says which days were committed before it."""


def describe_spans(spans: list[tuple[dt.date, dt.date]]) -> str:
    if not spans:
        return "none"
    return f"{spans[0][0].isoformat()}..{spans[-1][1].isoformat()}"


def chunk_failure(what: str, failed: tuple[dt.date, dt.date], last: dt.date,
                  committed: list[tuple[dt.date, dt.date]], exc: BaseException) -> ChunkFailed:
    """The error of a run whose chunk `failed` raised `exc` after `committed` were committed."""
    start, end = failed
    return ChunkFailed(
        f"{what} failed on days {start.isoformat()}..{end.isoformat()}: {exc}\n"
        f"committed before the failure: days {describe_spans(committed)}; days {start.isoformat()}.."
        f"{last.isoformat()} were left as they were (COST_RUN_CHUNK_DAYS={get_settings().run_chunk_days})"
    )


def run_chunks(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """first..last in chunks of COST_RUN_CHUNK_DAYS days."""
    return day_chunks(first, last, get_settings().run_chunk_days)


def commit_in_chunks(
    warehouse: "Warehouse", first: dt.date, last: dt.date, write_chunk: Callable[[Connection, dt.date, dt.date], T],
    log: logging.Logger | None = None, what: str = "the run",
) -> list[T]:
    """Run `write_chunk(conn, start, end)` over first..last in chunks of COST_RUN_CHUNK_DAYS days,
    each in a transaction of its own: a run's memory depends on the chunk, not the range, and
    a failure keeps every committed chunk and leaves the later days as they were."""
    committed: list[tuple[dt.date, dt.date]] = []
    results = []
    for start, end in run_chunks(first, last):
        started = time.perf_counter()
        try:
            with warehouse.transaction() as conn:
                results.append(write_chunk(conn, start, end))
        except Exception as exc:
            raise chunk_failure(what, (start, end), last, committed, exc) from exc
        committed.append((start, end))
        if log is not None and (start, end) != (first, last):
            log.info(f"{what}: committed days {start.isoformat()}..{end.isoformat()} "
                     f"in {time.perf_counter() - started:.1f} s")
    return results
