"""cost_forecasts: month-end cost forecasts with an 80% interval (company, services, customers)

Revision ID: 0004_cost_forecasts
Revises: 0003_anomaly_root_causes
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Date, Float, Integer, Numeric, String

revision = "0004_cost_forecasts"
down_revision = "0003_anomaly_root_causes"
branch_labels = None
depends_on = None

Money = Numeric(20, 6, asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "cost_forecasts",
        Column("as_of_date", Date, primary_key=True, comment="Last day of the month whose data the forecast used (nothing later is read)"),
        Column("scope", String(16), primary_key=True, comment="company, service or customer"),
        Column("scope_value", String(128), primary_key=True, comment="Internal service name or customer id; 'all' for the company"),
        Column("month_start", Date, nullable=False, comment="First day of as_of_date's month"),
        Column("month_end", Date, nullable=False, comment="Last day of as_of_date's month"),
        Column("days_with_data", Integer, nullable=False, comment="Days month_start .. as_of_date with data (daily_costs for company and services, customer_cost_allocation for customers)"),
        Column("days_forecast", Integer, nullable=False, comment="Days of the month predicted: those after as_of_date and those up to it without data"),
        Column("actual_to_date", Money, nullable=False, comment="Cost of the month's days with data up to as_of_date: effective cost (company, services) or allocated cost (customers)"),
        Column("forecast", Money, nullable=False, comment="actual_to_date + the predicted cost of the days_forecast days (weekday-aware recent level)"),
        Column("low", Money, nullable=False, comment="Lower bound of the 80% interval of the month's cost (10% quantile)"),
        Column("high", Money, nullable=False, comment="Upper bound of the 80% interval of the month's cost (90% quantile)"),
        Column("mrr", Money, nullable=True, comment="Customers: MRR in USD as of as_of_date (customer_snapshots); null for other scopes or without MRR"),
        Column("forecast_margin_pct", Float, nullable=True, comment="Customers: (mrr - forecast) / mrr * 100; null without a positive MRR"),
        comment="Month-end cost forecasts with an 80% interval, per as-of day, for the company, each service and each customer.",
    )


def downgrade() -> None:
    op.drop_table("cost_forecasts")
