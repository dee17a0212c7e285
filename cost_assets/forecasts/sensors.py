"""Margin alert sensor: customers whose forecast month-end margin falls below
COST_FORECAST_MARGIN_ALERT_PCT, posted once per customer and month."""

import datetime as dt

from dagster import AssetKey, DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from cost_assets.anomalies.alerts import (
    CURSOR_RETENTION_DAYS,
    AlertCursor,
    AlertWebhook,
    Delivery,
    new_materializations,
    recent_partition_days,
    ui_url,
)
from cost_assets.forecasts import queries
from cost_assets.forecasts.alerts import alert_key, margin_payload, select_margin_alerts
from cost_assets.resources.warehouse import Warehouse
from cost_assets.settings import get_settings

FORECASTS_KEY = AssetKey("cost_forecasts")


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@sensor(name="forecast_margin_alerts", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Posts customers whose forecast month-end margin is below COST_FORECAST_MARGIN_ALERT_PCT to "
                    "COST_ALERT_WEBHOOK_URL, once per customer and month.")
def forecast_margin_alert_sensor(context: SensorEvaluationContext, warehouse: Warehouse, alert_webhook: AlertWebhook):
    cursor = AlertCursor.from_json(context.cursor)
    records = new_materializations(context, FORECASTS_KEY, cursor)
    if not records:
        return SkipReason("no new cost_forecasts materializations")
    today = _utc_today()
    days = recent_partition_days(records, today)  # a backfill of past months does not post
    threshold = get_settings().forecast_margin_alert_pct
    alerts = []
    if days:
        with warehouse.reader() as conn:
            alerts = select_margin_alerts(queries.forecasts_on(conn, days, "customer"), cursor, threshold).to_dict("records")
    failed = 0
    for alert in alerts:
        delivery = alert_webhook.post(margin_payload(alert, threshold, ui_url()), context.log)
        if delivery is Delivery.FAILED:
            failed += 1
        else:
            cursor.alerted[alert_key(alert["scope_value"], alert["month_start"])] = alert["month_start"].isoformat()
    if not failed:  # otherwise read the same materializations again next tick
        cursor.after_storage_id = records[-1].storage_id
    cursor.forget_before(today - dt.timedelta(days=CURSOR_RETENTION_DAYS))
    return SensorResult(cursor=cursor.to_json())
