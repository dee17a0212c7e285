"""Invoice ids: daily_costs and hourly_costs keep the source's invoice id (CUR 2.0 bill_invoice_id, FOCUS
InvoiceId) as a key column, '' where there is none; focus_costs.InvoiceId shows it
(docs/reference.md#warehouse-tables).

Existing rows get '' (not invoiced as far as the warehouse knows) until their days are read again.

Revision ID: 0008_invoice_id
Revises: 0007_focus_allocated_costs
"""

from __future__ import annotations

from contextlib import contextmanager

from alembic import op
from sqlalchemy import Column, String, inspect, text

revision = "0008_invoice_id"
down_revision = "0007_focus_allocated_costs"
branch_labels = None
depends_on = None
# sha256 of the views' CREATE statements at this revision (migrations.views_fingerprint()).
views_fingerprint = "bc5ca680c06f972b48f3ee4a6ea8239aa381ce0611d8b3d38530a0fa30fe57d4"

COMMENT = ("Provider invoice the charge is on (CUR 2.0 bill_invoice_id, FOCUS InvoiceId); '' while not "
           "invoiced and for sources without invoice ids (Cost Explorer, demo)")
# The keys at this revision, in schema.py's order; the previous revision's lack invoice_id.
DIMENSIONS = ["provider", "account_id", "aws_service", "charge_category", "team", "service", "customer_id",
              "environment", "usage_unit", "invoice_id"]
KEYS = {
    "daily_costs": ["date", *DIMENSIONS],
    "hourly_costs": ["hour_start", *DIMENSIONS, "resource_id"],
}


def _previous(keys: list[str]) -> list[str]:
    return [key for key in keys if key != "invoice_id"]


@contextmanager
def _views_kept():
    """SQLite checks every view when batch mode renames the table's copy into place, and refuses while
    the old table is gone: the legacy rename leaves views (the user's too) alone. PostgreSQL alters in
    place. The upgrade recreates this project's views after the revisions."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(text("PRAGMA legacy_alter_table = ON"))
    try:
        yield
    finally:
        if sqlite:
            op.execute(text("PRAGMA legacy_alter_table = OFF"))


def _rekey(table: str, keys: list[str], invoice_id: str) -> None:
    """The table keyed by `keys`, with the invoice_id column added to the key, or dropped."""
    existing = inspect(op.get_bind()).get_pk_constraint(table).get("name")  # SQLite's is unnamed
    with op.batch_alter_table(table) as batch:
        if invoice_id == "add":
            batch.add_column(Column("invoice_id", String(128), primary_key=True, nullable=False,
                                    server_default=text("''"), comment=COMMENT))
        if existing:
            batch.drop_constraint(existing, type_="primary")
        # SQLite: the copy of the table takes this key instead of the unnamed one
        batch.create_primary_key(existing or f"{table}_pkey", keys)
        if invoice_id == "drop":
            batch.drop_column("invoice_id")


def upgrade() -> None:
    with _views_kept():
        for table, keys in KEYS.items():
            _rekey(table, keys, invoice_id="add")


def downgrade() -> None:
    # focus_costs reads the column: dropped here, created again by the older release's recreate_views
    op.execute(text("DROP VIEW IF EXISTS focus_costs"))
    for table, keys in KEYS.items():
        # rows that differ only by invoice id would fold into one key: refuse rather than lose them
        duplicates = op.get_bind().execute(text(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} GROUP BY {', '.join(_previous(keys))} HAVING COUNT(*) > 1) AS d"
        )).scalar_one()
        if duplicates:
            raise RuntimeError(f"{table} holds {duplicates} key(s) on several invoices: "
                               "a downgrade below 0008_invoice_id would merge them")
        with _views_kept():
            _rekey(table, _previous(keys), invoice_id="drop")
