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
REASONS = (UNTAGGED_REASON, UNKNOWN_CUSTOMER, NO_USAGE, INTERNAL)

SELF_DRIVER = "self"
RULE_KEYS = {"name", "method", "priority", "services", "driver", "shares"}
SECTION_KEYS = {"internal_environments", "internal_services", "rules", "overhead"}
OVERHEAD_KEYS = {"enabled", "reasons"}
SHARES_TOTAL_PERCENT = 100.0


@dataclass(frozen=True)
class AllocationRule:
    name: str
    method: str
    priority: int
    # None: any service (direct rules only).
    services: tuple[str, ...] | None = None
    # usage_proportional: the service whose request counts split the cost; "self" = the cost's own service.
    driver: str | None = None
    # fixed: customer id -> percent of the cost.
    shares: dict[str, float] = field(default_factory=dict)

    def driver_for(self, service: str) -> str:
        return service if self.driver == SELF_DRIVER else str(self.driver)


@dataclass(frozen=True)
class AllocationRules:
    path: str
    internal_environments: tuple[str, ...]
    internal_services: tuple[str, ...]
    rules: tuple[AllocationRule, ...]  # by priority, first applied first
    overhead_reasons: tuple[str, ...]  # empty: no overhead spreading

    def driver_services(self) -> set[str]:
        """Services whose request counts some rule needs."""
        services: set[str] = set()
        for rule in self.rules:
            if rule.method == USAGE_PROPORTIONAL:
                services |= {rule.driver_for(s) for s in rule.services or ()}
        return services


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
    driver = raw.get("driver")
    if method == USAGE_PROPORTIONAL:
        if driver is None:
            driver = SELF_DRIVER
        elif not isinstance(driver, str) or not driver.strip():
            raise rules_error(path, f"{key}.driver", f"{rule} must be 'self' or a service name, got {driver!r}")
        else:
            driver = driver.strip().lower()
    elif driver is not None:
        raise rules_error(path, f"{key}.driver", f"{rule} is set, but only usage_proportional rules use a driver")
    shares = _parse_shares(raw.get("shares"), method, f"{key}.shares", rule, path)
    return AllocationRule(name=name, method=method, priority=priority, services=services, driver=driver, shares=shares)


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
                                                           f"{claimed[service]!r} splits already; a service can be "
                                                           f"split by one rule only")
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
    )


def allocation_rules(rules: Rules) -> AllocationRules:
    return parse_allocation_rules(rules.allocation, rules.path)


def load_allocation_rules(path: str | Path | None = None) -> AllocationRules:
    """The allocation rules of the rules file at `path` (default: rules_path())."""
    return allocation_rules(load_rules(path))
