"""Hand-computed unit economics and reports over small, fully known inputs."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from cost_assets.analytics.economics import lowest_margin_first, unit_economics
from cost_assets.analytics.reports import service_report, team_report
from cost_assets.analytics.windows import AsOfWindows, monthly

AS_OF = dt.date(2026, 6, 30)
WINDOWS = AsOfWindows(AS_OF, AS_OF)
CURRENT = [AS_OF - dt.timedelta(days=i) for i in range(30)]  # AS_OF-29 .. AS_OF
PREVIOUS = [AS_OF - dt.timedelta(days=30 + i) for i in range(30)]  # AS_OF-59 .. AS_OF-30
ALL_DAYS = PREVIOUS + CURRENT


def allocation(rows):
    """rows: (customer_id, service, cost per day, days)."""
    return pd.DataFrame([{"date": day, "customer_id": c, "service": s, "allocated_cost": cost}
                         for c, s, cost, days in rows for day in days],
                        columns=["date", "customer_id", "service", "allocated_cost"])


NO_OVERHEAD = pd.DataFrame(columns=["date", "customer_id", "overhead_cost"])


def snapshot(*customers):
    """customers: (id, mrr, status)."""
    return pd.DataFrame([{"date": AS_OF, "id": i, "name": f"{i} Inc", "mrr": mrr, "status": status}
                         for i, mrr, status in customers])


def row(frame: pd.DataFrame, customer: str) -> pd.Series:
    return frame.set_index("customer_id").loc[customer]


def test_thirty_day_cost_margin_and_trend():
    allocated = allocation([("a", "api", 10.0, PREVIOUS), ("a", "api", 15.0, CURRENT), ("a", "shared-db", 5.0, CURRENT)])
    result = unit_economics(WINDOWS, allocated, NO_OVERHEAD, ALL_DAYS, snapshot(("a", 1000.0, "active")))
    a = row(result, "a")
    assert a["monthly_infra_cost"] == pytest.approx(600.0)  # (15 + 5) * 30
    assert a["previous_30_days_cost"] == pytest.approx(300.0)
    assert a["cost_trend_pct"] == pytest.approx(100.0)
    assert a["gross_margin_pct"] == pytest.approx(40.0)
    assert not a["is_negative_margin"]
    assert (a["days_with_data"], a["missing_days"]) == (30, 0)
    assert a["customer_name"] == "a Inc"
    assert json.loads(a["cost_breakdown"]) == [{"service": "api", "cost": 450.0}, {"service": "shared-db", "cost": 150.0}]


def test_zero_or_missing_mrr_gives_a_null_margin_and_a_negative_flag():
    allocated = allocation([("free", "api", 2.0, CURRENT), ("unknown-mrr", "api", 1.0, CURRENT)])
    result = unit_economics(WINDOWS, allocated, NO_OVERHEAD, ALL_DAYS,
                            snapshot(("free", 0.0, "active"), ("unknown-mrr", None, "active")))
    for customer in ["free", "unknown-mrr"]:
        assert np.isnan(row(result, customer)["gross_margin_pct"])
        assert row(result, customer)["is_negative_margin"]
    ranked = lowest_margin_first(pd.concat([result, unit_economics(
        WINDOWS, allocation([("rich", "api", 1.0, CURRENT)]), NO_OVERHEAD, ALL_DAYS, snapshot(("rich", 100.0, "active")))]))
    assert ranked["customer_id"].tolist()[-1] == "rich"  # a real, even small, margin ranks after no revenue


def test_days_without_data_are_counted_and_not_taken_as_zero_cost():
    twenty_days = CURRENT[:20]
    allocated = allocation([("a", "api", 10.0, twenty_days)])
    result = unit_economics(WINDOWS, allocated, NO_OVERHEAD, twenty_days, snapshot(("a", 1000.0, "active")))
    a = row(result, "a")
    assert (a["days_with_data"], a["missing_days"]) == (20, 10)
    assert a["allocated_cost_30d"] == pytest.approx(200.0)
    assert a["monthly_infra_cost"] == pytest.approx(300.0)  # $10 a day over 30 days, not $200
    assert np.isnan(a["previous_30_days_cost"]) and np.isnan(a["cost_trend_pct"])


def test_a_day_with_data_but_no_cost_for_a_customer_is_a_real_zero():
    allocated = allocation([("a", "api", 10.0, CURRENT), ("b", "api", 10.0, CURRENT[:15])])
    result = unit_economics(WINDOWS, allocated, NO_OVERHEAD, ALL_DAYS,
                            snapshot(("a", 1000.0, "active"), ("b", 1000.0, "active")))
    assert row(result, "b")["monthly_infra_cost"] == pytest.approx(150.0)
    assert row(result, "b")["missing_days"] == 0


def test_fully_loaded_margin_adds_the_spread_overhead():
    allocated = allocation([("a", "api", 10.0, CURRENT)])
    overhead = pd.DataFrame([{"date": d, "customer_id": "a", "overhead_cost": 5.0} for d in CURRENT])
    result = unit_economics(WINDOWS, allocated, overhead, ALL_DAYS, snapshot(("a", 400.0, "active")))
    a = row(result, "a")
    assert a["gross_margin_pct"] == pytest.approx(25.0)  # 300 on 400
    assert a["overhead_cost"] == pytest.approx(150.0)
    assert a["fully_loaded_cost"] == pytest.approx(450.0)
    assert a["fully_loaded_margin_pct"] == pytest.approx(-12.5)
    assert not a["is_negative_margin"] and a["is_negative_margin_fully_loaded"]


def test_rows_cover_active_customers_and_customers_with_cost_only():
    allocated = allocation([("gone", "api", 1.0, CURRENT[:3]), ("old", "api", 1.0, PREVIOUS)])
    customers = snapshot(("idle", 500.0, "active"), ("churned", 0.0, "churned"), ("old", 100.0, "churned"))
    result = unit_economics(WINDOWS, allocated, NO_OVERHEAD, ALL_DAYS, customers)
    assert sorted(result["customer_id"]) == ["gone", "idle"]
    assert row(result, "idle")["monthly_infra_cost"] == 0.0 and row(result, "idle")["cost_breakdown"] == "[]"
    gone = row(result, "gone")  # cost, but no longer in the product database
    assert gone["customer_name"] == "gone" and np.isnan(gone["mrr"]) and gone["status"] is None


def test_every_as_of_day_of_a_range_matches_computing_it_alone():
    rng = np.random.default_rng(7)
    days = [AS_OF - dt.timedelta(days=i) for i in range(120)]
    allocated = pd.DataFrame({"date": np.repeat(days, 2), "customer_id": ["a", "b"] * len(days),
                              "service": "api", "allocated_cost": rng.uniform(0, 10, 2 * len(days)).round(6)})
    allocated = allocated[allocated["date"] != AS_OF - dt.timedelta(days=45)]
    data_days = sorted(set(allocated["date"]))
    first = AS_OF - dt.timedelta(days=60)
    ranged_windows = AsOfWindows(first, AS_OF)
    customers = pd.concat([snapshot(("a", 500.0, "active"), ("b", 50.0, "active")).assign(date=d)
                           for d in ranged_windows.as_of_days])
    in_range = allocated[allocated["date"] >= ranged_windows.start]
    ranged = unit_economics(ranged_windows, in_range, NO_OVERHEAD, data_days, customers)
    for day in [first, AS_OF - dt.timedelta(days=20), AS_OF]:
        alone_windows = AsOfWindows(day, day)
        alone = unit_economics(alone_windows, allocated[allocated["date"].between(alone_windows.start, day)],
                               NO_OVERHEAD, data_days, customers[customers["date"] == day])
        pd.testing.assert_frame_equal(ranged[ranged["as_of_date"] == day].reset_index(drop=True), alone)


def test_monthly_scales_by_days_with_data():
    assert monthly(np.array([100.0, 0.0]), np.array([10, 0]))[0] == 300.0
    assert np.isnan(monthly(np.array([100.0, 0.0]), np.array([10, 0]))[1])


def costs_frame(rows):
    """rows: (service, team, aws_service, cost per day, days)."""
    return pd.DataFrame([{"date": d, "service": s, "team": t, "aws_service": a, "effective_cost": c}
                         for s, t, a, c, days in rows for d in days])


def test_service_report_costs_per_request_and_per_customer_served():
    costs = costs_frame([
        ("shared-db", "platform", "RDS", 30.0, ALL_DAYS),
        ("shared-db", "platform", "EBS", 10.0, CURRENT),
        ("shared-db", "data", "S3", 1.0, CURRENT),  # minor team
        ("api", "core", "EC2", 5.0, CURRENT[:10]),
    ])
    requests = pd.DataFrame([{"date": d, "service": "shared-db", "request_count": 1000} for d in CURRENT])
    served = pd.DataFrame([{"date": d, "service": "shared-db", "customer_id": c} for d in CURRENT[:2] for c in ["x", "y"]]
                          + [{"date": PREVIOUS[0], "service": "shared-db", "customer_id": "z"}])
    report = service_report(WINDOWS, costs, requests, served, ALL_DAYS).set_index("service")
    db = report.loc["shared-db"]
    assert db["last_30_days_cost"] == pytest.approx(41.0 * 30)
    assert db["daily_average"] == pytest.approx(41.0)
    assert db["trend_pct"] == pytest.approx((41.0 - 30.0) / 30.0 * 100)
    assert db["team"] == "platform"
    assert db["request_count"] == 30_000
    assert db["cost_per_request"] == pytest.approx(41.0 * 30 / 30_000)
    assert db["customers_served"] == 2  # z was served only before the window
    assert db["cost_per_customer"] == pytest.approx(41.0 * 30 / 2)
    assert json.loads(db["top_cost_drivers"]) == [{"awsService": "RDS", "cost": 900.0}, {"awsService": "EBS", "cost": 300.0},
                                                  {"awsService": "S3", "cost": 30.0}]
    api = report.loc["api"]
    assert pd.isna(api["request_count"]) and np.isnan(api["cost_per_request"]) and np.isnan(api["cost_per_customer"])
    assert np.isnan(api["trend_pct"]) and api["previous_30_days_cost"] == 0.0


def test_service_report_averages_over_days_with_data():
    twenty = CURRENT[:20]
    costs = costs_frame([("api", "core", "EC2", 10.0, twenty + PREVIOUS)])
    empty = pd.DataFrame(columns=["date", "service", "request_count"])
    report = service_report(WINDOWS, costs, empty, pd.DataFrame(columns=["date", "service", "customer_id"]),
                            twenty + PREVIOUS)
    api = report.iloc[0]
    assert (api["days_with_data"], api["missing_days"]) == (20, 10)
    assert api["daily_average"] == pytest.approx(10.0)
    assert api["trend_pct"] == pytest.approx(0.0)  # same daily spend, fewer days: no fake drop


def test_team_report_totals_and_service_counts():
    costs = costs_frame([
        ("api", "core", "EC2", 10.0, CURRENT), ("worker", "core", "EC2", 5.0, CURRENT[:1]),
        ("auth", "core", "EC2", 1.0, PREVIOUS), ("shared-db", "platform", "RDS", 2.0, ALL_DAYS),
    ])
    teams = team_report(WINDOWS, costs, ALL_DAYS).set_index("team")
    assert teams.loc["core", "last_30_days_cost"] == pytest.approx(305.0)
    assert teams.loc["core", "service_count"] == 2  # auth had cost only before the window
    assert teams.loc["core", "trend_pct"] == pytest.approx((305.0 - 30.0) / 30.0 * 100)
    assert teams.loc["platform", "service_count"] == 1
    assert teams.loc["platform", "daily_average"] == pytest.approx(2.0)


def test_the_service_breakdown_is_in_cents_that_add_up_to_the_monthly_cost():
    allocated = allocation([("a", s, 0.111111, CURRENT) for s in ["x", "y", "z"]] + [("a", "w", 0.5, CURRENT)])
    a = row(unit_economics(WINDOWS, allocated, NO_OVERHEAD, ALL_DAYS, snapshot(("a", 100.0, "active"))), "a")
    breakdown = json.loads(a["cost_breakdown"])
    assert [e["service"] for e in breakdown] == ["w", "x", "y", "z"]  # largest first, ties by service
    # 3.33333 each: rounding each alone would lose a cent; the largest entry takes it.
    assert [e["cost"] for e in breakdown] == [15.01, 3.33, 3.33, 3.33]
    assert round(sum(e["cost"] for e in breakdown), 2) == round(a["monthly_infra_cost"], 2) == 25.0
