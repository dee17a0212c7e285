"""End to end: a company built here (FOCUS bill, product database with usage_metrics, rules file) whose
shared database is split by query time and whose observability is split onto services by log volume,
then to customers; every customer's cost is checked against a hand computation to the cent."""

import datetime as dt

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from cost_assets.allocation.allocation import InvalidUsageMetric
from cost_assets.allocation.assets import CONSERVATION_CHECK, cost_allocation
from cost_assets.api.app import create_app
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics, usage_metrics
from cost_assets_tests.helpers import failure_message, company_settings, materialize_days, product_database
from cost_assets_tests.ingestion.billing_files import focus_row, write_focus

DAYS = [dt.date(2026, 4, 1), dt.date(2026, 4, 2), dt.date(2026, 4, 3)]
TOKEN = "test-token-0123456789"

RULES = {"allocation": {
    "internal_environments": ["staging"],
    "rules": [
        {"name": "observability-to-services", "method": "usage_proportional", "priority": 5,
         "services": ["observability"], "targets": "services", "driver": {"metric": "log_gb"}},
        {"name": "dedicated", "method": "direct", "priority": 10},
        {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
         "driver": {"service": "shared-db", "metric": "db_time_ms"}},
        {"name": "application", "method": "usage_proportional", "priority": 30, "services": ["api", "worker"],
         "driver": "api"},
        {"name": "overhead-by-cost", "method": "usage_proportional", "priority": 90, "services": ["ci"],
         "driver": "cost"},
    ],
}}


def bill(i: int) -> list[tuple]:
    """Day i's (service, team, environment, customer tag, cost)."""
    return [("observability", "platform", "production", None, 45.0 + 3 * i),
            ("shared-db", "data", "production", None, 120.0 + 10 * i),
            ("api", "core", "production", None, 90.0),
            ("worker", "core", "production", None, 30.0),
            ("api", "core", "production", "c3", 12.0),
            ("ci", "platform", "production", None, 9.0),
            ("api", "core", "staging", None, 5.0)]


def usage(i: int) -> list[tuple]:
    """Day i's usage_metrics rows (service, customer or None for the service's own usage, metric, quantity)."""
    return [("shared-db", "c1", "db_time_ms", 7000 + 1000 * i), ("shared-db", "c2", "db_time_ms", 2000),
            ("shared-db", "c3", "db_time_ms", 1000),
            ("api", None, "log_gb", 6), ("worker", None, "log_gb", 3), ("shared-db", "", "log_gb", 1),
            ("observability", None, "log_gb", 2)]  # its own logs: never a recipient of its own cost


REQUESTS = [("shared-db", "c1", 10), ("shared-db", "c2", 60), ("shared-db", "c3", 30),  # by requests c2 would pay most
            ("api", "c1", 50), ("api", "c2", 30), ("api", "c3", 20)]

# By hand, day i (obs = 45 + 3i): observability -> api 6/10, worker 3/10, shared-db 1/10 (log_gb);
# shared-db (120 + 10i + obs/10) by db_time_ms; api + worker (120 + 9/10 obs) by api requests 50:30:20;
# c3's tagged api 12 direct; ci 9 by what each holds. Day 0 holds c1 167.40, c2 73.05, c3 56.55 (297),
# day 1 179.636..., 73.469..., 56.894... (310), day 2 191.775, 73.9533..., 57.2716... (323); plus ci.
EXPECTED = {"c1": 554.44, "c2": 226.88, "c3": 175.68}


def company(tmp_path, monkeypatch, rows=usage) -> dict:
    focus = []
    for i, day in enumerate(DAYS):
        for n, (service, team, environment, customer, cost) in enumerate(bill(i)):
            tags = {"service": service, "team": team, "environment": environment, **({"customer": customer} if customer else {})}
            focus.append(focus_row(day, cost, cost, tags=tags, resource=f"{service}-{n}"))
    app_db = product_database(
        tmp_path / "app.db", [("c1", "One", 500, "active"), ("c2", "Two", 300, "active"), ("c3", "Three", 200, "active")],
        [(day, *row) for day in DAYS for row in REQUESTS],
        [(day, *row) for i, day in enumerate(DAYS) for row in rows(i)])
    return company_settings(monkeypatch, tmp_path, "focus", write_focus(tmp_path / "focus.csv", focus), RULES, app_db)


