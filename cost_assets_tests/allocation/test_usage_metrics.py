"""Usage metrics beyond requests, driver: cost and splits onto services in stages: hand-computed cases."""

import datetime as dt
import math

import pandas as pd
import pytest

from cost_assets.allocation.allocation import (
    AllocationCycle,
    InvalidUsageMetric,
    allocate,
    hop_rows,
    service_stage_order,
    to_micros,
    usage_frame,
)
from cost_assets.allocation.rules import check_rule_drivers, parse_allocation_rules
from cost_assets.settings import SettingError

DAY, NEXT_DAY = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
CUSTOMERS = pd.DataFrame([{"date": d, "id": c, "status": "active"} for d in (DAY, NEXT_DAY) for c in ("cust-a", "cust-b")])
DIRECT = {"name": "dedicated", "method": "direct", "priority": 10}


def rules(*extra, **section):
    return parse_allocation_rules({"rules": [DIRECT, *extra], **section}, "test-rules.yaml")


def costs(*rows):
    """rows: (service, customer_id, cost[, day])."""
    return pd.DataFrame([{"date": r[3] if len(r) > 3 else DAY, "team": "core", "service": r[0], "customer_id": r[1],
                          "environment": "production", "effective_cost": r[2]} for r in rows])


def usage(*rows):
    """rows: (service, customer_id or '' for the service's own usage, metric, quantity[, day])."""
    return pd.DataFrame([{"date": r[4] if len(r) > 4 else DAY, "service": r[0], "customer_id": r[1], "metric": r[2],
                          "quantity": r[3]} for r in rows], columns=["date", "service", "customer_id", "metric", "quantity"])


def by_customer(result) -> dict:
    return result.allocated.groupby("customer_id")["allocated_cost"].sum().round(6).to_dict()


def assert_conserved(result, bill):
    placed = to_micros(result.allocated["allocated_cost"]).sum() + to_micros(result.unallocated["cost"]).sum()
    assert placed == to_micros(bill["effective_cost"]).sum()


SHARED_DB_USAGE = usage(("shared-db", "cust-a", "db_time_ms", 300), ("shared-db", "cust-b", "db_time_ms", 100),
                        ("shared-db", "cust-a", "requests", 1), ("shared-db", "cust-b", "requests", 3))


@pytest.mark.parametrize("driver, expected", [
    (None, {"cust-a": 25.0, "cust-b": 75.0}),  # default: the pool's own service, requests
    ("self", {"cust-a": 25.0, "cust-b": 75.0}),
    ("shared-db", {"cust-a": 25.0, "cust-b": 75.0}),
    ({"metric": "db_time_ms"}, {"cust-a": 75.0, "cust-b": 25.0}),
    ({"service": "shared-db", "metric": "db_time_ms"}, {"cust-a": 75.0, "cust-b": 25.0}),
    ({"service": "shared-db"}, {"cust-a": 25.0, "cust-b": 75.0}),
])
def test_each_driver_form_splits_by_its_service_and_metric(driver, expected):
    rule = {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
            **({"driver": driver} if driver is not None else {})}
    bill = costs(("shared-db", "untagged", 100.0))
    result = allocate(bill, SHARED_DB_USAGE, CUSTOMERS, rules(rule))
    assert by_customer(result) == expected
    metric = driver.get("metric", "requests") if isinstance(driver, dict) else "requests"
    assert set(result.allocated["driver_metric"]) == {metric}
    assert set(result.allocated["driver_service"]) == {"shared-db"}
    quantities = dict(zip(result.allocated["customer_id"], result.allocated["driver_quantity"]))
    assert quantities == ({"cust-a": 300, "cust-b": 100} if metric == "db_time_ms" else {"cust-a": 1, "cust-b": 3})


def test_a_driver_of_another_service_and_metric_splits_a_pool():
    rule = {"name": "compute", "method": "usage_proportional", "priority": 20, "services": ["worker"],
            "driver": {"service": "shared-db", "metric": "db_time_ms"}}
    result = allocate(costs(("worker", "untagged", 10.0)), SHARED_DB_USAGE, CUSTOMERS, rules(rule))
    assert by_customer(result) == {"cust-a": 7.5, "cust-b": 2.5}
    assert set(result.allocated["rule"]) == {"compute"}


def test_a_day_without_the_metric_keeps_no_usage():
    rule = {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
            "driver": {"metric": "db_time_ms"}}
    bill = costs(("shared-db", "untagged", 100.0), ("shared-db", "untagged", 40.0, NEXT_DAY))
    result = allocate(bill, SHARED_DB_USAGE, CUSTOMERS, rules(rule))
    assert by_customer(result) == {"cust-a": 75.0, "cust-b": 25.0}
    lost = result.unallocated
    assert lost[["date", "service", "reason", "cost"]].values.tolist() == [[NEXT_DAY, "shared-db", "no_usage", 40.0]]
    assert_conserved(result, bill)


