"""The off_hours_waste asset on the demo company and on the warehouses."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from cost_assets.ingestion.assets import billing_costs
from cost_assets.resources import schema
from cost_assets.waste import queries
from cost_assets.waste.assets import off_hours_waste
from cost_assets.waste.report import waste_report
from cost_assets_tests.helpers import failure_message, materialize_days

# 35 demo days: the last as-of day has a full 30-day window behind it.
FIRST, LAST = dt.date(2026, 9, 1), dt.date(2026, 10, 5)
SETTINGS = ["COST_WORK_HOURS", "COST_WORK_DAYS", "COST_WORK_TIMEZONE", "COST_WASTE_ENVIRONMENTS"]


@pytest.fixture(autouse=True)
def default_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _metadata(result, key: str = "off_hours_waste") -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_demo_staging_waste_is_found(sqlite_warehouse):
    result = materialize_days([billing_costs, off_hours_waste], sqlite_warehouse, FIRST, LAST)

    rows = queries.waste_rows(sqlite_warehouse)
    assert rows["as_of_date"].unique().tolist() == [LAST]
    staging = rows[rows["environment"] == "staging"]
    # Planted: staging runs flat around the clock, ~$28K a month, ~$18K of it outside 08-20 weekdays.
    assert 17_000 < staging["off_hours_cost"].sum() < 19_500
    assert 26_500 < staging["total_cost"].sum() < 29_500
    assert (staging["hours_observed"] == 720).all() and (staging["off_hours_observed"] == 468).all()
    # Storage (EBS and S3 in GB-Mo) is not schedulable: the saving is the compute and database part.
    saving = staging["monthly_saving"].sum()
    assert 16_000 < saving < staging["off_hours_cost"].sum() * 30.4375 / 30
    shared_db = staging[staging["service"] == "shared-db"].iloc[0]
    assert 0.7 < shared_db["schedulable_share"] < 0.9  # RDS hours in, its EBS GB-Mo out
    assert set(rows["environment"]) == {"staging", "development"}

    # Totals reconcile with hourly_costs to the cent.
    window = sqlite_warehouse.read(
        select(schema.hourly_costs.c.environment, func.sum(schema.hourly_costs.c.effective_cost).label("cost"))
        .where(schema.hourly_costs.c.date.between(LAST - dt.timedelta(days=29), LAST))
        .group_by(schema.hourly_costs.c.environment)
    ).set_index("environment")["cost"]
    by_env = rows.groupby("environment")["total_cost"].sum()
    for environment in ("staging", "development"):
        assert abs(by_env[environment] - window[environment]) < 0.01

    report = waste_report(rows)
    assert report["asOf"] == LAST.isoformat()
    assert report["environments"][0]["environment"] == "staging"
    assert (report["waste"][0]["environment"], report["waste"][0]["service"]) == ("staging", "api")
    assert report["waste"][0]["topResources"][0]["resourceId"] == "demo-staging-api-0"

    metadata = _metadata(result)
    assert metadata["as_of"] == LAST.isoformat()
    assert metadata["working_hours"] == "mon-fri 08:00-20:00 UTC"
    assert metadata["environments_without_hourly_data"] == "none"
    assert metadata["coverage"] == "development 720/720 h, staging 720/720 h"
    assert metadata["monthly_saving"] == pytest.approx(rows["monthly_saving"].sum(), abs=0.01)
    ranked = metadata["top_opportunities"].records
    assert [r.data["service"] for r in ranked[:2]] == ["api", "shared-db"]
    savings = [r.data["monthly_saving"] for r in ranked]
    assert savings == sorted(savings, reverse=True)
    by_environment = {r.data["environment"]: r.data for r in metadata["by_environment"].records}
    assert by_environment["staging"]["monthly_saving"] == pytest.approx(saving, abs=0.01)


def test_every_day_of_a_backfill_gets_its_own_window_and_reruns_do_not_duplicate(sqlite_warehouse):
    first, last = dt.date(2026, 9, 1), dt.date(2026, 9, 4)
    materialize_days([billing_costs, off_hours_waste], sqlite_warehouse, first, last)
    materialize_days([off_hours_waste], sqlite_warehouse, last, last)

    counts = sqlite_warehouse.read(
        "SELECT as_of_date, COUNT(*) AS n, MAX(hours_observed) AS hours FROM off_hours_waste GROUP BY as_of_date"
    )
    assert counts["n"].tolist() == [7, 7, 7, 7]       # 5 staging + 2 development groups, once each
    assert counts["hours"].tolist() == [24, 48, 72, 96]  # the partitions before have no data: not $0
    rows = queries.waste_rows(sqlite_warehouse, dt.date(2026, 9, 2))
    assert (rows["hours_expected"] == 720).all()
    assert rows["monthly_saving"].notna().all()


def test_bad_setting_fails_the_run_by_name_and_keeps_the_previous_rows(sqlite_warehouse, default_settings):
    day = dt.date(2026, 9, 1)
    materialize_days([billing_costs, off_hours_waste], sqlite_warehouse, day, day)
    before = sqlite_warehouse.read("SELECT * FROM off_hours_waste ORDER BY environment, service, team")

    default_settings.setenv("COST_WORK_TIMEZONE", "Europe/Atlantis")
    result = materialize_days([off_hours_waste], sqlite_warehouse, day, day, raise_on_error=False)

    assert not result.success
    assert "COST_WORK_TIMEZONE='Europe/Atlantis' is not an IANA time zone" in failure_message(result)
    default_settings.delenv("COST_WORK_TIMEZONE")  # settings are validated together: a bad one stops every reader
    after = sqlite_warehouse.read("SELECT * FROM off_hours_waste ORDER BY environment, service, team")
    assert after.equals(before) and len(after) == 7


def test_settings_change_the_rows_and_absent_environments_are_reported(warehouse, default_settings):
    """SQLite and PostgreSQL: the query, the write and the metadata."""
    day = dt.date(2026, 9, 7)  # a Monday
    default_settings.setenv("COST_WORK_TIMEZONE", "America/New_York")
    default_settings.setenv("COST_WASTE_ENVIRONMENTS", "staging,qa")
    result = materialize_days([billing_costs, off_hours_waste], warehouse, day, day)

    rows = queries.waste_rows(warehouse, day)
    assert set(rows["environment"]) == {"staging"}
    assert (rows["working_hours"] == "mon-fri 08:00-20:00 America/New_York").all()
    # One Monday, UTC hours 00..23: 00..03 are Sunday evening, 12..23 working in New York (EDT).
    assert (rows["hours_observed"] == 24).all() and (rows["off_hours_observed"] == 12).all()
    assert all(isinstance(json.loads(r), list) for r in rows["top_resources"])
    metadata = _metadata(result)
    assert metadata["environments_without_hourly_data"] == "qa"
    assert metadata["coverage"] == "staging 24/720 h"


def test_no_hourly_data_at_all_is_reported_not_failed(sqlite_warehouse):
    result = materialize_days([off_hours_waste], sqlite_warehouse, FIRST, FIRST)

    metadata = _metadata(result)
    assert metadata["environments_without_hourly_data"] == "staging, development"
    assert metadata["coverage"] == "no data" and metadata["row_count"] == 0
    assert queries.waste_rows(sqlite_warehouse).empty
    assert waste_report(queries.waste_rows(sqlite_warehouse))["waste"] == []
