"""Allocation assets: customer_cost_allocation, unallocated_costs,
customer_overhead_allocation and allocation_hops, per UTC day, with the blocking conservation check;
focus_allocated_costs after them."""

import datetime as dt
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, AssetSpec, MaterializeResult, asset, multi_asset

from cost_assets.allocation import queries
from cost_assets.allocation.allocation import (
    Allocation,
    allocate,
    conservation_gaps,
    customers_by_day,
    describe_driver_gap,
    describe_gaps,
    drivers_without_metrics,
    hop_rows,
)
from cost_assets.allocation.focus_allocated import focus_allocated_rows, origin_charges
from cost_assets.allocation.rules import (
    NO_USAGE,
    REQUESTS,
    AllocationRules,
    check_rule_drivers,
    load_allocation_rules,
)
from cost_assets.ingestion.checks import RECONCILIATION_TOLERANCE_USD
from cost_assets.ingestion.focus_export import focus_costs_rows, to_export
from cost_assets.metadata import money, table
from cost_assets.partitions import backfill_policy, chunk_failure, commit_in_chunks, daily_partitions, run_chunks, window_days
from cost_assets.resources import schema
from cost_assets.resources.warehouse import Warehouse

GROUP = "allocation"
INPUTS = ["daily_costs", "service_metrics", "usage_metrics", "customer_snapshots"]
WHAT = "customer_cost_allocation, unallocated_costs, customer_overhead_allocation and allocation_hops"

CONSERVATION_CHECK = "allocation_conserves_daily_costs"


class AllocationNotConserved(RuntimeError):
    """Allocated + unallocated cost differs from daily_costs; the message names the days."""


class WindowSummary:
    """Small aggregates of a window's allocation for the materialization metadata
    (chunks are folded in as they are written, so the rows themselves are not kept)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[pd.DataFrame]] = {"customer": [], "rule": [], "reason": [], "overhead": [], "unspread": [],
                                                     "no_usage": []}
        self.rows = {"allocated": 0, "unallocated": 0, "overhead": 0, "hops": 0}
        self.stages = 0
        self.drivers_with_requests: set[str] = set()

    def add(self, result: Allocation, metrics: pd.DataFrame) -> None:
        self.parts["customer"].append(result.allocated.groupby("customer_id", as_index=False)["allocated_cost"].sum())
        self.parts["rule"].append(result.allocated.groupby(["allocation_method", "rule"], as_index=False)["allocated_cost"].sum())
        self.parts["reason"].append(result.unallocated.groupby(["reason", "service"], as_index=False)["cost"].sum())
        self.parts["overhead"].append(result.overhead.groupby("reason", as_index=False)["overhead_cost"].sum())
        self.parts["unspread"].append(result.unspread_overhead)
        no_usage = result.unallocated[result.unallocated["reason"] == NO_USAGE]
        self.parts["no_usage"].append(no_usage.groupby(["date", "service"], as_index=False)["cost"].sum())
        self.drivers_with_requests.update(metrics.loc[metrics["metric"] == REQUESTS, "service"].unique())
        self.rows["allocated"] += len(result.allocated)
        self.rows["unallocated"] += len(result.unallocated)
        self.rows["overhead"] += len(result.overhead)
        self.rows["hops"] += len(hop_rows(result.hops))
        self.stages = max(self.stages, result.hops.stages)

    def total(self, part: str, keys: list[str], value: str) -> pd.DataFrame:
        frame = pd.concat(self.parts[part], ignore_index=True)
        return (frame.groupby(keys, as_index=False)[value].sum()
                .sort_values(value, ascending=False).round({value: 2}).reset_index(drop=True))

    def unspread(self) -> pd.DataFrame:
        return pd.concat(self.parts["unspread"], ignore_index=True)

    def driver_gaps(self, rules: AllocationRules) -> pd.DataFrame:
        return drivers_without_metrics(rules, self.drivers_with_requests,
                                       pd.concat(self.parts["no_usage"], ignore_index=True))


def _commit_chunk(warehouse: Warehouse, start: dt.date, end: dt.date, result: Allocation) -> pd.DataFrame:
    """Write a chunk's allocation and commit it once the blocking conservation check holds for its days."""
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.customer_cost_allocation, start, end, result.allocated)
        warehouse.replace_window(conn, schema.unallocated_costs, start, end, result.unallocated)
        warehouse.replace_window(conn, schema.customer_overhead_allocation, start, end, result.overhead)
        warehouse.replace_window(conn, schema.allocation_hops, start, end, hop_rows(result.hops))
        totals = queries.conservation_totals(conn, start, end)
        gaps = conservation_gaps(totals)
        if not gaps.empty:
            # Raising rolls the chunk back: its days keep the previous good allocation.
            raise AllocationNotConserved(describe_gaps(gaps))
    return totals


