"""Customer cost allocation: pure, set-based functions over DataFrames.

Every dollar of a day's effective cost ends up either on a customer
(`allocated`) or in `unallocated` with a reason; the two add up to the bill.
Money is handled in integer micro-dollars so splits never leak rounding:
each split pool is cut at rounded cumulative boundaries and the last share
ends exactly at the pool total, absorbing the remainder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cost_assets.allocation.rules import (
    DIRECT,
    EVEN,
    FIXED,
    INTERNAL,
    NO_USAGE,
    UNKNOWN_CUSTOMER,
    UNTAGGED_REASON,
    USAGE_PROPORTIONAL,
    AllocationRule,
    AllocationRules,
)
from cost_assets.ingestion.checks import RECONCILIATION_TOLERANCE_USD
from cost_assets.settings import UNTAGGED

MICROS_PER_USD = 1_000_000
ACTIVE = "active"

ALLOCATED_COLUMNS = ["date", "customer_id", "service", "allocation_method", "rule", "allocated_cost", "proportion"]
UNALLOCATED_COLUMNS = ["date", "service", "team", "reason", "cost"]
OVERHEAD_COLUMNS = ["date", "customer_id", "reason", "overhead_cost", "proportion"]


class MissingCustomerSnapshot(ValueError):
    """A cost day has no customer_snapshots row on or before it; the message names the days."""


@dataclass(frozen=True)
class Allocation:
    allocated: pd.DataFrame  # ALLOCATED_COLUMNS
    unallocated: pd.DataFrame  # UNALLOCATED_COLUMNS
    overhead: pd.DataFrame  # OVERHEAD_COLUMNS: chosen unallocated reasons spread over customers
    unspread_overhead: pd.DataFrame  # date, reason, cost: overhead of days with no allocated customer


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
    unsplit = pools[~np.isin(pool_id, pool)]
    return shares, unsplit


def _empty_shares(pools: pd.DataFrame) -> pd.DataFrame:
    frame = pools.drop(columns="micros").iloc[0:0].copy()
    return frame.assign(customer_id=pd.Series(dtype=object), micros=pd.Series(dtype=np.int64),
                        proportion=pd.Series(dtype=float))


def _claims(costs: pd.DataFrame, rules: AllocationRules) -> np.ndarray:
    """Per cost row: index of the rule that places it, -1 for none, -2 for internal cost."""
    claim = np.full(len(costs), -1)
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


def _rule_weights(rule: AllocationRule, pools: pd.DataFrame, metrics: pd.DataFrame,
                  customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(pools with join columns, weights, join columns) for one split rule."""
    if rule.method == USAGE_PROPORTIONAL:
        pools = pools.assign(driver=pools["service"].astype(object).map(rule.driver_for).astype(metrics["service"].dtype))
        weights = metrics.rename(columns={"service": "driver", "request_count": "weight"})
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


def allocate(costs: pd.DataFrame, metrics: pd.DataFrame, customers: pd.DataFrame,
             rules: AllocationRules) -> Allocation:
    """Place each day's effective cost on customers by the rules.

    costs: date, team, service, customer_id, environment, effective_cost (tags
    normalized as in daily_costs). metrics: date, service, customer_id,
    request_count. customers: date, id, status: the customers in effect on
    each cost day (see customers_by_day).
    """
    customers = customers.assign(customer_key=customers["id"].astype(str).str.lower())
    costs, metrics, customers = _encoded(costs.reset_index(drop=True), metrics, customers, rules)
    costs = costs.assign(micros=to_micros(costs["effective_cost"]))
    claim = _claims(costs, rules)

    allocated: list[pd.DataFrame] = []
    unallocated: list[pd.DataFrame] = [
        costs.loc[claim == -2, ["date", "service", "team", "micros"]].assign(reason=INTERNAL),
        costs.loc[claim == -1, ["date", "service", "team", "micros"]].assign(reason=UNTAGGED_REASON),
    ]
    # Tags are lower-cased by ingestion; customer ids keep the product database's spelling.
    known = customers[["date", "customer_key", "id"]].drop_duplicates(["date", "customer_key"])
    known_ids = customers[["date", "id"]].rename(columns={"id": "customer_id"})
    for index, rule in enumerate(rules.rules):
        rows = costs.loc[claim == index, ["date", "service", "team", "customer_id", "micros"]]
        if rows.empty:
            continue
        if rule.method == DIRECT:
            placed = rows.merge(known, left_on=["date", "customer_id"], right_on=["date", "customer_key"], how="left")
            unknown = placed["id"].isna()
            unallocated.append(placed.loc[unknown, ["date", "service", "team", "micros"]].assign(reason=UNKNOWN_CUSTOMER))
            allocated.append(
                placed.loc[~unknown, ["date", "service", "micros"]]
                .assign(customer_id=placed.loc[~unknown, "id"], proportion=1.0, allocation_method=DIRECT, rule=rule.name)
            )
            continue
        pools = rows.groupby(["date", "service", "team"], as_index=False, sort=False, observed=True)["micros"].sum()
        pools, weights, on = _rule_weights(rule, pools, metrics, customers)
        shares, unsplit = split_pools(pools, weights, on)
        unallocated.append(unsplit[["date", "service", "team", "micros"]].assign(reason=NO_USAGE))
        is_known = shares[["date", "customer_id"]].merge(
            known_ids, on=["date", "customer_id"], how="left", indicator=True
        )["_merge"].eq("both").to_numpy()
        unallocated.append(shares.loc[~is_known, ["date", "service", "team", "micros"]].assign(reason=UNKNOWN_CUSTOMER))
        allocated.append(
            shares.loc[is_known, ["date", "service", "customer_id", "micros", "proportion"]]
            .assign(allocation_method=rule.method, rule=rule.name)
        )

    allocated_frame = _allocated_rows(allocated)
    unallocated_frame = _unallocated_rows(unallocated)
    overhead, unspread = spread_overhead(allocated_frame, unallocated_frame, rules.overhead_reasons)
    return Allocation(allocated=_decoded(allocated_frame), unallocated=_decoded(unallocated_frame),
                      overhead=_decoded(overhead), unspread_overhead=_decoded(unspread))


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
                           *(list(rule.shares) for rule in rules.rules))
    service = _categories(costs["service"], metrics["service"], sorted(rules.driver_services()))
    return (
        costs.astype({"date": day, "customer_id": customer, "service": service, "team": _categories(costs["team"])}),
        metrics.astype({"date": day, "customer_id": customer, "service": service}),
        customers.astype({"date": day, "id": customer, "customer_key": customer}),
    )


def _decoded(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain values (datetime.date, str) in place of categoricals."""
    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: object for c in categorical}) if categorical else frame


def _allocated_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("allocated_cost", "proportion") else object)
                             for c in ALLOCATED_COLUMNS})
    # Method and rule name repeat on every row: categories keep the grouping on integer codes.
    rows = pd.concat(parts, ignore_index=True).astype({"allocation_method": "category", "rule": "category"})
    keys = ["date", "customer_id", "service", "allocation_method", "rule"]
    # One service's cost can come from several teams' pools: one row per key.
    grouped = rows.groupby(keys, as_index=False, sort=True, observed=True).agg(
        micros=("micros", "sum"), proportion=("proportion", "max"))
    grouped["allocated_cost"] = to_dollars(grouped["micros"])
    return grouped[ALLOCATED_COLUMNS]


def _unallocated_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    rows = pd.concat(parts, ignore_index=True)
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
        if rule.method != USAGE_PROPORTIONAL:
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
