"""The JSON answer of `/costs/waste`, from off_hours_waste rows (the API mounts it)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd

from cost_assets.waste.analysis import WINDOW_DAYS, ranked_opportunities


def _money(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 2)


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(float(numerator) / float(denominator), 4) if denominator else None


def _known_sum(values: pd.Series) -> float | None:
    """Sum of the known values; None when none is known (no off-hour observed)."""
    known = values.dropna()
    return None if known.empty else round(float(known.sum()), 2)


def _environment(environment: str, rows: pd.DataFrame) -> dict[str, Any]:
    first = rows.iloc[0]  # coverage is per environment: the same on each of its rows
    off = float(rows["off_hours_cost"].sum())
    return {
        "environment": environment,
        "totalCost": _money(rows["total_cost"].sum()),
        "offHoursCost": _money(off),
        "schedulableOffHoursCost": _money(rows["schedulable_off_hours_cost"].sum()),
        "schedulableShare": _ratio(rows["schedulable_off_hours_cost"].sum(), off),
        "monthlySaving": _known_sum(rows["monthly_saving"]),
        "hoursObserved": int(first["hours_observed"]),
        "hoursExpected": int(first["hours_expected"]),
        "offHoursObserved": int(first["off_hours_observed"]),
        "offHoursExpected": int(first["off_hours_expected"]),
        "coverage": _ratio(first["hours_observed"], first["hours_expected"]),
    }


def _opportunity(row) -> dict[str, Any]:
    return {
        "environment": row.environment,
        "service": row.service,
        "team": row.team,
        "totalCost": _money(row.total_cost),
        "offHoursCost": _money(row.off_hours_cost),
        "offHoursShare": _ratio(row.off_hours_cost, row.total_cost),
        "schedulableOffHoursCost": _money(row.schedulable_off_hours_cost),
        "schedulableShare": None if pd.isna(row.schedulable_share) else round(float(row.schedulable_share), 4),
        "monthlySaving": _money(row.monthly_saving),
        "hoursObserved": int(row.hours_observed),
        "hoursExpected": int(row.hours_expected),
        "coverage": _ratio(row.hours_observed, row.hours_expected),
        "topResources": json.loads(row.top_resources or "[]"),
    }


def waste_report(frame: pd.DataFrame, as_of: dt.date | None = None) -> dict[str, Any]:
    """`/costs/waste`: one as-of day of off_hours_waste (default: the latest in `frame`).

    {"asOf", "windowStart", "workingHours", "totalCost", "offHoursCost",
     "schedulableOffHoursCost", "monthlySaving",
     "environments": [{environment, totalCost, offHoursCost, schedulableOffHoursCost,
                       schedulableShare, monthlySaving, hoursObserved, hoursExpected,
                       offHoursObserved, offHoursExpected, coverage}],
     "waste": [{environment, service, team, totalCost, offHoursCost, offHoursShare,
                schedulableOffHoursCost, schedulableShare, monthlySaving, hoursObserved,
                hoursExpected, coverage, topResources: [{resourceId, offHoursCost,
                schedulableOffHoursCost, monthlySaving}]}]}   (largest saving first)
    """
    if not frame.empty:
        frame = frame.assign(as_of_date=pd.to_datetime(frame["as_of_date"]).dt.date)
    rows = ranked_opportunities(frame, as_of) if not frame.empty else frame
    if as_of is None and not frame.empty:
        as_of = frame["as_of_date"].max()
    if rows.empty:
        return {
            "asOf": as_of.isoformat() if as_of else None,
            "windowStart": (as_of - dt.timedelta(days=WINDOW_DAYS - 1)).isoformat() if as_of else None,
            "workingHours": None, "totalCost": 0.0, "offHoursCost": 0.0, "schedulableOffHoursCost": 0.0,
            "monthlySaving": None, "environments": [], "waste": [],
        }
    return {
        "asOf": as_of.isoformat(),
        "windowStart": (as_of - dt.timedelta(days=WINDOW_DAYS - 1)).isoformat(),
        "workingHours": str(rows["working_hours"].iloc[0]),
        "totalCost": _money(rows["total_cost"].sum()),
        "offHoursCost": _money(rows["off_hours_cost"].sum()),
        "schedulableOffHoursCost": _money(rows["schedulable_off_hours_cost"].sum()),
        "monthlySaving": _known_sum(rows["monthly_saving"]),
        "environments": sorted(
            (_environment(env, part) for env, part in rows.groupby("environment")),
            key=lambda e: (-(e["monthlySaving"] or 0.0), e["environment"]),
        ),
        "waste": [_opportunity(row) for row in rows.itertuples(index=False)],
    }