@contextmanager
def _writer(warehouse: Warehouse) -> Iterator[Executor]:
    """Runs chunk writes beside the next chunk's allocation: in a thread on
    PostgreSQL; inline on SQLite, which has one writer at a time."""
    if warehouse.dialect() == "postgresql":
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="allocation-writer") as pool:
            yield pool
    else:
        yield _InlineExecutor()


class _InlineExecutor(Executor):
    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as a thread would
            future.set_exception(exc)
        return future


@multi_asset(
    specs=[
        AssetSpec("customer_cost_allocation", group_name=GROUP, kinds={"sql"}, deps=INPUTS,
                  description="Effective cost placed on customers per day, customer, service and method (rules file)."),
        AssetSpec("unallocated_costs", group_name=GROUP, kinds={"sql"}, deps=INPUTS,
                  description="Effective cost no rule placed on a customer, per day, service, team and reason."),
        AssetSpec("customer_overhead_allocation", group_name=GROUP, kinds={"sql"}, deps=INPUTS,
                  description="Chosen unallocated reasons spread over customers by allocated cost (fully loaded cost)."),
        AssetSpec("allocation_hops", group_name=GROUP, kinds={"sql"}, deps=INPUTS,
                  description="Staged allocation hop by hop: rule, driver metric and quantity."),
    ],
    check_specs=[
        AssetCheckSpec(CONSERVATION_CHECK, asset="customer_cost_allocation", blocking=True,
                       description="Each day, allocated + unallocated cost equals daily_costs.effective_cost (±$0.01)."),
    ],
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
)
def cost_allocation(context: AssetExecutionContext, warehouse: Warehouse):
    first, last = window_days(context.partition_time_window)
    rules = load_allocation_rules()
    drivers, driver_metrics = rules.driver_services(), rules.driver_metrics()
    summary = WindowSummary()
    committed: list[tuple[dt.date, dt.date]] = []
    checked: list[pd.DataFrame] = []
    pending: tuple[tuple[dt.date, dt.date], Future] | None = None

    def settle() -> None:
        """Wait for the chunk in flight; its failure fails the run, naming what was committed."""
        span, future = pending
        try:
            checked.append(future.result())
        except Exception as exc:
            raise chunk_failure(WHAT, span, last, committed, exc) from exc
        committed.append(span)
        if span != (first, last):
            context.log.info(f"{WHAT}: committed days {span[0]}..{span[1]}")

    warehouse.create_schema()
    with warehouse.engine.connect() as reader, _writer(warehouse) as writer:
        check_rule_drivers(rules, *queries.known_drivers(reader))
        for start, end in run_chunks(first, last):
            try:
                # Inputs come from a connection of their own so the next chunk is read and
                # allocated while the database still writes the previous one.
                costs = queries.cost_rows(reader, start, end)
                customers = customers_by_day(queries.snapshots_for(reader, start, end), sorted(set(costs["date"])))
                metrics = queries.driver_metrics(reader, start, end, drivers, driver_metrics)
                reader.rollback()  # end the read snapshot: SQLite cannot write behind an open read
                result = allocate(costs, metrics, customers, rules)
            except Exception as exc:
                if pending is not None:
                    settle()  # the write in flight decides which days the message names as committed
                raise chunk_failure(WHAT, (start, end), last, committed, exc) from exc
            if pending is not None:
                settle()  # one write in flight
            pending = ((start, end), writer.submit(_commit_chunk, warehouse, start, end, result))
            summary.add(result, metrics)
        settle()
    totals = pd.concat(checked, ignore_index=True)

    unspread = summary.unspread()
    driver_gaps = summary.driver_gaps(rules)
    for gap in driver_gaps.itertuples():
        context.log.warning(describe_driver_gap(gap))
    effective = float(totals["effective"].sum())
    yield MaterializeResult(
        asset_key="customer_cost_allocation",
        metadata={
            "rules_file": rules.path,
            "days_with_costs": int((totals["effective"] != 0).sum()),
            "row_count": summary.rows["allocated"],
            "total_effective_cost": money(effective),
            "total_allocated_cost": money(totals["allocated"].sum()),
            "allocated_share": round(float(totals["allocated"].sum()) / effective, 4) if effective else 0.0,
            "top_customers": table(summary.total("customer", ["customer_id"], "allocated_cost"), limit=20),
            "by_rule": table(summary.total("rule", ["allocation_method", "rule"], "allocated_cost")),
            "drivers_without_metrics": table(driver_gaps),
        },
        check_results=[
            AssetCheckResult(
                check_name=CONSERVATION_CHECK,
                asset_key="customer_cost_allocation",
                passed=True,
                metadata={
                    "days": len(totals),
                    "largest_difference_usd": float(
                        (totals["allocated"] + totals["unallocated"] - totals["effective"]).abs().max().round(6)
                    ) if len(totals) else 0.0,
                    "tolerance_usd": RECONCILIATION_TOLERANCE_USD,
                },
            )
        ],
    )
    yield MaterializeResult(
        asset_key="unallocated_costs",
        metadata={
            "row_count": summary.rows["unallocated"],
            "total_unallocated_cost": money(totals["unallocated"].sum()),
            "by_reason": table(summary.total("reason", ["reason", "service"], "cost"), limit=20),
        },
    )
    yield MaterializeResult(
        asset_key="customer_overhead_allocation",
        metadata={
            "row_count": summary.rows["overhead"],
            "reasons_spread": ", ".join(rules.overhead_reasons) or "none (allocation.overhead disabled)",
            "spread_by_reason": table(summary.total("overhead", ["reason"], "overhead_cost")),
            "unspread_cost": money(unspread["cost"].sum()),
            "unspread_days": ", ".join(sorted({str(d) for d in unspread["date"]})) or "none",
        },
    )
    yield MaterializeResult(
        asset_key="allocation_hops",
        metadata={"row_count": summary.rows["hops"], "stages": summary.stages},
    )


