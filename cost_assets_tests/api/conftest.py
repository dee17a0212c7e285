"""A warehouse holding small, hand-written report rows, and clients of the API over it."""

import datetime as dt
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cost_assets.api.app import create_app
from cost_assets.analytics.queries import rebuild_daily_team_costs
from cost_assets.resources import schema
from cost_assets_tests.helpers import table_contents

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LATEST, EARLIER = dt.date(2026, 3, 31), dt.date(2026, 3, 30)


def _economics(as_of, customer_id, name, mrr, cost, margin, status="active"):
    return {
        "as_of_date": as_of, "customer_id": customer_id, "customer_name": name, "mrr": mrr,
        "monthly_infra_cost": cost, "gross_margin_pct": margin, "cost_trend_pct": 5.0,
        "is_negative_margin": mrr is None or cost > mrr, "status": status, "allocated_cost_30d": cost,
        "previous_30_days_cost": cost / 1.05, "days_with_data": 30, "missing_days": 0, "overhead_cost": 10.0,
        "fully_loaded_cost": cost + 10.0, "fully_loaded_margin_pct": None if margin is None else margin - 1,
        "is_negative_margin_fully_loaded": mrr is None or cost + 10 > mrr,
        "cost_breakdown": json.dumps([{"service": "shared-db", "cost": cost * 0.75}, {"service": "cdn", "cost": cost * 0.25}]),
    }


