"""Alert sensors: anomalies from cost_anomalies materializations, and failed runs."""

import datetime as dt

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from cost_assets.anomalies import queries
from cost_assets.anomalies.alerts import (
    CURSOR_RETENTION_DAYS,
    AlertCursor,
    AlertWebhook,
    Delivery,
    new_materializations,
    recent_days,
    recent_partition_days,
    run_failure_payload,
    select_alerts,
    slack_payload,
    ui_url,
)
from cost_assets.resources.warehouse import Warehouse

ANOMALIES_KEY = AssetKey("cost_anomalies")


def root_causes_by_anomaly(warehouse: Warehouse, days: list[dt.date]) -> dict[tuple, list[dict]]:
    """(date, service) -> the anomaly's stored root causes."""
    if not days:
        return {}
    causes = queries.root_causes_on(warehouse, days)
    return {key: rows.to_dict("records") for key, rows in causes.groupby(["date", "service"])}


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@sensor(name="cost_anomaly_alerts", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Posts new anomaly incidents of recent days, with their root causes, to COST_ALERT_WEBHOOK_URL: "
                    "once per incident, and once more when a warning escalates to critical.")
def cost_anomaly_alert_sensor(context: SensorEvaluationContext, warehouse: Warehouse, alert_webhook: AlertWebhook):
    cursor = AlertCursor.from_json(context.cursor)
    records = new_materializations(context, ANOMALIES_KEY, cursor)
    if not records:
        return SkipReason("no new cost_anomalies materializations")
    today = _utc_today()
    days = recent_partition_days(records, today)
    alerts = select_alerts(queries.anomalies_on(warehouse, days), cursor, today, recent_days()) if days else []
    alerts = [] if len(alerts) == 0 else alerts.to_dict("records")
    causes = root_causes_by_anomaly(warehouse, sorted({alert["date"] for alert in alerts}))
    failed = 0
    for alert in alerts:
        payload = slack_payload(alert, ui_url(), causes.get((alert["date"], alert["service"]), []))
        delivery = alert_webhook.post(payload, context.log)
        if delivery is Delivery.FAILED:
            failed += 1
        else:
            cursor.record(alert["incident_id"], alert["incident_start"], alert["severity"])
    if not failed:  # otherwise read the same materializations again next tick
        cursor.after_storage_id = records[-1].storage_id
    cursor.forget_before(today - dt.timedelta(days=CURSOR_RETENTION_DAYS))
    return SensorResult(cursor=cursor.to_json())


@run_failure_sensor(name="pipeline_failure_alerts", default_status=DefaultSensorStatus.RUNNING,
                    description="Posts failed pipeline runs to the same alert channel.")
def pipeline_failure_alert_sensor(context: RunFailureSensorContext, alert_webhook: AlertWebhook):
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    alert_webhook.post(run_failure_payload(run.job_name, run.run_id, message, ui_url()), context.log)
