"""The anomaly assets on a small hand-built bill, on SQLite and PostgreSQL."""

import datetime as dt

import pandas as pd

from cost_assets.anomalies.assets import cost_anomalies, cost_anomalies_by_dimension
from cost_assets.resources import schema
from cost_assets_tests.helpers import materialize_days

FIRST = dt.date(2026, 6, 1)
RISE = dt.date(2026, 8, 20)
# Team "core" runs three services in account A; team "data" one in account B.
SERVICES = {"api": ("core", "111111111111"), "worker": ("core", "111111111111"), "search": ("core", "111111111111"),
            "etl": ("data", "222222222222")}


def bill(first: dt.date, last: dt.date) -> pd.DataFrame:
    """$100 a day per service (a few cents of noise); from RISE each core service costs $30 more:
    +30% each but under the $50 minimum, while the team and its account rise $90."""
    rows = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        for number, (service, (team, account)) in enumerate(SERVICES.items()):
            cost = 100.0 + ((offset * 7 + number * 3) % 5) / 10
            if team == "core" and day >= RISE:
                cost += 30.0
            rows.append({"date": day, "provider": "AWS", "account_id": account, "aws_service": "Amazon EC2",
                         "charge_category": "Usage", "team": team, "service": service, "customer_id": "untagged",
                         "environment": "production", "usage_unit": "Hrs", "billed_cost": cost, "effective_cost": cost,
                         "usage_quantity": 1.0, "is_estimated": False, "source": "demo"})
    return pd.DataFrame(rows)


def test_team_and_account_rise_too_small_for_any_service_is_flagged(warehouse):
    last = RISE + dt.timedelta(days=1)
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.daily_costs, FIRST, last, bill(FIRST, last))

    assert materialize_days([cost_anomalies, cost_anomalies_by_dimension], warehouse, RISE, last).success

    assert warehouse.read("SELECT COUNT(*) AS n FROM cost_anomalies")["n"].iloc[0] == 0
    found = warehouse.read("SELECT * FROM cost_anomalies_by_dimension ORDER BY dimension, date")
    found["date"] = pd.to_datetime(found["date"]).dt.date
    assert set(zip(found["dimension"], found["dimension_value"])) == {("account", "111111111111"), ("team", "core")}
    first_day = found[found["date"] == RISE].set_index("dimension")
    assert first_day.loc["team", "actual_cost"] > 389 and abs(first_day.loc["team", "expected_cost"] - 300.6) < 1
    assert first_day.loc["team", "incident_id"] == "team/core:2026-08-20"
    assert first_day.loc["account", "incident_id"] == "account/111111111111:2026-08-20"
    # The incident runs on through the next day and is re-written, not duplicated, on a re-run.
    assert materialize_days([cost_anomalies_by_dimension], warehouse, RISE, last).success
    again = warehouse.read("SELECT incident_id, COUNT(*) AS days FROM cost_anomalies_by_dimension GROUP BY incident_id")
    assert sorted(again["days"]) == [2, 2]


def test_lower_minimums_from_the_environment_flag_the_small_service_rises(warehouse, monkeypatch):
    last = RISE
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.daily_costs, FIRST, last, bill(FIRST, last))
    monkeypatch.setenv("COST_ANOMALY_MIN_IMPACT_USD", "20")

    result = materialize_days([cost_anomalies], warehouse, RISE, last)

    assert result.success
    found = warehouse.read("SELECT service FROM cost_anomalies")
    assert sorted(found["service"]) == ["api", "search", "worker"]
    metadata = result.asset_materializations_for_node("cost_anomalies")[0].metadata
    assert metadata["thresholds"].value.startswith("flag at >= $20 and >= 20% above expected")
