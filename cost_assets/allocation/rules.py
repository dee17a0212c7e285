"""The `allocation:` section of the rules file (COST_ALLOCATION_RULES), parsed and validated.

Errors are SettingErrors that name the rules file, the key (a dotted path
such as `allocation.rules[1].method`) and the rule, so a typo fails the run
with a message that says where to look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cost_assets.rules import Rules, load_rules, mapping, rules_error
from cost_assets.settings import SettingError

DIRECT = "direct"
USAGE_PROPORTIONAL = "usage_proportional"
EVEN = "even"
FIXED = "fixed"
METHODS = (DIRECT, USAGE_PROPORTIONAL, EVEN, FIXED)

# Why cost stays unallocated (docs/reference.md#invariants, `unallocated_costs.reason`).
UNTAGGED_REASON = "untagged"
UNKNOWN_CUSTOMER = "unknown_customer"
NO_USAGE = "no_usage"
INTERNAL = "internal"
# Unused container capacity (docs/reference.md#container-split-cost): an instance's cost its pods did not use.
IDLE = "idle"
REASONS = (UNTAGGED_REASON, UNKNOWN_CUSTOMER, NO_USAGE, INTERNAL, IDLE)

# allocation.idle: where unused container capacity goes.
IDLE_UNALLOCATED = "unallocated"  # unallocated_costs, reason idle
IDLE_SPREAD = "spread"  # onto each pod, as AWS apportioned it (split_line_item_unused_cost)
IDLE_MODES = (IDLE_UNALLOCATED, IDLE_SPREAD)

SELF_DRIVER = "self"
# driver: cost -- in proportion to what each recipient already holds that day (AWS Cost Categories' proportional split).
BY_COST_DRIVER = "cost"
REQUESTS = "requests"  # service_metrics.request_count
TO_CUSTOMERS = "customers"
TO_SERVICES = "services"
TARGETS = (TO_CUSTOMERS, TO_SERVICES)
DRIVER_KEYS = {"service", "metric"}
RULE_KEYS = {"name", "method", "priority", "services", "driver", "shares", "targets"}
SECTION_KEYS = {"internal_environments", "internal_services", "rules", "overhead", "idle"}
OVERHEAD_KEYS = {"enabled", "reasons"}
SHARES_TOTAL_PERCENT = 100.0


@dataclass(frozen=True)
class AllocationRule:
    name: str
    method: str
    priority: int
    # None: any service (direct rules only).
    services: tuple[str, ...] | None = None
    # usage_proportional: the service whose usage splits the cost; "self" = the cost's own service;
    # "cost" = what each recipient already holds that day.
    driver: str | None = None
    # fixed: customer id -> percent of the cost.
    shares: dict[str, float] = field(default_factory=dict)
    # usage_proportional: the usage_metrics metric of the driver (requests = service_metrics.request_count).
    metric: str = REQUESTS
    # customers, or services: split onto other services, whose own rules then place it.
    targets: str = TO_CUSTOMERS
    # The driver was written as a mapping: its service and metric must exist in the data.
    explicit_driver: bool = False

    def driver_for(self, service: str) -> str:
        return service if self.driver == SELF_DRIVER else str(self.driver)

    @property
    def by_cost(self) -> bool:
        return self.method == USAGE_PROPORTIONAL and self.driver == BY_COST_DRIVER

    @property
    def to_services(self) -> bool:
        return self.targets == TO_SERVICES


@dataclass(frozen=True)
class AllocationRules:
    path: str
    internal_environments: tuple[str, ...]
    internal_services: tuple[str, ...]
    rules: tuple[AllocationRule, ...]  # by priority, first applied first
    overhead_reasons: tuple[str, ...]  # empty: no overhead spreading
    idle: str = IDLE_UNALLOCATED

    def driver_services(self) -> set[str]:
        """Services whose usage some customer-targeted rule needs."""
        services: set[str] = set()
        for rule in self.rules:
            if rule.method == USAGE_PROPORTIONAL and not rule.by_cost and not rule.to_services:
                services |= {rule.driver_for(s) for s in rule.services or ()}
        return services

    def driver_metrics(self) -> set[str]:
        """Metrics some usage-driven rule needs (requests included)."""
        return {rule.metric for rule in self.rules if rule.method == USAGE_PROPORTIONAL and not rule.by_cost}

    def service_rules(self) -> tuple[AllocationRule, ...]:
        return tuple(rule for rule in self.rules if rule.to_services)


def _names(value: Any, key: str, path: str) -> tuple[str, ...]:
    """A list of tag values, normalized like the tags themselves (trimmed, lower case)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise rules_error(path, key, f"must be a list of non-empty names, got {value!r}")
    names = tuple(str(v).strip().lower() for v in value)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise rules_error(path, key, f"lists {', '.join(repeated)} more than once")
    return names


