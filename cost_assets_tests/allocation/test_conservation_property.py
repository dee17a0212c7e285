"""Property: whatever the bill, usage and customers, every micro-dollar of each
day ends up allocated or unallocated, exactly once."""

import dataclasses
import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_assets.allocation.allocation import allocate, hop_rows, to_micros
from cost_assets.allocation.rules import IDLE, IDLE_MODES, IDLE_UNALLOCATED, parse_allocation_rules
from cost_assets.ingestion.container_splits import UNSPLIT_INSTANCE_COST, UNUSED_CAPACITY

DAYS = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(3)]
CUSTOMERS = ["cust-1", "cust-2", "cust-3", "cust-4"]
SERVICES = ["shared-db", "api", "worker", "search", "integrations", "data-pipeline", "ci", "untagged"]

RULES = parse_allocation_rules({
    "internal_environments": ["staging"],
    "internal_services": ["ci"],
    "rules": [
        {"name": "dedicated", "method": "direct", "priority": 10},
        {"name": "shared", "method": "usage_proportional", "priority": 20, "services": ["shared-db", "api"]},
        {"name": "compute", "method": "usage_proportional", "priority": 30, "services": ["worker"], "driver": "api"},
        {"name": "platform", "method": "even", "priority": 40, "services": ["search"]},
        {"name": "partner", "method": "fixed", "priority": 50, "services": ["integrations"],
         "shares": {"cust-1": 33.3, "cust-2": 33.3, "cust-unknown": 33.4}},
    ],
    "overhead": {"enabled": True, "reasons": ["untagged", "no_usage", "unknown_customer"]},
}, "property-rules.yaml")

# Amounts in micro-dollars, credits included.
money = st.integers(min_value=-50_000_000, max_value=5_000_000_000).map(lambda m: m / 1_000_000)

cost_rows = st.lists(
    st.fixed_dictionaries({
        "date": st.sampled_from(DAYS),
        "team": st.sampled_from(["core", "data", "untagged"]),
        "service": st.sampled_from(SERVICES),
        "customer_id": st.sampled_from([*CUSTOMERS, "cust-099", "untagged"]),
        "environment": st.sampled_from(["production", "production", "staging", "untagged"]),
        "effective_cost": money,
    }),
    max_size=40,
)
metric_rows = st.lists(
    st.fixed_dictionaries({
        "date": st.sampled_from(DAYS),
        "service": st.sampled_from(["shared-db", "api", "worker"]),
        "customer_id": st.sampled_from([*CUSTOMERS, "cust-ghost"]),
        "request_count": st.integers(min_value=0, max_value=10**9),
    }),
    max_size=30,
)
customer_rows = st.lists(
    st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(["active", "active", "churned"])),
    max_size=4, unique_by=lambda t: t[0],
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cost_rows, metric_rows, customer_rows)
def test_allocated_plus_unallocated_equals_the_bill_to_the_micro_dollar(costs, metrics, known):
    costs = pd.DataFrame(costs, columns=["date", "team", "service", "customer_id", "environment", "effective_cost"])
    metrics = pd.DataFrame(metrics, columns=["date", "service", "customer_id", "request_count"])
    # Duplicate (day, service, customer) metrics rows are summed by the product database query.
    metrics = metrics.groupby(["date", "service", "customer_id"], as_index=False)["request_count"].sum()
    customers = pd.DataFrame([{"date": d, "id": c, "status": s} for d in DAYS for c, s in known],
                             columns=["date", "id", "status"])

    result = allocate(costs, metrics, customers, RULES)

    bill = costs.assign(m=to_micros(costs["effective_cost"])).groupby("date")["m"].sum()
    allocated = result.allocated.assign(m=to_micros(result.allocated["allocated_cost"])).groupby("date")["m"].sum()
    unallocated = result.unallocated.assign(m=to_micros(result.unallocated["cost"])).groupby("date")["m"].sum()
    placed = allocated.add(unallocated, fill_value=0).reindex(DAYS, fill_value=0)
    assert placed.tolist() == bill.reindex(DAYS, fill_value=0).tolist()

    # Only known customers receive cost.
    assert set(result.allocated["customer_id"]) <= {c for c, _ in known}
    assert result.allocated["proportion"].between(0, 1).all()

    # Overhead spreads exactly the chosen reasons of the days it could be spread on.
    chosen = result.unallocated[result.unallocated["reason"].isin(RULES.overhead_reasons)]
    chosen_micros = chosen.assign(m=to_micros(chosen["cost"])).groupby("date")["m"].sum()
    spread = result.overhead.assign(m=to_micros(result.overhead["overhead_cost"])).groupby("date")["m"].sum()
    unspread = result.unspread_overhead.assign(m=to_micros(result.unspread_overhead["cost"])).groupby("date")["m"].sum()
    assert spread.add(unspread, fill_value=0).reindex(DAYS, fill_value=0).tolist() == \
        chosen_micros.reindex(DAYS, fill_value=0).tolist()


# --- usage metrics beyond requests, driver: cost and splits onto services in stages -------------

