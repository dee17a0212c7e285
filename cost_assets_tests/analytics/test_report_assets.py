"""The as-of report assets run through Dagster on the demo company."""

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetKey, TimeWindowPartitionMapping

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import as_of_reports
from cost_assets.demo import company
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.helpers import materialize_days

PIPELINE = [billing_costs, customer_snapshots, service_metrics, cost_allocation, as_of_reports]
# 60 days, so the last as-of day has a full window and a full previous window; includes the Lambda spike.
FIRST, LAST = dt.date(2026, 10, 1), dt.date(2026, 11, 29)
PLANTED_COST = 8000.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    warehouse = Warehouse(url=f"sqlite:///{tmp_path_factory.mktemp('demo') / 'w.db'}")
    result = materialize_days(PIPELINE, warehouse, FIRST, LAST)
    return warehouse, result


def economics_as_of(warehouse, day: dt.date) -> pd.DataFrame:
    return warehouse.read("SELECT * FROM customer_unit_economics WHERE as_of_date = :day ORDER BY customer_id", day=day)


def test_the_demo_negative_margin_customers_are_exactly_the_planted_ones_worst_first(demo):
    warehouse, result = demo
    latest = economics_as_of(warehouse, LAST)
    negative = latest[latest["is_negative_margin"].astype(bool)].sort_values("gross_margin_pct")
    assert negative["customer_id"].tolist() == ["cust-007", "cust-019", "cust-031"]

    planted = negative.set_index("customer_id").loc["cust-007"]
    assert planted["mrr"] == pytest.approx(company.NEGATIVE_MARGIN["cust-007"][0], rel=0.05)
    assert planted["monthly_infra_cost"] == pytest.approx(PLANTED_COST, rel=0.05)
    assert planted["gross_margin_pct"] == pytest.approx((2000 - planted["monthly_infra_cost"]) / 2000 * 100)

    # Every active demo customer has a row; the churned one, without cost, has none.
    active = set(company.CUSTOMERS.loc[company.CUSTOMERS["status"] == "active", "id"])
    assert set(latest["customer_id"]) == active

    metadata = next(m.metadata for m in result.asset_materializations_for_node("as_of_reports")
                    if m.asset_key == AssetKey("customer_unit_economics"))
    lowest = [record.data["customer_id"] for record in metadata["lowest_margin_customers"].value.records]
    assert lowest[:3] == ["cust-007", "cust-019", "cust-031"]
    assert metadata["negative_margin_customers"].value == "cust-007, cust-019, cust-031"


def test_the_demo_economics_add_up_to_the_allocation(demo):
    warehouse, _ = demo
    latest = economics_as_of(warehouse, LAST)
    window = warehouse.read(
        "SELECT SUM(allocated_cost) AS cost FROM customer_cost_allocation WHERE date BETWEEN :first AND :last",
        first=LAST - dt.timedelta(days=29), last=LAST)
    assert latest["monthly_infra_cost"].sum() == pytest.approx(window["cost"].iloc[0], abs=0.01)
    assert (latest["missing_days"] == 0).all()
    # Fully loaded = direct + the spread untagged cost, which includes the unallocated Lambda spike.
    assert (latest["fully_loaded_cost"] > latest["monthly_infra_cost"]).all()


def test_the_demo_service_and_team_reports(demo):
    warehouse, _ = demo
    services = warehouse.read("SELECT * FROM service_cost_report WHERE as_of_date = :day", day=LAST).set_index("service")
    teams = warehouse.read("SELECT * FROM team_costs WHERE as_of_date = :day", day=LAST).set_index("team")
    billed = warehouse.read("SELECT SUM(effective_cost) AS cost FROM daily_costs WHERE date BETWEEN :first AND :last",
                            first=LAST - dt.timedelta(days=29), last=LAST)["cost"].iloc[0]
    assert services["last_30_days_cost"].sum() == pytest.approx(billed, abs=0.01)
    assert teams["last_30_days_cost"].sum() == pytest.approx(billed, abs=0.01)
    assert services.loc["shared-db", "customers_served"] == 39
    assert services.loc["shared-db", "cost_per_customer"] > 0 and services.loc["shared-db", "cost_per_request"] > 0
    # The notifications Lambda spike (4 days at $4K) shows as a jump against the quiet previous window.
    assert services.loc["notifications", "trend_pct"] > 500
    assert teams.loc["platform", "service_count"] == services[services["team"] == "platform"].shape[0]


def test_one_as_of_day_alone_equals_the_same_day_of_the_range_run(demo):
    warehouse, _ = demo
    tables = {"customer_unit_economics": "customer_id", "service_cost_report": "service", "team_costs": "team"}

    def reports() -> dict[str, pd.DataFrame]:
        return {t: warehouse.read(f"SELECT * FROM {t} WHERE as_of_date = :day ORDER BY {key}", day=LAST)
                for t, key in tables.items()}

    from_the_range_run = reports()
    materialize_days([as_of_reports], warehouse, LAST, LAST)  # the same day again, alone
    for table, frame in reports().items():
        pd.testing.assert_frame_equal(frame, from_the_range_run[table], obj=table)
    days = warehouse.read("SELECT COUNT(DISTINCT as_of_date) AS n FROM customer_unit_economics")["n"].iloc[0]
    assert days == (LAST - FIRST).days + 1


def test_days_without_allocation_are_reported_as_missing(tmp_path):
    warehouse = Warehouse(url=f"sqlite:///{tmp_path / 'w.db'}")
    allocated_from = LAST - dt.timedelta(days=19)
    materialize_days(PIPELINE[:3], warehouse, LAST - dt.timedelta(days=29), LAST)
    materialize_days([cost_allocation], warehouse, allocated_from, LAST)
    materialize_days([as_of_reports], warehouse, LAST, LAST)
    latest = economics_as_of(warehouse, LAST).set_index("customer_id")
    assert set(latest["days_with_data"]) == {20} and set(latest["missing_days"]) == {10}
    recorded = warehouse.read("SELECT SUM(allocated_cost) AS cost FROM customer_cost_allocation WHERE customer_id = 'cust-007'")
    assert latest.loc["cust-007", "allocated_cost_30d"] == pytest.approx(recorded["cost"].iloc[0], abs=1e-4)
    assert latest.loc["cust-007", "monthly_infra_cost"] == pytest.approx(recorded["cost"].iloc[0] * 30 / 20, abs=1e-4)


def test_the_reports_read_a_sixty_day_window_of_their_inputs():
    from cost_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for upstream in ["customer_cost_allocation", "customer_overhead_allocation", "unallocated_costs"]:
        mapping = graph.get_partition_mapping(AssetKey("customer_unit_economics"), AssetKey(upstream))
        assert isinstance(mapping, TimeWindowPartitionMapping) and (mapping.start_offset, mapping.end_offset) == (-59, 0)
    upstream_keys = graph.get(AssetKey("service_cost_report")).parent_keys
    assert {AssetKey("daily_costs"), AssetKey("service_metrics"), AssetKey("customer_cost_allocation")} <= upstream_keys