def _parse_rule(raw: Any, index: int, path: str) -> AllocationRule:
    key = f"allocation.rules[{index}]"
    if not isinstance(raw, dict):
        raise rules_error(path, key, f"must be a mapping with name, method, priority..., got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise rules_error(path, f"{key}.name", f"must be a non-empty name, got {name!r}")
    name = name.strip()
    rule = f"(rule {name!r})"
    unknown = sorted(str(k) for k in raw if k not in RULE_KEYS)
    if unknown:
        raise rules_error(path, key, f"{rule} has unknown key(s) {', '.join(unknown)}; "
                                     f"allowed: {', '.join(sorted(RULE_KEYS))}")
    method = raw.get("method")
    if method not in METHODS:
        raise rules_error(path, f"{key}.method", f"{rule} is {'missing' if method is None else repr(method)}; "
                                                    f"use one of {', '.join(METHODS)}")
    priority = raw.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise rules_error(path, f"{key}.priority", f"{rule} must be a whole number, got {priority!r}")
    services = _names(raw.get("services"), f"{key}.services", path) or None
    if method != DIRECT and not services:
        raise rules_error(path, f"{key}.services", f"{rule} is required by method {method}: list the services it splits")
    targets = raw.get("targets", TO_CUSTOMERS)
    if targets not in TARGETS:
        raise rules_error(path, f"{key}.targets", f"{rule} is {targets!r}; use one of {', '.join(TARGETS)}")
    if targets == TO_SERVICES and method != USAGE_PROPORTIONAL:
        raise rules_error(path, f"{key}.targets", f"{rule} is services, which needs method usage_proportional "
                                                  f"(a service-level metric or cost as the driver), not {method}")
    driver, metric, explicit = _parse_driver(raw.get("driver"), method, targets, f"{key}.driver", rule, path)
    shares = _parse_shares(raw.get("shares"), method, f"{key}.shares", rule, path)
    return AllocationRule(name=name, method=method, priority=priority, services=services, driver=driver, shares=shares,
                          metric=metric, targets=targets, explicit_driver=explicit)


def _parse_driver(raw: Any, method: str, targets: str, key: str, rule: str, path: str) -> tuple[str | None, str, bool]:
    """(driver service or self or cost, metric, written as a mapping) of a rule's `driver`."""
    if method != USAGE_PROPORTIONAL:
        if raw is not None:
            raise rules_error(path, key, f"{rule} is set, but only usage_proportional rules use a driver")
        return None, REQUESTS, False
    if targets == TO_SERVICES:
        # Recipients are the services with service-level rows (empty customer_id) of the metric.
        if raw == BY_COST_DRIVER:
            return BY_COST_DRIVER, REQUESTS, False
        if not isinstance(raw, dict) or set(raw) != {"metric"}:
            raise rules_error(path, key, f"{rule} targets services: use {{metric: <metric>}} (service-level rows, "
                                         f"customer_id empty) or cost, got {raw!r}")
        return SELF_DRIVER, _driver_name(raw["metric"], f"{key}.metric", rule, path), True
    if raw is None:
        return SELF_DRIVER, REQUESTS, False
    if isinstance(raw, dict):
        unknown = sorted(str(k) for k in raw if k not in DRIVER_KEYS)
        if unknown or not raw:
            raise rules_error(path, key, f"{rule} has key(s) {', '.join(unknown) or 'none'}; use service and/or metric")
        service = _driver_name(raw["service"], f"{key}.service", rule, path) if "service" in raw else SELF_DRIVER
        metric = _driver_name(raw["metric"], f"{key}.metric", rule, path) if "metric" in raw else REQUESTS
        return service, metric, True
    if not isinstance(raw, str) or not raw.strip():
        raise rules_error(path, key, f"{rule} must be 'self' or a service name, 'cost' or {{service, metric}}, got {raw!r}")
    return raw.strip().lower(), REQUESTS, False


def _driver_name(value: Any, key: str, rule: str, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise rules_error(path, key, f"{rule} must be a non-empty name, got {value!r}")
    return value.strip().lower()


def _parse_shares(raw: Any, method: str, key: str, rule: str, path: str) -> dict[str, float]:
    if method != FIXED:
        if raw is not None:
            raise rules_error(path, key, f"{rule} is set, but only fixed rules use shares")
        return {}
    if not isinstance(raw, dict) or not raw:
        raise rules_error(path, key, f"{rule} is required by method fixed: {{customer id: percent, ...}}, got {raw!r}")
    shares: dict[str, float] = {}
    for customer, percent in raw.items():
        if (isinstance(percent, bool) or not isinstance(percent, (int, float))
                or not math.isfinite(percent) or percent <= 0):
            raise rules_error(path, f"{key}.{customer}", f"{rule} must be a positive percent, got {percent!r}")
        customer_key = str(customer).strip().lower()
        if customer_key in shares:
            raise rules_error(path, f"{key}.{customer}", f"{rule} names a customer already listed (ids are compared in lower case)")
        shares[customer_key] = float(percent)
    total = sum(shares.values())
    if abs(total - SHARES_TOTAL_PERCENT) > 1e-9:
        raise rules_error(path, key, f"{rule} add up to {total:g}%, not 100%")
    return shares


def _check_overlaps(rules: list[AllocationRule], internal_services: tuple[str, ...], path: str) -> None:
    """`rules` in file order: the key of a clash is the later rule's."""
    names: dict[str, int] = {}
    priorities: dict[int, str] = {}
    claimed: dict[str, str] = {}
    for index, rule in enumerate(rules):
        key = f"allocation.rules[{index}]"
        if rule.name in names:
            raise rules_error(path, f"{key}.name", f"{rule.name!r} is also the name of allocation.rules[{names[rule.name]}]; "
                                                   f"rule names must differ")
        names[rule.name] = index
        if rule.priority in priorities:
            raise rules_error(path, f"{key}.priority", f"(rule {rule.name!r}) is {rule.priority}, the same as rule "
                                                       f"{priorities[rule.priority]!r}'s; priorities decide which rule "
                                                       f"places a cost, so they must differ")
        priorities[rule.priority] = rule.name
        if rule.method == DIRECT:
            continue
        # A split service that is also internal, or split by an earlier rule: this rule could never apply to it.
        for service in rule.services or ():
            if service in internal_services:
                raise rules_error(path, f"{key}.services", f"(rule {rule.name!r}) lists {service!r}, which "
                                                           f"allocation.internal_services makes internal; the rule "
                                                           f"would never apply to it")
            if service in claimed:
                raise rules_error(path, f"{key}.services", f"(rule {rule.name!r}) lists {service!r}, which rule "
                                                           f"{claimed[service]!r} splits already: rules "
                                                           f"{claimed[service]!r} and {rule.name!r} claim the same "
                                                           f"pool; a service can be split by one rule only")
            claimed[service] = rule.name


def _parse_overhead(raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    section = mapping(raw, "allocation.overhead", path, OVERHEAD_KEYS)
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise rules_error(path, "allocation.overhead.enabled", f"must be true or false, got {enabled!r}")
    reasons = _names(section.get("reasons"), "allocation.overhead.reasons", path)
    bad = [r for r in reasons if r not in REASONS]
    if bad:
        raise rules_error(path, "allocation.overhead.reasons", f"has {', '.join(bad)}; use some of {', '.join(REASONS)}")
    if enabled and not reasons:
        raise rules_error(path, "allocation.overhead.reasons", "is empty, but allocation.overhead is enabled")
    return reasons if enabled else ()


def parse_allocation_rules(section: Any, path: str) -> AllocationRules:
    """Validate the raw `allocation:` mapping of the rules file at `path`."""
    section = mapping(section, "allocation", path, SECTION_KEYS)
    raw_rules = section.get("rules") or []
    if not isinstance(raw_rules, list):
        raise rules_error(path, "allocation.rules", f"must be a list of rules, got {raw_rules!r}")
    internal_services = _names(section.get("internal_services"), "allocation.internal_services", path)
    rules = [_parse_rule(raw, index, path) for index, raw in enumerate(raw_rules)]
    _check_overlaps(rules, internal_services, path)
    return AllocationRules(
        path=path,
        internal_environments=_names(section.get("internal_environments"), "allocation.internal_environments", path),
        internal_services=internal_services,
        rules=tuple(sorted(rules, key=lambda r: r.priority)),
        overhead_reasons=_parse_overhead(section.get("overhead"), path),
        idle=_parse_idle(section.get("idle", IDLE_UNALLOCATED), path),
    )


def _parse_idle(raw: Any, path: str) -> str:
    if raw not in IDLE_MODES:
        raise rules_error(path, "allocation.idle", f"is {raw!r}; use {' or '.join(IDLE_MODES)}")
    return raw


def check_rule_drivers(rules: AllocationRules, metrics: set[str], services: set[str]) -> None:
    """Refuse a rule whose driver metric, driver service or split-onto-services service the data never names.

    metrics: the usage_metrics metrics the warehouse holds (requests is always known); services: every
    service of daily_costs, service_metrics and usage_metrics. A day without the metric stays no_usage.
    """
    for rule in rules.rules:
        if rule.method != USAGE_PROPORTIONAL or rule.by_cost and not rule.to_services:
            continue
        where = f"allocation rule {rule.name!r} (rules file {rules.path})"
        if not rule.by_cost and rule.metric != REQUESTS and rule.metric not in metrics:
            raise SettingError(f"{where}: driver metric {rule.metric!r} is not in usage_metrics on any day "
                               f"(metrics there: {', '.join(sorted(metrics)) or 'none'}); check the rule's driver "
                               f"and materialize usage_metrics")
        if rule.explicit_driver and not rule.to_services and rule.driver != SELF_DRIVER and rule.driver not in services:
            raise SettingError(f"{where}: driver service {rule.driver!r} is unknown: no cost or usage names it")
        if rule.to_services:
            unknown = [s for s in rule.services or () if s not in services]
            if unknown:
                raise SettingError(f"{where}: targets services, but splits unknown service(s) {', '.join(unknown)}: "
                                   f"no cost or usage names them")


def allocation_rules(rules: Rules) -> AllocationRules:
    return parse_allocation_rules(rules.allocation, rules.path)


def load_allocation_rules(path: str | Path | None = None) -> AllocationRules:
    """The allocation rules of the rules file at `path` (default: rules_path())."""
    return allocation_rules(load_rules(path))
