"""Anomaly alerts: which anomalies to post, the Slack payload, and the webhook.

Pure selection and payload functions; the sensors in sensors.py wire them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

import pandas as pd
import requests
from dagster import AssetKey, AssetRecordsFilter, ConfigurableResource, SensorEvaluationContext
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cost_assets import settings

# Materializations an alert sensor reads per tick.
EVENTS_PER_TICK = 1000
# Incidents are remembered in the sensor cursor this long, then forgotten.
CURSOR_RETENTION_DAYS = 120
RETRYABLE_STATUSES = (500, 502, 503, 504)


def new_materializations(context: SensorEvaluationContext, asset_key: AssetKey, cursor: "AlertCursor") -> list:
    """The asset's materializations after the cursor's, oldest first."""
    return context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, after_storage_id=cursor.after_storage_id),
        limit=EVENTS_PER_TICK, ascending=True,
    ).records


def recent_partition_days(records: list, today: dt.date) -> list[dt.date]:
    """The days the materializations wrote, among the last COST_ALERT_RECENT_DAYS: only these
    alert, so a backfill of history does not flood the channel."""
    days = sorted({dt.date.fromisoformat(r.partition_key) for r in records if r.partition_key})
    return [d for d in days if d >= today - dt.timedelta(days=recent_days())]


def recent_days() -> int:
    return settings.get_settings().alert_recent_days


def ui_url() -> str:
    return settings.get_settings().dagster_ui_url


# Severities in rising order: an incident is posted again when it rises.
SEVERITY_RANK = {"warning": 1, "critical": 2}
# Root causes named per dimension in a post.
CAUSES_PER_DIMENSION = 2
CAUSE_LABELS = {"account": "Account", "aws_service": "Provider service", "charge_category": "Charge category",
                "environment": "Environment", "customer": "Customer"}


@dataclass
class AlertCursor:
    """The alert sensor's cursor: the last materialization seen and the incidents already posted,
    with the highest severity posted for each.

    A cursor of the release before escalation has no `severities`: its incidents count as
    posted at critical, so none of them is posted again.
    """

    after_storage_id: Optional[int] = None
    alerted: dict[str, str] = field(default_factory=dict)  # incident_id -> incident start day
    severities: dict[str, str] = field(default_factory=dict)  # incident_id -> highest severity posted

    def to_json(self) -> str:
        return json.dumps({"after_storage_id": self.after_storage_id, "alerted": self.alerted,
                           "severities": self.severities}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: Optional[str]) -> "AlertCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(after_storage_id=data.get("after_storage_id"), alerted=dict(data.get("alerted", {})),
                   severities=dict(data.get("severities", {})))

    def posted_severity(self, incident_id: str) -> Optional[str]:
        """None when not posted yet."""
        return self.severities.get(incident_id, "critical") if incident_id in self.alerted else None

    def record(self, incident_id: str, start: dt.date, severity: str) -> None:
        """The incident was posted at `severity` (or the post will never go through)."""
        posted = self.posted_severity(incident_id)
        self.alerted[incident_id] = start.isoformat()
        if posted is None or SEVERITY_RANK[severity] > SEVERITY_RANK[posted]:
            self.severities[incident_id] = severity

    def forget_before(self, day: dt.date) -> None:
        self.alerted = {k: v for k, v in self.alerted.items() if dt.date.fromisoformat(v) >= day}
        self.severities = {k: v for k, v in self.severities.items() if k in self.alerted}


def select_alerts(anomalies: pd.DataFrame, cursor: AlertCursor, today: dt.date, recent: int) -> pd.DataFrame:
    """One row per incident to post, among recent anomalies: its latest day.

    A new incident alerts whatever its severity; a posted one alerts again only when
    its latest day's severity is above the highest posted (warning -> critical), with
    `escalated_from` set to that one. So an incident is posted at most once per severity,
    however often its partitions are re-materialized.
    """
    if anomalies.empty:
        return anomalies.assign(escalated_from=pd.Series(dtype=object))
    recent_rows = anomalies[anomalies["date"] >= today - dt.timedelta(days=recent)]
    latest = recent_rows.sort_values(["incident_id", "date"]).groupby("incident_id").tail(1)
    posted = latest["incident_id"].map(cursor.posted_severity)
    rises = latest["severity"].map(SEVERITY_RANK) > posted.map(SEVERITY_RANK).fillna(0)
    latest = latest.assign(escalated_from=posted.where(posted.notna(), None))[rises]
    return latest.sort_values(["severity", "impact_usd"], ascending=[True, False])  # critical first


def _usd(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"${value:,.2f}"


def explanation(anomaly: dict, day: dt.date) -> str:
    """Why the day was flagged, in the words of the detector that flagged it."""
    if anomaly.get("detector") == "new_service":
        return "New service: no cost history to compare with, and over the new-service daily threshold."
    expected = anomaly["expected_cost"]
    ratio = anomaly["actual_cost"] / expected if expected and expected > 0 else float("inf")
    # "+25%" reads well for small rises, "88.9 times" for spikes.
    rise = f"{ratio - 1:+,.0%} above" if ratio < 2 else f"{ratio:,.1f} times"
    if anomaly.get("detector") == "drift":
        return (f"Sustained rise: the last days run above the level of the weeks before, "
                f"and this day is {rise} that level.")
    return (f"{rise} a usual {day:%A} (recent level times the weekday pattern), "
            f"{anomaly['score']:,.1f} robust standard deviations out.")


def _share(value) -> str:
    return "" if value is None or pd.isna(value) else f" ({value:.0%})"


def root_cause_lines(causes: list[dict]) -> list[str]:
    """Per dimension, the values that raised the cost most: 'Account: 111111111111 $11,868.07 (100%)'."""
    lines = []
    for dimension, label in CAUSE_LABELS.items():
        top = sorted((c for c in causes if c["dimension"] == dimension and c["impact_usd"] > 0),
                     key=lambda c: c["rank"])[:CAUSES_PER_DIMENSION]
        if top:
            named = ", ".join(f"{c['dimension_value']} {_usd(c['impact_usd'])}{_share(c['share'])}" for c in top)
            lines.append(f"{label}: {named}")
    return lines


def slack_payload(anomaly: dict, base_url: str, root_causes: Optional[list[dict]] = None) -> dict:
    """Slack incoming-webhook JSON for one anomaly, with its root causes (cost_anomaly_root_causes rows).

    An anomaly with `escalated_from` set is an incident posted before at that severity:
    the post says it escalated.
    """
    date = anomaly["date"] if isinstance(anomaly["date"], dt.date) else dt.date.fromisoformat(str(anomaly["date"]))
    day = date.isoformat()
    why = explanation(anomaly, date)
    link = f"{base_url}/assets/cost_anomalies?partition={day}"
    icon = ":rotating_light:" if anomaly["severity"] == "critical" else ":warning:"
    provisional = " (provisional: the day is still estimated)" if anomaly.get("is_provisional") else ""
    escalated_from = anomaly.get("escalated_from")
    if isinstance(escalated_from, str):
        headline = (f"{icon} Cost anomaly escalated to {anomaly['severity']} (from {escalated_from}): "
                    f"{anomaly['service']} on {day}{provisional}")
    else:
        headline = (
            f"{icon} {anomaly['severity'].upper()} cost anomaly: {anomaly['service']} on {day}{provisional}"
        )
    details = (
        f"Actual {_usd(anomaly['actual_cost'])} vs expected {_usd(anomaly['expected_cost'])} "
        f"(impact {_usd(anomaly['impact_usd'])}, score {anomaly['score']:.1f}). "
        f"Incident {anomaly['incident_id']} since {anomaly['incident_start']}, "
        f"running impact {_usd(anomaly['incident_impact_usd'])}."
    )
    causes = root_cause_lines(root_causes or [])
    cause_text = f" Root cause: {'; '.join(causes)}." if causes else ""
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{why}"}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Service*\n{anomaly['service']}"},
                {"type": "mrkdwn", "text": f"*Day*\n{day}"},
                {"type": "mrkdwn", "text": f"*Actual*\n{_usd(anomaly['actual_cost'])}"},
                {"type": "mrkdwn", "text": f"*Expected*\n{_usd(anomaly['expected_cost'])}"},
                {"type": "mrkdwn", "text": f"*Impact*\n{_usd(anomaly['impact_usd'])}"},
                {"type": "mrkdwn", "text": f"*Incident*\n{anomaly['incident_id']}"},
            ],
        },
    ]
    if causes:
        bullets = "\n".join(f"• {line}" for line in causes)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Root cause* (share of the impact)\n{bullets}"}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open cost_anomalies in Dagster>"}})
    return {"text": f"{headline}. {why} {details}{cause_text} {link}", "blocks": blocks}


def run_failure_payload(job_name: str, run_id: str, message: str, base_url: str) -> dict:
    link = f"{base_url}/runs/{run_id}"
    return {"text": f":x: Cost pipeline run failed: {job_name} ({run_id[:8]}): {message[:500]} {link}"}


class Delivery(Enum):
    SENT = "sent"
    LOGGED_ONLY = "logged_only"  # no webhook configured
    REJECTED = "rejected"  # 4xx: the payload or the webhook is wrong; retrying will not help
    FAILED = "failed"  # 5xx after retries, or unreachable: try again next tick


class AlertWebhook(ConfigurableResource):
    """Slack-compatible incoming webhook; `url` defaults to COST_ALERT_WEBHOOK_URL.

    The URL is a secret: it is never logged, and errors are reported by status only.
    """

    url: Optional[str] = None
    retries: int = 3
    backoff_seconds: float = 0.2
    timeout_seconds: float = 10.0

    def _session(self) -> requests.Session:
        retry = Retry(
            total=self.retries,
            status_forcelist=RETRYABLE_STATUSES,
            allowed_methods=frozenset({"POST"}),
            backoff_factor=self.backoff_seconds,
            raise_on_status=False,
        )
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        return session

    def post(self, payload: dict, log: logging.Logger) -> Delivery:
        url = self.url or settings.get_settings().alert_webhook_url
        if not url:
            log.info("alert (COST_ALERT_WEBHOOK_URL unset, not posted): %s", payload["text"])
            return Delivery.LOGGED_ONLY
        try:
            with self._session() as session:
                response = session.post(url, json=payload, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            log.warning("alert webhook unreachable (%s); will retry next tick", type(exc).__name__)
            return Delivery.FAILED
        if response.status_code < 300:
            return Delivery.SENT
        if response.status_code < 500:
            log.warning("alert webhook refused the alert with HTTP %s; not retried", response.status_code)
            return Delivery.REJECTED
        log.warning("alert webhook answered HTTP %s after retries; will retry next tick", response.status_code)
        return Delivery.FAILED
