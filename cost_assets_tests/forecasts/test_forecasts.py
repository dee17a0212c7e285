"""cost_forecasts: month-end forecasts from the days up to each as-of day, on SQLite and PostgreSQL."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cost_assets.forecasts.assets import cost_forecasts
from cost_assets.forecasts.forecast import forecast_days, series_matrix
from cost_assets.resources import schema
from cost_assets_tests.helpers import materialize_days

HISTORY_START, HISTORY_END = dt.date(2025, 11, 1), dt.date(2026, 3, 31)
# Monday first: a weekday pattern the month's weekdays must be counted against.
PATTERN = {"api": [100, 100, 100, 110, 120, 40, 30], "db": [50] * 7}
CUSTOMER_PATTERN = {"c-heavy": [30, 30, 30, 30, 30, 10, 10], "c-light": [5, 5, 5, 5, 5, 1, 1]}
MRR = {"c-heavy": 500.0, "c-light": 400.0}
PLANTED_START = dt.date(2026, 1, 1)  # ten weeks before the as-of days: a full fit and past errors


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def daily_cost_rows(costs: dict[str, list[float]], first: dt.date, last: dt.date, extra: dict | None = None) -> pd.DataFrame:
    rows = []
    for day in days(first, last):
        for service, pattern in costs.items():
            cost = pattern[day.weekday()] + (extra or {}).get(day, 0.0) * (service == "api")
            rows.append({"date": day, "provider": "AWS", "account_id": "1", "aws_service": "EC2", "charge_category": "Usage",
                         "team": "platform", "service": service, "customer_id": "untagged", "environment": "production",
                         "usage_unit": "Hrs", "billed_cost": cost, "effective_cost": cost, "usage_quantity": 1.0,
                         "is_estimated": False, "source": "test"})
    return pd.DataFrame(rows)


def allocation_rows(first: dt.date, last: dt.date, extra: dict | None = None) -> pd.DataFrame:
    return pd.DataFrame([
        {"date": day, "customer_id": customer, "service": "api", "allocation_method": "direct",
         "allocated_cost": pattern[day.weekday()] + (extra or {}).get(day, 0.0), "proportion": 1.0, "rule": "tag"}
        for day in days(first, last) for customer, pattern in CUSTOMER_PATTERN.items()
    ])


def write(warehouse, table, frame: pd.DataFrame, column: str = "date") -> None:
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, table, frame[column].min(), frame[column].max(), frame, column)


def snapshots(day: dt.date) -> pd.DataFrame:
    return pd.DataFrame([{"date": day, "id": c, "name": c, "mrr": mrr, "status": "active"} for c, mrr in MRR.items()])


def month_total(pattern: list[float], first: dt.date, last: dt.date) -> float:
    return sum(pattern[day.weekday()] for day in days(first, last))


def test_a_constant_weekday_pattern_forecasts_exactly_and_later_days_do_not_leak(warehouse):
    # After 2026-03-11 (the last as-of day) the costs jump 100-fold: a forecast that read them would show it.
    jump = {day: 10_000.0 for day in days(dt.date(2026, 3, 12), HISTORY_END)}
    write(warehouse, schema.daily_costs, daily_cost_rows(PATTERN, PLANTED_START, HISTORY_END, jump))
    write(warehouse, schema.customer_cost_allocation, allocation_rows(PLANTED_START, HISTORY_END, jump))
    write(warehouse, schema.customer_snapshots, snapshots(PLANTED_START))
    assert materialize_days([cost_forecasts], warehouse, dt.date(2026, 3, 10), dt.date(2026, 3, 11)).success

    rows = warehouse.read("SELECT * FROM cost_forecasts WHERE as_of_date = '2026-03-11'").set_index(["scope", "scope_value"])
    assert len(warehouse.read("SELECT * FROM cost_forecasts")) == 2 * 5
    march = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    expected = {
        ("company", "all"): sum(month_total(p, *march) for p in PATTERN.values()),
        ("service", "api"): month_total(PATTERN["api"], *march),
        ("service", "db"): month_total(PATTERN["db"], *march),
        ("customer", "c-heavy"): month_total(CUSTOMER_PATTERN["c-heavy"], *march),
        ("customer", "c-light"): month_total(CUSTOMER_PATTERN["c-light"], *march),
    }
    for key, total in expected.items():
        row = rows.loc[key]
        assert row["forecast"] == pytest.approx(total, abs=0.005), key
        # Past errors of an exact method are 0: the interval closes on the forecast.
        assert row["low"] == pytest.approx(total, abs=0.005) and row["high"] == pytest.approx(total, abs=0.005), key
        assert row["days_with_data"] == 11 and row["days_forecast"] == 20, key
    heavy = rows.loc[("customer", "c-heavy")]
    assert heavy["actual_to_date"] == pytest.approx(month_total(CUSTOMER_PATTERN["c-heavy"], march[0], dt.date(2026, 3, 11)))
    assert heavy["mrr"] == 500.0
    assert heavy["forecast_margin_pct"] == pytest.approx((500 - expected[("customer", "c-heavy")]) / 500 * 100, abs=1e-3)
    assert heavy["forecast_margin_pct"] < 0 < rows.loc[("customer", "c-light"), "forecast_margin_pct"]
    assert pd.isna(rows.loc[("company", "all"), "mrr"]) and pd.isna(rows.loc[("service", "api"), "forecast_margin_pct"])


def noisy_costs(seed: int, series: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    calendar = pd.date_range(HISTORY_START, HISTORY_END).date
    weekday = np.array([d.weekday() for d in calendar])
    for number in range(series):
        level = rng.uniform(50, 2000)
        pattern = np.array([1, 1, 1, 1, 1, rng.uniform(0.3, 1), rng.uniform(0.3, 1)])
        noise = rng.uniform(0.02, 0.15)
        frames.append(pd.DataFrame({"date": calendar, "scope": "service", "scope_value": f"s{number}",
                                    "cost": level * pattern[weekday] * np.exp(rng.normal(0, noise, len(calendar)))}))
    return pd.concat(frames, ignore_index=True)


def test_the_interval_holds_the_truth_of_noisy_months_about_80_percent_of_the_time():
    costs = noisy_costs(seed=7)
    series = series_matrix(costs, {"service": set(costs["date"])}, HISTORY_START, HISTORY_END)
    as_of_days = [dt.date(2026, month, day) for month in (2, 3) for day in (7, 14, 21)]
    forecasts = forecast_days(series, as_of_days)
    truth = (costs.assign(month_start=pd.to_datetime(costs["date"]).dt.to_period("M").dt.start_time.dt.date)
             .groupby(["scope_value", "month_start"], as_index=False)["cost"].sum())
    checked = forecasts.merge(truth, on=["scope_value", "month_start"])
    assert len(checked) == 30 * 6
    inside = (checked["low"] <= checked["cost"]) & (checked["cost"] <= checked["high"])
    assert 0.7 <= inside.mean() <= 0.95
    assert (checked["low"] <= checked["forecast"]).all() and (checked["forecast"] <= checked["high"]).all()
    assert (checked["high"] - checked["low"] > 0).mean() > 0.9
    assert ((checked["forecast"] - checked["cost"]).abs() / checked["cost"]).mean() < 0.05


def test_a_day_without_data_is_forecast_not_counted_as_zero():
    costs = noisy_costs(seed=3, series=1).assign(cost=100.0)
    gap = dt.date(2026, 3, 5)
    costs = costs[costs["date"] != gap]
    series = series_matrix(costs, {"service": set(costs["date"])}, HISTORY_START, HISTORY_END)
    row = forecast_days(series, [dt.date(2026, 3, 10)]).iloc[0]
    assert row["actual_to_date"] == pytest.approx(900.0)
    assert row["days_with_data"] == 9 and row["days_forecast"] == 22
    assert row["forecast"] == pytest.approx(3100.0)


def test_no_data_after_the_as_of_day_changes_its_forecast():
    costs = noisy_costs(seed=11, series=5)
    as_of = dt.date(2026, 2, 14)
    later = pd.to_datetime(costs["date"]) > pd.Timestamp(as_of)
    changed = costs.assign(cost=costs["cost"].where(~later, costs["cost"] * 50))
    first = forecast_days(series_matrix(costs, {"service": set(costs["date"])}, HISTORY_START, HISTORY_END), [as_of])
    second = forecast_days(series_matrix(changed, {"service": set(costs["date"])}, HISTORY_START, HISTORY_END), [as_of])
    pd.testing.assert_frame_equal(first, second)
    assert first["days_forecast"].eq(14).all()


def test_a_series_that_appears_mid_month_costs_nothing_before_it():
    days_with_data = days(HISTORY_START, dt.date(2026, 3, 20))
    costs = pd.DataFrame([{"date": day, "scope": "customer", "scope_value": "old", "cost": 10.0} for day in days_with_data]
                         + [{"date": day, "scope": "customer", "scope_value": "new", "cost": 70.0}
                            for day in days_with_data if day >= dt.date(2026, 3, 6)])
    series = series_matrix(costs, {"customer": set(days_with_data)}, HISTORY_START, dt.date(2026, 3, 31))
    rows = forecast_days(series, [dt.date(2026, 3, 20)]).set_index("scope_value")
    assert rows.loc["new", "actual_to_date"] == pytest.approx(15 * 70.0)
    assert rows.loc["new", "days_forecast"] == 11  # the 5 days before it appeared are known: $0
    assert rows.loc["new", "forecast"] == pytest.approx(26 * 70.0)
    assert rows.loc["old", "forecast"] == pytest.approx(31 * 10.0)
