"""Hand-computed allocation cases, one per rule and per unallocated reason."""

import datetime as dt

import pandas as pd
import pytest

from cost_assets.allocation.allocation import (
    MissingCustomerSnapshot,
    allocate,
    conservation_gaps,
    customers_by_day,
    describe_days,
    describe_driver_gap,
    drivers_without_metrics,
    split_pools,
    to_micros,
)
from cost_assets.allocation.rules import parse_allocation_rules

DAY = dt.date(2026, 3, 1)
NEXT_DAY = dt.date(2026, 3, 2)

RULES = {
    "internal_environments": ["staging"],
    "internal_services": ["ci"],
    "rules": [
        {"name": "dedicated", "method": "direct", "priority": 10},
        {"name": "shared", "method": "usage_proportional", "priority": 20, "services": ["shared-db"]},
        {"name": "compute", "method": "usage_proportional", "priority": 30, "services": ["worker"], "driver": "api"},
        {"name": "platform", "method": "even", "priority": 40, "services": ["search"]},
        {"name": "partner", "method": "fixed", "priority": 50, "services": ["integrations"],
         "shares": {"cust-a": 60, "cust-b": 40}},
    ],
}


def rules(**changes):
    return parse_allocation_rules({**RULES, **changes}, "test-rules.yaml")


def costs(*rows):
    """rows: (service, customer_id, cost[, environment[, day[, team]]])."""
    records = []
    for service, customer, cost, *rest in rows:
        environment, day, team = [*rest, *("production", DAY, "core")[len(rest):]]
        records.append({"date": day, "team": team, "service": service, "customer_id": customer,
                        "environment": environment, "effective_cost": cost})
    return pd.DataFrame(records)


def metrics(*rows):
    """rows: (service, customer_id, requests[, day])."""
    return pd.DataFrame([{"date": r[3] if len(r) > 3 else DAY, "service": r[0], "customer_id": r[1], "request_count": r[2]}
                         for r in rows], columns=["date", "service", "customer_id", "request_count"])


def customers(*ids, churned=(), days=(DAY,)):
    return pd.DataFrame([{"date": day, "id": i, "status": "churned" if i in churned else "active"}
                         for day in days for i in [*ids, *churned]])


CUSTOMERS = customers("cust-a", "cust-b", "cust-c")


def placed(result) -> dict:
    frame = result.allocated
    return {(r.customer_id, r.service, r.allocation_method): round(r.allocated_cost, 6) for r in frame.itertuples()}


def unplaced(result) -> dict:
    return {(r.service, r.reason): round(r.cost, 6) for r in result.unallocated.itertuples()}


def assert_conserved(result, cost_rows):
    by_day = cost_rows.assign(m=to_micros(cost_rows["effective_cost"])).groupby("date")["m"].sum()
    allocated = result.allocated.assign(m=to_micros(result.allocated["allocated_cost"])).groupby("date")["m"].sum()
    unallocated = result.unallocated.assign(m=to_micros(result.unallocated["cost"])).groupby("date")["m"].sum()
    total = allocated.add(unallocated, fill_value=0)
    assert total.reindex(by_day.index, fill_value=0).tolist() == by_day.tolist()


def test_direct_cost_goes_wholly_to_the_tagged_customer():
    rows = costs(("data-pipeline", "cust-a", 12.5), ("data-pipeline", "cust-a", 0.25), ("data-pipeline", "cust-b", 3.0))
    result = allocate(rows, metrics(), CUSTOMERS, rules())
    assert placed(result) == {("cust-a", "data-pipeline", "direct"): 12.75, ("cust-b", "data-pipeline", "direct"): 3.0}
    assert set(result.allocated["proportion"]) == {1.0}
    assert set(result.allocated["rule"]) == {"dedicated"}
    assert result.unallocated.empty


def test_usage_proportional_splits_by_the_services_own_requests():
    rows = costs(("shared-db", "untagged", 100.0))
    usage = metrics(("shared-db", "cust-a", 100), ("shared-db", "cust-b", 300), ("api", "cust-c", 1000))
    result = allocate(rows, usage, CUSTOMERS, rules())
    assert placed(result) == {("cust-a", "shared-db", "usage_proportional"): 25.0,
                              ("cust-b", "shared-db", "usage_proportional"): 75.0}
    assert sorted(result.allocated["proportion"]) == [0.25, 0.75]


