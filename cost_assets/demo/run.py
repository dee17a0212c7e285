"""Materialize every asset for a range of days in one run, printing progress
instead of Dagster's debug log: `python -m cost_assets.demo.run --from 2026-09-30 --to 2026-11-28`.

It is the run `dagster asset materialize --select '*' --partition-range FROM...TO`
would launch (single-run backfill, recorded in the DAGSTER_HOME instance, so the
UI shows it afterwards), with Dagster's console logger quietened. A thread reads
the run's events back from the instance and prints one line per finished step,
warnings from the assets, every failure with its error, and a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, TextIO

from dagster import DagsterEventType, DagsterInstance, RunsFilter, execute_job
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cost_assets.partitions import daily_partitions, day_range, first_partition_day
from cost_assets.resources.database import display_url
from cost_assets.settings import warehouse_url

# Dagster's console logger is quietened: the progress lines say what matters. Steps run
# in this process: a subprocess per step costs seconds of imports each on a small machine.
QUIET_RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    "execution": {"config": {"in_process": {}}},
}
LAUNCH_TAG = "cost/progress_launch"  # finds the run this process launched
POLL_SECONDS = 0.5
SKIPPED_PREFIX = "Dependencies for step"  # the engine's warning when an upstream step failed


def all_assets_job() -> ReconstructableJob:
    """The implicit job of every asset, as `dagster asset materialize -m cost_assets.definitions --select '*'` runs it."""
    from cost_assets.definitions import defs

    repository = ReconstructableRepository.for_module("cost_assets.definitions", "defs", working_directory=os.getcwd())
    return repository.get_reconstructable_job(defs.resolve_implicit_global_asset_job_def().name)


# --- progress: a pure function of the run's events --------------------------------


@dataclass(frozen=True)
class ProgressEvent:
    """What the progress lines need of one event of the run."""

    kind: str  # run_start, step_start, step_success, step_failure, step_skipped, materialization, check, warning, run_failure
    step: str | None = None
    asset: str | None = None
    message: str | None = None
    passed: bool | None = None
    at: float = 0.0  # seconds since the epoch


def progress_event(entry: EventLogEntry) -> ProgressEvent | None:
    """The ProgressEvent of a stored event, or None for events the progress lines ignore."""
    event = entry.dagster_event
    step = entry.step_key
    if event is None:  # a message an asset (or the engine) logged
        if entry.level < logging.WARNING:
            return None
        if entry.user_message.startswith(SKIPPED_PREFIX):
            return ProgressEvent("step_skipped", step=step, at=entry.timestamp)
        return ProgressEvent("warning", step=step, message=entry.user_message, at=entry.timestamp)
    kind = event.event_type
    if kind == DagsterEventType.RUN_START:
        return ProgressEvent("run_start", message=entry.run_id, at=entry.timestamp)
    if kind == DagsterEventType.STEP_START:
        return ProgressEvent("step_start", step=step, at=entry.timestamp)
    if kind == DagsterEventType.STEP_SUCCESS:
        return ProgressEvent("step_success", step=step, at=entry.timestamp)
    if kind == DagsterEventType.STEP_FAILURE:
        return ProgressEvent("step_failure", step=step, message=_error_text(event.step_failure_data.error),
                             at=entry.timestamp)
    if kind == DagsterEventType.ASSET_MATERIALIZATION:
        return ProgressEvent("materialization", step=step, asset=event.asset_key.to_user_string(), at=entry.timestamp)
    if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.event_specific_data
        return ProgressEvent("check", step=step, asset=evaluation.asset_key.to_user_string(),
                             message=evaluation.check_name, passed=evaluation.passed, at=entry.timestamp)
    if kind == DagsterEventType.RUN_FAILURE:
        return ProgressEvent("run_failure", message=event.message, at=entry.timestamp)
    if kind == DagsterEventType.ENGINE_EVENT and event.engine_event_data and event.engine_event_data.error:
        return ProgressEvent("run_failure", step=step, message=_error_text(event.engine_event_data.error),
                             at=entry.timestamp)
    return None


def _error_text(error) -> str:
    """An error with its causes, one per line, without Dagster's wrapper around the asset's own error."""
    if error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    lines = []
    while error is not None:
        text = error.message.strip()
        qualified, _, rest = text.partition(": ")
        if rest and error.cls_name and qualified.endswith(error.cls_name):
            text = f"{error.cls_name}: {rest}"  # BillingFileError: ..., not cost_assets.ingestion....BillingFileError
        lines.append(text)
        error = error.cause
    return "\n    caused by: ".join(lines)


def duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}:{seconds:02d}"


@dataclass
class Progress:
    """Turns a run's events into progress lines: days and assets done, time left, failures, a summary."""

    assets: int  # assets the run materializes
    days: int  # days of the partition range
    started_at: float
    materialized: dict[str, int] = field(default_factory=dict)  # asset -> days materialized
    step_assets: dict[str, set[str]] = field(default_factory=dict)  # step -> assets it materialized
    step_started: dict[str, float] = field(default_factory=dict)
    steps_done: int = 0
    run_started_at: float | None = None  # the run starts once Dagster has planned every asset-day
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # steps not run because an upstream step failed
    failed_checks: set[str] = field(default_factory=set)
    checks_passed: set[str] = field(default_factory=set)

    @property
    def asset_days_done(self) -> int:
        return sum(self.materialized.values())

    @property
    def assets_done(self) -> int:
        return sum(1 for days in self.materialized.values() if days >= self.days)

    def time_left(self, now: float) -> str:
        done, total = self.asset_days_done, self.assets * self.days
        if done == 0:
            return "estimating time left"
        if done >= total:
            return "finishing"
        working = now - (self.run_started_at if self.run_started_at is not None else self.started_at)
        return f"about {duration(working * (total - done) / done)} left"

    def on(self, event: ProgressEvent) -> list[str]:
        """The lines to print for `event` (often none)."""
        if event.kind == "run_start":
            self.run_started_at = event.at
            return [f"Run {event.message} started after {duration(event.at - self.started_at)} of planning "
                    f"{self.assets * self.days} asset-days; the Dagster UI shows it live"]
        if event.kind == "step_start":
            self.step_started[event.step] = event.at
        elif event.kind == "materialization":
            self.materialized[event.asset] = self.materialized.get(event.asset, 0) + 1
            self.step_assets.setdefault(event.step, set()).add(event.asset)
        elif event.kind == "check":
            check = f"{event.asset}:{event.message}"
            (self.checks_passed if event.passed else self.failed_checks).add(check)
        elif event.kind == "warning":
            return [f"  warning ({event.step or 'run'}): {event.message}"]
        elif event.kind == "step_success":
            self.steps_done += 1
            assets = sorted(self.step_assets.get(event.step, ()))
            took = event.at - self.step_started.get(event.step, event.at)
            days = max((self.materialized[a] for a in assets), default=0)
            what = ", ".join(assets) or event.step
            return [
                f"[{self.assets_done:>2}/{self.assets} assets | {self.asset_days_done:>4}/{self.assets * self.days} "
                f"asset-days | {duration(event.at - self.started_at)} elapsed, {self.time_left(event.at)}] "
                f"{what}: {days} days in {took:.1f}s"
            ]
        elif event.kind == "step_skipped":
            self.skipped.append(event.step)
        elif event.kind == "step_failure":
            self.failures.append(f"{event.step}: {event.message}")
            return [f"FAILED in {event.step}: {event.message}"]
        elif event.kind == "run_failure" and not self.failures:  # else it only repeats the failed steps
            self.failures.append(f"run: {event.message}")
            return [f"FAILED: {event.message}"]
        return []

    def summary(self, success: bool, now: float, first: dt.date, last: dt.date, run_id: str) -> list[str]:
        took = duration(now - self.started_at)
        lines = []
        if success:
            lines.append(f"Done: {self.assets_done} of {self.assets} assets for {self.days} days "
                         f"({first.isoformat()}..{last.isoformat()}) in {took}, one run: {run_id}")
        else:
            lines.append(f"Run {run_id} failed after {took}: {self.assets_done} of {self.assets} assets done "
                         f"({self.asset_days_done} of {self.assets * self.days} asset-days)")
            lines += [f"  {failure}" for failure in self.failures]
            if self.skipped:
                lines.append(f"  not run, as a step they depend on failed: {', '.join(self.skipped)}")
            lines.append("  The Dagster UI shows the run's full log (Runs).")
        checks = f"Checks: {len(self.checks_passed)} passed"
        if self.failed_checks:
            checks += f", {len(self.failed_checks)} did not pass: {', '.join(sorted(self.failed_checks))}"
        lines.append(checks)
        return lines


