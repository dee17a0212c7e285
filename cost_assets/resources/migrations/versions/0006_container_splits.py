"""Container split cost: unused container capacity (charge categories UnusedCapacity and UnsplitInstanceCost,
unallocated reason idle) in column comments and in the focus_costs view's ChargeCategory
(docs/reference.md#container-split-cost).

Revision ID: 0006_container_splits
Revises: 0005_usage_metrics
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import String

revision = "0006_container_splits"
down_revision = "0005_usage_metrics"
branch_labels = None
depends_on = None
# sha256 of the views' CREATE statements at this revision (migrations.views_fingerprint()).
views_fingerprint = "be939c9a7cc58940100f4a0afa252fa48dfb6125092ac08906cd87f21634b5aa"

CHARGE_CATEGORY = ("Usage, Credit, Refund, Tax, Purchase, ... (Cost Explorer RECORD_TYPE / CUR line item type / FOCUS "
                   "ChargeCategory, UnusedCommitment for FOCUS unused commitment{})")
CAPACITY = "; UnusedCapacity and UnsplitInstanceCost for unused container capacity"
REASON = "untagged, unknown_customer, no_usage{}"


def _comment(table: str, column: str, kind, new: str, old: str) -> None:
    if op.get_bind().dialect.supports_comments:
        op.alter_column(table, column, existing_type=kind, existing_nullable=False, comment=new,
                        existing_comment=old)


def upgrade() -> None:
    for table in ("daily_costs", "hourly_costs"):
        _comment(table, "charge_category", String(64), CHARGE_CATEGORY.format(CAPACITY), CHARGE_CATEGORY.format(""))
    _comment("unallocated_costs", "reason", String(32),
             REASON.format(", internal or idle (unused container capacity)"), REASON.format(" or internal"))


def downgrade() -> None:
    for table in ("daily_costs", "hourly_costs"):
        _comment(table, "charge_category", String(64), CHARGE_CATEGORY.format(""), CHARGE_CATEGORY.format(CAPACITY))
    _comment("unallocated_costs", "reason", String(32),
             REASON.format(" or internal"), REASON.format(", internal or idle (unused container capacity)"))
