"""Alert sensors against a real local HTTP server standing in for Slack."""

import datetime as dt
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from dagster import DagsterInstance, build_run_status_sensor_context, build_sensor_context, asset, materialize, DagsterEventType

from cost_assets.anomalies import sensors
from cost_assets.anomalies.alerts import AlertCursor, AlertWebhook, slack_payload
from cost_assets.anomalies.assets import cost_anomalies
from cost_assets.anomalies.sensors import cost_anomaly_alert_sensor, pipeline_failure_alert_sensor
from cost_assets.ingestion.assets import billing_costs
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.helpers import materialize_days

SPIKE = dt.date(2026, 11, 10)


class FakeSlack:
    """Records posted JSON; answers with the queued statuses, then 200."""

    def __init__(self):
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.posts.append(json.loads(body))
                status = fake.statuses.pop(0) if fake.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/SECRETTOKEN"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def run_spike_pipeline(warehouse):
    """The demo through cost_anomalies from 2026-08-01 up to two days into the Lambda spike (103 days)."""
    instance = DagsterInstance.ephemeral()
    materialize_days([billing_costs, cost_anomalies], warehouse, dt.date(2026, 8, 1), SPIKE + dt.timedelta(days=1),
                     instance=instance)
    return instance, warehouse


@pytest.fixture(scope="module")
def shared_spike_pipeline(tmp_path_factory):
    return run_spike_pipeline(Warehouse(url=f"sqlite:///{tmp_path_factory.mktemp('spike') / 'warehouse.db'}"))


@pytest.fixture
def spike_pipeline(shared_spike_pipeline, monkeypatch):
    """The spike pipeline, seen from its last day, built once for the tests that only tick the sensor
    (a tick reads the instance and the warehouse and writes neither; its cursor is returned)."""
    monkeypatch.setattr(sensors, "_utc_today", lambda: SPIKE + dt.timedelta(days=1))
    return shared_spike_pipeline


@pytest.fixture
def own_spike_pipeline(sqlite_warehouse, monkeypatch):
    """The spike pipeline for a test that adds runs to it."""
    monkeypatch.setattr(sensors, "_utc_today", lambda: SPIKE + dt.timedelta(days=1))
    return run_spike_pipeline(sqlite_warehouse)


def tick(instance, warehouse, webhook, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"warehouse": warehouse, "alert_webhook": webhook})
    result = cost_anomaly_alert_sensor(context)
    return getattr(result, "cursor", cursor)


def webhook(slack: FakeSlack) -> AlertWebhook:
    return AlertWebhook(url=slack.url, retries=3, backoff_seconds=0.01)


def dollars(text: str) -> float:
    return float(text.strip("$").replace(",", ""))


def test_a_new_incident_is_posted_once_with_slack_payload_and_root_cause(own_spike_pipeline, slack):
    instance, warehouse = own_spike_pipeline
    cursor = tick(instance, warehouse, webhook(slack))
    assert len(slack.posts) == 1
    payload = slack.posts[0]
    assert payload["text"].startswith(":rotating_light: CRITICAL cost anomaly: notifications on 2026-11-11")
    assert "Actual $" in payload["text"] and "vs expected $" in payload["text"] and "impact $" in payload["text"]
    assert "http://127.0.0.1:3000/assets/cost_anomalies?partition=2026-11-11" in payload["text"]
    assert "times a usual Wednesday (recent level times the weekday pattern)" in payload["blocks"][0]["text"]["text"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][1]["fields"]}
    assert fields["*Service*"] == "notifications"
    assert fields["*Incident*"] == "notifications:2026-11-10"
    assert float(fields["*Actual*"].strip("$").replace(",", "")) > 3000
    assert AlertCursor.from_json(cursor).alerted == {"notifications:2026-11-10": "2026-11-10"}
    # The root cause: all of the excess is the production account's Lambda, named with its dollars and share.
    impact = dollars(fields["*Impact*"])
    stored = warehouse.read("SELECT * FROM cost_anomalies WHERE date = '2026-11-11'").iloc[0]
    assert impact == round(stored["actual_cost"] - stored["expected_cost"], 2) and impact > 3000
    cause = payload["blocks"][2]["text"]["text"]
    assert cause.startswith("*Root cause* (share of the impact)")
    lines = dict(line.removeprefix("• ").split(": ", 1) for line in cause.split("\n")[1:])
    assert lines["Account"] == f"111111111111 ${impact:,.2f} (100%)"
    assert lines["Provider service"] == f"AWS Lambda ${impact:,.2f} (100%)"
    assert lines["Environment"] == f"production ${impact:,.2f} (100%)"
    assert f"Root cause: Account: 111111111111 ${impact:,.2f} (100%); Provider service: AWS Lambda" in payload["text"]

    # Re-materializing the incident's days, or a later tick, posts nothing new.
    materialize_days([cost_anomalies], warehouse, SPIKE, SPIKE + dt.timedelta(days=1), instance=instance)
    cursor = tick(instance, warehouse, webhook(slack), cursor)
    cursor = tick(instance, warehouse, webhook(slack), cursor)
    assert len(slack.posts) == 1


