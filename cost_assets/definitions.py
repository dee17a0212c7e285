"""The one Definitions object of the project."""

from __future__ import annotations

from dagster import Definitions, EnvVar

from cost_assets.allocation.assets import cost_allocation, focus_allocated_costs
from cost_assets.analytics.assets import as_of_reports, team_daily_costs
from cost_assets.anomalies.alerts import AlertWebhook
from cost_assets.anomalies.assets import cost_anomalies, cost_anomalies_by_dimension
from cost_assets.anomalies.sensors import cost_anomaly_alert_sensor, pipeline_failure_alert_sensor
from cost_assets.forecasts.assets import cost_forecasts
from cost_assets.forecasts.sensors import forecast_margin_alert_sensor
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics, usage_metrics
from cost_assets.ingestion.schedules import daily_refresh_job, daily_refresh_schedule
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse
from cost_assets.settings import env, get_settings
from cost_assets.waste.assets import off_hours_waste


def _from_env(name: str, default: str | None = None) -> EnvVar | str | None:
    """An EnvVar when the setting is set (the Dagster UI shows its name, never its
    value, and each run reads it), else the default the settings give."""
    return EnvVar(name) if env(name) is not None else default


def resources() -> dict:
    config = get_settings()  # validates every setting when the code location loads
    timeouts = config.db_timeouts
    return {
        "warehouse": Warehouse(url=_from_env("COST_WAREHOUSE_URL", config.warehouse_url),
                               connect_timeout_s=timeouts.connect_s, statement_timeout_s=timeouts.statement_s,
                               lock_timeout_s=timeouts.lock_s),
        "product_db": ProductDatabase(url=_from_env("COST_APP_DB_URL")),
        "billing": BillingSourceResource(source=config.source),
        "alert_webhook": AlertWebhook(url=_from_env("COST_ALERT_WEBHOOK_URL")),
    }


RESOURCES = resources()

defs = Definitions(
    assets=[
        billing_costs,
        customer_snapshots,
        service_metrics,
        usage_metrics,
        cost_allocation,
        focus_allocated_costs,
        as_of_reports,
        cost_anomalies,
        cost_anomalies_by_dimension,
        team_daily_costs,
        off_hours_waste,
        cost_forecasts,
    ],
    jobs=[daily_refresh_job],
    schedules=[daily_refresh_schedule],
    sensors=[cost_anomaly_alert_sensor, pipeline_failure_alert_sensor, forecast_margin_alert_sensor],
    resources=RESOURCES,
)
