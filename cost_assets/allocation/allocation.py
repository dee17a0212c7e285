"""Customer cost allocation: pure, set-based functions over DataFrames.

Every dollar of a day's effective cost ends up either on a customer
(`allocated`) or in `unallocated` with a reason; the two add up to the bill.
Money is handled in integer micro-dollars so splits never leak rounding:
each split pool is cut at rounded cumulative boundaries and the last share
ends exactly at the pool total, absorbing the remainder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cost_assets.allocation.rules import (
    BY_COST_DRIVER,
    DIRECT,
    EVEN,
    FIXED,
    IDLE,
    IDLE_UNALLOCATED,
    INTERNAL,
    NO_USAGE,
    REQUESTS,
    SELF_DRIVER,
    UNKNOWN_CUSTOMER,
    UNTAGGED_REASON,
    USAGE_PROPORTIONAL,
    AllocationRule,
    AllocationRules,
)
from cost_assets.ingestion.checks import RECONCILIATION_TOLERANCE_USD
from cost_assets.ingestion.container_splits import UNSPLIT_INSTANCE_COST, UNUSED_CAPACITY
from cost_assets.settings import UNTAGGED

MICROS_PER_USD = 1_000_000
ACTIVE = "active"

ALLOCATED_COLUMNS = ["date", "customer_id", "service", "allocation_method", "rule", "allocated_cost", "proportion",
                     "stage", "driver_service", "driver_metric", "driver_quantity"]
UNALLOCATED_COLUMNS = ["date", "service", "team", "reason", "cost"]
OVERHEAD_COLUMNS = ["date", "customer_id", "reason", "overhead_cost", "proportion"]
USAGE_COLUMNS = ["date", "service", "customer_id", "metric", "quantity"]
# customer_id of a service's own usage (usage_metrics): the driver of splits between services.
SERVICE_LEVEL = ""
WORKING_COLUMNS = ["date", "service", "team", "customer_id", "environment", "micros", "origin_service"]
POOL_KEYS = ["date", "service", "team", "origin_service"]
SERVICE_RECIPIENT = "service"
CUSTOMER_RECIPIENT = "customer"
# environment of dollars a service received from another: they passed the environment test where billed.
RECEIVED_ENVIRONMENT = ""
HOP_COLUMNS = ["date", "stage", "rule", "origin_service", "from_service", "recipient_kind", "recipient",
               "allocation_method", "driver_service", "driver_metric", "driver_quantity", "cost", "proportion"]


class MissingCustomerSnapshot(ValueError):
    """A cost day has no customer_snapshots row on or before it; the message names the days."""


class InvalidUsageMetric(ValueError):
    """A usage metric row has a negative or NaN quantity; the message names the rows and days."""


class AllocationCycle(ValueError):
    """Rules split services onto services in a loop; the message names the services."""


class StageNotConserved(RuntimeError):
    """A stage of the allocation created or lost cost; the message names the stage and days."""


@dataclass(frozen=True)
class HopRecords:
    """The shares of every hop: `parts` describe each (stage, rule, allocation_method, driver_metric,
    recipient_kind, driver); `services` and `customers` hold date, part (index in parts),
    origin_service, from_service, recipient, micros, proportion, driver_quantity."""

    parts: tuple[dict, ...]
    services: pd.DataFrame
    customers: pd.DataFrame

    @classmethod
    def empty(cls) -> "HopRecords":
        return cls(parts=(), services=_empty_hop_frame(), customers=_empty_hop_frame())

    @property
    def stages(self) -> int:
        return max((p["stage"] for p in self.parts), default=0)


@dataclass(frozen=True)
class Allocation:
    allocated: pd.DataFrame  # ALLOCATED_COLUMNS
    unallocated: pd.DataFrame  # UNALLOCATED_COLUMNS
    overhead: pd.DataFrame  # OVERHEAD_COLUMNS: chosen unallocated reasons spread over customers
    unspread_overhead: pd.DataFrame  # date, reason, cost: overhead of days with no allocated customer
    # Each dollar's path, stage by stage, per pool share (hop_rows makes allocation_hops of it).
    hops: HopRecords = field(default_factory=lambda: HopRecords.empty())


def to_micros(dollars) -> np.ndarray:
    return np.rint(np.asarray(dollars, dtype=float) * MICROS_PER_USD).astype(np.int64)


def to_dollars(micros) -> np.ndarray:
    return np.asarray(micros, dtype=np.int64) / MICROS_PER_USD


def customers_by_day(snapshots: pd.DataFrame, days: list[dt.date]) -> pd.DataFrame:
    """The customer list in effect on each day: the latest snapshot on or before it.

    `snapshots` has date, id, status (and any other columns, kept). Raises
    MissingCustomerSnapshot for days that precede every snapshot.
    """
    columns = [c for c in snapshots.columns if c != "date"]
    if not days:
        return pd.DataFrame(columns=["date", *columns])
    snapshot_days = np.array(sorted(set(snapshots["date"])), dtype="datetime64[D]")
    wanted = np.array(sorted(set(days)), dtype="datetime64[D]")
    position = np.searchsorted(snapshot_days, wanted, side="right") - 1
    if (position < 0).any():
        missing = ", ".join(str(d) for d in wanted[position < 0][:5].astype(object))
        raise MissingCustomerSnapshot(
            f"customer_snapshots has no snapshot on or before {missing} "
            f"({int((position < 0).sum())} day(s)); materialize customer_snapshots for those days first"
        )
    mapping = pd.DataFrame({"date": wanted.astype(object), "snapshot_date": snapshot_days[position].astype(object)})
    return (
        mapping.merge(snapshots.rename(columns={"date": "snapshot_date"}), on="snapshot_date")
        .drop(columns="snapshot_date")
        .reset_index(drop=True)
    )


def split_pools(pools: pd.DataFrame, weights: pd.DataFrame, on: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each pool's `micros` over the customers of its `weights` rows (joined `on`).

    Returns (shares, unsplit): shares has the pool columns plus customer_id,
    micros (the share) and proportion; unsplit holds the pools that found no
    positive weight. Within a pool, customers are taken in id order and the
    last one absorbs the rounding remainder, so shares add up exactly.
    """
    pools = pools.reset_index(drop=True)
    pool_id = np.arange(len(pools))
    weights = weights.loc[weights["weight"] > 0, [*on, "customer_id", "weight"]]
    keyed = pools[on].assign(_pool=pool_id)
    joined = keyed.merge(weights, on=on, how="inner")[["_pool", "customer_id", "weight"]]
    if joined.empty:
        return _empty_shares(pools), pools
    customer_rank = joined["customer_id"].astype("category").cat.as_ordered()
    order = np.lexsort((customer_rank.cat.codes.to_numpy(), joined["_pool"].to_numpy()))
    joined = joined.iloc[order].reset_index(drop=True)

    pool = joined["_pool"].to_numpy()
    weight = joined["weight"].to_numpy(dtype=float)
    cumulative = joined.groupby("_pool", sort=False)["weight"].cumsum().to_numpy()
    total = joined.groupby("_pool", sort=False)["weight"].transform("sum").to_numpy()
    pool_micros = pools["micros"].to_numpy(dtype=np.int64)[pool]
    is_last = np.r_[pool[1:] != pool[:-1], True]
    is_first = np.r_[True, pool[1:] != pool[:-1]]
    boundary = np.rint(pool_micros * (cumulative / total)).astype(np.int64)
    boundary[is_last] = pool_micros[is_last]
    previous = np.r_[np.int64(0), boundary[:-1]]
    previous[is_first] = 0

    shares = pools.drop(columns="micros").iloc[pool].reset_index(drop=True)
    shares["customer_id"] = joined["customer_id"]
    shares["micros"] = boundary - previous
    shares["proportion"] = weight / total
    shares["weight"] = weight
    unsplit = pools[~np.isin(pool_id, pool)]
    return shares, unsplit