def test_staged_split_by_query_time_and_log_volume_matches_the_hand_computation(warehouse, tmp_path, monkeypatch):
    resources = company(tmp_path, monkeypatch)
    result = materialize_days([billing_costs, customer_snapshots, service_metrics, usage_metrics, cost_allocation],
                              warehouse, DAYS[0], DAYS[-1], **resources)
    assert all(c.passed for c in result.get_asset_check_evaluations())
    assert CONSERVATION_CHECK in {c.check_name for c in result.get_asset_check_evaluations()}

    stored = warehouse.read("SELECT service, customer_id, metric, quantity FROM usage_metrics WHERE date = :d "
                            "ORDER BY service, customer_id, metric", d=DAYS[0])
    assert ("api", "", "log_gb", 6.0) in set(stored.itertuples(index=False, name=None))  # NULL: the service's own
    assert ("api", "c1", "requests", 50.0) in set(stored.itertuples(index=False, name=None))

    allocated = warehouse.read("SELECT customer_id, SUM(allocated_cost) AS cost FROM customer_cost_allocation "
                               "GROUP BY customer_id ORDER BY customer_id")
    assert {r.customer_id: round(float(r.cost), 2) for r in allocated.itertuples()} == EXPECTED

    hops = warehouse.read("SELECT * FROM allocation_hops ORDER BY date, stage, origin_service, from_service, recipient")
    hops["date"] = pd.to_datetime(hops["date"]).dt.date
    placed = warehouse.read("SELECT * FROM customer_cost_allocation")
    placed["date"] = pd.to_datetime(placed["date"]).dt.date
    unallocated = warehouse.read("SELECT date, SUM(cost) AS cost FROM unallocated_costs GROUP BY date")
    unallocated = dict(zip(pd.to_datetime(unallocated["date"]).dt.date, unallocated["cost"].astype(float)))
    for i, day in enumerate(DAYS):
        of_day = hops[hops["date"] == day]
        # Stage 1: observability's whole pool moves onto services, by log volume, nothing else moves.
        first = of_day[of_day["stage"] == 1]
        assert set(first["rule"]) == {"observability-to-services"} and set(first["driver_metric"]) == {"log_gb"}
        obs = 45.0 + 3 * i
        assert dict(zip(first["recipient"], first["cost"].astype(float).round(6))) == {
            "api": round(obs * 0.6, 6), "worker": round(obs * 0.3, 6), "shared-db": round(obs * 0.1, 6)}
        assert dict(zip(first["recipient"], first["driver_quantity"])) == {"api": 6, "worker": 3, "shared-db": 1}
        # Stage 2 (customers) plus unallocated: the day's bill, to the cent.
        customers = placed[placed["date"] == day]
        assert set(customers["stage"]) == {2}
        day_bill = sum(cost for *_, cost in bill(i))
        assert round(float(customers["allocated_cost"].sum()) + unallocated[day], 2) == day_bill
        assert unallocated[day] == 5.0  # staging: internal
        # observability's dollars reached customers through api, worker and shared-db, all of them; the
        # warehouse keeps these staged hops (a service's own dollars are its customer_cost_allocation rows).
        through = of_day[of_day["stage"] == 2]
        assert set(through["recipient_kind"]) == {"customer"} and set(through["origin_service"]) == {"observability"}
        assert round(float(through["cost"].sum()), 6) == obs
        db = customers[customers["service"] == "shared-db"]
        assert dict(zip(db["customer_id"], db["driver_quantity"])) == {"c1": 7000 + 1000 * i, "c2": 2000, "c3": 1000}
        assert set(db["driver_metric"]) == {"db_time_ms"} and set(db["rule"]) == {"database"}

    client = TestClient(create_app(warehouse.resolved_url, TOKEN), raise_server_exceptions=False)
    body = client.get(f"/costs/customers/c1/allocation?days=3&as_of={DAYS[-1]}",
                      headers={"Authorization": f"Bearer {TOKEN}"}).json()
    # The API rounds each line to the cent before adding them up.
    assert body["total"] == pytest.approx(EXPECTED["c1"], abs=0.02)
    stage_one = [h for h in body["hops"] if h["stage"] == 1]
    assert {(h["rule"], h["fromService"], h["recipient"], h["driverMetric"], h["driverQuantity"]) for h in stage_one} == {
        ("observability-to-services", "observability", "api", "log_gb", 18.0),
        ("observability-to-services", "observability", "worker", "log_gb", 9.0),
        ("observability-to-services", "observability", "shared-db", "log_gb", 3.0)}
    database = [h for h in body["hops"] if h["stage"] == 2 and h["rule"] == "database"]
    assert {(h["originService"], h["driverMetric"], h["driverQuantity"], h["recipient"]) for h in database} == {
        ("shared-db", "db_time_ms", 24000.0, "c1"), ("observability", "db_time_ms", 24000.0, "c1")}
    c1_hops = sum(h["cost"] for h in body["hops"] if h["recipientKind"] == "customer")
    assert c1_hops == pytest.approx(EXPECTED["c1"], abs=0.05)



    # A rule naming a metric the warehouse never had fails the run naming the rule; the allocation stays.
    broken = yaml.safe_load(yaml.safe_dump(RULES))
    broken["allocation"]["rules"][2]["driver"]["metric"] = "db_tme_ms"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(broken))
    failed = materialize_days([cost_allocation], warehouse, DAYS[0], DAYS[0], raise_on_error=False, **resources)
    assert not failed.success
    assert (f"allocation rule 'database' (rules file {tmp_path / 'rules.yaml'}): driver metric 'db_tme_ms' is not "
            f"in usage_metrics on any day (metrics there: db_time_ms, log_gb, requests)") in failure_message(failed)
    kept = warehouse.read("SELECT COUNT(*) AS n FROM allocation_hops WHERE date = :d", d=DAYS[0])["n"].iloc[0]
    assert kept == len(hops[hops["date"] == DAYS[0]])


def test_a_negative_usage_quantity_fails_reading_the_product_database_naming_the_row(tmp_path, monkeypatch):
    def bad(i):
        return [*usage(i), *([("shared-db", "c2", "db_time_ms", -40)] if i == 1 else [])]

    product_db = company(tmp_path, monkeypatch, rows=bad)["product_db"]
    with pytest.raises(InvalidUsageMetric, match=r"1 row\(s\) with a negative or missing \(NaN\) quantity on "
                                                 r"2026-04-02: 2026-04-02 service 'shared-db' customer 'c2' "
                                                 r"metric 'db_time_ms' quantity -40"):
        product_db.usage_metrics(DAYS[0], DAYS[-1])
    # A good day reads: 6 request rows and the 7 usage rows.
    assert len(product_db.usage_metrics(DAYS[0], DAYS[0])) == 13