@asset(group_name=GROUP, kinds={"sql"}, partitions_def=daily_partitions, backfill_policy=backfill_policy,
       deps=["daily_costs", "customer_snapshots", "customer_cost_allocation", "allocation_hops", "unallocated_costs"],
       description="focus_costs charges split onto the customers the allocation placed them on, with the FOCUS 1.3 "
                   "allocation columns (focus_export --allocated).")
def focus_allocated_costs(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    rules = load_allocation_rules()

    def write_chunk(conn, start: dt.date, end: dt.date) -> pd.DataFrame:
        origin = origin_charges(to_export(focus_costs_rows(conn, start, end)), rules)
        allocated, hops, unallocated = queries.allocation_results(conn, start, end)
        days = sorted(set(allocated["date"]))
        names = customers_by_day(queries.snapshots_for(conn, start, end), days) if days else pd.DataFrame(
            {"date": [], "id": [], "name": []})
        rows = focus_allocated_rows(origin, allocated, hops, unallocated, names, rules)
        warehouse.replace_window(conn, schema.focus_allocated_costs, start, end, rows)
        return rows.groupby(rows["x_CustomerId"].isna())["EffectiveCost"].sum().rename({True: "unallocated", False: "allocated"})

    totals = pd.concat(commit_in_chunks(warehouse, first, last, write_chunk, context.log, "focus_allocated_costs"), axis=1)
    by_kind = totals.sum(axis=1) if not totals.empty else pd.Series(dtype=float)
    return MaterializeResult(metadata={
        "allocated_effective_cost": money(by_kind.get("allocated", 0.0)),
        "unallocated_effective_cost": money(by_kind.get("unallocated", 0.0)),
    })
