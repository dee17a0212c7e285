"""Service and team cost reports as of each day: pure functions over DataFrames.

Costs are daily_costs' effective cost in every environment. The daily
average divides by the days that have data, and the trend compares daily
averages, so a day missing from the bill neither halves a cost nor fakes a
drop.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cost_assets.analytics.windows import WINDOW_DAYS, AsOfWindows, change_pct, key_index

SERVICE_COLUMNS = [
    "as_of_date", "service", "team", "last_30_days_cost", "daily_average", "trend_pct", "cost_per_request",
    "previous_30_days_cost", "days_with_data", "missing_days", "request_count", "customers_served",
    "cost_per_customer", "top_cost_drivers",
]
TEAM_COLUMNS = [
    "as_of_date", "team", "last_30_days_cost", "service_count", "daily_average", "previous_30_days_cost",
    "trend_pct", "days_with_data", "missing_days",
]
TOP_COST_DRIVERS = 5
MONEY_DECIMALS = 6


def _by_key(windows: AsOfWindows, frame: pd.DataFrame, keys: list[str], value: str | None):
    """(distinct keys, current sums, previous sums, current row presence) per as-of day x key."""
    index, position = key_index(frame, keys)
    day = windows.day_index(frame["date"])
    values = frame[value].to_numpy(dtype=float) if value else np.ones(len(frame))
    current, previous = windows.trailing(windows.dense(day, position, values, len(index)))
    present, _ = windows.trailing(windows.dense(day, position, np.ones(len(frame)), len(index)))
    return index, current, previous, present


def _per_group(windows: AsOfWindows, present: np.ndarray, pair_groups: np.ndarray, groups: int) -> np.ndarray:
    """Count, per as-of day and group, the pairs present in the current window."""
    onehot = np.zeros((len(pair_groups), groups))
    onehot[np.arange(len(pair_groups)), pair_groups] = 1.0
    return np.rint((present > 0).astype(float) @ onehot).astype(int)


def _long(windows: AsOfWindows, index: pd.DataFrame, current: np.ndarray, present: np.ndarray) -> pd.DataFrame:
    """Present (as-of day, key) cells as rows with their current sum."""
    a, k = np.nonzero(present > 0)
    frame = index.iloc[k].reset_index(drop=True)
    frame.insert(0, "as_of_date", np.array(windows.as_of_days, dtype=object)[a])
    frame["cost"] = current[a, k]
    return frame


def _owning_team(windows: AsOfWindows, costs: pd.DataFrame) -> pd.DataFrame:
    """as_of_date, service, team: the team with the largest cost of the service in the window."""
    index, current, _, present = _by_key(windows, costs, ["service", "team"], "effective_cost")
    ranked = _long(windows, index, current, present).sort_values(["as_of_date", "service", "cost", "team"],
                                                                ascending=[True, True, False, True])
    return ranked.drop_duplicates(["as_of_date", "service"])[["as_of_date", "service", "team"]]


def _top_cost_drivers(windows: AsOfWindows, costs: pd.DataFrame) -> pd.DataFrame:
    """as_of_date, service, top_cost_drivers: JSON of the largest provider services of the window."""
    index, current, _, present = _by_key(windows, costs, ["service", "aws_service"], "effective_cost")
    ranked = _long(windows, index, current, present).sort_values(["as_of_date", "service", "cost", "aws_service"],
                                                                ascending=[True, True, False, True])
    top = ranked.groupby(["as_of_date", "service"], sort=False).head(TOP_COST_DRIVERS)
    top = top.assign(entry=[{"awsService": s, "cost": round(c, 2)} for s, c in zip(top["aws_service"], top["cost"])])
    return (top.groupby(["as_of_date", "service"], sort=False)["entry"].agg(lambda e: json.dumps(list(e)))
            .rename("top_cost_drivers").reset_index())


def service_report(windows: AsOfWindows, costs: pd.DataFrame, requests: pd.DataFrame,
                   served: pd.DataFrame, days_with_data) -> pd.DataFrame:
    """service_cost_report rows for every as-of day of `windows`.

    costs: date, service, team, aws_service, effective_cost (daily_costs).
    requests: date, service, request_count. served: date, service,
    customer_id of allocated cost. days_with_data: days daily_costs has rows.
    """
    services, current, previous, present = _by_key(windows, costs, ["service"], "effective_cost")
    days_now, days_before = windows.data_days(days_with_data)
    service_names = pd.Index(services["service"])

    on_services = requests[requests["service"].isin(service_names)]
    request_index = service_names.get_indexer(on_services["service"])
    request_sum, _ = windows.trailing(windows.dense(windows.day_index(on_services["date"]), request_index,
                                                    on_services["request_count"].to_numpy(dtype=float), len(services)))
    request_rows, _ = windows.trailing(windows.dense(windows.day_index(on_services["date"]), request_index,
                                                     np.ones(len(on_services)), len(services)))

    on_services = served[served["service"].isin(service_names)]
    pairs, _, _, pair_present = _by_key(windows, on_services, ["service", "customer_id"], None)
    customers_served = _per_group(windows, pair_present, service_names.get_indexer(pairs["service"]), len(services))

    a, s = np.nonzero((present > 0) & (days_now[:, None] > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        daily_now = current[a, s] / days_now[a]
        daily_before = np.where(days_before[a] > 0, previous[a, s] / days_before[a], np.nan)
        request_count = np.where(request_rows[a, s] > 0, request_sum[a, s], np.nan)
        served_count = customers_served[a, s]
        frame = pd.DataFrame({
            "as_of_date": np.array(windows.as_of_days, dtype=object)[a],
            "service": service_names.to_numpy()[s],
            "last_30_days_cost": current[a, s],
            "daily_average": daily_now,
            "trend_pct": change_pct(daily_now, daily_before),
            "cost_per_request": np.where(request_count > 0, current[a, s] / request_count, np.nan),
            "previous_30_days_cost": np.where(days_before[a] > 0, previous[a, s], np.nan),
            "days_with_data": days_now[a],
            "missing_days": WINDOW_DAYS - days_now[a],
            "request_count": pd.array(np.rint(request_count), dtype="Int64"),
            "customers_served": served_count,
            "cost_per_customer": np.where(served_count > 0, current[a, s] / np.maximum(served_count, 1), np.nan),
        })
    frame = frame.merge(_owning_team(windows, costs), on=["as_of_date", "service"], how="left")
    frame = frame.merge(_top_cost_drivers(windows, costs), on=["as_of_date", "service"], how="left")
    frame = frame.round({"last_30_days_cost": MONEY_DECIMALS, "daily_average": MONEY_DECIMALS,
                         "previous_30_days_cost": MONEY_DECIMALS})
    return frame[SERVICE_COLUMNS]


def team_report(windows: AsOfWindows, costs: pd.DataFrame, days_with_data) -> pd.DataFrame:
    """team_costs rows for every as-of day of `windows` (costs as in service_report)."""
    teams, current, previous, present = _by_key(windows, costs, ["team"], "effective_cost")
    team_names = pd.Index(teams["team"])
    pairs, _, _, pair_present = _by_key(windows, costs, ["team", "service"], None)
    service_count = _per_group(windows, pair_present, team_names.get_indexer(pairs["team"]), len(teams))
    days_now, days_before = windows.data_days(days_with_data)
    a, t = np.nonzero((present > 0) & (days_now[:, None] > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        daily_now = current[a, t] / days_now[a]
        daily_before = np.where(days_before[a] > 0, previous[a, t] / days_before[a], np.nan)
    frame = pd.DataFrame({
        "as_of_date": np.array(windows.as_of_days, dtype=object)[a],
        "team": team_names.to_numpy()[t],
        "last_30_days_cost": current[a, t],
        "service_count": service_count[a, t],
        "daily_average": daily_now,
        "previous_30_days_cost": np.where(days_before[a] > 0, previous[a, t], np.nan),
        "trend_pct": change_pct(daily_now, daily_before),
        "days_with_data": days_now[a],
        "missing_days": WINDOW_DAYS - days_now[a],
    })
    return frame.round({"last_30_days_cost": MONEY_DECIMALS, "daily_average": MONEY_DECIMALS,
                        "previous_30_days_cost": MONEY_DECIMALS})[TEAM_COLUMNS]
