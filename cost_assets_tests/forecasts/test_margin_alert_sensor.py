"""The forecast margin alert against a real local HTTP server standing in for Slack."""

import datetime as dt

import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context

from cost_assets.anomalies.alerts import AlertCursor, AlertWebhook
from cost_assets.forecasts import sensors
from cost_assets.forecasts.assets import cost_forecasts
from cost_assets.forecasts.sensors import forecast_margin_alert_sensor
from cost_assets.resources import schema
from cost_assets_tests.anomalies.test_alert_sensors import FakeSlack
from cost_assets_tests.helpers import materialize_days

HISTORY_START = dt.date(2026, 7, 1)
JOB_START = dt.date(2026, 11, 8)  # a dedicated job starts: the loss-making customer's cost quadruples
MRR = {"c-loss": 3000.0, "c-fine": 3000.0}


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def plant(warehouse) -> None:
    """Both customers cost $60 a day ($1,800 a month on $3,000 MRR) until c-loss's job adds $190 a day."""
    days = [HISTORY_START + dt.timedelta(days=i) for i in range((dt.date(2026, 11, 30) - HISTORY_START).days + 1)]
    allocation = pd.DataFrame([
        {"date": day, "customer_id": customer, "service": "worker", "allocation_method": "direct",
         "allocated_cost": 60.0 + (190.0 if customer == "c-loss" and day >= JOB_START else 0.0), "proportion": 1.0,
         "rule": "tag"}
        for day in days for customer in MRR
    ])
    costs = allocation.groupby("date", as_index=False)["allocated_cost"].sum().rename(columns={"allocated_cost": "cost"})
    daily = pd.DataFrame({
        "date": costs["date"], "provider": "AWS", "account_id": "1", "aws_service": "EC2", "charge_category": "Usage",
        "team": "platform", "service": "worker", "customer_id": "untagged", "environment": "production",
        "usage_unit": "Hrs", "billed_cost": costs["cost"], "effective_cost": costs["cost"], "usage_quantity": 1.0,
        "is_estimated": False, "source": "test"})
    snapshots = pd.DataFrame([{"date": HISTORY_START, "id": c, "name": c, "mrr": mrr, "status": "active"}
                              for c, mrr in MRR.items()])
    with warehouse.transaction() as conn:
        for table, frame in ((schema.customer_cost_allocation, allocation), (schema.daily_costs, daily),
                             (schema.customer_snapshots, snapshots)):
            warehouse.replace_window(conn, table, frame["date"].min(), frame["date"].max(), frame)


def test_a_customer_whose_month_goes_negative_mid_month_is_posted_once(sqlite_warehouse, slack, monkeypatch):
    warehouse, instance = sqlite_warehouse, DagsterInstance.ephemeral()
    plant(warehouse)
    webhook = AlertWebhook(url=slack.url, retries=1, backoff_seconds=0.01)
    today = {"day": None}
    monkeypatch.setattr(sensors, "_utc_today", lambda: today["day"])
    cursor = None

    def run_day(first: dt.date, last: dt.date) -> None:
        nonlocal cursor
        assert materialize_days([cost_forecasts], warehouse, first, last, instance=instance).success
        today["day"] = last
        context = build_sensor_context(instance=instance, cursor=cursor,
                                       resources={"warehouse": warehouse, "alert_webhook": webhook})
        cursor = getattr(forecast_margin_alert_sensor(context), "cursor", cursor)

    run_day(dt.date(2026, 11, 1), dt.date(2026, 11, 12))
    run_day(dt.date(2026, 11, 13), dt.date(2026, 11, 13))
    assert slack.posts == []  # the job's first days: the month still forecasts a margin
    run_day(dt.date(2026, 11, 14), dt.date(2026, 11, 14))
    assert len(slack.posts) == 1
    run_day(dt.date(2026, 11, 15), dt.date(2026, 11, 16))

    margins = warehouse.read("SELECT as_of_date, forecast_margin_pct FROM cost_forecasts "
                             "WHERE scope = 'customer' AND scope_value = 'c-loss' ORDER BY as_of_date")
    negative = margins.loc[margins["forecast_margin_pct"] < 0, "as_of_date"].astype(str).tolist()
    # It crosses mid-month and stays negative on the later ticks, which must not post again.
    assert negative == ["2026-11-14", "2026-11-15", "2026-11-16"]
    assert len(slack.posts) == 1
    text = slack.posts[0]["text"]
    assert "Forecast margin of customer c-loss for November 2026" in text
    assert f"to {negative[0]}" in text and "80% interval $" in text and "against MRR $3,000.00" in text
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in slack.posts[0]["blocks"][1]["fields"]}
    row = warehouse.read(f"SELECT * FROM cost_forecasts WHERE scope_value = 'c-loss' AND as_of_date = '{negative[0]}'").iloc[0]
    assert fields["*Forecast*"] == f"${row['forecast']:,.2f}"
    assert fields["*80% interval*"] == f"${row['low']:,.2f} .. ${row['high']:,.2f}"
    assert row["forecast"] > 3000 and row["low"] <= row["forecast"] <= row["high"]
    assert AlertCursor.from_json(cursor).alerted == {"c-loss@2026-11": "2026-11-01"}

    # Re-materializing the month's days and ticking again posts nothing new.
    run_day(dt.date(2026, 11, 14), dt.date(2026, 11, 16))
    assert len(slack.posts) == 1
