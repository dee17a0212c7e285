import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import text

from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse


@pytest.mark.postgres
def test_postgres_tables_have_primary_keys_and_comments(postgres_schema_url):
    warehouse = Warehouse(url=postgres_schema_url)
    warehouse.create_schema()
    with warehouse.engine.connect() as conn:
        table_comment = conn.execute(text("SELECT obj_description('daily_costs'::regclass, 'pg_class')")).scalar_one()
        column_comment = conn.execute(text(
            "SELECT col_description('daily_costs'::regclass, attnum) FROM pg_attribute "
            "WHERE attrelid = 'daily_costs'::regclass AND attname = 'effective_cost'"
        )).scalar_one()
        view_comment = conn.execute(text("SELECT obj_description('customers'::regclass, 'pg_class')")).scalar_one()
        primary_key = conn.execute(text(
            "SELECT COUNT(*) FROM information_schema.table_constraints "
            "WHERE table_schema = current_schema() AND table_name = 'daily_costs' AND constraint_type = 'PRIMARY KEY'"
        )).scalar_one()
    assert table_comment.startswith("Cloud cost per UTC day")
    assert "Amortized cost" in column_comment
    assert "latest customer_snapshots day" in view_comment
    assert primary_key == 1


def test_replace_window_rewrites_only_the_window_in_one_transaction(warehouse):
    def rows(day, n):
        return pd.DataFrame({"date": [day] * n, "service": ["api"] * n,
                             "customer_id": [f"c{i}" for i in range(n)], "request_count": list(range(n))})

    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.service_metrics, d1, d2, pd.concat([rows(d1, 3), rows(d2, 2)]))
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.service_metrics, d2, d2, rows(d2, 4))
    counts = warehouse.read("SELECT date, COUNT(*) AS n FROM service_metrics GROUP BY date ORDER BY date")
    assert counts["n"].tolist() == [3, 4]

    # A failure inside the transaction keeps the previous rows.
    with pytest.raises(ValueError, match="fall outside"):
        with warehouse.transaction() as conn:
            warehouse.replace_window(conn, schema.service_metrics, d2, d2, rows(d1, 1))
    counts = warehouse.read("SELECT date, COUNT(*) AS n FROM service_metrics GROUP BY date ORDER BY date")
    assert counts["n"].tolist() == [3, 4]


def test_a_warehouse_from_an_older_release_gets_the_new_columns(warehouse):
    # daily_team_costs as the release before is_estimated created it, with a row in it: adopting a
    # warehouse from before migrations brings it to the baseline first (migrations.adopt_existing).
    with warehouse.engine.begin() as conn:
        conn.execute(text("CREATE TABLE daily_team_costs (date DATE NOT NULL, team VARCHAR(128) NOT NULL, "
                          "billed_cost NUMERIC(20, 6) NOT NULL, effective_cost NUMERIC(20, 6) NOT NULL, "
                          "PRIMARY KEY (date, team))"))
        conn.execute(text("INSERT INTO daily_team_costs VALUES ('2026-01-01', 'core', 10, 10)"))

    warehouse.create_schema()

    old_row = warehouse.read("SELECT team, is_estimated FROM daily_team_costs")
    assert old_row["team"].tolist() == ["core"] and not old_row["is_estimated"].astype(bool).any()
    if warehouse.dialect() == "postgresql":
        comment = warehouse.read(
            "SELECT col_description('daily_team_costs'::regclass, attnum) AS comment FROM pg_attribute "
            "WHERE attrelid = 'daily_team_costs'::regclass AND attname = 'is_estimated'")["comment"].iloc[0]
        assert comment.startswith("True while some of the day's cost is still estimated")
