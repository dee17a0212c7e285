"""Bulk writes and reads give the same values on SQLite (executemany) and PostgreSQL (COPY)."""

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import select

from cost_assets.resources import schema
from cost_assets.resources.bulk import read_frame

DAY = dt.date(2026, 4, 1)


def awkward_rows() -> pd.DataFrame:
    """hourly_costs rows with every column type and the values CSV gets wrong."""
    texts = ["plain", "", 'quote " and, comma', "line\nbreak", "ünïcode ✓", "\\N"]
    n = len(texts)
    return pd.DataFrame({
        "hour_start": [pd.Timestamp(DAY) + pd.Timedelta(hours=h, microseconds=h) for h in range(n)],
        "date": [DAY] * n,
        "provider": ["AWS"] * n,
        "account_id": [f"{i:012d}" for i in range(n)],
        "aws_service": texts,
        "charge_category": ["Usage"] * n,
        "team": ["core"] * n,
        "service": ["api"] * n,
        "customer_id": ["untagged"] * n,
        "environment": ["staging"] * n,
        "usage_unit": ["Hrs"] * n,
        "resource_id": [f"r-{i}" for i in range(n)],
        "billed_cost": [0.1, 1234567.123456, -0.000001, 0.0, 1e-6, 99.5],
        "effective_cost": [0.1, 1234567.123456, -0.000001, 0.0, 1e-6, 99.5],
        "usage_quantity": [0.5, 1.5, 2.0, 3.25, 0.0, 1e12],
        "is_estimated": [True, False, True, False, True, False],
        "source": ["demo"] * n,
    })


def test_rows_round_trip_exactly(warehouse):
    rows = awkward_rows()
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.hourly_costs, DAY, DAY, rows)
        back = read_frame(conn, select(schema.hourly_costs).order_by(schema.hourly_costs.c.resource_id))
    assert back["aws_service"].tolist() == rows["aws_service"].tolist()  # '' stays '', not NULL
    assert back["date"].tolist() == [DAY] * len(rows)
    assert pd.to_datetime(back["hour_start"]).tolist() == rows["hour_start"].tolist()
    assert back["effective_cost"].tolist() == rows["effective_cost"].tolist()
    assert back["usage_quantity"].tolist() == rows["usage_quantity"].tolist()
    assert back["is_estimated"].astype(bool).tolist() == rows["is_estimated"].tolist()


def test_text_values_round_trip_without_timestamps(warehouse):
    """Queries without timestamp columns take the COPY-out path on PostgreSQL."""
    rows = awkward_rows()
    c = schema.hourly_costs.c
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.hourly_costs, DAY, DAY, rows)
        back = read_frame(conn, select(c.resource_id, c.date, c.aws_service, c.account_id, c.effective_cost,
                                       c.is_estimated).order_by(c.resource_id))
    assert back["aws_service"].tolist() == rows["aws_service"].tolist()  # '', quotes, newlines, '\\N' intact
    assert back["account_id"].tolist() == rows["account_id"].tolist()  # leading zeros kept: read as text
    assert back["date"].tolist() == [DAY] * len(rows)
    assert back["effective_cost"].tolist() == rows["effective_cost"].tolist()
    assert back["is_estimated"].tolist() == rows["is_estimated"].tolist()


def test_nulls_and_empty_results(warehouse):
    economics = pd.DataFrame([{
        "as_of_date": DAY, "customer_id": "c1", "customer_name": "C", "status": None, "mrr": None,
        "monthly_infra_cost": 1.0, "allocated_cost_30d": 1.0, "previous_30_days_cost": np.nan,
        "gross_margin_pct": np.nan, "cost_trend_pct": None, "is_negative_margin": True, "days_with_data": 30,
        "missing_days": 0, "overhead_cost": 0.0, "fully_loaded_cost": 1.0, "fully_loaded_margin_pct": np.nan,
        "is_negative_margin_fully_loaded": True, "cost_breakdown": "[]",
    }])
    table = schema.customer_unit_economics
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, table, DAY, DAY, economics, date_column="as_of_date")
        back = read_frame(conn, select(table.c.status, table.c.mrr, table.c.gross_margin_pct, table.c.days_with_data))
        empty = read_frame(conn, select(table.c.as_of_date, table.c.mrr).where(table.c.customer_id == "nobody"))
    assert back["status"].isna().all() and back["mrr"].isna().all() and back["gross_margin_pct"].isna().all()
    assert back["days_with_data"].tolist() == [30]
    assert empty.empty and list(empty.columns) == ["as_of_date", "mrr"]


def test_values_arrow_cannot_type_still_insert(warehouse):
    from decimal import Decimal

    rows = pd.DataFrame({"date": [DAY], "id": ["c1"], "name": ["C"], "mrr": [Decimal("1500.25")], "status": ["active"]})
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.customer_snapshots, DAY, DAY, rows)
    assert warehouse.read("SELECT mrr FROM customer_snapshots")["mrr"].tolist() == [1500.25]


def test_categorical_columns_read_as_the_same_values(warehouse):
    rows = awkward_rows()
    c = schema.hourly_costs.c
    query = select(c.resource_id, c.date, c.aws_service, c.effective_cost).order_by(c.resource_id)
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.hourly_costs, DAY, DAY, rows)
        plain = read_frame(conn, query)
        coded = read_frame(conn, query, categories=("date", "aws_service"))
        empty = read_frame(conn, query.where(c.resource_id == "none"), categories=("date",))
    assert isinstance(coded["date"].dtype, pd.CategoricalDtype) and isinstance(coded["aws_service"].dtype, pd.CategoricalDtype)
    assert coded["date"].tolist() == plain["date"].tolist() == [DAY] * len(rows)
    assert coded["aws_service"].tolist() == plain["aws_service"].tolist()
    assert empty.empty and isinstance(empty["date"].dtype, pd.CategoricalDtype)