def test_driver_cost_splits_in_proportion_to_what_each_customer_already_holds():
    overhead = {"name": "overhead-by-cost", "method": "usage_proportional", "priority": 90, "services": ["ci"],
                "driver": "cost"}
    bill = costs(("api", "cust-a", 30.0), ("api", "cust-b", 10.0), ("ci", "untagged", 8.0),
                 ("ci", "untagged", 5.0, NEXT_DAY))  # nobody holds anything the next day: no_usage
    result = allocate(bill, usage(), CUSTOMERS, rules(overhead))
    ci = result.allocated[result.allocated["service"] == "ci"]
    assert dict(zip(ci["customer_id"], ci["allocated_cost"])) == {"cust-a": 6.0, "cust-b": 2.0}
    assert dict(zip(ci["customer_id"], ci["driver_quantity"])) == {"cust-a": 30.0, "cust-b": 10.0}
    assert set(ci["driver_metric"]) == {"cost"} and set(ci["allocation_method"]) == {"usage_proportional"}
    assert result.unallocated[["date", "reason", "cost"]].values.tolist() == [[NEXT_DAY, "no_usage", 5.0]]
    assert_conserved(result, bill)


STAGED_RULES = [
    {"name": "observability-to-services", "method": "usage_proportional", "priority": 5, "services": ["observability"],
     "targets": "services", "driver": {"metric": "log_gb"}},
    {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
     "driver": {"service": "shared-db", "metric": "db_time_ms"}},
    {"name": "application", "method": "usage_proportional", "priority": 30, "services": ["api"]},
]
STAGED_USAGE = usage(
    ("api", "", "log_gb", 2), ("shared-db", "", "log_gb", 1), ("observability", "", "log_gb", 5),  # its own: excluded
    ("api", "cust-a", "requests", 1), ("api", "cust-b", "requests", 1),
    ("shared-db", "cust-a", "db_time_ms", 3), ("shared-db", "cust-b", "db_time_ms", 1),
)


def test_a_service_split_onto_services_follows_their_own_rules_to_customers():
    bill = costs(("observability", "untagged", 60.0), ("api", "untagged", 10.0))
    result = allocate(bill, STAGED_USAGE, CUSTOMERS, rules(*STAGED_RULES))
    # observability 60 -> api 40 (log_gb 2), shared-db 20 (log_gb 1); api 50 by requests 1:1; shared-db 20 by 3:1.
    assert by_customer(result) == {"cust-a": 40.0, "cust-b": 30.0}
    assert_conserved(result, bill)
    hops = hop_rows(result.hops, staged_only=False).set_index(["stage", "from_service", "recipient"])
    first = hops.loc[1]
    assert first["rule"].unique().tolist() == ["observability-to-services"]
    assert first["cost"].to_dict() == {("observability", "api"): 40.0, ("observability", "shared-db"): 20.0}
    assert first["driver_quantity"].to_dict() == {("observability", "api"): 2.0, ("observability", "shared-db"): 1.0}
    assert set(first["driver_metric"]) == {"log_gb"} and set(first["recipient_kind"]) == {"service"}
    to_customers = hop_rows(result.hops)
    to_customers = to_customers[to_customers["stage"] == 2]
    observability = to_customers[to_customers["origin_service"] == "observability"]
    assert observability.groupby("from_service")["cost"].sum().to_dict() == {"api": 40.0, "shared-db": 20.0}
    db_a = observability[(observability["from_service"] == "shared-db") & (observability["recipient"] == "cust-a")]
    assert db_a[["rule", "driver_metric", "driver_quantity", "cost"]].values.tolist() == [["database", "db_time_ms", 3.0, 15.0]]
    # customer_cost_allocation keeps its grain: the service whose rule placed the cost.
    assert set(result.allocated["stage"]) == {2}
    assert result.allocated.groupby("service")["allocated_cost"].sum().to_dict() == {"api": 50.0, "shared-db": 20.0}


def test_a_split_onto_services_by_cost_follows_what_each_service_holds():
    rule = {"name": "platform", "method": "usage_proportional", "priority": 5, "services": ["observability"],
            "targets": "services", "driver": "cost"}
    bill = costs(("observability", "untagged", 8.0), ("api", "cust-a", 30.0), ("worker", "cust-b", 10.0))
    result = allocate(bill, usage(), CUSTOMERS, rules(rule))
    first = hop_rows(result.hops)
    first = first[first["stage"] == 1]
    assert dict(zip(first["recipient"], first["cost"])) == {"api": 6.0, "worker": 2.0}
    # Received dollars carry no customer tag: api and worker have no split rule, so they stay untagged.
    assert result.unallocated.groupby("service")["cost"].sum().to_dict() == {"api": 6.0, "worker": 2.0}
    assert set(result.unallocated["reason"]) == {"untagged"}
    assert_conserved(result, bill)


