"""The whole pipeline on the demo company, then the API over its output: the CFO's questions."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from cost_assets.api.app import create_app
from cost_assets.definitions import defs
from cost_assets_tests.api.conftest import AUTH, TOKEN
from cost_assets_tests.helpers import materialize_days

FIRST, LAST = dt.date(2026, 9, 10), dt.date(2026, 11, 12)


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory):
    from cost_assets.resources.warehouse import Warehouse

    warehouse = Warehouse(url=f"sqlite:///{tmp_path_factory.mktemp('demo') / 'warehouse.db'}")
    assets = list(defs.assets)
    result = materialize_days(assets, warehouse, FIRST, LAST)
    assert result.success
    return TestClient(create_app(warehouse.resolved_url, TOKEN))


def test_customers_with_negative_margin_are_the_planted_three_lowest_first(demo_api):
    customers = demo_api.get("/costs/customers", headers=AUTH).json()["customers"]
    negative = [c["customerId"] for c in customers if c["isNegativeMargin"]]
    assert negative == [c["customerId"] for c in customers[:3]]
    assert set(negative) == {"cust-007", "cust-019", "cust-031"}
    northwind = demo_api.get("/costs/customers/cust-007", headers=AUTH).json()
    assert northwind["mrr"] == 2000.0
    assert northwind["monthlyInfraCost"] == pytest.approx(8000, rel=0.05)
    assert northwind["costBreakdown"][0]["service"] == "data-pipeline"


def test_the_lambda_spike_is_an_open_critical_anomaly(demo_api):
    anomalies = demo_api.get("/costs/anomalies", headers=AUTH).json()["anomalies"]
    critical = {(a["service"], a["date"]) for a in anomalies if a["severity"] == "critical"}
    assert ("notifications", "2026-11-10") in critical
    assert {service for service, _ in critical} == {"notifications"}
    # Its root cause: all of the excess is the production account's Lambda.
    spike = next(a for a in anomalies if (a["service"], a["date"]) == ("notifications", "2026-11-10"))
    causes = {(c["dimension"], c["value"]): c["impactUsd"] for c in spike["rootCauses"]}
    assert causes[("account", "111111111111")] == spike["impactUsd"] > 3000
    assert causes[("awsService", "AWS Lambda")] == spike["impactUsd"]
    assert spike["rootCauses"][0]["impactUsd"] == spike["impactUsd"]
    for dimension in ("account", "awsService", "chargeCategory", "environment", "customer"):
        total = sum(c["impactUsd"] for c in spike["rootCauses"] if c["dimension"] == dimension)
        assert abs(total - spike["impactUsd"]) <= 0.011, dimension


def test_trend_and_teams_add_up_to_the_bill(demo_api):
    trend = demo_api.get("/costs/trend?days=30", headers=AUTH).json()["trend"]
    assert len(trend) == 30 and trend[-1]["date"] == LAST.isoformat()
    teams = demo_api.get("/costs/teams", headers=AUTH).json()["teams"]
    assert sum(t["totalCost"] for t in teams) == pytest.approx(sum(d["total"] for d in trend), abs=1.0)
    # ~$120K a month plus the $16K Lambda incident.
    assert 120_000 < sum(d["total"] for d in trend) < 145_000


def test_staging_waste_is_found(demo_api):
    waste = demo_api.get("/costs/waste", headers=AUTH).json()
    staging = next(e for e in waste["environments"] if e["environment"] == "staging")
    assert staging["offHoursCost"] == pytest.approx(18_000, rel=0.05)
    assert 0 < staging["monthlySaving"] < staging["offHoursCost"] * 1.05


def test_a_customers_allocation_shows_the_shared_splits_and_adds_up_to_its_cost(demo_api):
    northwind = demo_api.get("/costs/customers/cust-007", headers=AUTH).json()
    allocation = demo_api.get("/costs/customers/cust-007/allocation", headers=AUTH).json()
    assert allocation["asOf"] == northwind["asOf"]
    assert allocation["total"] == pytest.approx(northwind["monthlyInfraCost"], abs=0.01)
    shared = [line for line in allocation["allocation"] if line["method"] == "usage_proportional"]
    assert shared and all(0 < line["share"] < 1 and line["pooledCost"] > line["allocatedCost"] for line in shared)
