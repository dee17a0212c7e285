"""Off-hours waste: what non-production environments spend outside working
hours, and what a schedule that turns them off then would save.

Input: hourly_costs rows (hour_start is the UTC start of the hour) of the
environments in COST_WASTE_ENVIRONMENTS. Output: one row per as-of day D x
environment x service x team, over the trailing 30 UTC days D-29 .. D.

Working hours
-------------
Each UTC hour is moved to COST_WORK_TIMEZONE with zoneinfo, so daylight
saving time moves the boundary in UTC (08:00 in New York is 13:00 UTC in
winter, 12:00 UTC in summer). An hour is a working hour when its local start
falls on a working day (COST_WORK_DAYS) at or after the start and before the
end of COST_WORK_HOURS; every other hour is off-hours. (In a zone with a
half-hour offset, an hour counts by its local start.)

Schedulable spend (the rule)
----------------------------
A cost is schedulable, i.e. stopping the resource outside working hours
removes it, when all three hold:

1. its charge_category is `Usage` (any case). Tax, Fee, Purchase, RIFee,
   Credit, Refund, Support, SavingsPlanRecurringFee ... are billed whatever
   runs; commitment-covered usage (`DiscountedUsage`,
   `SavingsPlanCoveredUsage`) is excluded as well, since the commitment is
   paid either way;
2. its usage_unit is not a per-month unit (`GB-Mo`, `GB-Month`, `1 GB/Month`,
   `Mo` ...): storage and monthly fees accrue while the resource is stopped;
3. its provider service is not a storage service (STORAGE_SERVICES: S3,
   Glacier, EFS, FSx, Backup), for sources whose unit does not say (Cost
   Explorer answers `N/A` for mixed units).

Everything else (instance hours, vCPU-hours, requests, data transfer) counts.

Measures
--------
- total_cost, off_hours_cost, schedulable_off_hours_cost: effective cost
  summed over the hours observed, as billed (never extrapolated).
- schedulable_share = schedulable_off_hours_cost / off_hours_cost.
- monthly_saving = schedulable_off_hours_cost x off_hours_expected /
  off_hours_observed x 30.4375 / 30: the observed off-hours schedulable spend,
  completed for missing off-hours, then scaled from the 30-day window to an
  average month (365.25 / 12 = 30.4375 days). It is a ceiling: it assumes
  every schedulable cost stops for every off-hour.

Missing hours
-------------
An hour is observed for an environment when hourly_costs holds at least one
row of that environment for it (a $0 row counts). Inside an observed hour, a
service or team without a row cost nothing. An hour without any row of the
environment is missing: it is not taken as $0 or idle. The coverage columns
report hours observed against hours expected (720 in 30 days, and the
off-hours among them); the saving stands each missing off-hour in for the
average observed one, and is null when no off-hour was observed.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd

from cost_assets.partitions import day_range
from cost_assets.waste.settings import WorkSchedule

WINDOW_DAYS = 30
DAYS_PER_MONTH = 30.4375  # 365.25 / 12
TOP_RESOURCES = 5
MONEY_DECIMALS = 6

SCHEDULABLE_CATEGORIES = frozenset({"usage"})
PER_MONTH_UNIT = re.compile(r"(?:^|[^a-z])(?:mo|mos|month|months)(?:[^a-z]|$)")
STORAGE_SERVICES = frozenset({
    "Amazon Simple Storage Service",
    "Amazon S3 Glacier",
    "Amazon Glacier",
    "Amazon Elastic File System",
    "Amazon FSx",
    "AWS Backup",
})

GROUP = ["environment", "service", "team"]
MEASURES = ["total_cost", "off_hours_cost", "schedulable_off_hours_cost"]
COVERAGE = ["hours_expected", "hours_observed", "off_hours_expected", "off_hours_observed"]
COLUMNS = ["as_of_date", *GROUP, *MEASURES, "schedulable_share", "monthly_saving", *COVERAGE,
           "top_resources", "working_hours"]
INPUT_COLUMNS = ["hour_start", "environment", "service", "team", "charge_category", "usage_unit",
                 "aws_service", "resource_id", "effective_cost"]


def _utc_naive(values: pd.Series) -> pd.Series:
    hours = pd.to_datetime(values)
    if hours.dt.tz is not None:
        hours = hours.dt.tz_convert("UTC").dt.tz_localize(None)
    return hours


def off_hours_mask(hour_start: pd.Series, schedule: WorkSchedule) -> pd.Series:
    """True where the UTC hour starting at `hour_start` is outside working hours, local time."""
    hours = _utc_naive(hour_start)
    unique = pd.DatetimeIndex(hours.unique())
    local = unique.tz_localize("UTC").tz_convert(schedule.zone)
    minute = np.asarray(local.hour * 60 + local.minute)
    working = np.isin(np.asarray(local.weekday), list(schedule.days)) & (
        (minute >= schedule.start_minute) & (minute < schedule.end_minute)
    )
    return hours.map(pd.Series(~working, index=unique)).astype(bool)


def schedulable_mask(frame: pd.DataFrame) -> pd.Series:
    """True where the cost scales with running time (the rule in the module docstring)."""
    category = frame["charge_category"].fillna("").astype(str).str.strip().str.lower()
    unit = frame["usage_unit"].fillna("").astype(str).str.strip().str.lower()
    service = frame["aws_service"].fillna("").astype(str).str.strip()
    return (
        category.isin(SCHEDULABLE_CATEGORIES)
        & ~unit.str.contains(PER_MONTH_UNIT)
        & ~service.isin(STORAGE_SERVICES)
    )


def classify(hourly: pd.DataFrame, schedule: WorkSchedule) -> pd.DataFrame:
    """hourly_costs rows with their UTC `date`, `off_hours`, `schedulable` and split costs."""
    frame = hourly[INPUT_COLUMNS].copy()
    frame["hour_start"] = _utc_naive(frame["hour_start"])
    frame["date"] = frame["hour_start"].dt.date
    frame["resource_id"] = frame["resource_id"].fillna("").astype(str)
    frame["off_hours"] = off_hours_mask(frame["hour_start"], schedule)
    frame["schedulable"] = schedulable_mask(frame)
    frame["total_cost"] = frame["effective_cost"].astype(float)
    frame["off_hours_cost"] = frame["total_cost"].where(frame["off_hours"], 0.0)
    frame["schedulable_off_hours_cost"] = frame["total_cost"].where(frame["off_hours"] & frame["schedulable"], 0.0)
    return frame


def expected_hours(days: list[dt.date], schedule: WorkSchedule) -> pd.DataFrame:
    """Per UTC day: the hours it has (24) and how many of them are off-hours locally."""
    hours = pd.Series(pd.date_range(pd.Timestamp(days[0]), periods=24 * len(days), freq="h"))
    frame = pd.DataFrame({"date": hours.dt.date, "off_hours": off_hours_mask(hours, schedule)})
    return frame.groupby("date").agg(hours_expected=("off_hours", "size"), off_hours_expected=("off_hours", "sum"))


def _resources_json(resources: pd.DataFrame, factor: float) -> str:
    ranked = resources[resources["schedulable_off_hours_cost"] > 0].sort_values(
        ["schedulable_off_hours_cost", "resource_id"], ascending=[False, True]
    ).head(TOP_RESOURCES)
    return json.dumps([
        {
            "resourceId": row.resource_id,
            "offHoursCost": round(float(row.off_hours_cost), 2),
            "schedulableOffHoursCost": round(float(row.schedulable_off_hours_cost), 2),
            "monthlySaving": None if np.isnan(factor) else round(float(row.schedulable_off_hours_cost) * factor, 2),
        }
        for row in ranked.itertuples(index=False)
    ])


def off_hours_waste_table(hourly: pd.DataFrame, as_of_days: list[dt.date], schedule: WorkSchedule) -> pd.DataFrame:
    """The off_hours_waste rows for each as-of day, from hourly_costs rows covering
    at least as_of_days[0]-29 .. as_of_days[-1] (rows outside are ignored)."""
    if hourly.empty or not as_of_days:
        return pd.DataFrame(columns=COLUMNS)
    frame = classify(hourly, schedule)
    by_day = frame.groupby(["date", *GROUP], as_index=False)[MEASURES].sum()
    by_resource = (
        frame[frame["resource_id"] != ""]
        .groupby(["date", *GROUP, "resource_id"], as_index=False)[MEASURES].sum()
    )
    observed = frame.groupby(["date", "environment"]).agg(hours_observed=("hour_start", "nunique"))
    observed["off_hours_observed"] = (
        frame[frame["off_hours"]].groupby(["date", "environment"])["hour_start"].nunique()
    )
    observed = observed.fillna({"off_hours_observed": 0}).reset_index()
    expected = expected_hours(day_range(as_of_days[0] - dt.timedelta(days=WINDOW_DAYS - 1), as_of_days[-1]), schedule)

    rows = []
    for as_of in as_of_days:
        first = as_of - dt.timedelta(days=WINDOW_DAYS - 1)

        def in_window(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[(frame["date"] >= first) & (frame["date"] <= as_of)]

        groups = in_window(by_day).groupby(GROUP, as_index=False)[MEASURES].sum()
        if groups.empty:
            continue
        coverage = in_window(observed).groupby("environment")[["hours_observed", "off_hours_observed"]].sum()
        window_expected = expected.loc[first:as_of].sum()
        resources = in_window(by_resource).groupby([*GROUP, "resource_id"], as_index=False)[MEASURES].sum()
        resources_by_group = {key: part for key, part in resources.groupby(GROUP)}
        for group in groups.itertuples(index=False):
            hours_observed, off_observed = coverage.loc[group.environment]
            off_expected = int(window_expected["off_hours_expected"])
            factor = (off_expected / off_observed * DAYS_PER_MONTH / WINDOW_DAYS) if off_observed else np.nan
            key = (group.environment, group.service, group.team)
            rows.append({
                "as_of_date": as_of,
                "environment": group.environment,
                "service": group.service,
                "team": group.team,
                "total_cost": round(group.total_cost, MONEY_DECIMALS),
                "off_hours_cost": round(group.off_hours_cost, MONEY_DECIMALS),
                "schedulable_off_hours_cost": round(group.schedulable_off_hours_cost, MONEY_DECIMALS),
                "schedulable_share": (group.schedulable_off_hours_cost / group.off_hours_cost
                                      if group.off_hours_cost else None),
                "monthly_saving": None if np.isnan(factor) else round(group.schedulable_off_hours_cost * factor, 2),
                "hours_expected": int(window_expected["hours_expected"]),
                "hours_observed": int(hours_observed),
                "off_hours_expected": off_expected,
                "off_hours_observed": int(off_observed),
                "top_resources": _resources_json(resources_by_group.get(key, resources.iloc[0:0]), factor),
                "working_hours": schedule.describe(),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def ranked_opportunities(table: pd.DataFrame, as_of: dt.date | None = None) -> pd.DataFrame:
    """One as-of day's rows (the latest by default), largest monthly saving first."""
    if table.empty:
        return table.assign(coverage=pd.Series(dtype=float))
    as_of = as_of or table["as_of_date"].max()
    rows = table[table["as_of_date"] == as_of].copy()
    rows["coverage"] = (rows["hours_observed"] / rows["hours_expected"]).astype(float)
    return rows.sort_values(
        ["monthly_saving", *GROUP], ascending=[False, True, True, True], na_position="last"
    ).reset_index(drop=True)
