"""Split cost allocation data (ingestion/container_splits.py): each instance's cost moved onto its pods,
counted once; gaps, pods without a parent and garbled split figures; the DuckDB and pandas paths agree."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_assets.ingestion import container_splits
from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.ingestion.container_splits import UNSPLIT_INSTANCE_COST, UNUSED_CAPACITY, reclassification
from cost_assets_tests.helpers import materialize_days
from cost_assets_tests.ingestion.billing_files import cur_path, cur_row, write_cur

DAY = dt.date(2026, 9, 3)
TAGS = ["team", "service", "customer_id", "environment"]

micros = st.integers(min_value=-2_000_000, max_value=50_000_000).map(lambda m: m / 1_000_000)


def parent_rows(draw_rows) -> pd.DataFrame:
    return pd.DataFrame([{"date": DAY, "resource_id": node, "provider": "AWS", "account_id": "1",
                          "aws_service": "AmazonEC2", "charge_category": category, "usage_unit": "Hrs",
                          "team": "platform", "service": "eks", "customer_id": None, "environment": "production",
                          "billed_cost": billed, "effective_cost": effective, "is_estimated": False}
                         for node, category, billed, effective in draw_rows], columns=container_splits.PARENT_COLUMNS)


def pod_rows(draw_rows) -> pd.DataFrame:
    return pd.DataFrame([{"date": DAY, "parent_resource_id": node, "team": "core", "service": "web",
                          "customer_id": customer, "environment": "production", "split_cost": split,
                          "unused_cost": unused} for node, customer, split, unused in draw_rows],
                        columns=container_splits.POD_COLUMNS)


def micro(values) -> int:
    return int(sum(round(v * 1_000_000) for v in values))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["i-1", "i-2"]), st.sampled_from(["Usage", "DiscountedUsage"]), micros, micros),
                min_size=1, max_size=5),
       st.lists(st.tuples(st.sampled_from(["i-1", "i-2", "i-3"]), st.sampled_from(["c1", "c2", None]), micros, micros),
                min_size=1, max_size=8))
def test_each_instance_day_moves_to_the_micro_dollar_and_the_bill_never_changes(parents, pods):
    parents_frame, pods_frame = parent_rows(parents), pod_rows(pods)
    items, report = reclassification(parents_frame, pods_frame)
    # Zero-sum: the day's effective and billed totals are unchanged.
    assert micro(items["effective_cost"]) == 0 and micro(items["billed_cost"]) == 0
    for node in ("i-1", "i-2"):
        own = parents_frame[parents_frame["resource_id"] == node]
        instance = micro(own["effective_cost"])
        its_pods = pods_frame[pods_frame["parent_resource_id"] == node]
        moved = items[items["row_ref"].str.contains(f"instance {node} ")]
        if own.empty or its_pods.empty or instance == 0:
            assert moved.empty
            continue
        # Pods (split + unused) plus the unsplit rest are the instance's effective cost, to the micro-dollar.
        recipients = moved[moved["charge_category"].isin([UNUSED_CAPACITY, UNSPLIT_INSTANCE_COST])
                           | moved["customer_id"].notna() | (moved["service"] == "web")]
        assert micro(recipients["effective_cost"]) == instance
        assert micro(moved["effective_cost"]) == 0
        unsplit = micro(moved.loc[moved["charge_category"] == UNSPLIT_INSTANCE_COST, "effective_cost"])
        assert unsplit == instance - micro(its_pods["split_cost"]) - micro(its_pods["unused_cost"])
    # Pods whose instance is not billed that day are reported, never counted.
    unknown = pods_frame[~pods_frame["parent_resource_id"].isin(parents_frame["resource_id"])]
    assert micro(report.missing_parents["split_cost"]) == micro(unknown["split_cost"])


def test_gap_and_missing_parent_are_reported_and_placed_as_unsplit_instance_cost():
    parents = parent_rows([("i-1", "Usage", 12.0, 10.0)])
    pods = pod_rows([("i-1", "c1", 4.0, 1.0), ("i-1", "c2", 3.0, 1.5), ("i-9", "c2", 2.0, 0.0)])
    items, report = reclassification(parents, pods)
    by = (items.assign(customer_id=items["customer_id"].fillna("none"))
          .groupby(["customer_id", "charge_category"])[["effective_cost", "billed_cost"]].sum())
    assert by.loc[("c1", "Usage")].round(6).tolist() == [4.0, 4.8]  # billed moves in the same proportion
    assert by.loc[("c2", UNUSED_CAPACITY)].round(6).tolist() == [1.5, 1.8]
    assert by.loc[("none", UNSPLIT_INSTANCE_COST)].round(6).tolist() == [0.5, 0.6]
    assert report.gaps[["parent_resource_id", "gap"]].values.tolist() == [["i-1", 0.5]]
    assert report.missing_parents[["parent_resource_id", "pods", "split_cost"]].values.tolist() == [["i-9", 1, 2.0]]
    warnings = report.warnings()
    assert "differ from the instance's effective cost by more than $0.01 (largest: i-1 on 2026-09-03" in warnings[0]
    assert "name a parent instance with no instance-hour row that day (e.g. i-9 on 2026-09-03)" in warnings[1]


def export(rows_per_hour=None, garbled: str | None = None) -> list[dict]:
    rows = []
    for hour in range(24):
        rows.append(cur_row(DAY, "Usage", 1.0, hour=hour, resource="i-node1",
                            tags={"team": "platform", "service": "eks", "environment": "production"}))
        for pod, customer, split, unused in [("pod-a", "c1", 0.5, 0.1), ("pod-b", "c2", 0.3, 0.1)]:
            rows.append({**cur_row(DAY, "Usage", 0.0, hour=hour, product="AmazonEKS", resource=pod, unit="vCPU-Hours",
                                   tags={"customer": customer, "service": "web", "team": "core",
                                         "environment": "production"}),
                         "split_line_item_parent_resource_id": "i-node1",
                         "split_line_item_split_cost": garbled if (garbled and hour == 5 and pod == "pod-b") else split,
                         "split_line_item_unused_cost": unused})
    rows.append(cur_row(DAY, "Usage", 7.0, product="AmazonS3", resource="bucket", unit="GB-Mo",
                        tags={"team": "data", "service": "storage", "environment": "production"}))
    # A Fargate task has no parent instance: its own row's cost is its cost, counted once.
    rows.append({**cur_row(DAY, "Usage", 0.8, product="AmazonECS", resource="arn:aws:ecs:task/fargate-1",
                           unit="vCPU-Hours", tags={"customer": "c2", "service": "jobs", "environment": "production"}),
                 "split_line_item_split_cost": 0.8, "split_line_item_unused_cost": 0.0})
    for row in rows:
        for column in ("split_line_item_parent_resource_id", "split_line_item_split_cost", "split_line_item_unused_cost"):
            row.setdefault(column, None)
    return rows


@pytest.mark.parametrize("fmt", ["parquet", "csv"])  # the DuckDB path and the pandas path
def test_a_cur2_export_moves_the_node_onto_its_pods(tmp_path, monkeypatch, fmt):
    from cost_assets.resources.warehouse import Warehouse

    root = tmp_path / "cur"
    write_cur(cur_path(root, "2026-09", fmt=fmt), export(), tags_as="map" if fmt == "parquet" else "json")
    monkeypatch.setenv("COST_SOURCE", "cur2")
    monkeypatch.setenv("COST_SOURCE_URI", str(root))
    warehouse = Warehouse(url=f"sqlite:///{tmp_path / 'w.db'}")
    materialize_days([billing_costs], warehouse, DAY, DAY, billing=BillingSourceResource())
    rows = warehouse.read("SELECT customer_id, service, charge_category, SUM(effective_cost) AS cost "
                          "FROM daily_costs GROUP BY customer_id, service, charge_category")
    got = {(r.customer_id, r.service, r.charge_category): round(float(r.cost), 6) for r in rows.itertuples()
           if round(float(r.cost), 6) != 0}
    assert got == {("c1", "web", "Usage"): 12.0, ("c2", "web", "Usage"): 7.2,
                   ("c1", "web", UNUSED_CAPACITY): 2.4, ("c2", "web", UNUSED_CAPACITY): 2.4,
                   ("untagged", "storage", "Usage"): 7.0, ("c2", "jobs", "Usage"): 0.8}
    hourly = warehouse.read("SELECT SUM(effective_cost) AS cost FROM hourly_costs WHERE service = 'eks'")
    assert round(float(hourly["cost"].iloc[0]), 6) == 24.0  # hourly_costs keeps the node as billed


def test_a_garbled_split_cost_is_a_rejected_row_and_its_share_stays_idle(tmp_path, monkeypatch):
    from cost_assets.resources.warehouse import Warehouse

    root = tmp_path / "cur"
    write_cur(cur_path(root, "2026-09", fmt="csv"), export(garbled="n/a"), tags_as="json")
    monkeypatch.setenv("COST_SOURCE", "cur2")
    monkeypatch.setenv("COST_SOURCE_URI", str(root))
    warehouse = Warehouse(url=f"sqlite:///{tmp_path / 'w.db'}")
    result = materialize_days([billing_costs], warehouse, DAY, DAY, billing=BillingSourceResource())
    rejected = warehouse.read("SELECT reason FROM rejected_cost_rows")
    assert len(rejected) == 1 and "split_line_item_split_cost" in rejected["reason"].iloc[0]
    unsplit = warehouse.read(f"SELECT SUM(effective_cost) AS cost FROM daily_costs "
                             f"WHERE charge_category = '{UNSPLIT_INSTANCE_COST}'")
    assert round(float(unsplit["cost"].iloc[0]), 6) == 0.4  # the rejected pod-hour's split and unused cost
    total = warehouse.read("SELECT SUM(effective_cost) AS cost FROM daily_costs")
    assert round(float(total["cost"].iloc[0]), 6) == 31.8  # the bill, unchanged
    assert result.asset_materializations_for_node("billing_costs")[0].metadata["container_unsplit_cost"].value == 0.4
