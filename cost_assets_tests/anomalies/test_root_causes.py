"""Root causes: an incident planted in two accounts and two provider services, split and stored
beside cost_anomalies (SQLite and PostgreSQL), and the pure split on hand-made frames."""

import datetime as dt

import pandas as pd
import pytest

from cost_assets.anomalies.assets import cost_anomalies
from cost_assets.anomalies.root_causes import OTHER, TOP_VALUES, root_causes
from cost_assets.resources import schema
from cost_assets_tests.helpers import materialize_days

FIRST, SPIKE = dt.date(2026, 6, 1), dt.date(2026, 8, 20)
EC2, RDS = "Amazon Elastic Compute Cloud - Compute", "Amazon Relational Database Service"
A, B = "111111111111", "222222222222"
# (account, provider service, customer) -> usual daily cost, and what the spike day adds.
SLICES = {
    (A, EC2, "cust-1"): (300.0, 1200.0),
    (A, RDS, "untagged"): (200.0, 300.0),
    (B, EC2, "untagged"): (300.0, 0.0),
    (B, RDS, "cust-2"): (200.0, 500.0),
}


def bill(first: dt.date, last: dt.date) -> pd.DataFrame:
    """Service `api` at about $1,000 a day (a few tenths of a cent of noise, so cents must be rounded)
    in two accounts and two provider services; on SPIKE it costs $2,000 more: account A +$1,500
    (75%), B +$500 (25%); EC2 +$1,200 (60%), RDS +$800 (40%)."""
    rows = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        for number, ((account, aws_service, customer), (usual, added)) in enumerate(SLICES.items()):
            cost = usual + ((offset * 7 + number * 3) % 5) / 1000 + (added if day == SPIKE else 0.0)
            rows.append({"date": day, "provider": "AWS", "account_id": account, "aws_service": aws_service,
                         "charge_category": "Usage", "team": "core", "service": "api", "customer_id": customer,
                         "environment": "production", "usage_unit": "Hrs", "billed_cost": cost,
                         "effective_cost": cost, "usage_quantity": 1.0, "is_estimated": False, "source": "test"})
    return pd.DataFrame(rows)


def test_planted_incident_is_split_by_account_and_provider_service_and_adds_up(warehouse):
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.daily_costs, FIRST, SPIKE, bill(FIRST, SPIKE))

    assert materialize_days([cost_anomalies], warehouse, SPIKE, SPIKE).success

    anomaly = warehouse.read("SELECT * FROM cost_anomalies").iloc[0]
    assert anomaly["service"] == "api" and anomaly["severity"] == "critical"
    excess = anomaly["actual_cost"] - anomaly["expected_cost"]
    assert excess == pytest.approx(2000.0, abs=1.0)
    causes = warehouse.read("SELECT * FROM cost_anomaly_root_causes ORDER BY dimension, rank")
    assert set(causes["dimension"]) == {"account", "aws_service", "charge_category", "environment", "customer"}
    for dimension, rows in causes.groupby("dimension"):
        assert abs(rows["impact_usd"].sum() - excess) < 0.01, dimension
        assert list(rows["rank"]) == list(range(1, len(rows) + 1))
        assert list(rows["impact_usd"]) == sorted(rows["impact_usd"], reverse=True)
        assert all(round(v * 100) == pytest.approx(v * 100, abs=1e-6) for v in rows["impact_usd"]), "cents"

    def ranked(dimension):
        rows = causes[causes["dimension"] == dimension]
        return [(value, round(share, 3)) for value, share in zip(rows["dimension_value"], rows["share"])]

    assert ranked("account") == [(A, 0.75), (B, 0.25)]
    assert ranked("aws_service") == [(EC2, 0.6), (RDS, 0.4)]
    assert ranked("customer") == [("cust-1", 0.6), ("cust-2", 0.25), ("untagged", 0.15)]
    assert ranked("environment") == [("production", 1.0)]
    account_a = causes[(causes["dimension"] == "account") & (causes["dimension_value"] == A)].iloc[0]
    # Half of the usual cost is account A's: so is half of the expected cost.
    assert account_a["expected_cost"] == pytest.approx(anomaly["expected_cost"] / 2, abs=0.01)
    assert account_a["actual_cost"] == pytest.approx(2000.0, abs=0.05)

    # A re-run rewrites the day's root causes, it does not add to them.
    assert materialize_days([cost_anomalies], warehouse, SPIKE, SPIKE).success
    assert len(warehouse.read("SELECT * FROM cost_anomaly_root_causes")) == len(causes)


def _slices(rows):
    return pd.DataFrame([
        {"date": day, "service": "api", "account_id": account, "aws_service": "EC2", "charge_category": "Usage",
         "environment": "production", "customer_id": customer, "cost": cost}
        for day, account, customer, cost in rows])


def test_baseline_is_the_days_before_the_incident_and_the_tail_is_folded():
    start, day = dt.date(2026, 1, 10), dt.date(2026, 1, 11)
    customers = [f"c{i:02d}" for i in range(TOP_VALUES + 5)]
    before = [(start - dt.timedelta(days=n), "A", c, 10.0) for n in range(1, 4) for c in customers]
    # The incident's first day shifts the mix to account B: it must not count as baseline for its second day.
    incident = [(d, "B", c, 30.0) for d in (start, day) for c in customers]
    anomalies = pd.DataFrame([{"date": day, "service": "api", "expected_cost": 150.0, "incident_start": start}])

    causes = root_causes(anomalies, _slices(before + incident), baseline_days=14)

    accounts = causes[causes["dimension"] == "account"]
    assert list(zip(accounts["dimension_value"], accounts["impact_usd"])) == [("B", 450.0), ("A", -150.0)]
    by_customer = causes[causes["dimension"] == "customer"]
    assert len(by_customer) == TOP_VALUES + 1 and by_customer["dimension_value"].iloc[0] == OTHER
    assert by_customer["impact_usd"].iloc[0] == pytest.approx(5 * 20.0)
    assert by_customer["impact_usd"].sum() == pytest.approx(300.0)


def test_a_new_service_is_all_excess():
    day = dt.date(2026, 1, 11)
    new = pd.DataFrame([{"date": day, "service": "api", "expected_cost": 0.0, "incident_start": day}])
    causes = root_causes(new, _slices([(day, "A", "c1", 70.0), (day, "B", "c1", 30.0)]), baseline_days=14)
    accounts = causes[causes["dimension"] == "account"]
    assert list(zip(accounts["dimension_value"], accounts["share"])) == [("A", 0.7), ("B", 0.3)]