# --- the run ---------------------------------------------------------------------------


def _follow(instance: DagsterInstance, launch: str, progress: Progress, emit: Callable[[str], None],
            finished: threading.Event, run_ids: list[str]) -> None:
    """Print progress lines for the run tagged `launch` until `finished` is set and every event is read."""
    cursor = None
    while True:
        done = finished.is_set()  # read before the last poll, so no event is missed
        if not run_ids:
            runs = instance.get_runs(filters=RunsFilter(tags={LAUNCH_TAG: launch}), limit=1)
            if runs:
                run_ids.append(runs[0].run_id)
        if run_ids:
            while True:
                connection = instance.get_records_for_run(run_ids[0], cursor=cursor, limit=1000)
                for record in connection.records:
                    event = progress_event(record.event_log_entry)
                    if event is not None:
                        for line in progress.on(event):
                            emit(line)
                cursor = connection.cursor
                if not connection.has_more:
                    break
        if done:
            return
        finished.wait(POLL_SECONDS)


def materialize_with_progress(first: dt.date, last: dt.date, instance: DagsterInstance,
                              out: TextIO = sys.stdout) -> bool:
    """Materialize every asset for first..last in one run of `instance`, printing progress to `out`."""
    job = all_assets_job()
    assets = len(job.get_definition().asset_layer.executable_asset_keys)
    launch = uuid.uuid4().hex
    progress = Progress(assets=assets, days=len(day_range(first, last)), started_at=time.time())

    def emit(line: str) -> None:
        print(line, file=out, flush=True)

    emit(f"Materializing {assets} assets for {progress.days} days ({first.isoformat()}..{last.isoformat()}) in one run "
         f"into {display_url(warehouse_url())}")
    finished, run_ids = threading.Event(), []
    def follow() -> None:
        try:
            _follow(instance, launch, progress, emit, finished, run_ids)
        except Exception as exc:  # noqa: BLE001 - the run goes on; only its progress lines stop
            emit(f"(progress lines stopped: {exc}; the run goes on, the Dagster UI shows it)")

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        result = execute_job(
            job,
            instance=instance,
            run_config=QUIET_RUN_CONFIG,
            tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                  ASSET_PARTITION_RANGE_END_TAG: last.isoformat(), LAUNCH_TAG: launch},
            raise_on_error=False,
        )
    finally:
        finished.set()
        follower.join()
    for line in progress.summary(result.success, time.time(), first, last, result.run_id):
        emit(line)
    return result.success


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a YYYY-MM-DD day") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost_assets.demo.run", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=_day, required=True, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="last", type=_day, required=True, help="last UTC day (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    if args.last < args.first:
        parser.error(f"--to {args.last} is before --from {args.first}")
    for name, day in (("--from", args.first), ("--to", args.last)):
        if not daily_partitions.has_partition_key(day.isoformat()):
            parser.error(f"{name} {day} is not a daily partition: they run from {first_partition_day()} "
                         f"(COST_PARTITIONS_START) to {daily_partitions.get_last_partition_key()}, the last complete UTC day")
    with DagsterInstance.get() as instance:
        return 0 if materialize_with_progress(args.first, args.last, instance) else 1


if __name__ == "__main__":
    sys.exit(main())