STAGED_RULES = parse_allocation_rules({
    "internal_environments": ["staging"],
    "internal_services": ["ci"],
    "rules": [
        {"name": "observability-to-services", "method": "usage_proportional", "priority": 5,
         "services": ["observability"], "targets": "services", "driver": {"metric": "log_gb"}},
        {"name": "platform-by-cost", "method": "usage_proportional", "priority": 6, "services": ["search"],
         "targets": "services", "driver": "cost"},
        {"name": "dedicated", "method": "direct", "priority": 10},
        {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
         "driver": {"service": "shared-db", "metric": "db_time_ms"}},
        {"name": "compute", "method": "usage_proportional", "priority": 30, "services": ["api", "worker"],
         "driver": "api"},
        {"name": "partner", "method": "fixed", "priority": 50, "services": ["integrations"],
         "shares": {"cust-1": 50, "cust-unknown": 50}},
        {"name": "overhead-by-cost", "method": "usage_proportional", "priority": 90, "services": ["data-pipeline"],
         "driver": "cost"},
    ],
    "overhead": {"enabled": True, "reasons": ["untagged", "no_usage"]},
}, "property-staged-rules.yaml")
STAGED_SERVICES = ["observability", "search", "shared-db", "api", "worker", "integrations", "data-pipeline", "ci",
                   "untagged"]

staged_cost_rows = st.lists(
    st.fixed_dictionaries({
        "date": st.sampled_from(DAYS),
        "team": st.sampled_from(["core", "platform"]),
        "service": st.sampled_from(STAGED_SERVICES),
        "customer_id": st.sampled_from([*CUSTOMERS, "cust-099", "untagged", "untagged"]),
        "environment": st.sampled_from(["production", "production", "staging"]),
        "effective_cost": money,
        # unused container capacity (ingestion/container_splits.py): idle, or the pods' by allocation.idle
        "capacity": st.sampled_from(["", "", "", UNUSED_CAPACITY, UNSPLIT_INSTANCE_COST]),
    }),
    max_size=30,
)
usage_rows = st.lists(
    st.fixed_dictionaries({
        "date": st.sampled_from(DAYS),
        "service": st.sampled_from(STAGED_SERVICES),
        # '' is the service's own usage: the driver of splits between services.
        "customer_id": st.sampled_from([*CUSTOMERS, "cust-ghost", "", ""]),
        "metric": st.sampled_from(["requests", "db_time_ms", "log_gb", "storage_gb"]),
        "quantity": st.one_of(st.integers(min_value=0, max_value=10**9),
                              st.floats(min_value=0, max_value=1e6, allow_nan=False)),
    }),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(staged_cost_rows, usage_rows, customer_rows, st.sampled_from(IDLE_MODES))
def test_metrics_and_stages_create_or_lose_no_micro_dollar(costs, usage, known, idle):
    costs = pd.DataFrame(costs, columns=["date", "team", "service", "customer_id", "environment", "effective_cost",
                                         "capacity"])
    usage = pd.DataFrame(usage, columns=["date", "service", "customer_id", "metric", "quantity"])
    usage = usage.groupby(["date", "service", "customer_id", "metric"], as_index=False)["quantity"].sum()
    customers = pd.DataFrame([{"date": d, "id": c, "status": s} for d in DAYS for c, s in known],
                             columns=["date", "id", "status"])

    result = allocate(costs, usage, customers, dataclasses.replace(STAGED_RULES, idle=idle))

    def per_day(frame, column):
        return frame.assign(m=to_micros(frame[column])).groupby("date")["m"].sum().reindex(DAYS, fill_value=0)

    bill = per_day(costs, "effective_cost")
    allocated = per_day(result.allocated, "allocated_cost")
    assert (allocated + per_day(result.unallocated, "cost")).tolist() == bill.tolist()
    assert set(result.allocated["customer_id"]) <= {c for c, _ in known}
    # Unused capacity outside staging is idle when the rules say so, and a split's gap always is.
    production = (costs["environment"] != "staging") & (costs["service"] != "ci")  # internal wins
    idle_rows = costs[production & ((costs["capacity"] == UNSPLIT_INSTANCE_COST)
                                    | ((costs["capacity"] == UNUSED_CAPACITY) & (idle == IDLE_UNALLOCATED)))]
    idle_cost = result.unallocated[result.unallocated["reason"] == IDLE]
    assert per_day(idle_cost, "cost").tolist() == per_day(idle_rows, "effective_cost").tolist()

    # The customer hops are customer_cost_allocation, origin by origin.
    hops = hop_rows(result.hops, staged_only=False)
    to_customers = hops[hops["recipient_kind"] == "customer"]
    assert per_day(to_customers, "cost").tolist() == allocated.tolist()
    # A stage moves a pool between services only: never onto the service that sends it.
    between = hops[hops["recipient_kind"] == "service"]
    assert (between["from_service"] != between["recipient"]).all()
    assert set(between["stage"]) <= {1, 2} and set(to_customers["stage"]) <= {len(STAGED_RULES.service_rules()) + 1}
