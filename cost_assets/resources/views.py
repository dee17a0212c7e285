"""Warehouse views, created next to the tables."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from cost_assets.resources.focus_costs import FOCUS_COSTS_VIEW


@dataclass(frozen=True)
class View:
    name: str
    select_sql: str
    comment: str

    def create(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"CREATE OR REPLACE VIEW {self.name} AS {self.select_sql}"))
            quoted = self.comment.replace("'", "''")  # COMMENT takes no bind parameters
            conn.execute(text(f"COMMENT ON VIEW {self.name} IS '{quoted}'"))
        else:
            conn.execute(text(f"CREATE VIEW IF NOT EXISTS {self.name} AS {self.select_sql}"))


CUSTOMERS_VIEW = View(
    name="customers",
    select_sql=(
        "SELECT id, name, mrr, status FROM customer_snapshots "
        "WHERE date = (SELECT MAX(date) FROM customer_snapshots)"
    ),
    comment="Customers as of the latest customer_snapshots day (id, name, mrr, status).",
)

VIEWS = [CUSTOMERS_VIEW, FOCUS_COSTS_VIEW]