def dollars(text: str) -> float:
    return float(text.strip("$").replace(",", ""))


RAMP = dt.date(2026, 8, 20)


def ramp_bill() -> pd.DataFrame:
    """Service `api` at ~$1,000 a day; +10% from RAMP (a drift warning), $3,000 from two days later (critical)."""
    rows = []
    for offset in range(85):
        day = dt.date(2026, 6, 1) + dt.timedelta(days=offset)
        cost = 3000.0 if day >= RAMP + dt.timedelta(days=2) else (1000 + offset * 7 % 5) * (1.1 if day >= RAMP else 1)
        rows.append({"date": day, "provider": "AWS", "account_id": "111111111111", "aws_service": "Amazon EC2",
                     "charge_category": "Usage", "team": "core", "service": "api", "customer_id": "untagged",
                     "environment": "production", "usage_unit": "Hrs", "billed_cost": cost, "effective_cost": cost,
                     "usage_quantity": 1.0, "is_estimated": False, "source": "test"})
    return pd.DataFrame(rows)


def plant_ramp(warehouse) -> DagsterInstance:
    bill = ramp_bill()
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.daily_costs, bill["date"].min(), bill["date"].max(), bill)
    return DagsterInstance.ephemeral()


def test_a_drift_warning_that_becomes_critical_is_posted_twice(sqlite_warehouse, slack, monkeypatch):
    instance, cursor = plant_ramp(sqlite_warehouse), None
    # The two warning days, then the first critical one, then it and the next again; two ticks each time.
    for first, last in [(RAMP, RAMP + dt.timedelta(days=1)), (RAMP + dt.timedelta(days=2), RAMP + dt.timedelta(days=2)),
                        (RAMP + dt.timedelta(days=2), RAMP + dt.timedelta(days=3))]:
        monkeypatch.setattr(sensors, "_utc_today", lambda last=last: last)
        materialize_days([cost_anomalies], sqlite_warehouse, first, last, instance=instance)
        for _ in range(2):
            cursor = tick(instance, sqlite_warehouse, webhook(slack), cursor)

    found = sqlite_warehouse.read("SELECT date, severity, detector FROM cost_anomalies ORDER BY date")
    assert list(zip(found["severity"], found["detector"])) == [
        ("warning", "drift"), ("warning", "drift"), ("critical", "seasonal"), ("critical", "seasonal")]
    assert len(slack.posts) == 2
    assert slack.posts[0]["text"].startswith(":warning: WARNING cost anomaly: api on 2026-08-21")
    assert slack.posts[1]["text"].startswith(
        ":rotating_light: Cost anomaly escalated to critical (from warning): api on 2026-08-22")
    assert "Incident api:2026-08-20 since 2026-08-20" in slack.posts[1]["text"]
    restored = AlertCursor.from_json(cursor)
    assert restored.alerted == {"api:2026-08-20": "2026-08-20"} and restored.severities == {"api:2026-08-20": "critical"}


def test_incidents_in_a_cursor_of_the_previous_format_are_not_posted_again(sqlite_warehouse, slack, monkeypatch):
    """The cursor before escalation kept no severity: its incidents were posted once, whatever their severity."""
    instance = plant_ramp(sqlite_warehouse)
    monkeypatch.setattr(sensors, "_utc_today", lambda: RAMP + dt.timedelta(days=2))
    materialize_days([cost_anomalies], sqlite_warehouse, RAMP, RAMP + dt.timedelta(days=2), instance=instance)
    previous_format = json.dumps({"after_storage_id": None, "alerted": {"api:2026-08-20": "2026-08-20"}})
    cursor = tick(instance, sqlite_warehouse, webhook(slack), previous_format)
    assert slack.posts == []
    assert AlertCursor.from_json(cursor).alerted == {"api:2026-08-20": "2026-08-20"}
    # A new cursor would have posted the critical day.
    tick(instance, sqlite_warehouse, webhook(slack))
    assert len(slack.posts) == 1 and "CRITICAL cost anomaly: api on 2026-08-22" in slack.posts[0]["text"]


