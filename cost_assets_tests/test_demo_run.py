"""`python -m cost_assets.demo.run`: progress lines from a run's events, one run recorded in the instance."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from cost_assets.definitions import defs
from cost_assets.demo.run import Progress, ProgressEvent, duration

REPO = Path(__file__).resolve().parents[1]
T0 = 1_000_000.0


def feed(progress: Progress, *events: ProgressEvent) -> list[str]:
    return [line for event in events for line in progress.on(event)]


def materializations(step: str, asset: str, days: int, at: float) -> list[ProgressEvent]:
    return [ProgressEvent("materialization", step=step, asset=asset, at=at) for _ in range(days)]


def test_a_finished_step_prints_assets_and_days_done_and_the_time_left():
    progress = Progress(assets=3, days=4, started_at=T0)

    lines = feed(
        progress,
        ProgressEvent("step_start", step="billing_costs", at=T0 + 1),
        *materializations("billing_costs", "daily_costs", 4, T0 + 4),
        *materializations("billing_costs", "hourly_costs", 4, T0 + 4),
        ProgressEvent("step_success", step="billing_costs", at=T0 + 6),
    )

    # 8 of 12 asset-days in 6 s: 4 more take about 3 s
    assert lines == ["[ 2/3 assets |    8/12 asset-days | 0:06 elapsed, about 0:03 left] "
                     "daily_costs, hourly_costs: 4 days in 5.0s"]
    assert feed(progress, ProgressEvent("step_start", step="service_metrics", at=T0 + 7)) == []


def test_the_run_start_is_announced_and_time_left_counts_from_it():
    progress = Progress(assets=2, days=2, started_at=T0)

    lines = feed(
        progress,
        ProgressEvent("run_start", message="run-9", at=T0 + 30),  # 30 s of planning
        *materializations("s1", "a", 2, T0 + 40),
        ProgressEvent("step_success", step="s1", at=T0 + 40),
    )

    assert lines[0] == "Run run-9 started after 0:30 of planning 4 asset-days; the Dagster UI shows it live"
    # 2 of 4 asset-days in the 10 s since the run started: about 10 s more
    assert lines[1] == "[ 1/2 assets |    2/4 asset-days | 0:40 elapsed, about 0:10 left] a: 2 days in 0.0s"


def test_time_left_before_anything_is_done_and_at_the_end():
    progress = Progress(assets=1, days=2, started_at=T0)
    assert progress.time_left(T0 + 5) == "estimating time left"
    feed(progress, *materializations("s", "a", 2, T0 + 1))
    assert progress.time_left(T0 + 5) == "finishing"
    assert duration(125.4) == "2:05"


def test_a_failure_prints_its_error_at_once_and_in_the_summary():
    progress = Progress(assets=2, days=3, started_at=T0)
    error = "COST_SOURCE_URI='/nowhere': no such file or folder"

    lines = feed(progress, ProgressEvent("step_start", step="billing_costs", at=T0),
                 ProgressEvent("step_failure", step="billing_costs", message=error, at=T0 + 2),
                 ProgressEvent("step_skipped", step="cost_allocation", at=T0 + 2),
                 ProgressEvent("run_failure", message="Steps failed: ['billing_costs']", at=T0 + 3))

    assert lines == [f"FAILED in billing_costs: {error}"]  # the run's failure only repeats it
    summary = progress.summary(False, T0 + 3, dt.date(2026, 1, 1), dt.date(2026, 1, 3), "run-1")
    assert summary[:3] == [
        "Run run-1 failed after 0:03: 0 of 2 assets done (0 of 6 asset-days)",
        f"  billing_costs: {error}",
        "  not run, as a step they depend on failed: cost_allocation",
    ]


def test_warnings_are_printed_and_checks_that_did_not_pass_are_summarized():
    progress = Progress(assets=1, days=1, started_at=T0)

    lines = feed(
        progress,
        ProgressEvent("warning", step="off_hours_waste", message="hourly coverage is incomplete", at=T0),
        ProgressEvent("check", asset="daily_costs", message="daily_costs_unique_keys", passed=True, at=T0),
        ProgressEvent("check", asset="daily_costs", message="daily_costs_tag_coverage", passed=False, at=T0),
        *materializations("billing_costs", "daily_costs", 1, T0 + 1),
        ProgressEvent("step_success", step="billing_costs", at=T0 + 1),
    )

    assert lines[0] == "  warning (off_hours_waste): hourly coverage is incomplete"
    summary = progress.summary(True, T0 + 65, dt.date(2026, 1, 1), dt.date(2026, 1, 1), "run-2")
    assert summary == [
        "Done: 1 of 1 assets for 1 days (2026-01-01..2026-01-01) in 1:05, one run: run-2",
        "Checks: 1 passed, 1 did not pass: daily_costs:daily_costs_tag_coverage",
    ]


# --- the entry point, in a subprocess against a temporary DAGSTER_HOME -------------------


def run_entry_point(home: Path, first: dt.date, last: dt.date, **env_overrides) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COST_")}
    env.update(DAGSTER_HOME=str(home), PYTHONPATH=str(REPO), **env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "cost_assets.demo.run", "--from", first.isoformat(), "--to", last.isoformat()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )


def test_the_entry_point_records_one_run_and_prints_progress_not_debug_lines(tmp_path):
    last = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=2)
    home = tmp_path / "dagster_home"

    done = run_entry_point(home, first, last)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "DEBUG" not in output
    progress_lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert any("daily_costs, hourly_costs: 3 days" in line for line in progress_lines), output
    assets = len(defs.resolve_asset_graph().get_all_asset_keys())
    assert progress_lines[-1].startswith(f"[{assets}/{assets} assets | {3 * assets:>4}/{3 * assets} asset-days"), output
    assert f"Done: {assets} of {assets} assets for 3 days ({first}..{last})" in done.stdout
    assert "started after" in done.stdout
    assert f"into sqlite:///{home / 'cost_warehouse.db'}" in done.stdout
    with DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.run_id in done.stdout
        assert run.tags["dagster/asset_partition_range_start"] == first.isoformat()
        assert run.tags["dagster/asset_partition_range_end"] == last.isoformat()
    assert (home / "cost_warehouse.db").exists()


def test_a_failing_run_prints_its_error_and_exits_non_zero(tmp_path):
    last = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    missing = tmp_path / "no_such_export"

    done = run_entry_point(tmp_path / "dagster_home", last, last, COST_SOURCE="focus", COST_SOURCE_URI=str(missing))

    assert done.returncode == 1, done.stdout + done.stderr
    # the asset's own error, not Dagster's wrapper around it
    assert f"FAILED in billing_costs: BillingFileError: COST_SOURCE_URI='{missing}': no such file or folder\n" in done.stdout
    assert "failed after" in done.stdout
    assert "DEBUG" not in done.stdout + done.stderr


def test_the_warehouse_is_named_with_its_password_masked(tmp_path):
    done = run_entry_point(tmp_path / "dagster_home", dt.date(2026, 1, 1), dt.date(2026, 1, 1),
                           COST_WAREHOUSE_URL="postgresql://costs:s3cret@127.0.0.1:1/nowhere",
                           COST_DB_CONNECT_TIMEOUT_S="1")

    assert "into postgresql://costs:***@127.0.0.1:1/nowhere" in done.stdout, done.stdout + done.stderr
    assert "s3cret" not in done.stdout + done.stderr