def test_usage_proportional_can_be_driven_by_another_services_requests():
    rows = costs(("worker", "untagged", 60.0))
    # The worker's own requests would split 50/50; the rule says to use the api's.
    usage = metrics(("api", "cust-a", 10), ("api", "cust-b", 20), ("worker", "cust-a", 5), ("worker", "cust-b", 5))
    result = allocate(rows, usage, CUSTOMERS, rules())
    assert placed(result) == {("cust-a", "worker", "usage_proportional"): 20.0,
                              ("cust-b", "worker", "usage_proportional"): 40.0}
    assert set(result.allocated["rule"]) == {"compute"}


def test_even_splits_equally_over_active_customers_only():
    rows = costs(("search", "untagged", 90.0))
    result = allocate(rows, metrics(), customers("cust-a", "cust-b", "cust-c", churned=["cust-z"]), rules())
    assert placed(result) == {(c, "search", "even"): 30.0 for c in ["cust-a", "cust-b", "cust-c"]}


def test_fixed_splits_by_the_percentages_of_the_rules_file():
    rows = costs(("integrations", "untagged", 200.0))
    result = allocate(rows, metrics(), CUSTOMERS, rules())
    assert placed(result) == {("cust-a", "integrations", "fixed"): 120.0, ("cust-b", "integrations", "fixed"): 80.0}
    assert sorted(result.allocated["proportion"]) == [0.4, 0.6]


def test_a_fixed_share_of_an_unknown_customer_stays_unallocated():
    rows = costs(("integrations", "untagged", 200.0))
    result = allocate(rows, metrics(), customers("cust-a"), rules())
    assert placed(result) == {("cust-a", "integrations", "fixed"): 120.0}
    assert unplaced(result) == {("integrations", "unknown_customer"): 80.0}


def test_a_customer_tagged_cost_on_a_shared_service_is_direct_and_not_split_again():
    rows = costs(("shared-db", "cust-c", 40.0), ("shared-db", "untagged", 100.0))
    usage = metrics(("shared-db", "cust-a", 1), ("shared-db", "cust-b", 1), ("shared-db", "cust-c", 2))
    result = allocate(rows, usage, CUSTOMERS, rules())
    assert placed(result) == {
        ("cust-c", "shared-db", "direct"): 40.0,
        ("cust-a", "shared-db", "usage_proportional"): 25.0,
        ("cust-b", "shared-db", "usage_proportional"): 25.0,
        ("cust-c", "shared-db", "usage_proportional"): 50.0,
    }


def test_priority_decides_which_rule_places_a_cost():
    # With the split rule ahead of the direct rule, the tagged cost joins the pool.
    reordered = [dict(r, priority=5) if r["name"] == "shared" else r for r in RULES["rules"]]
    rows = costs(("shared-db", "cust-c", 40.0), ("shared-db", "untagged", 100.0))
    usage = metrics(("shared-db", "cust-a", 1), ("shared-db", "cust-b", 1), ("shared-db", "cust-c", 2))
    result = allocate(rows, usage, CUSTOMERS, rules(rules=reordered))
    assert placed(result) == {
        ("cust-a", "shared-db", "usage_proportional"): 35.0,
        ("cust-b", "shared-db", "usage_proportional"): 35.0,
        ("cust-c", "shared-db", "usage_proportional"): 70.0,
    }


def test_a_tag_naming_no_known_customer_is_unallocated_as_unknown_customer():
    rows = costs(("data-pipeline", "cust-099", 15.0), ("data-pipeline", "cust-a", 5.0))
    result = allocate(rows, metrics(), CUSTOMERS, rules())
    assert placed(result) == {("cust-a", "data-pipeline", "direct"): 5.0}
    assert unplaced(result) == {("data-pipeline", "unknown_customer"): 15.0}


