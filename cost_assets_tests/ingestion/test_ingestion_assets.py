import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from cost_assets.demo import company
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.ingestion.sources.base import SourceResult
from cost_assets.ingestion import billing_source as billing_module
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse, WarehouseError
from cost_assets_tests.helpers import failure_message, materialize_days

INGESTION = [billing_costs, customer_snapshots, service_metrics]
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 3)


def table_snapshot(warehouse: Warehouse, table: str, order: str) -> pd.DataFrame:
    return warehouse.read(f"SELECT * FROM {table} ORDER BY {order}")


def test_demo_days_land_in_daily_costs_and_reconcile_with_the_demo(warehouse):
    result = materialize_days(INGESTION, warehouse, FIRST, LAST)
    assert result.success
    totals = warehouse.read("SELECT date, SUM(effective_cost) AS cost, COUNT(*) AS n FROM daily_costs GROUP BY date ORDER BY date")
    expected = company.line_items(FIRST, LAST).assign(date=lambda f: f["charge_period_start"].dt.date)
    expected = expected.groupby("date")["effective_cost"].sum()
    assert len(totals) == 3
    assert totals["cost"].round(2).tolist() == expected.round(2).tolist()
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"daily_costs_match_source_totals": True, "daily_costs_unique_keys": True, "daily_costs_tag_coverage": True}
    tags = warehouse.read("SELECT DISTINCT environment FROM daily_costs ORDER BY environment")
    assert tags["environment"].tolist() == ["development", "production", "staging", "untagged"]
    customers = warehouse.read("SELECT DISTINCT customer_id FROM daily_costs ORDER BY customer_id")
    assert {"cust-007", "cust-099", "untagged"} <= set(customers["customer_id"])


def test_rerunning_days_is_idempotent(warehouse):
    materialize_days(INGESTION, warehouse, FIRST, LAST)
    before = {t: table_snapshot(warehouse, t, o) for t, o in
              [("daily_costs", "date, account_id, aws_service, service, customer_id, environment, usage_unit, effective_cost"),
               ("hourly_costs", "hour_start, resource_id"),
               ("customer_snapshots", "date, id"), ("service_metrics", "date, service, customer_id")]}
    # Re-run an overlapping range, then the same range again.
    materialize_days(INGESTION, warehouse, LAST, LAST + dt.timedelta(days=1))
    materialize_days(INGESTION, warehouse, FIRST, LAST)
    for table, frame in before.items():
        after = table_snapshot(warehouse, table, "1")
        window = after[pd.to_datetime(after["date"]).dt.date <= LAST] if "date" in after else after
        assert len(window) == len(frame), table
        numeric = frame.select_dtypes("number").columns
        assert window[numeric].sum().round(4).tolist() == frame[numeric].sum().round(4).tolist(), table


def test_non_production_has_hourly_rows_and_production_does_not(sqlite_warehouse):
    materialize_days([billing_costs], sqlite_warehouse, FIRST, FIRST)
    hourly = sqlite_warehouse.read("SELECT environment, COUNT(DISTINCT hour_start) AS hours, SUM(effective_cost) AS cost FROM hourly_costs GROUP BY environment")
    assert set(hourly["environment"]) == {"staging", "development"}
    assert hourly["hours"].tolist() == [24, 24]
    daily_nonprod = sqlite_warehouse.read("SELECT SUM(effective_cost) AS cost FROM daily_costs WHERE environment IN ('staging', 'development')")
    assert hourly["cost"].sum() == pytest.approx(daily_nonprod["cost"].iloc[0], abs=0.01)


def test_customer_snapshots_keep_each_day_and_the_customers_view_shows_the_latest(warehouse):
    materialize_days([customer_snapshots], warehouse, FIRST, LAST)
    snapshots = warehouse.read("SELECT date, COUNT(*) AS n FROM customer_snapshots GROUP BY date")
    assert snapshots["n"].tolist() == [len(company.CUSTOMERS)] * 3
    customers = warehouse.read("SELECT id, name, mrr, status FROM customers ORDER BY id")
    assert customers["id"].tolist() == company.CUSTOMERS["id"].tolist()
    assert customers.set_index("id").loc["cust-007", "mrr"] == 2000.0


def test_estimated_days_are_kept(sqlite_warehouse):
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    materialize_days([billing_costs], sqlite_warehouse, yesterday - dt.timedelta(days=5), yesterday)
    flags = sqlite_warehouse.read("SELECT date, MAX(is_estimated) AS estimated FROM daily_costs GROUP BY date ORDER BY date")
    assert flags["estimated"].astype(bool).tolist() == [False, False, False, False, True, True]