def _empty_shares(pools: pd.DataFrame) -> pd.DataFrame:
    frame = pools.drop(columns="micros").iloc[0:0].copy()
    return frame.assign(customer_id=pd.Series(dtype=object), micros=pd.Series(dtype=np.int64),
                        proportion=pd.Series(dtype=float))


IDLE_CLAIM = -3


def rule_claims(costs: pd.DataFrame, rules: AllocationRules) -> np.ndarray:
    """Per cost row: index of the rule that places it, -1 for none, -2 for internal cost,
    IDLE_CLAIM for unused container capacity that stays unallocated (rules' `idle`)."""
    claim = np.full(len(costs), -1)
    if "capacity" in costs:  # internal wins: non-production capacity is no cost of serving customers
        idle = costs["capacity"] == UNSPLIT_INSTANCE_COST
        if rules.idle == IDLE_UNALLOCATED:
            idle |= costs["capacity"] == UNUSED_CAPACITY
        claim[idle.to_numpy()] = IDLE_CLAIM
    internal = costs["environment"].isin(rules.internal_environments) | costs["service"].isin(rules.internal_services)
    claim[internal.to_numpy()] = -2
    tagged = (costs["customer_id"] != UNTAGGED).to_numpy()
    for index, rule in enumerate(rules.rules):
        match = claim == -1
        if rule.services is not None:
            match &= costs["service"].isin(rule.services).to_numpy()
        if rule.method == DIRECT:
            match &= tagged
        claim[match] = index
    return claim


