"""Usage metrics and staged allocation: usage_metrics, allocation_hops, and the driver columns of
customer_cost_allocation (docs/reference.md#usage-metrics-and-staged-allocation).

Revision ID: 0005_usage_metrics
Revises: 0004_cost_forecasts
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Date, Float, Integer, MetaData, Numeric, String, Table

revision = "0005_usage_metrics"
down_revision = "0004_cost_forecasts"
branch_labels = None
depends_on = None
# sha256 of the views' CREATE statements at this revision (migrations.views_fingerprint()): unchanged.
views_fingerprint = "854591990d647b49d75c66e49751b69231dc8fc3126b25324362be5449de738f"

Money = Numeric(20, 6, asdecimal=False)


def _driver_columns() -> list[Column]:
    """Frozen copy of schema.ALLOCATION_DRIVER_COLUMNS at this revision."""
    return [
        Column("stage", Integer, nullable=True, comment="Allocation stage of the hop: 1..n split services onto services, the last places cost on customers"),
        Column("driver_service", String(128), nullable=True, comment="Service whose usage drove the split (usage_proportional); null for direct, even, fixed and driver cost"),
        Column("driver_metric", String(128), nullable=True, comment="Driver metric: a usage_metrics metric (requests, db_time_ms, ...), cost, active_customers (even) or percent (fixed); null for direct"),
        Column("driver_quantity", Float, nullable=True, comment="The recipient's driver quantity that day (metric units; USD for cost; percent for fixed)"),
    ]


def _tables(metadata: MetaData) -> list[Table]:
    usage_metrics = Table(
        "usage_metrics",
        metadata,
        Column("date", Date, primary_key=True, comment="UTC day"),
        Column("service", String(128), primary_key=True, comment="Internal service name, same names as the `service` tag"),
        Column("customer_id", String(128), primary_key=True, comment="Customer id; '' for the service's own usage (the driver of splits between services)"),
        Column("metric", String(128), primary_key=True, comment="Usage metric, e.g. requests (service_metrics.request_count), db_time_ms, log_gb"),
        Column("quantity", Float, nullable=False, comment="Usage that day in the metric's unit (0 or more)"),
        comment="Usage per day, service, customer and metric (requests included): the drivers of allocation rules.",
    )
    allocation_hops = Table(
        "allocation_hops",
        metadata,
        Column("date", Date, primary_key=True, comment="UTC day"),
        Column("stage", Integer, primary_key=True, comment="1..n: splits of services onto services (senders first); the last stage places cost on customers"),
        Column("rule", String(128), primary_key=True, comment="Name of the allocation rule that made the hop"),
        Column("origin_service", String(128), primary_key=True, comment="Service whose bill (daily_costs) the dollars come from"),
        Column("from_service", String(128), primary_key=True, comment="Service whose cost pool the hop split"),
        Column("recipient_kind", String(16), primary_key=True, comment="service (a split onto another service) or customer"),
        Column("recipient", String(128), primary_key=True, comment="Receiving service name or customer id"),
        Column("allocation_method", String(32), nullable=False, comment="direct, usage_proportional, even or fixed"),
        *_driver_columns()[1:],
        Column("cost", Money, nullable=False, comment="Effective cost in USD moved by the hop"),
        Column("proportion", Float(), nullable=False, comment="Recipient's share of the split pool (1.0 for direct)"),
        comment="Staged allocation, hop by hop: each split of a service onto services, and each customer hop of dollars "
                "another service sent, with its rule, driver metric and quantity (a service's own dollars placed on "
                "customers are its customer_cost_allocation rows).",
    )
    return [usage_metrics, allocation_hops]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _tables(MetaData()):
        table.create(bind)
    with op.batch_alter_table("customer_cost_allocation") as batch:
        for column in _driver_columns():
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("customer_cost_allocation") as batch:
        for column in reversed(_driver_columns()):
            batch.drop_column(column.name)
    bind = op.get_bind()
    for table in reversed(_tables(MetaData())):
        table.drop(bind)
