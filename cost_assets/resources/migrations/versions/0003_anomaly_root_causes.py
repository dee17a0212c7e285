"""cost_anomaly_root_causes: each anomaly's excess split over the dimensions of daily_costs

Revision ID: 0003_anomaly_root_causes
Revises: 0002_focus_costs_view
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Date, Float, Integer, Numeric, String

revision = "0003_anomaly_root_causes"
down_revision = "0002_focus_costs_view"
branch_labels = None
depends_on = None
# sha256 of the views' CREATE statements at this revision (migrations.views_fingerprint()):
# unchanged by this revision.
views_fingerprint = "854591990d647b49d75c66e49751b69231dc8fc3126b25324362be5449de738f"

Money = Numeric(20, 6, asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "cost_anomaly_root_causes",
        Column("date", Date, primary_key=True, comment="UTC day of the anomaly (cost_anomalies.date)"),
        Column("service", String(128), primary_key=True, comment="Internal service of the anomaly (cost_anomalies.service)"),
        Column("dimension", String(32), primary_key=True, comment="account, aws_service, charge_category, environment or customer"),
        Column("dimension_value", String(256), primary_key=True, comment="Account id, provider service, charge category, environment or customer id; '(other)' for the values past the top 10, together"),
        Column("actual_cost", Money, nullable=False, comment="The value's effective cost of the service that day"),
        Column("expected_cost", Money, nullable=False, comment="The anomaly's expected_cost times the value's share of the service's cost over the baseline days"),
        Column("impact_usd", Money, nullable=False, comment="actual_cost - expected_cost in cents; a dimension's rows add up to the anomaly's impact_usd rounded to the cent"),
        Column("share", Float, nullable=True, comment="impact_usd / the anomaly's impact_usd; null when that impact is 0"),
        Column("rank", Integer, nullable=False, comment="1 for the largest impact_usd of the dimension, then down"),
        comment="Root causes of cost_anomalies: each anomaly's excess split over the values of each daily_costs "
                "dimension, largest first (docs/reference.md#root-causes). Written with cost_anomalies.",
    )


def downgrade() -> None:
    op.drop_table("cost_anomaly_root_causes")
