"""/costs/forecast: the month-end forecast of the company and each customer, exactly as documented."""

import datetime as dt

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cost_assets.api.app import create_app
from cost_assets.resources import schema
from cost_assets_tests.api.conftest import AUTH, TOKEN

EARLY, LATEST = dt.date(2026, 3, 10), dt.date(2026, 3, 11)
MARCH = {"month_start": dt.date(2026, 3, 1), "month_end": dt.date(2026, 3, 31)}


def forecast_row(as_of, scope, value, actual, forecast, low, high, mrr=None, margin=None, days_with_data=11):
    return {"as_of_date": as_of, "scope": scope, "scope_value": value, **MARCH, "days_with_data": days_with_data,
            "days_forecast": 31 - days_with_data, "actual_to_date": actual, "forecast": forecast, "low": low,
            "high": high, "mrr": mrr, "forecast_margin_pct": margin}


@pytest.fixture
def client(warehouse) -> TestClient:
    rows = pd.DataFrame([
        forecast_row(LATEST, "company", "all", 41000.123456, 115500.004, 112000.0, 119000.5),
        forecast_row(LATEST, "service", "api", 20000.0, 56000.0, 55000.0, 57000.0),
        forecast_row(LATEST, "customer", "c-fine", 300.0, 845.456, 800.0, 900.0, mrr=2000.0, margin=57.7272),
        forecast_row(LATEST, "customer", "c-loss", 1200.0, 3400.0, 3100.0, 3700.0, mrr=3000.0, margin=-13.3333),
        forecast_row(LATEST, "customer", "c-free", 10.0, 28.0, 25.0, 31.0),
        forecast_row(EARLY, "company", "all", 37000.0, 114000.0, 110000.0, 118000.0, days_with_data=10),
        forecast_row(EARLY, "customer", "c-loss", 1000.0, 2900.0, 2700.0, 3100.0, mrr=3000.0, margin=3.3333,
                     days_with_data=10),
    ])
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.cost_forecasts, EARLY, LATEST, rows, date_column="as_of_date")
    return TestClient(create_app(warehouse.resolved_url, TOKEN), raise_server_exceptions=False)


def test_the_latest_forecast_has_the_documented_shape(client):
    response = client.get("/costs/forecast", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "asOf": "2026-03-11", "monthStart": "2026-03-01", "monthEnd": "2026-03-31",
        "company": {"actualToDate": 41000.12, "forecast": 115500.0, "low": 112000.0, "high": 119000.5},
        "customers": [  # lowest forecast margin first, customers without a margin last
            {"customerId": "c-loss", "actualToDate": 1200.0, "forecast": 3400.0, "low": 3100.0, "high": 3700.0,
             "mrr": 3000.0, "forecastMargin": -13.33},
            {"customerId": "c-fine", "actualToDate": 300.0, "forecast": 845.46, "low": 800.0, "high": 900.0,
             "mrr": 2000.0, "forecastMargin": 57.73},
            {"customerId": "c-free", "actualToDate": 10.0, "forecast": 28.0, "low": 25.0, "high": 31.0,
             "mrr": None, "forecastMargin": None},
        ],
    }


def test_as_of_picks_the_day_a_day_without_forecast_is_404_and_parameters_are_strict(client):
    earlier = client.get("/costs/forecast?as_of=2026-03-10", headers=AUTH).json()
    assert earlier["asOf"] == "2026-03-10" and earlier["company"]["forecast"] == 114000.0
    assert [c["customerId"] for c in earlier["customers"]] == ["c-loss"]
    missing = client.get("/costs/forecast?as_of=2026-04-01", headers=AUTH)
    assert missing.status_code == 404 and "2026-04-01" in missing.json()["detail"]
    for query in ["as_of=2026-13-01", "asof=2026-03-10", "as_of=2026-03-10&as_of=2026-03-11"]:
        assert client.get(f"/costs/forecast?{query}", headers=AUTH).status_code == 422, query
    assert client.get("/costs/forecast").status_code == 401
