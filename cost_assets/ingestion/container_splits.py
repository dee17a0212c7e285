"""CUR 2.0 split cost allocation data: an EC2 instance's cost moved onto its pods and tasks
(docs/reference.md#container-split-cost).

A Kubernetes pod or ECS task row names its parent instance
(`split_line_item_parent_resource_id`) and carries no line-item cost of its
own; `split_line_item_split_cost` and `split_line_item_unused_cost` divide the
parent's amortized cost, while the parent's own row still carries that cost.
So that the instance is counted once, each (day, parent) becomes a set of
line items that add up to zero:

- the parent's rows, negated;
- the same cost again, per parent row (its account, provider service and
  charge category), on each pod's tags: the pod's split cost, and its unused
  cost as charge category UnusedCapacity;
- what the pods' figures leave of the parent's cost (AWS's rounding, or a
  gap), on the parent's tags as UnsplitInstanceCost.

Allocation sends UnusedCapacity to unallocated_costs (reason `idle`) or
leaves it on the pods (rules file `allocation.idle`), and UnsplitInstanceCost
always to `idle`. The day's total never changes; hourly_costs keeps the
instances as billed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cost_assets.ingestion.line_items import BILL_DIMENSION_COLUMNS, LINE_ITEM_COLUMNS, TAG_COLUMNS
from cost_assets.metadata import money, table

UNUSED_CAPACITY = "UnusedCapacity"
UNSPLIT_INSTANCE_COST = "UnsplitInstanceCost"
# charge_category values the split writes (allocation reads them back).
CAPACITY_CATEGORIES = (UNUSED_CAPACITY, UNSPLIT_INSTANCE_COST)
# A gap above this between an instance's cost and its pods' split figures is reported.
GAP_TOLERANCE_USD = 0.01
MICROS = 1_000_000

# Optional line-item columns a source gives on pod/task rows (CUR 2.0 split_line_item_*).
SPLIT_PARENT = "split_parent_resource_id"
SPLIT_COST = "split_cost"
SPLIT_UNUSED_COST = "split_unused_cost"
SPLIT_LINE_ITEM_COLUMNS = (SPLIT_PARENT, SPLIT_COST, SPLIT_UNUSED_COST)

# The instance's own rows: what split cost data divides (instance hours, not its data transfer).
INSTANCE_HOUR_UNITS = ("hrs", "hours", "hour", "hr")
INSTANCE_PREFIX = "i-"  # EC2 instance ids: the parents split cost data names
PARENT_DIMENSIONS = BILL_DIMENSION_COLUMNS  # a pod's share keeps its instance's bill dimensions
# Collected per batch and summed per day (billing_files): the parents' and the pods' parts.
PARENT_COLUMNS = ["date", "resource_id", *PARENT_DIMENSIONS, *TAG_COLUMNS, "billed_cost", "effective_cost", "is_estimated"]
POD_COLUMNS = ["date", "parent_resource_id", *TAG_COLUMNS, "split_cost", "unused_cost"]


@dataclass(frozen=True)
class SplitReport:
    """What the split did, for the run's metadata and log."""

    instances: int  # (day, instance) pairs split
    pods: int  # (day, instance, pod tags) groups placed
    moved_cost: float  # instance cost placed on pods (split cost), USD
    unused_cost: float  # UnusedCapacity, USD
    unsplit_cost: float  # UnsplitInstanceCost, USD
    gaps: pd.DataFrame  # date, parent_resource_id, instance_cost, split_total, gap: beyond GAP_TOLERANCE_USD
    missing_parents: pd.DataFrame  # date, parent_resource_id, pods, split_cost: parent not in the day's bill

    def metadata(self) -> dict:
        return {
            "container_split_instance_days": self.instances,
            "container_split_cost_on_pods": money(self.moved_cost),
            "container_unused_cost": money(self.unused_cost),
            "container_unsplit_cost": money(self.unsplit_cost),
            "container_split_gaps": table(self.gaps, limit=20) if not self.gaps.empty else "none",
            "container_pods_without_parent": (table(self.missing_parents, limit=20)
                                              if not self.missing_parents.empty else "none"),
        }

    def warnings(self) -> list[str]:
        notes = []
        if not self.gaps.empty:
            worst = self.gaps.reindex(self.gaps["gap"].abs().sort_values(ascending=False).index).iloc[0]
            notes.append(
                f"split cost allocation data: on {len(self.gaps)} instance-day(s) the pods' split and unused cost "
                f"differ from the instance's effective cost by more than ${GAP_TOLERANCE_USD:.2f} (largest: "
                f"{worst['parent_resource_id']} on {worst['date']}, instance ${worst['instance_cost']:.6f}, pods "
                f"${worst['split_total']:.6f}); the difference is placed as {UNSPLIT_INSTANCE_COST} (reason idle)")
        if not self.missing_parents.empty:
            first = self.missing_parents.iloc[0]
            notes.append(
                f"split cost allocation data: {int(self.missing_parents['pods'].sum())} pod/task group(s) on "
                f"{self.missing_parents['date'].nunique()} day(s) name a parent instance with no instance-hour row "
                f"that day (e.g. {first['parent_resource_id']} on {first['date']}); their split cost "
                f"(${self.missing_parents['split_cost'].sum():.2f}) is not counted, and the instance's cost, "
                f"if billed elsewhere, stays on its own tags")
        return notes