def test_requests_of_an_unknown_customer_keep_their_share_unallocated():
    rows = costs(("shared-db", "untagged", 100.0))
    usage = metrics(("shared-db", "cust-a", 1), ("shared-db", "cust-ghost", 3))
    result = allocate(rows, usage, CUSTOMERS, rules())
    assert placed(result) == {("cust-a", "shared-db", "usage_proportional"): 25.0}
    assert unplaced(result) == {("shared-db", "unknown_customer"): 75.0}


def test_a_shared_service_without_requests_that_day_is_unallocated_as_no_usage():
    rows = costs(("shared-db", "untagged", 100.0), ("shared-db", "untagged", 80.0, "production", NEXT_DAY))
    usage = metrics(("shared-db", "cust-a", 10), ("shared-db", "cust-b", 0, NEXT_DAY))  # a zero count is no usage
    result = allocate(rows, usage, customers("cust-a", "cust-b", days=(DAY, NEXT_DAY)), rules())
    assert placed(result) == {("cust-a", "shared-db", "usage_proportional"): 100.0}
    assert unplaced(result) == {("shared-db", "no_usage"): 80.0}
    assert result.unallocated["date"].tolist() == [NEXT_DAY]


def test_a_driver_without_requests_on_any_day_is_named_with_the_days_and_cost_it_left_unallocated():
    days = (DAY, NEXT_DAY)
    rows = costs(("worker", "untagged", 30.0), ("worker", "untagged", 20.0, "production", NEXT_DAY),
                 ("shared-db", "untagged", 100.0), ("shared-db", "untagged", 80.0, "production", NEXT_DAY))
    # shared-db has requests on one day only: its other day's no_usage is an ordinary gap, not a missing driver.
    usage = metrics(("shared-db", "cust-a", 10))
    result = allocate(rows, usage, customers("cust-a", days=days), rules())
    no_usage = result.unallocated[result.unallocated["reason"] == "no_usage"]
    gaps = drivers_without_metrics(rules(), set(usage["service"]), no_usage)
    assert gaps.to_dict("records") == [{"rule": "compute", "driver": "api", "services": "worker",
                                        "days": "2026-03-01, 2026-03-02", "day_count": 2, "cost": 50.0}]
    assert "driver service 'api' has no service_metrics requests" in describe_driver_gap(next(gaps.itertuples()))
    assert drivers_without_metrics(rules(), {"shared-db", "api"}, no_usage).empty


def test_a_long_run_of_days_is_described_by_its_range():
    days = [DAY + dt.timedelta(days=n) for n in range(40)]
    assert describe_days(days) == "2026-03-01..2026-04-09 (40 days)"
    assert describe_days(days[:2]) == "2026-03-01, 2026-03-02"


def test_internal_and_untagged_costs_are_unallocated_with_their_reason():
    rows = costs(("api", "cust-a", 7.0, "staging"),  # a customer's staging resources are still internal
                 ("ci", "untagged", 3.0),
                 ("untagged", "untagged", 11.0),
                 ("notifications", "untagged", 4.0))  # tagged, but no rule places it
    result = allocate(rows, metrics(), CUSTOMERS, rules())
    assert result.allocated.empty
    assert unplaced(result) == {("api", "internal"): 7.0, ("ci", "internal"): 3.0,
                                ("untagged", "untagged"): 11.0, ("notifications", "untagged"): 4.0}


def test_rounding_never_leaks_a_micro_dollar_and_the_last_share_ends_on_the_total():
    rows = costs(("search", "untagged", 100.0), ("search", "untagged", 0.01, "production", NEXT_DAY))
    result = allocate(rows, metrics(), customers("cust-a", "cust-b", "cust-c", days=(DAY, NEXT_DAY)), rules())
    shares = result.allocated.assign(m=to_micros(result.allocated["allocated_cost"]))
    first_day = shares[shares["date"] == DAY].sort_values("customer_id")["m"].tolist()
    second_day = shares[shares["date"] == NEXT_DAY].sort_values("customer_id")["m"].tolist()
    # Boundaries at round(total * k/3): each share is within one micro-dollar of a third.
    assert first_day == [33_333_333, 33_333_334, 33_333_333]
    assert sum(first_day) == 100_000_000
    assert second_day == [3_333, 3_334, 3_333]
    assert_conserved(result, rows)


