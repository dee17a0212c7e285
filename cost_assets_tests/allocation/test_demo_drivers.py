"""The demo under its two rules files: shared-db split by requests (rules.yaml) or by query time
(rules_query_time.yaml). Only the split moves the analytics customer cust-027 below zero."""

import datetime as dt

import pytest
import yaml

from cost_assets.allocation.assets import cost_allocation
from cost_assets.analytics.assets import as_of_reports
from cost_assets.demo import company
from cost_assets.ingestion.container_splits import SPLIT_UNUSED_COST
from cost_assets.ingestion.assets import billing_costs, customer_snapshots, service_metrics, usage_metrics
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse
from cost_assets.rules import DEMO_RULES_PATH
from cost_assets_tests.helpers import materialize_days

PIPELINE = [billing_costs, customer_snapshots, service_metrics, usage_metrics, cost_allocation, as_of_reports]
QUERY_TIME_RULES = DEMO_RULES_PATH.with_name("rules_query_time.yaml")
# Four days, a weekend included; the economics scale the days with data to 30.
FIRST, LAST = dt.date(2026, 11, 21), dt.date(2026, 11, 24)
THE_THREE = {"cust-007", "cust-019", "cust-031"}
[ANALYTICS] = company.QUERY_HEAVY


def demo_warehouse(tmp_path_factory, rules_path) -> Warehouse:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("COST_ALLOCATION_RULES", str(rules_path))
    try:
        warehouse = Warehouse(url=f"sqlite:///{tmp_path_factory.mktemp('demo') / 'w.db'}")
        materialize_days(PIPELINE, warehouse, FIRST, LAST)
    finally:
        monkeypatch.undo()
    return warehouse


@pytest.fixture(scope="module")
def requests_warehouse(tmp_path_factory):
    return demo_warehouse(tmp_path_factory, DEMO_RULES_PATH)


def economics(warehouse):
    return warehouse.read("SELECT * FROM customer_unit_economics WHERE as_of_date = :day", day=LAST).set_index(
        "customer_id")


@pytest.fixture(scope="module")
def by_requests(requests_warehouse):
    return economics(requests_warehouse)


@pytest.fixture(scope="module")
def by_query_time(tmp_path_factory):
    return economics(demo_warehouse(tmp_path_factory, QUERY_TIME_RULES))


def negative(frame) -> set[str]:
    return set(frame.index[frame["is_negative_margin"].astype(bool)])


def test_split_by_requests_the_negative_margin_customers_are_the_three(by_requests):
    assert negative(by_requests) == THE_THREE
    # The analytics customer looks like one of the best: few requests, so little of shared-db.
    assert by_requests.loc[ANALYTICS, "gross_margin_pct"] > 70


def test_split_by_query_time_the_analytics_customer_is_negative_too(by_requests, by_query_time):
    assert negative(by_query_time) == THE_THREE | {ANALYTICS}
    assert by_query_time.loc[ANALYTICS, "gross_margin_pct"] < -10
    # Same MRR and the same total cost placed on customers: only shared-db moved between them.
    assert by_query_time["mrr"].equals(by_requests["mrr"])
    assert by_query_time["monthly_infra_cost"].sum() == pytest.approx(by_requests["monthly_infra_cost"].sum(), abs=0.05)
    moved = by_query_time["monthly_infra_cost"] - by_requests["monthly_infra_cost"]
    assert moved.idxmax() == ANALYTICS and moved[ANALYTICS] > 2000


def test_the_eks_clusters_unused_capacity_is_unallocated_as_idle(requests_warehouse):
    idle = requests_warehouse.read("SELECT service, SUM(cost) AS cost FROM unallocated_costs WHERE reason = 'idle' "
                                   "GROUP BY service ORDER BY service").set_index("service")["cost"]
    items = company.line_items(FIRST, LAST)
    unused = items.groupby("service")[SPLIT_UNUSED_COST].sum()
    assert list(idle.index) == ["api", "data-pipeline", "worker"]
    assert idle.to_dict() == pytest.approx(unused[idle.index].to_dict(), abs=1e-6)


def test_the_query_time_rules_differ_from_the_demo_rules_only_in_the_shared_db_split():
    requests, query_time = (yaml.safe_load(path.read_text()) for path in (DEMO_RULES_PATH, QUERY_TIME_RULES))
    rules_by_name = {rule["name"]: rule for rule in query_time["allocation"].pop("rules")}
    assert rules_by_name.pop("shared-database")["driver"] == {"metric": company.DB_TIME_METRIC}
    assert rules_by_name["shared-infrastructure"]["services"] == ["shared-cache", "cdn"]
    rules_by_name["shared-infrastructure"]["services"].insert(0, "shared-db")
    assert list(rules_by_name.values()) == requests["allocation"].pop("rules")
    assert query_time == requests


def test_the_demo_product_database_has_query_time_per_active_customer():
    usage = ProductDatabase().usage_metrics(FIRST, FIRST)
    db_time = usage[usage["metric"] == company.DB_TIME_METRIC].set_index("customer_id")["quantity"]
    active = company.CUSTOMERS.query("status == 'active'")["id"]
    assert sorted(db_time.index) == sorted(active)
    assert (usage["service"][usage["metric"] == company.DB_TIME_METRIC] == "shared-db").all()
    share = db_time / db_time.sum()
    assert share[ANALYTICS] == pytest.approx(company.QUERY_HEAVY[ANALYTICS][2], rel=0.1)
    # Deterministic: a day's values depend on that day only.
    again = ProductDatabase().usage_metrics(FIRST - dt.timedelta(days=3), FIRST)
    assert again[again["date"] == FIRST].reset_index(drop=True).equals(usage.reset_index(drop=True))