def check_usage_quantities(metrics: pd.DataFrame) -> None:
    """Raise InvalidUsageMetric, naming the rows and days, for a negative or NaN quantity:
    such a row would take cost away from other customers or lose it."""
    quantity = pd.to_numeric(metrics["quantity"], errors="coerce")
    bad = metrics[quantity.isna() | (quantity < 0)]
    if bad.empty:
        return
    rows = "; ".join(
        f"{r.date} service {r.service!r} customer {(r.customer_id or '(service-level)')!r} metric {r.metric!r} "
        f"quantity {r.quantity!r}" for r in bad.head(5).itertuples()
    )
    days = describe_days(sorted({d for d in bad["date"]}))
    raise InvalidUsageMetric(f"usage_metrics has {len(bad)} row(s) with a negative or missing (NaN) quantity on {days}: "
                             f"{rows}; fix them in the product database (a quantity is 0 or more)")


def usage_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """metrics in long form (date, service, customer_id, metric, quantity), checked.

    Accepts service_metrics' form (request_count) as the metric `requests`. An empty
    or missing customer_id is the service's own usage (a driver between services): ''.
    """
    if "metric" not in metrics.columns:
        metrics = metrics.rename(columns={"request_count": "quantity"}).assign(metric=REQUESTS)
    metrics = metrics[USAGE_COLUMNS].copy()
    metrics["customer_id"] = metrics["customer_id"].astype(object).where(metrics["customer_id"].notna(), SERVICE_LEVEL)
    check_usage_quantities(metrics)
    metrics["quantity"] = metrics["quantity"].astype(float)
    return metrics[metrics["quantity"] > 0]


