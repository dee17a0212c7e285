
import pytest
from sqlalchemy import text

from cost_assets.api.app import create_app
from cost_assets_tests.api.conftest import AUTH, EARLIER

ENDPOINTS = ["/costs/teams", "/costs/services", "/costs/services/shared-db", "/costs/customers/c1",
             "/costs/customers", "/costs/anomalies", "/costs/trend?days=7", "/costs/waste",
             "/costs/customers/c2/allocation", "/costs/customers/c1/history"]


@pytest.mark.parametrize("path", ENDPOINTS + ["/"])
def test_every_endpoint_refuses_a_missing_or_wrong_token(read_only_client, path):
    assert read_only_client.get(path).status_code == 401
    wrong = read_only_client.get(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert "Traceback" not in wrong.text


def test_teams(read_only_client):
    body = read_only_client.get("/costs/teams", headers=AUTH).json()
    assert body == {"asOf": "2026-03-31", "teams": [
        {"team": "platform", "totalCost": 3000.0, "serviceCount": 3},
        {"team": "core", "totalCost": 1500.0, "serviceCount": 2},
    ]}
    earlier = read_only_client.get(f"/costs/teams?as_of={EARLIER}", headers=AUTH).json()
    assert earlier["teams"] == [{"team": "platform", "totalCost": 2000.0, "serviceCount": 1}]


def test_service_report(read_only_client):
    body = read_only_client.get("/costs/services/shared-db", headers=AUTH).json()
    assert body == {
        "service": "shared-db", "team": "platform", "asOf": "2026-03-31", "last30DaysCost": 2400.0,
        "dailyAverage": 80.0, "trend": 12.5,
        "topCostDrivers": [{"awsService": "Amazon Relational Database Service", "cost": 2400.0}],
        "costPerRequest": 0.0004, "costPerCustomer": 800.0, "missingDays": 0,
    }
    cdn = read_only_client.get("/costs/services/cdn", headers=AUTH).json()
    assert cdn["costPerRequest"] is None and cdn["trend"] is None and cdn["missingDays"] == 2


def test_service_list_is_largest_first(read_only_client):
    body = read_only_client.get("/costs/services", headers=AUTH).json()
    assert [s["service"] for s in body["services"]] == ["shared-db", "cdn"]


def test_unknown_service_or_customer_is_404(read_only_client):
    assert read_only_client.get("/costs/services/nope", headers=AUTH).status_code == 404
    response = read_only_client.get("/costs/customers/nope", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "no unit economics for customer 'nope'"}


def test_customer_economics_and_as_of(read_only_client):
    body = read_only_client.get("/costs/customers/c1", headers=AUTH).json()
    assert body["customerName"] == "Profitable Co"
    assert body["mrr"] == 5000.0 and body["monthlyInfraCost"] == 1000.0 and body["grossMargin"] == 80.0
    assert body["costBreakdown"] == [{"service": "shared-db", "cost": 750.0}, {"service": "cdn", "cost": 250.0}]
    assert body["costTrend"] == 5.0 and body["isNegativeMargin"] is False
    earlier = read_only_client.get(f"/costs/customers/c1?as_of={EARLIER}", headers=AUTH).json()
    assert earlier["monthlyInfraCost"] == 4000.0 and earlier["asOf"] == EARLIER.isoformat()


def test_customer_list_is_active_customers_lowest_margin_first(read_only_client):
    """No MRR but a cost is the worst margin of all; no MRR and no cost goes last."""
    body = read_only_client.get("/costs/customers", headers=AUTH).json()
    assert [(c["customerId"], c["grossMargin"]) for c in body["customers"]] == [
        ("c3", None), ("c2", -50.0), ("c1", 80.0), ("c5", None)]


def test_anomalies_are_those_of_the_last_week(read_only_client):
    body = read_only_client.get("/costs/anomalies", headers=AUTH).json()
    assert body == {"anomalies": [{
        "service": "notifications", "date": "2026-03-31", "currentDaily": 4000.0, "expectedDaily": 45.0,
        "impactUsd": 3955.0, "deviation": 790.2, "severity": "critical", "detector": "seasonal",
        "incidentId": "notifications:2026-03-31", "incidentStart": "2026-03-31", "isProvisional": True,
        "reason": "88.9 times a usual Tuesday (recent level times the weekday pattern), "
                  "790.2 robust standard deviations out.",
        # Largest first over every dimension; within one dimension they add up to impactUsd.
        "rootCauses": [
            {"dimension": "account", "value": "111111111111", "impactUsd": 3955.0},
            {"dimension": "customer", "value": "untagged", "impactUsd": 3955.0},
            {"dimension": "awsService", "value": "AWS Lambda", "impactUsd": 3950.0},
            {"dimension": "awsService", "value": "AmazonCloudWatch", "impactUsd": 5.0},
        ],
    }]}
    march = read_only_client.get("/costs/anomalies?as_of=2026-03-05", headers=AUTH).json()
    assert [(a["service"], a["rootCauses"]) for a in march["anomalies"]] == [("api", [])]


def test_trend_days_and_as_of(read_only_client):
    body = read_only_client.get("/costs/trend?days=3", headers=AUTH).json()
    assert [d["date"] for d in body["trend"]] == ["2026-03-29", "2026-03-30", "2026-03-31"]
    assert body["trend"][0] == {"date": "2026-03-29", "total": 150.0, "byTeam": {"core": 50.0, "platform": 100.0},
                                "isEstimated": False}
    assert [d["isEstimated"] for d in body["trend"][1:]] == [True, True]
    shifted = read_only_client.get("/costs/trend?days=2&as_of=2026-03-10", headers=AUTH).json()
    assert [d["date"] for d in shifted["trend"]] == ["2026-03-09", "2026-03-10"]
    assert len(read_only_client.get("/costs/trend?days=730", headers=AUTH).json()["trend"]) == 40


@pytest.mark.parametrize("query", ["days=0", "days=731", "days=abc", "as_of=2026-13-01", "as_of=yesterday", "as_of=0",
                                   "asof=2026-03-01"])
def test_bad_parameters_are_422(read_only_client, query):
    response = read_only_client.get(f"/costs/trend?{query}", headers=AUTH)
    assert response.status_code == 422


def test_errors_do_not_leak_stack_traces(client, api_warehouse):
    with api_warehouse.engine.begin() as conn:
        conn.execute(text("DROP TABLE team_costs"))
    response = client.get("/costs/teams", headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}


def test_the_dashboard_needs_the_token_and_a_session_cookie_opens_it(read_only_client):
    refused = read_only_client.get("/")
    assert refused.status_code == 401 and "API token" in refused.text
    assert read_only_client.post("/session", headers={"Authorization": "Bearer wrong"}).status_code == 401
    session = read_only_client.post("/session", headers=AUTH)
    assert session.status_code == 200 and "httponly" in session.headers["set-cookie"].lower()
    page = read_only_client.get("/")
    assert page.status_code == 200 and "/static/dashboard.js" in page.text
    # plotly.js is loaded by the dashboard's script, from this server (no CDN).
    assert '"/static/plotly.min.js"' in read_only_client.get("/static/dashboard.js").text
    assert read_only_client.get("/costs/teams").status_code == 200  # the cookie works for the API too
    assert read_only_client.get("/static/plotly.min.js").status_code == 200


def test_the_app_refuses_to_start_without_a_token(api_warehouse):
    with pytest.raises(ValueError, match="COST_API_TOKEN is not set"):
        create_app(api_warehouse.resolved_url, None)
    open_app = create_app(api_warehouse.resolved_url, None, allow_no_auth=True)
    from fastapi.testclient import TestClient
    assert TestClient(open_app).get("/costs/teams").status_code == 200


def test_openapi_lists_the_contract_endpoints(read_only_client):
    paths = read_only_client.get("/openapi.json").json()["paths"]
    assert {"/costs/teams", "/costs/services/{name}", "/costs/customers/{customer_id}", "/costs/customers",
            "/costs/anomalies", "/costs/trend"} <= set(paths)


def test_waste_report_without_rows_has_the_full_shape(read_only_client):
    body = read_only_client.get("/costs/waste", headers=AUTH).json()
    assert body["waste"] == [] and body["environments"] == [] and body["monthlySaving"] is None


def test_customer_allocation_shows_how_shared_costs_were_split(read_only_client):
    body = read_only_client.get("/costs/customers/c2/allocation?days=2", headers=AUTH).json()
    assert body == {"customerId": "c2", "asOf": "2026-03-31", "days": 2, "total": 135.0, "allocation": [
        # $75 of the $200 the shared database cost over the two days: a 37.5% share.
        {"service": "shared-db", "method": "usage_proportional", "rule": "shared-db by requests",
         "allocatedCost": 75.0, "pooledCost": 200.0, "share": 0.375, "days": 2},
        {"service": "worker", "method": "direct", "rule": "customer tag",
         "allocatedCost": 60.0, "pooledCost": 60.0, "share": 1.0, "days": 2},
    ], "hops": [
        # Rows written before stages and drivers were recorded: each service's own hop, no stage.
        {"stage": None, "rule": "shared-db by requests", "method": "usage_proportional", "originService": "shared-db",
         "fromService": "shared-db", "recipientKind": "customer", "recipient": "c2", "driverService": None,
         "driverMetric": None, "driverQuantity": None, "cost": 75.0, "days": 2},
        {"stage": None, "rule": "customer tag", "method": "direct", "originService": "worker",
         "fromService": "worker", "recipientKind": "customer", "recipient": "c2", "driverService": None,
         "driverMetric": None, "driverQuantity": None, "cost": 60.0, "days": 2},
    ]}
    month = read_only_client.get("/costs/customers/c2/allocation", headers=AUTH).json()
    assert month["days"] == 30 and month["total"] == 165.0
    earlier = read_only_client.get("/costs/customers/c2/allocation?days=1&as_of=2026-03-30", headers=AUTH).json()
    assert [(line["service"], line["allocatedCost"]) for line in earlier["allocation"]] == [
        ("worker", 30.0), ("shared-db", 25.0)]


def test_customer_allocation_of_an_unknown_customer_is_404(read_only_client):
    response = read_only_client.get("/costs/customers/nobody/allocation", headers=AUTH)
    assert response.status_code == 404 and "nobody" in response.json()["detail"]


def test_customer_history_is_its_economics_as_of_each_day(read_only_client):
    body = read_only_client.get("/costs/customers/c1/history", headers=AUTH).json()
    assert body["customerId"] == "c1" and body["customerName"] == "Profitable Co" and body["days"] == 90
    assert body["asOf"] == "2026-03-31"
    assert [(d["asOf"], d["monthlyInfraCost"], d["grossMargin"], d["fullyLoadedMargin"]) for d in body["history"]] == [
        ("2026-03-30", 4000.0, 20.0, 19.0), ("2026-03-31", 1000.0, 80.0, 79.0)]
    # Each day as /costs/customers/{id}?as_of= that day answers it.
    for entry in body["history"]:
        that_day = read_only_client.get(f"/costs/customers/c1?as_of={entry['asOf']}", headers=AUTH).json()
        assert {k: that_day[k] for k in entry} == entry
    # The window ends at as_of and holds `days` days.
    assert [d["asOf"] for d in read_only_client.get("/costs/customers/c1/history?days=1&as_of=2026-03-30", headers=AUTH).json()["history"]] == [
        "2026-03-30"]
    response = read_only_client.get("/costs/customers/c1/history?as_of=2025-01-01", headers=AUTH)
    assert response.status_code == 404 and "c1" in response.json()["detail"]