def empty_parents() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("billed_cost", "effective_cost") else
                                      bool if c == "is_estimated" else object) for c in PARENT_COLUMNS})


def empty_pods() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("split_cost", "unused_cost") else object)
                         for c in POD_COLUMNS})


def is_instance_hour(usage_unit: pd.Series) -> pd.Series:
    return usage_unit.astype("string").str.strip().str.lower().isin(INSTANCE_HOUR_UNITS).fillna(False).astype(bool)


def parts(items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(parents, pods) of line items that carry SPLIT_LINE_ITEM_COLUMNS: pods are the rows naming a
    parent; parents are the instance-hour rows of EC2 instances (resource id i-...)."""
    if SPLIT_PARENT not in items or items.empty:
        return empty_parents(), empty_pods()
    day = pd.to_datetime(items["charge_period_start"], utc=True).dt.date
    parent = items[SPLIT_PARENT].astype("string").str.strip().fillna("")
    is_pod = (parent != "").to_numpy()
    resource = items["resource_id"].astype("string").str.strip().fillna("")
    is_parent = ~is_pod & is_instance_hour(items["usage_unit"]).to_numpy() & resource.str.startswith(INSTANCE_PREFIX).to_numpy()
    pods = items.loc[is_pod, list(TAG_COLUMNS)].assign(
        date=day[is_pod], parent_resource_id=parent[is_pod],
        split_cost=pd.to_numeric(items.loc[is_pod, SPLIT_COST], errors="coerce").fillna(0.0),
        unused_cost=pd.to_numeric(items.loc[is_pod, SPLIT_UNUSED_COST], errors="coerce").fillna(0.0))
    parents = items.loc[is_parent, [*PARENT_DIMENSIONS, *TAG_COLUMNS, "billed_cost", "effective_cost",
                                    "is_estimated"]].assign(date=day[is_parent], resource_id=resource[is_parent])
    parents["is_estimated"] = parents["is_estimated"].fillna(False).astype(bool)
    return sum_parents(parents[PARENT_COLUMNS]), sum_pods(pods[POD_COLUMNS])


def sum_parents(parents: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in PARENT_COLUMNS if c not in ("billed_cost", "effective_cost", "is_estimated")]
    return (parents.groupby(keys, dropna=False, sort=False, observed=True)
            .agg(billed_cost=("billed_cost", "sum"), effective_cost=("effective_cost", "sum"),
                 is_estimated=("is_estimated", "any"))
            .reset_index()[PARENT_COLUMNS])


def sum_pods(pods: pd.DataFrame) -> pd.DataFrame:
    keys = ["date", "parent_resource_id", *TAG_COLUMNS]
    return (pods.groupby(keys, dropna=False, sort=False, observed=True)[["split_cost", "unused_cost"]].sum()
            .reset_index()[POD_COLUMNS])


def _micros(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=float) * MICROS).astype(np.int64)


def _split_signed(pool: int, weights: np.ndarray, total: int) -> np.ndarray:
    """`pool` micro-dollars cut at the rounded cumulative boundaries of `weights` (which sum to
    `total`, signs mixed allowed): the parts add up to `pool` exactly."""
    boundary = np.rint(pool * (np.cumsum(weights) / total)).astype(np.int64)
    boundary[-1] = pool
    return np.diff(np.r_[np.int64(0), boundary])


def reclassification(parents: pd.DataFrame, pods: pd.DataFrame, source_label: str = "split cost allocation data"
                     ) -> tuple[pd.DataFrame, SplitReport]:
    """Line items (LINE_ITEM_COLUMNS, daily) that move each split instance's cost onto its pods.

    parents: PARENT_COLUMNS, the instance-hour rows of every instance (summed per day is enough);
    pods: POD_COLUMNS, the pod/task rows that name a parent. Tags are raw, as a source gives them.
    The items of one (day, parent) add up to zero, to the micro-dollar.
    """
    pods = sum_pods(pods) if not pods.empty else empty_pods()
    pods = pods[pods["parent_resource_id"].notna() & (pods["parent_resource_id"].astype(str) != "")]
    named = pods[["date", "parent_resource_id"]].drop_duplicates()
    parents = sum_parents(parents) if not parents.empty else empty_parents()
    parents = parents.merge(named.rename(columns={"parent_resource_id": "resource_id"}), on=["date", "resource_id"])
    present = parents[["date", "resource_id"]].drop_duplicates().rename(columns={"resource_id": "parent_resource_id"})
    found = pods.merge(present, on=["date", "parent_resource_id"], how="left", indicator=True)["_merge"].eq("both")
    missing = (pods[~found.to_numpy()].groupby(["date", "parent_resource_id"], as_index=False)
               .agg(pods=("split_cost", "size"), split_cost=("split_cost", "sum")))
    pods = pods[found.to_numpy()].sort_values(["date", "parent_resource_id", *TAG_COLUMNS], kind="stable",
                                               na_position="first")

    rows: list[dict] = []
    gaps: list[dict] = []
    instances = placed = 0
    moved = unused_total = unsplit_total = 0
    pods_by_parent = {key: group for key, group in pods.groupby(["date", "parent_resource_id"], sort=False)}
    for (day, parent), own in parents.groupby(["date", "resource_id"], sort=True):
        recipients = pods_by_parent[(day, parent)]
        effective = _micros(own["effective_cost"])
        billed = _micros(own["billed_cost"])
        instance = int(effective.sum())
        split = _micros(recipients["split_cost"])
        idle = _micros(recipients["unused_cost"])
        gap = instance - int(split.sum()) - int(idle.sum())
        if abs(gap) > GAP_TOLERANCE_USD * MICROS:
            gaps.append({"date": day, "parent_resource_id": parent, "instance_cost": instance / MICROS,
                         "split_total": (instance - gap) / MICROS, "gap": gap / MICROS})
        if instance == 0:
            continue  # nothing billed to move: the pods' figures are reported as a gap, not invented
        instances += 1
        placed += len(recipients)
        # Recipients in order: each pod's split cost, each pod's unused cost, then the rest.
        weights = np.r_[split, idle, gap]
        pod_tags = recipients[TAG_COLUMNS].to_dict("records")
        tags = [*pod_tags, *pod_tags, None]
        categories = [None] * len(pod_tags) + [UNUSED_CAPACITY] * len(pod_tags) + [UNSPLIT_INSTANCE_COST]
        for (_, row), row_effective, row_billed in zip(own.iterrows(), effective, billed):
            dims = {c: row[c] for c in PARENT_DIMENSIONS}
            parent_tags = {c: row[c] for c in TAG_COLUMNS}
            common = {"date": day, "is_estimated": bool(row["is_estimated"]),
                      "ref": f"{source_label}: instance {parent} on {day}"}
            rows.append({**common, **dims, **parent_tags, "billed": -int(row_billed), "effective": -int(row_effective)})
            effective_parts = _split_signed(int(row_effective), weights, instance)
            billed_parts = _split_signed(int(row_billed), weights, instance)
            for recipient_tags, category, part, billed_part in zip(tags, categories, effective_parts, billed_parts):
                if part == 0 and billed_part == 0:
                    continue
                rows.append({**common, **dims, **(recipient_tags or parent_tags),
                             "charge_category": category or dims["charge_category"],
                             "billed": int(billed_part), "effective": int(part)})
        moved += int(split.sum())
        unused_total += int(idle.sum())
        unsplit_total += gap

    report = SplitReport(
        instances=instances, pods=placed, moved_cost=moved / MICROS, unused_cost=unused_total / MICROS,
        unsplit_cost=unsplit_total / MICROS,
        gaps=pd.DataFrame(gaps, columns=["date", "parent_resource_id", "instance_cost", "split_total", "gap"]),
        missing_parents=missing[["date", "parent_resource_id", "pods", "split_cost"]].reset_index(drop=True),
    )
    return _line_items(rows), report


def _line_items(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["date", *PARENT_DIMENSIONS, *TAG_COLUMNS, "billed", "effective",
                                        "is_estimated", "ref"])
    start = pd.to_datetime(pd.Series(frame["date"], dtype=object)).dt.tz_localize("UTC")
    items = pd.DataFrame({
        "charge_period_start": start,
        "charge_period_end": start + pd.Timedelta(days=1),
        **{c: frame[c] for c in [*PARENT_DIMENSIONS, *TAG_COLUMNS]},
        "resource_id": "",
        "billed_cost": frame["billed"].to_numpy(dtype=np.int64) / MICROS,
        "effective_cost": frame["effective"].to_numpy(dtype=np.int64) / MICROS,
        "usage_quantity": 0.0,
        "is_estimated": frame["is_estimated"].astype(bool),
        "row_ref": frame["ref"],
    })
    return items[LINE_ITEM_COLUMNS]
