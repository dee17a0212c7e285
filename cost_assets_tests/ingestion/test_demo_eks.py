"""The demo's EKS cluster: split cost allocation columns that divide each node's cost among its pods,
made of spend moved from production EC2 (docs/reference.md#the-demo-company)."""

import datetime as dt

import numpy as np
import pandas as pd

from cost_assets.demo import company
from cost_assets.ingestion import container_splits
from cost_assets.ingestion.container_splits import SPLIT_COST, SPLIT_PARENT, SPLIT_UNUSED_COST

FIRST, LAST = dt.date(2026, 11, 20), dt.date(2026, 11, 23)  # a weekend inside
TODAY = dt.date(2026, 11, 30)


def micros(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=float) * 1_000_000).astype(np.int64)


def items() -> pd.DataFrame:
    frame = company.line_items(FIRST, LAST, today=TODAY)
    return frame.assign(day=frame["charge_period_start"].dt.date)


def test_each_nodes_pods_split_and_unused_cost_add_up_to_the_node_to_the_micro_dollar():
    frame = items()
    pods = frame[frame[SPLIT_PARENT].notna()]
    nodes = frame[frame["resource_id"].isin(list(company.EKS_NODES))]
    assert len(nodes) == len(company.EKS_NODES) * 4
    assert (nodes["usage_unit"] == "Hrs").all() and (nodes["service"] == "eks").all()
    assert set(pods[SPLIT_PARENT]) == set(company.EKS_NODES)
    assert (pods["billed_cost"] == 0).all() and (pods["effective_cost"] == 0).all()
    assert (pods["aws_service"] == company.EKS_SERVICE).all() and (pods["charge_category"] == "Usage").all()
    assert frame.loc[frame[SPLIT_PARENT].isna(), [SPLIT_COST, SPLIT_UNUSED_COST]].isna().all().all()

    per_node = pods.assign(total=micros(pods[SPLIT_COST]) + micros(pods[SPLIT_UNUSED_COST])).groupby(
        ["day", SPLIT_PARENT])["total"].sum()
    node_cost = pd.Series(micros(nodes["effective_cost"]), index=pd.MultiIndex.from_frame(nodes[["day", "resource_id"]]))
    assert per_node.to_dict() == node_cost.to_dict()
    idle = pods.groupby(["day", SPLIT_PARENT])[SPLIT_UNUSED_COST].sum() / nodes.set_index(
        ["day", "resource_id"])["effective_cost"].rename_axis(["day", SPLIT_PARENT])
    assert idle.between(*company.EKS_IDLE_SHARE).all()


def test_the_cluster_is_moved_spend_the_days_totals_and_each_workloads_cost_stay_as_they_were():
    frame = items()
    for day, of_day in frame.groupby("day"):
        estimated = (TODAY - day).days <= 2
        start = company.spike_start()
        production = company._line_frame(company.PRODUCTION + company.TOOLING, day, False, estimated, start)
        before = pd.concat([production, company._line_frame(company.NON_PRODUCTION, day, True, estimated, start)])
        assert micros(of_day["effective_cost"]).sum() == micros(before["effective_cost"]).sum()
        daily = of_day[of_day["charge_period_end"] - of_day["charge_period_start"] == pd.Timedelta(days=1)]
        pods = of_day[of_day[SPLIT_PARENT].notna()]
        for number, (namespace, share) in company.EKS_WORKLOADS.items():
            line = company.PRODUCTION[number]
            ref = f"demo {day.isoformat()} line {number}"
            was = micros(production.loc[production["row_ref"] == ref, "effective_cost"]).sum()
            kept = micros(daily.loc[daily["row_ref"] == ref, "effective_cost"]).sum()
            ns = pods[pods["resource_id"].str.startswith(f"{company.EKS_CLUSTER}/{namespace}/")]
            assert (ns["service"] == line.service).all() and (ns["customer_id"].fillna("") == (line.customer_id or "")).all()
            on_pods = micros(ns[SPLIT_COST]).sum() + micros(ns[SPLIT_UNUSED_COST]).sum()
            assert kept + on_pods == was
            assert on_pods == round(was * share)


def test_the_ingestion_split_moves_every_node_onto_its_pods_without_gaps():
    parents, pods = container_splits.parts(items())
    moved, report = container_splits.reclassification(parents, pods)
    assert report.instances == len(company.EKS_NODES) * 4
    assert report.gaps.empty and report.missing_parents.empty and report.unsplit_cost == 0
    assert micros(moved["effective_cost"]).sum() == 0
    unused = moved[moved["charge_category"] == container_splits.UNUSED_CAPACITY]
    assert set(unused["service"]) == {"api", "worker", "data-pipeline"}
    assert 0.10 < report.unused_cost / (report.unused_cost + report.moved_cost) < 0.20