def test_services_that_send_cost_around_a_loop_are_refused_naming_them():
    loop = [*STAGED_RULES[:1], {"name": "database-to-services", "method": "usage_proportional", "priority": 6,
                                "services": ["shared-db"], "targets": "services", "driver": {"metric": "log_gb"}}]
    metrics = usage(("api", "", "log_gb", 2), ("shared-db", "", "log_gb", 1), ("observability", "", "log_gb", 5))
    with pytest.raises(AllocationCycle, match=r"cycle: observability -> shared-db -> observability \(rules "
                                              r"'observability-to-services', 'database-to-services'\)"):
        allocate(costs(("observability", "untagged", 1.0)), metrics, CUSTOMERS, rules(*loop))


def test_stages_run_senders_before_receivers_whatever_the_priorities():
    chain = [{"name": "db-to-services", "method": "usage_proportional", "priority": 1, "services": ["shared-db"],
              "targets": "services", "driver": {"metric": "db_share"}},
             {"name": "observability-to-services", "method": "usage_proportional", "priority": 2,
              "services": ["observability"], "targets": "services", "driver": {"metric": "log_gb"}}]
    metrics = usage_frame(usage(("shared-db", "", "log_gb", 1), ("api", "", "log_gb", 1), ("api", "", "db_share", 1)))
    parsed = rules(*chain)
    assert [parsed.rules[i].name for i in service_stage_order(parsed, metrics)] == [
        "observability-to-services", "db-to-services"]
    bill = costs(("observability", "untagged", 10.0), ("shared-db", "untagged", 4.0))
    result = allocate(bill, metrics, CUSTOMERS, parsed)
    hops = hop_rows(result.hops, staged_only=False)
    assert hops[["stage", "origin_service", "from_service", "recipient", "cost"]].values.tolist() == [
        [1, "observability", "observability", "api", 5.0], [1, "observability", "observability", "shared-db", 5.0],
        [2, "observability", "shared-db", "api", 5.0], [2, "shared-db", "shared-db", "api", 4.0]]
    # Every hop here is a split between services: the warehouse keeps them all.
    assert hop_rows(result.hops).equals(hops)
    assert_conserved(result, bill)


@pytest.mark.parametrize("quantity", [-5, math.nan])
def test_a_negative_or_nan_quantity_fails_naming_the_row_and_day(quantity):
    rule = {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
            "driver": {"metric": "db_time_ms"}}
    metrics = usage(("shared-db", "cust-a", "db_time_ms", 3), ("shared-db", "cust-b", "db_time_ms", quantity, NEXT_DAY))
    with pytest.raises(InvalidUsageMetric, match=rf"1 row\(s\) with a negative or missing \(NaN\) quantity on "
                                                 rf"2026-03-02: 2026-03-02 service 'shared-db' customer 'cust-b' "
                                                 rf"metric 'db_time_ms' quantity {quantity}"):
        allocate(costs(("shared-db", "untagged", 1.0)), metrics, CUSTOMERS, rules(rule))


def test_two_rules_claiming_the_same_pool_fail_naming_both():
    first = {"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"]}
    second = {"name": "db-by-time", "method": "usage_proportional", "priority": 30, "services": ["shared-db"],
              "driver": {"metric": "db_time_ms"}}
    with pytest.raises(SettingError, match="rules 'database' and 'db-by-time' claim the same pool"):
        rules(first, second)


@pytest.mark.parametrize("rule, message", [
    ({"name": "database", "method": "usage_proportional", "priority": 20, "services": ["shared-db"],
      "driver": {"metric": "db_tme_ms"}}, "allocation rule 'database' .*driver metric 'db_tme_ms' is not in usage_metrics"),
    ({"name": "compute", "method": "usage_proportional", "priority": 20, "services": ["worker"],
      "driver": {"service": "shared-dbb"}}, "allocation rule 'compute' .*driver service 'shared-dbb' is unknown"),
    ({"name": "platform", "method": "usage_proportional", "priority": 20, "services": ["observabilty"],
      "targets": "services", "driver": {"metric": "log_gb"}},
     "allocation rule 'platform' .*splits unknown service\\(s\\) observabilty"),
])
def test_an_unknown_metric_or_service_fails_naming_the_rule(rule, message):
    with pytest.raises(SettingError, match=message):
        check_rule_drivers(rules(rule), {"db_time_ms", "log_gb"}, {"shared-db", "worker", "observability"})
    check_rule_drivers(rules(), {"db_time_ms"}, {"shared-db"})  # nothing to check: passes


@pytest.mark.parametrize("rule, key, message", [
    ({"targets": "services", "method": "even"}, "targets", "needs method usage_proportional"),
    ({"targets": "services", "driver": {"service": "api", "metric": "log_gb"}}, "driver", "targets services: use {metric"),
    ({"targets": "partners"}, "targets", "use one of customers, services"),
    ({"driver": {"metric": "db", "unit": "ms"}}, "driver", "has key(s) unit"),
    ({"driver": {"metric": ""}}, "driver.metric", "must be a non-empty name"),
])
def test_bad_driver_and_targets_fail_naming_the_key(rule, key, message):
    raw = {"name": "x", "method": "usage_proportional", "priority": 20, "services": ["a"], **rule}
    with pytest.raises(SettingError) as error:
        rules(raw)
    assert f"allocation.rules[1].{key} (rule 'x')" in str(error.value) and message in str(error.value)