def test_split_pools_keeps_pools_without_weight_apart():
    pools = pd.DataFrame({"date": [DAY, NEXT_DAY], "micros": [1_000_000, 5]})
    weights = pd.DataFrame({"date": [DAY, DAY, NEXT_DAY], "customer_id": ["b", "a", "a"], "weight": [1.0, 1.0, 0.0]})
    shares, unsplit = split_pools(pools, weights, ["date"])
    assert shares[["customer_id", "micros"]].values.tolist() == [["a", 500_000], ["b", 500_000]]
    assert unsplit["micros"].tolist() == [5]


def test_a_negative_pool_is_split_and_conserved():
    rows = costs(("search", "untagged", -10.0))  # a credit on a shared service
    result = allocate(rows, metrics(), CUSTOMERS, rules())
    assert sorted(result.allocated["allocated_cost"].round(6)) == [-3.333334, -3.333333, -3.333333]
    assert_conserved(result, rows)


def test_overhead_spreads_chosen_reasons_by_allocated_cost():
    rows = costs(("data-pipeline", "cust-a", 10.0), ("data-pipeline", "cust-b", 30.0),
                 ("untagged", "untagged", 8.0), ("ci", "untagged", 100.0))
    result = allocate(rows, metrics(), CUSTOMERS, rules(overhead={"enabled": True, "reasons": ["untagged"]}))
    overhead = {(r.customer_id, r.reason): round(r.overhead_cost, 6) for r in result.overhead.itertuples()}
    assert overhead == {("cust-a", "untagged"): 2.0, ("cust-b", "untagged"): 6.0}  # internal ci is not spread
    # Overhead is a view of unallocated cost, which stays in place.
    assert unplaced(result) == {("untagged", "untagged"): 8.0, ("ci", "internal"): 100.0}
    assert result.unspread_overhead.empty


def test_overhead_of_a_day_without_allocated_customers_is_reported_unspread():
    rows = costs(("untagged", "untagged", 8.0))
    result = allocate(rows, metrics(), CUSTOMERS, rules(overhead={"enabled": True, "reasons": ["untagged"]}))
    assert result.overhead.empty
    assert result.unspread_overhead[["reason", "cost"]].values.tolist() == [["untagged", 8.0]]


def test_customer_tags_match_product_ids_regardless_of_case():
    rows = costs(("data-pipeline", "cust-a", 5.0))  # ingestion lower-cases tag values
    result = allocate(rows, metrics(), customers("CUST-A"), rules())
    assert placed(result) == {("CUST-A", "data-pipeline", "direct"): 5.0}


def test_customers_by_day_uses_the_latest_snapshot_on_or_before_each_day():
    snapshots = pd.DataFrame([
        {"date": DAY, "id": "cust-a", "status": "active"},
        {"date": DAY, "id": "cust-b", "status": "active"},
        {"date": NEXT_DAY + dt.timedelta(days=1), "id": "cust-a", "status": "churned"},
    ])
    later = NEXT_DAY + dt.timedelta(days=5)
    by_day = customers_by_day(snapshots, [DAY, NEXT_DAY, later])
    assert by_day[by_day["date"] == NEXT_DAY]["id"].tolist() == ["cust-a", "cust-b"]
    assert by_day[by_day["date"] == later][["id", "status"]].values.tolist() == [["cust-a", "churned"]]
    with pytest.raises(MissingCustomerSnapshot, match="customer_snapshots has no snapshot on or before 2026-02-28"):
        customers_by_day(snapshots, [DAY - dt.timedelta(days=1)])


def test_conservation_gaps_flag_days_off_by_more_than_a_cent():
    totals = pd.DataFrame({
        "date": [DAY, NEXT_DAY, NEXT_DAY + dt.timedelta(days=1)],
        "effective": [100.0, 100.0, 50.0],
        "allocated": [60.0, 60.0, 0.0],
        "unallocated": [40.005, 39.98, None],
    })
    gaps = conservation_gaps(totals)
    assert gaps["date"].tolist() == [NEXT_DAY, NEXT_DAY + dt.timedelta(days=1)]
    assert gaps["difference"].round(2).tolist() == [-0.02, -50.0]
