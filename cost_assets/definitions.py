"""The one Definitions object of the project."""

from __future__ import annotations

from dagster import Definitions

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import as_of_reports
from cost_assets.anomalies.alerts import AlertWebhook
from cost_assets.api.summaries import team_daily_costs
from cost_assets.anomalies.assets import cost_anomalies, cost_anomalies_by_dimension
from cost_assets.anomalies.sensors import cost_anomaly_alert_sensor, pipeline_failure_alert_sensor
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.ingestion.schedules import daily_refresh_job, daily_refresh_schedule
from cost_assets.resources.billing import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse
from cost_assets.waste.assets import off_hours_waste

RESOURCES = {
    "warehouse": Warehouse(),
    "product_db": ProductDatabase(),
    "billing": BillingSourceResource(),
    "alert_webhook": AlertWebhook(),
}

defs = Definitions(
    assets=[
        billing_costs,
        customer_snapshots,
        service_metrics,
        cost_allocation,
        as_of_reports,
        cost_anomalies,
        cost_anomalies_by_dimension,
        team_daily_costs,
        off_hours_waste,
    ],
    jobs=[daily_refresh_job],
    schedules=[daily_refresh_schedule],
    sensors=[cost_anomaly_alert_sensor, pipeline_failure_alert_sensor],
    resources=RESOURCES,
)