def _rule_weights(rule: AllocationRule, pools: pd.DataFrame, metrics: pd.DataFrame,
                  customers: pd.DataFrame, held: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(pools with join columns, weights, join columns) for one rule splitting onto customers.

    held: date, customer_id, weight: what each customer was allocated so far that day (driver: cost).
    """
    if rule.method == USAGE_PROPORTIONAL and rule.by_cost:
        return pools, held, ["date"]
    if rule.method == USAGE_PROPORTIONAL:
        pools = pools.assign(driver=pools["service"].astype(object).map(rule.driver_for).astype(metrics["service"].dtype))
        usage = metrics[(metrics["metric"] == rule.metric).to_numpy() & (metrics["customer_id"] != SERVICE_LEVEL).to_numpy()]
        weights = usage.rename(columns={"service": "driver", "quantity": "weight"})
        return pools, weights, ["date", "driver"]
    if rule.method == EVEN:
        active = customers.loc[customers["status"] == ACTIVE, ["date", "id"]]
        return pools, active.rename(columns={"id": "customer_id"}).assign(weight=1.0), ["date"]
    if rule.method == FIXED:
        weights = pd.DataFrame({"customer_key": pd.Series(list(rule.shares), dtype=customers["customer_key"].dtype),
                                "weight": list(rule.shares.values())})
        days = pd.DataFrame({"date": pools["date"].drop_duplicates()})
        weights = days.merge(weights, how="cross").merge(
            customers[["date", "customer_key", "id"]].drop_duplicates(["date", "customer_key"]),
            on=["date", "customer_key"], how="left"
        )
        # A share for a customer the product database does not know stays unallocated (unknown_customer).
        weights["customer_id"] = weights["id"].fillna(weights["customer_key"])
        return pools, weights[["date", "customer_id", "weight"]], ["date"]
    raise ValueError(f"rule {rule.name!r}: {rule.method} is not a split method")


def _service_weights(rule: AllocationRule, pools: pd.DataFrame, metrics: pd.DataFrame, working: pd.DataFrame,
                     sources: set[str]) -> pd.DataFrame:
    """date, service (the pool's), customer_id (the receiving service), weight: a rule splitting onto services.

    A metric driver: the service-level rows (empty customer_id) of that metric. driver: cost: the
    cost each service holds at this stage. Never the pool's own service; with cost, never a service
    that is itself split onto services (its dollars would come back).
    """
    if rule.by_cost:
        holding = working.loc[~working["service"].isin(sources), ["date", "service", "micros"]]
        receivers = holding.groupby(["date", "service"], as_index=False, observed=True)["micros"].sum()
        receivers = receivers.rename(columns={"service": "customer_id", "micros": "weight"})
        receivers["weight"] = receivers["weight"].astype(float)
    else:
        usage = metrics[(metrics["metric"] == rule.metric).to_numpy() & (metrics["customer_id"] == SERVICE_LEVEL).to_numpy()]
        receivers = usage[["date", "service", "quantity"]].rename(columns={"service": "customer_id", "quantity": "weight"})
    receivers = receivers.assign(customer_id=receivers["customer_id"].astype(pools["service"].dtype))
    pairs = pools[["date", "service"]].drop_duplicates().merge(receivers, on="date")
    return pairs[pairs["service"].astype(object) != pairs["customer_id"].astype(object)]


def service_stage_order(rules: AllocationRules, metrics: pd.DataFrame) -> list[int]:
    """Indexes (in rules.rules) of the rules that split onto services, in stage order: a service
    is split after every service that sends it cost. Raises AllocationCycle naming the services
    when they send cost around a loop."""
    indexes = [i for i, rule in enumerate(rules.rules) if rule.to_services]
    if not indexes:
        return []
    sources = {s: i for i in indexes for s in rules.rules[i].services or ()}
    service_level = metrics[metrics["customer_id"] == SERVICE_LEVEL]
    sends: dict[str, set[str]] = {}
    for index in indexes:
        rule = rules.rules[index]
        if rule.by_cost:
            receivers: set[str] = set()  # never another split-onto-services source
        else:
            receivers = {str(s) for s in service_level.loc[service_level["metric"] == rule.metric, "service"].unique()}
        for service in rule.services or ():
            sends[service] = {r for r in receivers if r in sources and r != service}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(service: str, path: list[str]) -> None:
        if state.get(service) == 2:
            return
        if state.get(service) == 1:
            loop = path[path.index(service):] + [service]
            raise AllocationCycle(
                f"allocation rules split cost onto services in a cycle: {' -> '.join(loop)} (rules "
                f"{', '.join(repr(rules.rules[sources[s]].name) for s in dict.fromkeys(loop))}); a service "
                f"cannot receive cost it sends")
        state[service] = 1
        for receiver in sorted(sends[service]):
            visit(receiver, [*path, service])
        state[service] = 2
        order.append(service)

    for service in sorted(sends):
        visit(service, [])
    ranked = list(reversed(order))  # senders before receivers
    return sorted(indexes, key=lambda i: min(ranked.index(s) for s in rules.rules[i].services or ()))


def allocate(costs: pd.DataFrame, metrics: pd.DataFrame, customers: pd.DataFrame,
             rules: AllocationRules) -> Allocation:
    """Place each day's effective cost on customers by the rules, in stages.

    costs: date, team, service, customer_id, environment, effective_cost (tags
    normalized as in daily_costs), and optionally capacity (the charge category of
    unused container capacity, else '': see rule_claims). metrics: date, service, customer_id, metric,
    quantity (usage_metrics; customer_id '' for a service's own usage), or
    service_metrics' date, service, customer_id, request_count. customers:
    date, id, status: the customers in effect on each cost day (see
    customers_by_day).

    Stages 1..n split services onto services (rules with `targets: services`,
    senders before receivers); the last stage places every service's cost,
    received dollars included, on customers by the rules in priority order.
    Every stage is checked to keep each day's micro-dollars.
    """
    metrics = usage_frame(metrics)
    customers = customers.assign(customer_key=customers["id"].astype(str).str.lower())
    costs, metrics, customers = _encoded(costs.reset_index(drop=True), metrics, customers, rules)
    costs = costs.assign(micros=to_micros(costs["effective_cost"]), origin_service=costs["service"])
    bill = costs.groupby("date", observed=True)["micros"].sum()
    claim = rule_claims(costs, rules)

    allocated: list[pd.DataFrame] = []
    hops = _HopRecorder()
    unallocated: list[pd.DataFrame] = [
        costs.loc[claim == -2, ["date", "service", "team", "micros"]].assign(reason=INTERNAL),
        costs.loc[claim == -1, ["date", "service", "team", "micros"]].assign(reason=UNTAGGED_REASON),
        costs.loc[claim == IDLE_CLAIM, ["date", "service", "team", "micros"]].assign(reason=IDLE),
    ]
    working = costs.loc[claim >= 0, WORKING_COLUMNS].assign(claim=claim[claim >= 0])

    stage = 0
    sources = {s for rule in rules.service_rules() for s in rule.services or ()}
    split_already: set[int] = set()
    for index in service_stage_order(rules, metrics):
        stage += 1
        split_already.add(index)
        rule = rules.rules[index]
        rows = working[working["claim"] == index]
        working = working[working["claim"] != index]
        if not rows.empty:
            pools = rows.groupby(POOL_KEYS, as_index=False, sort=False, observed=True)["micros"].sum()
            weights = _service_weights(rule, pools, metrics, working, sources)
            shares, unsplit = split_pools(pools, weights, ["date", "service"])
            unallocated.append(unsplit[["date", "service", "team", "micros"]].assign(reason=NO_USAGE))
            hops.add(shares, stage, rule, SERVICE_RECIPIENT)
            received = pd.DataFrame({
                "date": shares["date"], "team": shares["team"], "service": shares["customer_id"],
                "customer_id": pd.Series(UNTAGGED, index=shares.index).astype(costs["customer_id"].dtype),
                # Received dollars passed the environment test where they were billed.
                "environment": pd.Series(RECEIVED_ENVIRONMENT, index=shares.index),
                "micros": shares["micros"], "origin_service": shares["origin_service"],
            })
            received_claim = rule_claims(received, rules)
            done = sorted(set(received_claim.tolist()) & split_already)
            if done:  # service_stage_order puts senders first: only a loop comes back
                raise AllocationCycle(f"allocation rule {rule.name!r} sends cost back to a service that rule "
                                      f"{rules.rules[done[0]].name!r} has already split onto services")
            unallocated.append(received.loc[received_claim == -2, ["date", "service", "team", "micros"]].assign(reason=INTERNAL))
            unallocated.append(received.loc[received_claim == -1, ["date", "service", "team", "micros"]].assign(reason=UNTAGGED_REASON))
            claimed = received.loc[received_claim >= 0, WORKING_COLUMNS].assign(claim=received_claim[received_claim >= 0])
            if not claimed.empty:
                working = claimed if working.empty else pd.concat([working, claimed], ignore_index=True)
        _check_stage(bill, [working], unallocated, stage, rule.name)

    stage += 1
    # Tags are lower-cased by ingestion; customer ids keep the product database's spelling.
    known = customers[["date", "customer_key", "id"]].drop_duplicates(["date", "customer_key"])
    known_ids = customers[["date", "id"]].rename(columns={"id": "customer_id"})
    for index, rule in enumerate(rules.rules):
        if rule.to_services:
            continue
        rows = working.loc[working["claim"] == index, WORKING_COLUMNS]
        if rows.empty:
            continue
        if rule.method == DIRECT:
            placed = rows.merge(known, left_on=["date", "customer_id"], right_on=["date", "customer_key"], how="left")
            unknown = placed["id"].isna()
            unallocated.append(placed.loc[unknown, ["date", "service", "team", "micros"]].assign(reason=UNKNOWN_CUSTOMER))
            direct = (placed.loc[~unknown, ["date", "service", "origin_service", "micros"]]
                      .assign(customer_id=placed.loc[~unknown, "id"], proportion=1.0))
            allocated.append(direct.assign(allocation_method=DIRECT, rule=rule.name))
            hops.add(direct, stage, rule, CUSTOMER_RECIPIENT)
            continue
        pools = rows.groupby(POOL_KEYS, as_index=False, sort=False, observed=True)["micros"].sum()
        held = _held(allocated, costs) if rule.by_cost else None
        pools, weights, on = _rule_weights(rule, pools, metrics, customers, held)
        shares, unsplit = split_pools(pools, weights, on)
        unallocated.append(unsplit[["date", "service", "team", "micros"]].assign(reason=NO_USAGE))
        is_known = shares[["date", "customer_id"]].merge(
            known_ids, on=["date", "customer_id"], how="left", indicator=True
        )["_merge"].eq("both").to_numpy()
        unallocated.append(shares.loc[~is_known, ["date", "service", "team", "micros"]].assign(reason=UNKNOWN_CUSTOMER))
        placed_shares = shares.loc[is_known]
        allocated.append(
            placed_shares[["date", "service", "origin_service", "customer_id", "micros", "proportion"]]
            .assign(allocation_method=rule.method, rule=rule.name)
        )
        hops.add(placed_shares, stage, rule, CUSTOMER_RECIPIENT)
    _check_stage(bill, allocated, unallocated, stage, "customers")

    records = hops.records()
    allocated_frame = _allocated_rows(records)
    unallocated_frame = _unallocated_rows(unallocated)
    overhead, unspread = spread_overhead(allocated_frame, unallocated_frame, rules.overhead_reasons)
    return Allocation(allocated=_decoded(allocated_frame), unallocated=_decoded(unallocated_frame),
                      overhead=_decoded(overhead), unspread_overhead=_decoded(unspread), hops=records)


def _held(allocated: list[pd.DataFrame], template: pd.DataFrame) -> pd.DataFrame:
    """date, customer_id, weight: micro-dollars each customer holds so far that day (driver: cost)."""
    parts = [p[["date", "customer_id", "micros"]] for p in allocated if not p.empty]
    if not parts:
        return template[["date", "customer_id"]].iloc[0:0].assign(weight=pd.Series(dtype=float))
    held = pd.concat(parts, ignore_index=True).groupby(["date", "customer_id"], as_index=False, observed=True)["micros"].sum()
    return held.rename(columns={"micros": "weight"}).astype({"weight": float})


class _HopRecorder:
    """Collects the shares of every hop. Names repeat on millions of rows: each hop part is one
    small record (stage, rule, method, driver), and the rows carry its number."""

    def __init__(self) -> None:
        self.parts: list[dict] = []
        self.frames: dict[str, list[pd.DataFrame]] = {SERVICE_RECIPIENT: [], CUSTOMER_RECIPIENT: []}

    def add(self, shares: pd.DataFrame, stage: int, rule: AllocationRule, recipient_kind: str) -> None:
        if shares.empty:
            return
        if rule.method == DIRECT:
            quantity = np.full(len(shares), np.nan)
        elif rule.by_cost:
            quantity = shares["weight"].to_numpy(dtype=float) / MICROS_PER_USD
        else:  # the recipient's usage; 1 for even; percent for fixed
            quantity = shares["weight"].to_numpy(dtype=float)
        part = len(self.parts)
        self.parts.append({"stage": stage, "rule": rule.name, "allocation_method": rule.method,
                           "driver_metric": _driver_metric(rule), "recipient_kind": recipient_kind,
                           "driver": rule.driver, "to_services": rule.to_services, "by_cost": rule.by_cost})
        self.frames[recipient_kind].append(pd.DataFrame({
            "date": shares["date"], "part": np.int32(part), "origin_service": shares["origin_service"],
            "from_service": shares["service"], "recipient": shares["customer_id"], "micros": shares["micros"],
            "proportion": shares["proportion"], "driver_quantity": quantity,
        }))

    def records(self) -> HopRecords:
        def frame(kind: str) -> pd.DataFrame:
            parts = self.frames[kind]
            return pd.concat(parts, ignore_index=True) if parts else _empty_hop_frame()
        return HopRecords(parts=tuple(self.parts), services=frame(SERVICE_RECIPIENT), customers=frame(CUSTOMER_RECIPIENT))


def _empty_hop_frame() -> pd.DataFrame:
    return pd.DataFrame({"date": pd.Series(dtype=object), "part": pd.Series(dtype=np.int32),
                         "origin_service": pd.Series(dtype=object), "from_service": pd.Series(dtype=object),
                         "recipient": pd.Series(dtype=object), "micros": pd.Series(dtype=np.int64),
                         "proportion": pd.Series(dtype=float), "driver_quantity": pd.Series(dtype=float)})


def _part_columns(grouped: pd.DataFrame, parts: tuple[dict, ...]) -> pd.DataFrame:
    """The part's stage, rule, method, driver metric and kind on each grouped row, and its driver service."""
    part = grouped["part"].to_numpy()
    for column in ("stage", "rule", "allocation_method", "driver_metric", "recipient_kind"):
        values = np.array([p[column] for p in parts], dtype=np.int64 if column == "stage" else object)
        grouped[column] = values[part]
    driver_service = np.full(len(grouped), None, dtype=object)
    for index, p in enumerate(parts):
        if p["allocation_method"] != USAGE_PROPORTIONAL or p["by_cost"]:
            continue
        mask = part == index
        if p["to_services"]:
            driver_service[mask] = grouped.loc[mask, "recipient"].astype(object).to_numpy()
        elif p["driver"] == SELF_DRIVER:
            driver_service[mask] = grouped.loc[mask, "from_service"].astype(object).to_numpy()
        else:
            driver_service[mask] = p["driver"]
    grouped["driver_service"] = driver_service
    return grouped


def _driver_metric(rule: AllocationRule) -> str | None:
    if rule.method == USAGE_PROPORTIONAL:
        return BY_COST_DRIVER if rule.by_cost else rule.metric
    return {EVEN: "active_customers", FIXED: "percent"}.get(rule.method)


def _check_stage(bill: pd.Series, holding: list[pd.DataFrame], unallocated: list[pd.DataFrame], stage: int,
                 name: str) -> None:
    """Raise StageNotConserved unless each day's micro-dollars are all still held, placed or unallocated."""
    parts = [p[["date", "micros"]] for p in [*holding, *unallocated] if not p.empty]
    held = (pd.concat(parts, ignore_index=True).groupby("date", observed=True)["micros"].sum()
            if parts else pd.Series(dtype=np.int64))
    difference = held.reindex(bill.index, fill_value=0) - bill
    extra = held.index.difference(bill.index)
    if (difference != 0).any() or len(extra):
        days = [str(d) for d in difference[difference != 0].index] + [str(d) for d in extra]
        raise StageNotConserved(f"allocation stage {stage} ({name}) does not conserve cost on {', '.join(days[:10])}: "
                                f"{int(difference.abs().sum())} micro-dollar(s) created or lost")


def _categories(*columns) -> pd.CategoricalDtype:
    values = set()
    for column in columns:
        values.update(pd.unique(pd.Series(column, dtype=object)))
    return pd.CategoricalDtype(sorted(values))


def _encoded(costs: pd.DataFrame, metrics: pd.DataFrame, customers: pd.DataFrame,
             rules: AllocationRules) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The inputs with shared categorical dtypes for days, customer ids and services,
    so that joins and groupings compare integer codes, not millions of strings.
    Categories are sorted, so code order is id order."""
    day = _categories(costs["date"], metrics["date"], customers["date"])
    customer = _categories(costs["customer_id"], metrics["customer_id"], customers["id"], customers["customer_key"],
                           [UNTAGGED], *(list(rule.shares) for rule in rules.rules))
    service = _categories(costs["service"], metrics["service"], sorted(rules.driver_services()))
    return (
        costs.astype({"date": day, "customer_id": customer, "service": service, "team": _categories(costs["team"])}),
        metrics.astype({"date": day, "customer_id": customer, "service": service, "metric": "category"}),
        customers.astype({"date": day, "id": customer, "customer_key": customer}),
    )


def _decoded(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain values (datetime.date, str) in place of categoricals."""
    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: object for c in categorical}) if categorical else frame


HOP_KEYS = ["date", "part", "origin_service", "from_service", "recipient"]


def _allocated_rows(records: HopRecords) -> pd.DataFrame:
    """customer_cost_allocation: the hops onto customers, one row per day, customer, service and rule
    (one service's cost can come from several teams' pools and several origin services)."""
    rows = records.customers
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("allocated_cost", "proportion", "driver_quantity") else
                                          np.int64 if c == "stage" else object) for c in ALLOCATED_COLUMNS})
    # A customer-stage part is one rule (and so one method).
    grouped = rows.groupby(["date", "recipient", "from_service", "part"], as_index=False, sort=True, observed=True).agg(
        micros=("micros", "sum"), proportion=("proportion", "max"), driver_quantity=("driver_quantity", "max"))
    grouped = _part_columns(grouped, records.parts)
    grouped["allocated_cost"] = to_dollars(grouped["micros"])
    return grouped.rename(columns={"recipient": "customer_id", "from_service": "service"})[ALLOCATED_COLUMNS]


