"""The `allocation:` section of the rules file (COST_ALLOCATION_RULES), parsed and validated.

Errors are SettingErrors that name the rules file and the bad rule, so a
typo fails the run with a message that says where to look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cost_assets.rules import Rules, load_rules
from cost_assets.settings import SettingError

DIRECT = "direct"
USAGE_PROPORTIONAL = "usage_proportional"
EVEN = "even"
FIXED = "fixed"
METHODS = (DIRECT, USAGE_PROPORTIONAL, EVEN, FIXED)

# Why cost stays unallocated (CONTRACT §4 `unallocated_costs.reason`).
UNTAGGED_REASON = "untagged"
UNKNOWN_CUSTOMER = "unknown_customer"
NO_USAGE = "no_usage"
INTERNAL = "internal"
REASONS = (UNTAGGED_REASON, UNKNOWN_CUSTOMER, NO_USAGE, INTERNAL)

SELF_DRIVER = "self"
RULE_KEYS = {"name", "method", "priority", "services", "driver", "shares"}
SECTION_KEYS = {"internal_environments", "internal_services", "rules", "overhead"}
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


def _names(value: Any, where: str, path: str) -> tuple[str, ...]:
    """A list of tag values, normalized like the tags themselves (trimmed, lower case)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise SettingError(f"rules file {path}: {where} must be a list of non-empty names, got {value!r}")
    return tuple(str(v).strip().lower() for v in value)


def _parse_rule(raw: Any, index: int, path: str) -> AllocationRule:
    if not isinstance(raw, dict):
        raise SettingError(f"rules file {path}: allocation.rules[{index}] must be a mapping, got {raw!r}")
    name = str(raw.get("name") or "").strip()
    where = f"allocation.rules[{index}]" + (f" ({name})" if name else "")
    if not name:
        raise SettingError(f"rules file {path}: {where} has no name")
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise SettingError(f"rules file {path}: {where} has unknown key(s) {', '.join(sorted(unknown))}; "
                           f"allowed: {', '.join(sorted(RULE_KEYS))}")
    method = raw.get("method")
    if method not in METHODS:
        raise SettingError(f"rules file {path}: {where} has method {method!r}; use one of {', '.join(METHODS)}")
    priority = raw.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise SettingError(f"rules file {path}: {where} needs a whole-number priority, got {priority!r}")
    services = _names(raw.get("services"), f"{where}.services", path) or None
    if method != DIRECT and not services:
        raise SettingError(f"rules file {path}: {where} ({method}) needs a list of services")
    driver = raw.get("driver")
    if method == USAGE_PROPORTIONAL:
        driver = SELF_DRIVER if driver is None else str(driver).strip().lower()
        if not driver:
            raise SettingError(f"rules file {path}: {where}.driver must be 'self' or a service name")
    elif driver is not None:
        raise SettingError(f"rules file {path}: {where} has a driver, which only usage_proportional rules use")
    shares = _parse_shares(raw.get("shares"), method, where, path)
    return AllocationRule(name=name, method=method, priority=priority, services=services, driver=driver, shares=shares)


def _parse_shares(raw: Any, method: str, where: str, path: str) -> dict[str, float]:
    if method != FIXED:
        if raw is not None:
            raise SettingError(f"rules file {path}: {where} has shares, which only fixed rules use")
        return {}
    if not isinstance(raw, dict) or not raw:
        raise SettingError(f"rules file {path}: {where} (fixed) needs shares: {{customer id: percent, ...}}")
    shares: dict[str, float] = {}
    for customer, percent in raw.items():
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or percent <= 0:
            raise SettingError(f"rules file {path}: {where}.shares.{customer} must be a positive percent, got {percent!r}")
        shares[str(customer).strip().lower()] = float(percent)
    total = sum(shares.values())
    if abs(total - SHARES_TOTAL_PERCENT) > 1e-9:
        raise SettingError(f"rules file {path}: {where}.shares add up to {total:g}%, not 100%")
    return shares


def _check_overlaps(rules: list[AllocationRule], path: str) -> None:
    priorities: dict[int, str] = {}
    names: set[str] = set()
    claimed: dict[str, str] = {}
    for rule in rules:
        if rule.name in names:
            raise SettingError(f"rules file {path}: two allocation rules are named {rule.name!r}")
        names.add(rule.name)
        if rule.priority in priorities:
            raise SettingError(f"rules file {path}: allocation rules {priorities[rule.priority]!r} and {rule.name!r} "
                               f"share priority {rule.priority}; priorities decide which rule places a cost, so they must differ")
        priorities[rule.priority] = rule.name
        if rule.method == DIRECT:
            continue
        # Two split rules on one service: the later one could never apply.
        for service in rule.services or ():
            if service in claimed:
                raise SettingError(f"rules file {path}: service {service!r} is in allocation rules "
                                   f"{claimed[service]!r} and {rule.name!r}; a service can be split by one rule only")
            claimed[service] = rule.name


def _parse_overhead(raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise SettingError(f"rules file {path}: allocation.overhead must be a mapping with enabled and reasons")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SettingError(f"rules file {path}: allocation.overhead.enabled must be true or false, got {enabled!r}")
    reasons = _names(raw.get("reasons"), "allocation.overhead.reasons", path)
    bad = [r for r in reasons if r not in REASONS]
    if bad:
        raise SettingError(f"rules file {path}: allocation.overhead.reasons has {', '.join(bad)}; "
                           f"use some of {', '.join(REASONS)}")
    if enabled and not reasons:
        raise SettingError(f"rules file {path}: allocation.overhead is enabled but lists no reasons")
    return reasons if enabled else ()


def parse_allocation_rules(section: dict[str, Any], path: str) -> AllocationRules:
    """Validate the raw `allocation:` mapping of the rules file at `path`."""
    if not isinstance(section, dict):
        raise SettingError(f"rules file {path}: allocation must be a mapping")
    unknown = set(section) - SECTION_KEYS
    if unknown:
        raise SettingError(f"rules file {path}: allocation has unknown key(s) {', '.join(sorted(unknown))}; "
                           f"allowed: {', '.join(sorted(SECTION_KEYS))}")
    raw_rules = section.get("rules") or []
    if not isinstance(raw_rules, list):
        raise SettingError(f"rules file {path}: allocation.rules must be a list")
    rules = [_parse_rule(raw, index, path) for index, raw in enumerate(raw_rules)]
    _check_overlaps(rules, path)
    return AllocationRules(
        path=path,
        internal_environments=_names(section.get("internal_environments"), "allocation.internal_environments", path),
        internal_services=_names(section.get("internal_services"), "allocation.internal_services", path),
        rules=tuple(sorted(rules, key=lambda r: r.priority)),
        overhead_reasons=_parse_overhead(section.get("overhead"), path),
    )


def allocation_rules(rules: Rules) -> AllocationRules:
    return parse_allocation_rules(rules.allocation, rules.path)


def load_allocation_rules(path: str | Path | None = None) -> AllocationRules:
    """The allocation rules of COST_ALLOCATION_RULES (default: the shipped file)."""
    return allocation_rules(load_rules(path))
