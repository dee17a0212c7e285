"""Off-hours waste on hand-computed hourly data: the numbers in the comments are worked by hand."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from cost_assets.waste.analysis import (
    DAYS_PER_MONTH,
    off_hours_mask,
    off_hours_waste_table,
    schedulable_mask,
)
from cost_assets.waste.report import waste_report
from cost_assets.waste.settings import WorkSchedule

EC2 = "Amazon Elastic Compute Cloud - Compute"
EBS = "EC2 - Other"
S3 = "Amazon Simple Storage Service"
UTC_WEEKDAYS = WorkSchedule()
NEW_YORK = WorkSchedule(timezone="America/New_York")
MONTH = DAYS_PER_MONTH / 30  # 30-day window -> average month


def hours(first: str, count: int, cost: float = 1.0, **keys) -> pd.DataFrame:
    """`count` consecutive UTC hours from `first`, one hourly_costs row each."""
    row = {"environment": "staging", "service": "api", "team": "core", "charge_category": "Usage",
           "usage_unit": "Hrs", "aws_service": EC2, "resource_id": "i-1", **keys}
    starts = pd.date_range(pd.Timestamp(first), periods=count, freq="h")
    return pd.DataFrame([{**row, "hour_start": start, "effective_cost": cost} for start in starts])


def days(first: dt.date, count: int, cost: float = 1.0, **keys) -> pd.DataFrame:
    return hours(first.isoformat(), 24 * count, cost, **keys)


def one(table: pd.DataFrame, **keys) -> pd.Series:
    match = table
    for column, value in keys.items():
        match = match[match[column] == value]
    assert len(match) == 1, match
    return match.iloc[0]


# --- working hours ------------------------------------------------------------

def test_weekday_hours_08_to_20_are_working_and_weekends_are_all_off():
    stamps = pd.Series(pd.to_datetime([
        "2026-01-09 07:00", "2026-01-09 08:00", "2026-01-09 19:00", "2026-01-09 20:00",  # Friday
        "2026-01-10 08:00", "2026-01-10 12:00", "2026-01-11 15:00",                      # Sat, Sun
        "2026-01-12 00:00", "2026-01-12 13:00",                                          # Monday
    ]))
    assert off_hours_mask(stamps, UTC_WEEKDAYS).tolist() == [
        True, False, False, True,
        True, True, True,
        True, False,
    ]


def test_new_york_working_hours_move_in_utc_with_daylight_saving_time():
    # DST starts Sunday 2026-03-08: 08:00 in New York is 13:00 UTC before, 12:00 UTC after.
    stamps = pd.Series(pd.to_datetime([
        "2026-03-06 12:00",  # Fri 07:00 EST: off
        "2026-03-06 13:00",  # Fri 08:00 EST: working
        "2026-03-07 00:00",  # Sat 00:00 UTC = Fri 19:00 EST: working (a Friday hour on a UTC Saturday)
        "2026-03-07 01:00",  # Fri 20:00 EST: off
        "2026-03-09 03:00",  # Mon 03:00 UTC = Sun 23:00 EDT: off
        "2026-03-09 11:00",  # Mon 07:00 EDT: off
        "2026-03-09 12:00",  # Mon 08:00 EDT: working
        "2026-03-09 23:00",  # Mon 19:00 EDT: working
        "2026-03-10 00:00",  # Mon 20:00 EDT: off
    ]))
    assert off_hours_mask(stamps, NEW_YORK).tolist() == [True, False, False, True, True, True, False, False, True]
    # Timezone-aware input means the same instants.
    aware = stamps.dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    assert off_hours_mask(aware, NEW_YORK).tolist() == off_hours_mask(stamps, NEW_YORK).tolist()


def test_time_zone_boundary_in_the_table():
    # Full UTC days Fri 03-06, Sat 03-07, Mon 03-09 at $1/h, working hours in New York. Working UTC hours:
    #   Fri 00 (Thursday 19:00 EST), Fri 13..23 (08:00-18:00 EST), Sat 00 (Friday 19:00 EST)  1 + 11 + 1
    #   Mon 12..23 (08:00-19:00 EDT; Mon 00..03 UTC is Sunday evening)                        12
    # = 25 working, 47 off-hours. In UTC: Fri and Mon 08..19 = 24 working, 48 off.
    hourly = pd.concat([days(dt.date(2026, 3, 6), 2), days(dt.date(2026, 3, 9), 1)])
    ny = one(off_hours_waste_table(hourly, [dt.date(2026, 3, 9)], NEW_YORK))
    utc = one(off_hours_waste_table(hourly, [dt.date(2026, 3, 9)], UTC_WEEKDAYS))
    assert ny.total_cost == utc.total_cost == 72.0
    assert ny.off_hours_cost == 47.0
    assert utc.off_hours_cost == 48.0
    assert ny.off_hours_observed == 47 and ny.hours_observed == 72
    # Window 02-08 .. 03-09: 21 New York weekdays fully inside -> 720 - 21 x 12 = 468 off-hours.
    assert ny.off_hours_expected == 468
    assert ny.monthly_saving == pytest.approx(47 * 468 / 47 * MONTH, abs=0.01)
    assert ny.working_hours == "mon-fri 08:00-20:00 America/New_York"


# --- the table ------------------------------------------------------------------

def test_weekday_against_weekend():
    # Fri 2026-01-09 at $1/h and Sat 2026-01-10 at $2/h.
    hourly = pd.concat([hours("2026-01-09", 24, 1.0), hours("2026-01-10", 24, 2.0)])
    row = one(off_hours_waste_table(hourly, [dt.date(2026, 1, 10)], UTC_WEEKDAYS))
    assert row.total_cost == 72.0                     # 24 x 1 + 24 x 2
    assert row.off_hours_cost == 60.0                 # Friday 12 off-hours x 1 + Saturday 24 x 2
    assert row.schedulable_off_hours_cost == 60.0
    assert row.schedulable_share == 1.0
    assert (row.hours_expected, row.hours_observed) == (720, 48)
    # Window 2025-12-12 .. 2026-01-10 has 21 weekdays and 9 weekend days: 21 x 12 + 9 x 24 = 468 off-hours.
    assert (row.off_hours_expected, row.off_hours_observed) == (468, 36)
    # $60 over 36 observed off-hours, completed to 468 off-hours, scaled to a month.
    assert row.monthly_saving == pytest.approx(60 * 468 / 36 * MONTH, abs=0.01)


def test_a_fully_idle_environment_running_around_the_clock():
    # Nobody uses it, it runs 30 full days at $2/h: every off-hour is saving.
    first = dt.date(2026, 1, 2)  # Fri; window to Sat 2026-01-31: 21 weekdays, 9 weekend days
    row = one(off_hours_waste_table(days(first, 30, 2.0), [dt.date(2026, 1, 31)], UTC_WEEKDAYS))
    assert row.total_cost == 1440.0
    assert row.off_hours_cost == 936.0               # 468 off-hours x $2
    assert row.off_hours_cost / row.total_cost == pytest.approx(0.65)
    assert (row.hours_observed, row.off_hours_observed, row.off_hours_expected) == (720, 468, 468)
    assert row.monthly_saving == pytest.approx(949.65, abs=0.005)  # 936 x 30.4375 / 30 = 949.65


def test_an_environment_with_no_spend_saves_nothing_and_divides_by_nothing():
    row = one(off_hours_waste_table(days(dt.date(2026, 1, 2), 30, 0.0), [dt.date(2026, 1, 31)], UTC_WEEKDAYS))
    assert (row.total_cost, row.off_hours_cost, row.monthly_saving) == (0.0, 0.0, 0.0)
    assert row.schedulable_share is None
    assert json.loads(row.top_resources) == []


def test_storage_fees_and_tax_are_not_schedulable():
    first = dt.date(2026, 1, 2)
    hourly = pd.concat([
        days(first, 30, 1.0, usage_unit="GB-Mo", aws_service=EBS, resource_id="vol-1"),      # per-month unit
        days(first, 30, 0.5, usage_unit="N/A", aws_service=S3, resource_id="bucket"),        # storage service
        days(first, 30, 0.25, charge_category="Tax", usage_unit="", aws_service="Tax", resource_id=""),
    ])
    row = one(off_hours_waste_table(hourly, [dt.date(2026, 1, 31)], UTC_WEEKDAYS))
    assert row.total_cost == 1260.0                   # 720 x (1 + 0.5 + 0.25)
    assert row.off_hours_cost == 819.0                # 468 x 1.75
    assert row.schedulable_off_hours_cost == 0.0
    assert row.schedulable_share == 0.0
    assert row.monthly_saving == 0.0
    assert json.loads(row.top_resources) == []


def test_schedulable_rule():
    frame = pd.DataFrame([
        ("Usage", "Hrs", EC2), ("usage", "vCPU-Hours", "AWS Fargate"), ("Usage", "N/A", "Amazon ElastiCache"),
        ("Usage", "GB-Mo", EBS), ("Usage", "GB-Month", "Amazon Relational Database Service"),
        ("Usage", "1 GB/Month", "Storage"), ("Usage", "Hrs", S3), ("Usage", "Hrs", "AWS Backup"),
        ("Tax", "", "Tax"), ("Fee", "", EC2), ("Purchase", "Hrs", EC2), ("SavingsPlanCoveredUsage", "Hrs", EC2),
        ("RIFee", "Hrs", EC2), ("Credit", "Hrs", EC2), (None, None, None),
        ("Usage", "Monitors", "AmazonCloudWatch"),  # 'mo' inside a word is not a month
    ], columns=["charge_category", "usage_unit", "aws_service"])
    assert schedulable_mask(frame).tolist() == [True, True, True] + [False] * 12 + [True]


def test_a_missing_hour_is_not_taken_as_idle():
    # 30 full days at $1/h, except that Saturday 2026-01-10 03:00 has no row at all.
    hourly = days(dt.date(2026, 1, 2), 30, 1.0)
    hourly = hourly[hourly["hour_start"] != pd.Timestamp("2026-01-10 03:00")]
    row = one(off_hours_waste_table(hourly, [dt.date(2026, 1, 31)], UTC_WEEKDAYS))
    assert row.total_cost == 719.0 and row.off_hours_cost == 467.0  # what was billed, not extrapolated
    assert (row.hours_observed, row.hours_expected) == (719, 720)
    assert (row.off_hours_observed, row.off_hours_expected) == (467, 468)
    # The missing off-hour stands at the observed average ($1), not $0: the full 468 x $1.
    assert row.monthly_saving == pytest.approx(468 * MONTH, abs=0.01)
    assert row.monthly_saving != pytest.approx(467 * MONTH, abs=0.01)


def test_a_service_absent_from_an_observed_hour_cost_nothing_then():
    # The environment has rows every hour (api); the worker has none on Saturday 2026-01-10:
    # that day is observed for the environment, so the worker simply did not run.
    first = dt.date(2026, 1, 2)
    worker = days(first, 30, 1.0, service="worker", resource_id="i-2")
    worker = worker[worker["hour_start"].dt.date != dt.date(2026, 1, 10)]
    table = off_hours_waste_table(pd.concat([days(first, 30, 1.0), worker]), [dt.date(2026, 1, 31)], UTC_WEEKDAYS)
    row = one(table, service="worker")
    assert row.off_hours_cost == 444.0                 # 468 - 24 Saturday hours
    assert (row.hours_observed, row.off_hours_observed) == (720, 468)
    assert row.monthly_saving == pytest.approx(444 * MONTH, abs=0.01)


def test_no_off_hour_observed_leaves_the_saving_unknown():
    # Only Monday 2026-01-12 09:00..18:00 (working hours) has data.
    row = one(off_hours_waste_table(hours("2026-01-12 09:00", 10), [dt.date(2026, 1, 12)], UTC_WEEKDAYS))
    assert row.off_hours_cost == 0.0 and row.off_hours_observed == 0
    assert row.monthly_saving is None
    assert row.schedulable_share is None


def test_window_is_the_trailing_30_utc_days_per_as_of_day():
    # One $1 off-hour on each of 2025-12-31 23:00 (D-30 for 2026-01-30) and 2026-01-01 00:00 (D-29).
    hourly = pd.concat([hours("2025-12-31 23:00", 1), hours("2026-01-01 00:00", 1)])
    table = off_hours_waste_table(hourly, [dt.date(2026, 1, 29), dt.date(2026, 1, 30), dt.date(2026, 1, 31)],
                                  UTC_WEEKDAYS)
    assert table.set_index("as_of_date")["off_hours_cost"].to_dict() == {
        dt.date(2026, 1, 29): 2.0, dt.date(2026, 1, 30): 1.0,  # 2026-01-31 sees neither hour: no row
    }


def test_top_resources_rank_schedulable_off_hours_spend():
    first = dt.date(2026, 1, 2)
    hourly = pd.concat([
        days(first, 30, 1.0, resource_id="i-small"),
        days(first, 30, 3.0, resource_id="i-big"),
        days(first, 30, 5.0, resource_id="vol-1", usage_unit="GB-Mo", aws_service=EBS),  # not schedulable
        days(first, 30, 2.0, resource_id=""),  # no resource id: counted, not listed
    ])
    row = one(off_hours_waste_table(hourly, [dt.date(2026, 1, 31)], UTC_WEEKDAYS))
    assert row.schedulable_off_hours_cost == 468 * 6.0
    assert row.schedulable_share == pytest.approx(6 / 11)
    assert json.loads(row.top_resources) == [
        {"resourceId": "i-big", "offHoursCost": 1404.0, "schedulableOffHoursCost": 1404.0,
         "monthlySaving": round(1404 * MONTH, 2)},
        {"resourceId": "i-small", "offHoursCost": 468.0, "schedulableOffHoursCost": 468.0,
         "monthlySaving": round(468 * MONTH, 2)},
    ]


def test_groups_by_environment_service_and_team():
    first = dt.date(2026, 1, 2)
    hourly = pd.concat([
        days(first, 30, 1.0),
        days(first, 30, 1.0, team="data"),
        days(first, 30, 1.0, environment="development"),
    ])
    table = off_hours_waste_table(hourly, [dt.date(2026, 1, 31)], UTC_WEEKDAYS)
    assert sorted(zip(table["environment"], table["service"], table["team"])) == [
        ("development", "api", "core"), ("staging", "api", "core"), ("staging", "api", "data"),
    ]
    assert (table["total_cost"] == 720.0).all()


# --- the report -------------------------------------------------------------------

def test_waste_report_shape_and_order():
    first = dt.date(2026, 1, 2)
    hourly = pd.concat([
        days(first, 30, 1.0, environment="development", resource_id="dev-1"),
        days(first, 30, 4.0, service="worker", resource_id="i-w"),
        days(first, 30, 2.0, usage_unit="GB-Mo", aws_service=EBS, resource_id="vol-1"),
    ])
    table = off_hours_waste_table(hourly, [dt.date(2026, 1, 30), dt.date(2026, 1, 31)], UTC_WEEKDAYS)

    report = waste_report(table)

    assert set(report) == {"asOf", "windowStart", "workingHours", "totalCost", "offHoursCost",
                           "schedulableOffHoursCost", "monthlySaving", "environments", "waste"}
    assert (report["asOf"], report["windowStart"]) == ("2026-01-31", "2026-01-02")
    assert report["workingHours"] == "mon-fri 08:00-20:00 UTC"
    assert report["totalCost"] == 720.0 * 7
    assert report["offHoursCost"] == 468.0 * 7
    assert report["schedulableOffHoursCost"] == 468.0 * 5
    assert report["monthlySaving"] == pytest.approx(468 * 5 * MONTH, abs=0.02)
    assert [e["environment"] for e in report["environments"]] == ["staging", "development"]
    staging = report["environments"][0]
    assert staging == {
        "environment": "staging", "totalCost": 4320.0, "offHoursCost": 2808.0, "schedulableOffHoursCost": 1872.0,
        "schedulableShare": round(1872 / 2808, 4), "monthlySaving": round(1872 * MONTH, 2),
        "hoursObserved": 720, "hoursExpected": 720, "offHoursObserved": 468, "offHoursExpected": 468, "coverage": 1.0,
    }
    assert [(w["environment"], w["service"]) for w in report["waste"]] == [
        ("staging", "worker"), ("development", "api"), ("staging", "api"),  # largest saving first
    ]
    worker = report["waste"][0]
    assert set(worker) == {"environment", "service", "team", "totalCost", "offHoursCost", "offHoursShare",
                           "schedulableOffHoursCost", "schedulableShare", "monthlySaving", "hoursObserved",
                           "hoursExpected", "coverage", "topResources"}
    assert worker["offHoursShare"] == 0.65 and worker["coverage"] == 1.0
    assert worker["topResources"][0]["resourceId"] == "i-w"
    assert report["waste"][2]["monthlySaving"] == 0.0 and report["waste"][2]["topResources"] == []
    json.dumps(report)  # JSON-ready as it is

    earlier = waste_report(table, as_of=dt.date(2026, 1, 30))
    assert earlier["asOf"] == "2026-01-30" and earlier["waste"][0]["hoursObserved"] == 696  # 29 days in window


def test_waste_report_without_rows():
    empty = off_hours_waste_table(pd.DataFrame(), [dt.date(2026, 1, 31)], UTC_WEEKDAYS)
    assert waste_report(empty) == {
        "asOf": None, "windowStart": None, "workingHours": None, "totalCost": 0.0, "offHoursCost": 0.0,
        "schedulableOffHoursCost": 0.0, "monthlySaving": None, "environments": [], "waste": [],
    }
    assert waste_report(empty, as_of=dt.date(2026, 1, 31))["windowStart"] == "2026-01-02"