def test_backfilling_old_history_does_not_alert(spike_pipeline, slack, monkeypatch):
    # The same 103 days, the critical spike on the last of them, seen two weeks later.
    instance, warehouse = spike_pipeline
    monkeypatch.setattr(sensors, "_utc_today", lambda: dt.date(2026, 11, 26))
    assert warehouse.read("SELECT COUNT(*) AS n FROM cost_anomalies WHERE severity = 'critical'")["n"].iloc[0] > 0
    cursor = tick(instance, warehouse, webhook(slack))
    assert slack.posts == []
    assert AlertCursor.from_json(cursor).after_storage_id is not None


def test_5xx_is_retried_and_then_delivered(spike_pipeline, slack):
    instance, warehouse = spike_pipeline
    slack.statuses = [503, 502]
    cursor = tick(instance, warehouse, webhook(slack))
    assert len(slack.posts) == 3
    assert "notifications:2026-11-10" in AlertCursor.from_json(cursor).alerted


def test_5xx_after_all_retries_is_tried_again_next_tick(spike_pipeline, slack):
    instance, warehouse = spike_pipeline
    slack.statuses = [500] * 4
    cursor = tick(instance, warehouse, webhook(slack))
    assert len(slack.posts) == 4 and AlertCursor.from_json(cursor).alerted == {}
    cursor = tick(instance, warehouse, webhook(slack), cursor)
    assert len(slack.posts) == 5
    assert "notifications:2026-11-10" in AlertCursor.from_json(cursor).alerted


def logged(caplog, capfd) -> str:
    """What the sensor logged, through Python logging or Dagster's console handler."""
    return caplog.text + "".join(capfd.readouterr())


def test_4xx_is_logged_without_the_url_and_does_not_crash(spike_pipeline, slack, caplog, capfd):
    instance, warehouse = spike_pipeline
    slack.statuses = [400]
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        cursor = tick(instance, warehouse, webhook(slack))
    text = logged(caplog, capfd)
    assert len(slack.posts) == 1  # a 4xx is not retried
    assert "HTTP 400" in text
    assert "SECRETTOKEN" not in text and slack.url not in text
    assert "notifications:2026-11-10" in AlertCursor.from_json(cursor).alerted


def test_without_a_webhook_alerts_are_only_logged(spike_pipeline, monkeypatch, caplog, capfd):
    instance, warehouse = spike_pipeline
    monkeypatch.delenv("COST_ALERT_WEBHOOK_URL", raising=False)
    with caplog.at_level(logging.INFO):
        tick(instance, warehouse, AlertWebhook())
    text = logged(caplog, capfd)
    assert "COST_ALERT_WEBHOOK_URL unset, not posted" in text
    assert "notifications on 2026-11-11" in text


def test_cursor_round_trips():
    cursor = AlertCursor(after_storage_id=42, alerted={"api:2026-01-01": "2026-01-01", "cdn:2025-01-01": "2025-01-01"})
    restored = AlertCursor.from_json(cursor.to_json())
    assert restored == cursor
    restored.forget_before(dt.date(2025, 6, 1))
    assert restored.alerted == {"api:2026-01-01": "2026-01-01"}


def test_failed_runs_are_posted_to_the_same_channel(slack):
    @asset
    def broken_asset():
        raise RuntimeError("warehouse exploded")

    instance = DagsterInstance.ephemeral()
    result = materialize([broken_asset], instance=instance, raise_on_error=False)
    failure = next(e for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="pipeline_failure_alerts", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=failure.dagster_event, resources={"alert_webhook": webhook(slack)},
    ).for_run_failure()
    pipeline_failure_alert_sensor(context)
    assert len(slack.posts) == 1
    assert slack.posts[0]["text"].startswith(":x: Cost pipeline run failed: __ephemeral_asset_job__")
    assert f"/runs/{result.run_id}" in slack.posts[0]["text"]


@pytest.mark.parametrize("detector, why", [
    ("seasonal", "+25% above a usual Monday (recent level times the weekday pattern), 5.0 robust standard deviations out."),
    ("drift", "Sustained rise: the last days run above the level of the weeks before, and this day is +25% above that "
              "level."),
    ("new_service", "New service: no cost history to compare with, and over the new-service daily threshold."),
])
def test_the_payload_says_why_in_the_words_of_the_detector(detector, why):
    anomaly = {"date": dt.date(2026, 11, 9), "service": "api", "severity": "warning", "detector": detector,
               "actual_cost": 1250.0, "expected_cost": 1000.0, "impact_usd": 250.0, "score": 5.0,
               "is_provisional": False, "incident_id": "api:2026-11-09", "incident_start": dt.date(2026, 11, 9),
               "incident_impact_usd": 250.0}
    if detector == "new_service":
        anomaly.update(expected_cost=0.0, impact_usd=1250.0)
    payload = slack_payload(anomaly, "http://ui")
    assert why in payload["text"]
    assert payload["blocks"][0]["text"]["text"].endswith(why)