def fill(warehouse) -> None:
    frames = {
        schema.team_costs: pd.DataFrame([
            {"as_of_date": LATEST, "team": "platform", "last_30_days_cost": 3000.0, "service_count": 3, "daily_average": 100.0,
             "previous_30_days_cost": 2900.0, "trend_pct": 3.4, "days_with_data": 30, "missing_days": 0},
            {"as_of_date": LATEST, "team": "core", "last_30_days_cost": 1500.0, "service_count": 2, "daily_average": 50.0,
             "previous_30_days_cost": None, "trend_pct": None, "days_with_data": 30, "missing_days": 0},
            {"as_of_date": EARLIER, "team": "platform", "last_30_days_cost": 2000.0, "service_count": 1, "daily_average": 66.67,
             "previous_30_days_cost": None, "trend_pct": None, "days_with_data": 30, "missing_days": 0},
        ]),
        schema.service_cost_report: pd.DataFrame([
            {"as_of_date": LATEST, "service": "shared-db", "team": "platform", "last_30_days_cost": 2400.0, "daily_average": 80.0,
             "trend_pct": 12.5, "cost_per_request": 0.0004, "previous_30_days_cost": 2133.33, "days_with_data": 30,
             "missing_days": 0, "request_count": 6_000_000, "customers_served": 3, "cost_per_customer": 800.0,
             "top_cost_drivers": json.dumps([{"awsService": "Amazon Relational Database Service", "cost": 2400.0}])},
            {"as_of_date": LATEST, "service": "cdn", "team": "platform", "last_30_days_cost": 600.0, "daily_average": 20.0,
             "trend_pct": None, "cost_per_request": None, "previous_30_days_cost": None, "days_with_data": 28,
             "missing_days": 2, "request_count": None, "customers_served": 0, "cost_per_customer": None,
             "top_cost_drivers": json.dumps([])},
        ]),
        schema.customer_unit_economics: pd.DataFrame([
            _economics(LATEST, "c1", "Profitable Co", 5000.0, 1000.0, 80.0),
            _economics(LATEST, "c2", "Loss Co", 1000.0, 1500.0, -50.0),
            _economics(LATEST, "c3", "Free Tier Co", None, 300.0, None),
            _economics(LATEST, "c4", "Gone Co", 100.0, 0.0, 100.0, status="churned"),
            _economics(LATEST, "c5", "Idle Trial Co", None, 0.0, None),
            _economics(EARLIER, "c1", "Profitable Co", 5000.0, 4000.0, 20.0),
        ]),
        schema.cost_anomalies: pd.DataFrame([
            {"date": LATEST, "service": "notifications", "actual_cost": 4000.0, "expected_cost": 45.0, "impact_usd": 3955.0,
             "score": 790.2, "severity": "critical", "detector": "seasonal", "is_provisional": True,
             "incident_id": "notifications:2026-03-31", "incident_start": LATEST, "incident_impact_usd": 3955.0},
            {"date": dt.date(2026, 3, 1), "service": "api", "actual_cost": 900.0, "expected_cost": 500.0, "impact_usd": 400.0,
             "score": 6.0, "severity": "warning", "detector": "seasonal", "is_provisional": False,
             "incident_id": "api:2026-03-01", "incident_start": dt.date(2026, 3, 1), "incident_impact_usd": 400.0},
        ]),
        schema.cost_anomaly_root_causes: pd.DataFrame([
            {"date": LATEST, "service": "notifications", "dimension": dimension, "dimension_value": value,
             "actual_cost": actual, "expected_cost": actual - impact, "impact_usd": impact, "share": impact / 3955.0,
             "rank": rank}
            for dimension, value, actual, impact, rank in [
                ("account", "111111111111", 4000.0, 3955.0, 1),
                ("aws_service", "AWS Lambda", 3990.0, 3950.0, 1),
                ("aws_service", "AmazonCloudWatch", 10.0, 5.0, 2),
                ("customer", "untagged", 4000.0, 3955.0, 1),
            ]
        ]),
    }
    # Loss Co (c2) over the last three days: a dedicated worker, and 25% then 50% of the shared
    # database's $100 a day split by requests; on 03-29, outside a 2-day window, only the worker.
    frames[schema.customer_cost_allocation] = pd.DataFrame([
        {"date": day, "customer_id": "c2", "service": service, "allocation_method": method, "allocated_cost": cost,
         "proportion": proportion, "rule": rule}
        for day, service, method, cost, proportion, rule in [
            (LATEST - dt.timedelta(days=2), "worker", "direct", 30.0, 1.0, "customer tag"),
            (EARLIER, "worker", "direct", 30.0, 1.0, "customer tag"),
            (EARLIER, "shared-db", "usage_proportional", 25.0, 0.25, "shared-db by requests"),
            (LATEST, "worker", "direct", 30.0, 1.0, "customer tag"),
            (LATEST, "shared-db", "usage_proportional", 50.0, 0.5, "shared-db by requests"),
        ]
    ])
    daily = []
    for offset in range(40):
        day = LATEST - dt.timedelta(days=offset)
        for team, cost in [("platform", 100.0), ("core", 50.0)]:
            daily.append({"date": day, "provider": "AWS", "account_id": "1", "aws_service": "EC2", "charge_category": "Usage",
                          "team": team, "service": "x", "customer_id": "untagged", "environment": "production",
                          "usage_unit": "Hrs", "billed_cost": cost, "effective_cost": cost, "usage_quantity": 1.0,
                          # The provider still estimates the last two days (one team's rows suffice).
                          "is_estimated": offset <= 1 and team == "platform", "source": "test"})
    frames[schema.daily_costs] = pd.DataFrame(daily)
    with warehouse.transaction() as conn:
        for table, frame in frames.items():
            date_column = "as_of_date" if "as_of_date" in frame else "date"
            warehouse.replace_window(conn, table, frame[date_column].min(), frame[date_column].max(), frame, date_column)
        rebuild_daily_team_costs(conn, min(frames[schema.daily_costs]["date"]), LATEST)


@pytest.fixture
def api_warehouse(warehouse):
    fill(warehouse)
    return warehouse


@pytest.fixture
def client(api_warehouse) -> TestClient:
    return TestClient(create_app(api_warehouse.resolved_url, TOKEN), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def shared_api_warehouse(module_warehouse):
    """The filled warehouse, once per module, for the many requests that only read it;
    fails the module if one of them changed a row."""
    fill(module_warehouse)
    filled = table_contents(module_warehouse)
    yield module_warehouse
    assert table_contents(module_warehouse) == filled, "a test using read_only_client wrote to the warehouse"


@pytest.fixture
def read_only_client(shared_api_warehouse) -> TestClient:
    """`client` over the module's shared warehouse: for tests that only send requests."""
    return TestClient(create_app(shared_api_warehouse.resolved_url, TOKEN), raise_server_exceptions=False)
