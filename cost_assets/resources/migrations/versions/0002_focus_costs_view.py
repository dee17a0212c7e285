"""focus_costs view as the FOCUS 1.2 export defines it (ServiceSubcategory, InvoiceId, FOCUS units, ...)

No table changes: the upgrade that applies this revision recreates every view from views.VIEWS.

Revision ID: 0002_focus_costs_view
Revises: 0001_baseline
"""

from __future__ import annotations

revision = "0002_focus_costs_view"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None
# sha256 of the views' CREATE statements at this revision (migrations.views_fingerprint());
# every upgrade that moves the revision recreates the views.
views_fingerprint = "854591990d647b49d75c66e49751b69231dc8fc3126b25324362be5449de738f"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