class GarbledSource:
    """The demo, with one amount that is not a number."""

    name = "demo"

    def fetch(self, first, last, rules):
        items = company.line_items(first, last)
        items["effective_cost"] = items["effective_cost"].astype(object)
        items.loc[3, "effective_cost"] = "twelve"
        return SourceResult(line_items=items)


def test_a_failed_day_leaves_the_previous_good_data_in_place(sqlite_warehouse, monkeypatch):
    materialize_days([billing_costs], sqlite_warehouse, FIRST, FIRST)
    before = table_snapshot(sqlite_warehouse, "daily_costs", "1")
    monkeypatch.setattr(billing_module, "get_source", lambda name: GarbledSource())
    result = materialize_days([billing_costs], sqlite_warehouse, FIRST, FIRST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "non-numeric effective_cost: demo 2026-03-01 line 3 (effective_cost='twelve')" in message
    pd.testing.assert_frame_equal(table_snapshot(sqlite_warehouse, "daily_costs", "1"), before)


def test_a_source_total_mismatch_fails_the_day_and_names_it(sqlite_warehouse, monkeypatch):
    class LyingTotals:
        name = "demo"

        def fetch(self, first, last, rules):
            totals = pd.DataFrame({"date": [first], "billed_cost": [1.0], "effective_cost": [1.0]})
            return SourceResult(line_items=company.line_items(first, last), day_totals=totals)

    monkeypatch.setattr(billing_module, "get_source", lambda name: LyingTotals())
    result = materialize_days([billing_costs], sqlite_warehouse, FIRST, FIRST, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "differ from the billing source on 1 day(s): 2026-03-01 (source 1.00" in message
    assert sqlite_warehouse.read("SELECT COUNT(*) AS n FROM daily_costs")["n"].iloc[0] == 0


def test_an_unknown_cost_source_is_refused_naming_the_setting(sqlite_warehouse, monkeypatch):
    monkeypatch.setenv("COST_SOURCE", "azure_magic")
    result = materialize_days([billing_costs], sqlite_warehouse, FIRST, FIRST, raise_on_error=False,
                              billing=BillingSourceResource())
    assert not result.success
    message = failure_message(result)
    assert "COST_SOURCE='azure_magic' is not a known billing source" in message


def test_a_missing_product_database_table_is_named(sqlite_warehouse, tmp_path):
    app_db = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(app_db)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, mrr NUMERIC, status TEXT)"))
    result = materialize_days([service_metrics], sqlite_warehouse, FIRST, FIRST, raise_on_error=False,
                              product_db=ProductDatabase(url=app_db))
    assert not result.success
    message = failure_message(result)
    assert "has no table `service_metrics`" in message


def test_a_real_product_database_is_read(sqlite_warehouse, tmp_path):
    app_db = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(app_db)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, mrr NUMERIC, status TEXT)"))
        conn.execute(text("CREATE TABLE service_metrics (date DATE, service TEXT, customer_id TEXT, request_count BIGINT)"))
        conn.execute(text("INSERT INTO customers VALUES ('c1', 'One', 100.5, 'active'), ('c2', 'Two', 0, 'churned')"))
        conn.execute(text("INSERT INTO service_metrics VALUES ('2026-03-01', 'api', 'c1', 10), ('2026-03-01', 'api', 'c1', 5), ('2026-03-02', 'api', 'c1', 7)"))
    product_db = ProductDatabase(url=app_db)
    result = materialize_days([customer_snapshots, service_metrics], sqlite_warehouse, FIRST, FIRST, product_db=product_db)
    assert result.success
    metrics = sqlite_warehouse.read("SELECT * FROM service_metrics")
    assert metrics[["service", "customer_id", "request_count"]].values.tolist() == [["api", "c1", 15]]
    snapshots = sqlite_warehouse.read("SELECT id, mrr, status FROM customer_snapshots ORDER BY id")
    assert snapshots.values.tolist() == [["c1", 100.5, "active"], ["c2", 0.0, "churned"]]


def test_an_unreachable_warehouse_is_named_without_its_password():
    warehouse = Warehouse(url="postgresql+psycopg://cost:s3cret@127.0.0.1:1/costs")
    with pytest.raises(WarehouseError) as error:
        warehouse.create_schema()
    assert "postgresql+psycopg://cost:***@127.0.0.1:1/costs" in str(error.value)
    assert "COST_WAREHOUSE_URL" in str(error.value)
    assert "s3cret" not in str(error.value)