def hop_rows(records: HopRecords, staged_only: bool = True) -> pd.DataFrame:
    """allocation_hops: one row per day, stage, rule, origin service, split service and recipient (teams summed).

    staged_only: the splits between services and the customer hops of dollars another service sent;
    a service's own dollars placed on customers are customer_cost_allocation rows already (with their
    stage and driver), and the warehouse keeps them once.
    """
    customers = records.customers
    if staged_only and not customers.empty:
        origin, source = customers["origin_service"], customers["from_service"]
        if isinstance(origin.dtype, pd.CategoricalDtype) and origin.dtype == source.dtype:
            received = origin.cat.codes.to_numpy() != source.cat.codes.to_numpy()  # integer codes: millions of rows
        else:
            received = origin.astype(object).to_numpy() != source.astype(object).to_numpy()
        customers = customers[received]
    frames = []
    for rows in (records.services, customers):
        if rows.empty:
            continue
        grouped = rows.groupby(HOP_KEYS, as_index=False, sort=True, observed=True).agg(
            micros=("micros", "sum"), proportion=("proportion", "max"), driver_quantity=("driver_quantity", "max"))
        frames.append(_decoded(_part_columns(grouped, records.parts)))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in HOP_COLUMNS})
    hops = pd.concat(frames, ignore_index=True)
    hops["cost"] = to_dollars(hops["micros"])
    return hops.sort_values(["date", "stage", "origin_service", "from_service", "recipient"], kind="stable")[
        HOP_COLUMNS].reset_index(drop=True)


def _unallocated_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    rows = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    grouped = rows.groupby(["date", "service", "team", "reason"], as_index=False, sort=True, observed=True)["micros"].sum()
    grouped["cost"] = to_dollars(grouped["micros"])
    return grouped[UNALLOCATED_COLUMNS]


def spread_overhead(allocated: pd.DataFrame, unallocated: pd.DataFrame,
                    reasons: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spread the unallocated cost of `reasons` over each day's customers in
    proportion to their allocated cost that day ("fully loaded" cost).

    Returns (overhead rows, unspread: date, reason, cost of days on which no
    customer had a positive allocated cost).
    """
    empty = pd.DataFrame({c: pd.Series(dtype=float if c in ("overhead_cost", "proportion") else object)
                          for c in OVERHEAD_COLUMNS})
    no_unspread = pd.DataFrame({"date": pd.Series(dtype=object), "reason": pd.Series(dtype=object),
                                "cost": pd.Series(dtype=float)})
    chosen = unallocated[unallocated["reason"].isin(reasons)]
    if not reasons or chosen.empty:
        return empty, no_unspread
    pools = chosen.assign(micros=to_micros(chosen["cost"])).groupby(
        ["date", "reason"], as_index=False, observed=True)["micros"].sum()
    weights = (
        allocated.assign(micros=to_micros(allocated["allocated_cost"]))
        .groupby(["date", "customer_id"], as_index=False, observed=True)["micros"].sum()
        .rename(columns={"micros": "weight"})
    )
    weights["weight"] = weights["weight"].astype(float)
    shares, unsplit = split_pools(pools, weights, ["date"])
    overhead = shares.assign(overhead_cost=to_dollars(shares["micros"]))
    overhead = overhead.sort_values(["date", "customer_id", "reason"], kind="stable")[OVERHEAD_COLUMNS]
    unspread = unsplit.assign(cost=to_dollars(unsplit["micros"]))[["date", "reason", "cost"]]
    return overhead.reset_index(drop=True), unspread.reset_index(drop=True)


DRIVER_GAP_COLUMNS = ["rule", "driver", "services", "days", "day_count", "cost"]
DAYS_LISTED = 10


def drivers_without_metrics(rules: AllocationRules, drivers_with_requests: set[str],
                            no_usage: pd.DataFrame) -> pd.DataFrame:
    """Split pools lost to a driver service with no service_metrics requests on any
    day of the run (a misspelt driver, or metrics the product database does not keep).

    no_usage: date, service, cost of the run's `no_usage` rows. Returns one row
    per rule and driver whose pools went to no_usage: DRIVER_GAP_COLUMNS.
    """
    gaps = []
    for rule in rules.rules:
        if rule.method != USAGE_PROPORTIONAL or rule.by_cost or rule.to_services or rule.metric != REQUESTS:
            continue
        by_driver: dict[str, list[str]] = {}
        for service in rule.services or ():
            by_driver.setdefault(rule.driver_for(service), []).append(service)
        for driver, services in by_driver.items():
            lost = no_usage[no_usage["service"].isin(services)]
            if driver in drivers_with_requests or lost.empty:
                continue
            days = sorted(set(lost["date"]))
            gaps.append({"rule": rule.name, "driver": driver, "services": ", ".join(services),
                         "days": describe_days(days), "day_count": len(days), "cost": round(float(lost["cost"].sum()), 2)})
    return pd.DataFrame(gaps, columns=DRIVER_GAP_COLUMNS)


def describe_days(days: list[dt.date]) -> str:
    if len(days) <= DAYS_LISTED:
        return ", ".join(str(d) for d in days)
    return f"{days[0]}..{days[-1]} ({len(days)} days)"


def describe_driver_gap(gap) -> str:
    return (f"allocation rule {gap.rule!r}: driver service {gap.driver!r} has no service_metrics requests on any day "
            f"of the run, so the cost of {gap.services} (${gap.cost:,.2f} on {gap.days}) stays in unallocated_costs "
            f"as no_usage; check the rule's driver and the product database's service_metrics")


def conservation_gaps(totals: pd.DataFrame, tolerance: float = RECONCILIATION_TOLERANCE_USD) -> pd.DataFrame:
    """Days whose allocated + unallocated cost differs from the bill by more than `tolerance`.

    `totals` has date, effective (daily_costs.effective_cost), allocated, unallocated per day.
    """
    totals = totals.fillna({"effective": 0.0, "allocated": 0.0, "unallocated": 0.0})
    difference = (totals["allocated"] + totals["unallocated"] - totals["effective"]).round(6)
    return totals.assign(difference=difference)[difference.abs() > tolerance].sort_values("date")


def describe_gaps(gaps: pd.DataFrame) -> str:
    days = ", ".join(
        f"{row.date} (daily_costs {row.effective:.2f}, allocated {row.allocated:.2f} + unallocated {row.unallocated:.2f})"
        for row in gaps.head(10).itertuples()
    )
    return (f"allocation does not conserve cost on {len(gaps)} day(s): {days}; "
            f"customer_cost_allocation + unallocated_costs must equal daily_costs.effective_cost within "
            f"${RECONCILIATION_TOLERANCE_USD}")
