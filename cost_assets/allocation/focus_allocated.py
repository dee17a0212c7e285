"""focus_allocated_costs: each origin charge (a focus_costs row) split onto the customers the
allocation placed its dollars on, with the FOCUS 1.3 allocation columns
(docs/reference.md#focus_allocated_costs). Pure functions over DataFrames.

The allocation works at the grain (day, service, team, customer tag, environment) and keeps no
origin rows, so the split is rebuilt from what it wrote:
- customer_cost_allocation holds every customer's dollars per day, service and rule, a service's
  own dollars and the dollars other services sent it alike;
- allocation_hops holds the customer hops of sent dollars with their origin service, so a
  service's own dollars are its customer_cost_allocation rows less those hops, and the sent
  dollars go back to the origin service's charges.
The rules file tells which rule claimed each origin charge (rule_claims, as the allocation does):
a direct-tagged charge gets its customer's direct dollars, the charges a split rule claimed share
their service's split dollars by cost (the rules' weights are per day and service, the same for
every team), internal and unclaimed charges stay unallocated.
Every cost column and summable quantity of an origin charge is split by the same ratios in
integer millionths (split_pools), so the rows of an origin charge add up to it exactly.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from cost_assets.allocation.allocation import (
    CUSTOMER_RECIPIENT, IDLE_CLAIM, SERVICE_RECIPIENT, rule_claims, split_pools, to_dollars, to_micros,
)
from cost_assets.allocation.rules import DIRECT, IDLE, INTERNAL, NO_USAGE, UNKNOWN_CUSTOMER, UNTAGGED_REASON, AllocationRules
from cost_assets.ingestion.container_splits import CAPACITY_CATEGORIES
from cost_assets.resources.schema import FOCUS_ALLOCATION_COLUMNS, FOCUS_BASE_COLUMNS, FOCUS_COST_COLUMNS, FOCUS_QUANTITY_COLUMNS

# The part of a split charge that reached no customer because a service it was sent to did not place it.
UNPLACED_AFTER_HOP = "unplaced_after_hop"
# AllocatedTags key of the customer: a tag scheme of this project (FOCUS asks for a prefix of our own).
CUSTOMER_TAG = "allocation/customer"
OUTPUT_COLUMNS = ["date", *FOCUS_BASE_COLUMNS, *FOCUS_ALLOCATION_COLUMNS]
# What tells origin charges apart (daily_costs' key as the view shows it).
ORIGIN_KEY = ["ChargePeriodStart", "ProviderName", "SubAccountId", "ServiceName", "x_ChargeCategory", "ChargeCategory",
              "CommitmentDiscountStatus", "x_Team", "x_Service", "x_CustomerId", "x_Environment", "PricingUnit", "ConsumedUnit"]
_REMAINDER = ""  # recipient key of the unallocated part (customer ids are never empty)
_KINDS = {-2: INTERNAL, -1: UNTAGGED_REASON, IDLE_CLAIM: IDLE}  # charges no rule places, by reason


class FocusAllocationMismatch(RuntimeError):
    """Allocated dollars have no origin charge claimed by their rule (the rules file changed since the
    allocation ran, or daily_costs did); the message names the days, services and customers."""


def origin_charges(rows: pd.DataFrame, rules: AllocationRules) -> pd.DataFrame:
    """focus_costs rows in export form (to_export) with date, x_OriginChargeId and the allocation
    group (day, service, how the rules claimed the charge) each belongs to."""
    rows = rows.reset_index(drop=True).copy()
    rows["date"] = pd.to_datetime(rows["ChargePeriodStart"].str[:10]).dt.date
    key = rows[ORIGIN_KEY].astype(object).where(rows[ORIGIN_KEY].notna(), "\x00").astype(str).agg("|".join, axis=1)
    # charges on an invoice are told apart by it; those on none keep the ids they had before invoice ids
    invoiced = rows["InvoiceId"].notna()
    key = key.where(~invoiced, key + "|" + rows["InvoiceId"].astype(str))
    digest = key.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:16])
    repeat = digest.groupby(digest).cumcount()  # units that map to one FOCUS unit (Hrs, Hours)
    rows["x_OriginChargeId"] = digest.where(repeat == 0, digest + "-" + repeat.astype(str))
    capacity = rows["x_ChargeCategory"].where(rows["x_ChargeCategory"].isin(CAPACITY_CATEGORIES), "")
    tags = pd.DataFrame({"service": rows["x_Service"], "customer_id": rows["x_CustomerId"],
                         "environment": rows["x_Environment"], "capacity": capacity})
    claim = rule_claims(tags, rules)
    kind = np.array([_KINDS.get(c) or ("direct" if rules.rules[c].method == DIRECT else "split") for c in claim],
                    dtype=object)
    rows["_kind"] = kind
    rows["_tag"] = np.where(kind == "direct", rows["x_CustomerId"].astype(str), "")
    rows["_group"] = rows["date"].astype(str) + "|" + rows["x_Service"].astype(str) + "|" + rows["_kind"] + "|" + rows["_tag"]
    return rows


def customer_dollars(allocated: pd.DataFrame, hops: pd.DataFrame) -> pd.DataFrame:
    """The allocation's customer dollars per origin service: one row per day, origin service, customer,
    rule and path (via: the service that sent them on, null for the service's own), in micro-dollars,
    with AllocatedMethodId (the rule that split the origin service) and the driver."""
    driver = ["stage", "driver_service", "driver_metric", "driver_quantity"]
    placed = allocated.assign(micros=to_micros(allocated["allocated_cost"]))
    placed = placed.groupby(["date", "service", "customer_id", "rule"], as_index=False, dropna=False).agg(
        micros=("micros", "sum"), method=("allocation_method", "first"),
        **{c: (c, "first") for c in driver})
    sent = hops[hops["recipient_kind"] == CUSTOMER_RECIPIENT]
    sent = sent.assign(micros=to_micros(sent["cost"]))
    # customer_cost_allocation counts sent dollars under the service that placed them: take them off.
    received = sent.groupby(["date", "from_service", "recipient", "rule"], as_index=False)["micros"].sum().rename(
        columns={"from_service": "service", "recipient": "customer_id", "micros": "received"})
    own = placed.merge(received, on=["date", "service", "customer_id", "rule"], how="left")
    own["micros"] = own["micros"] - own["received"].fillna(0).astype(np.int64)
    own = own[own["micros"] != 0].assign(via=None, method_id=own["rule"])
    own["kind"] = np.where(own["method"] == DIRECT, "direct", "split")
    own["tag"] = np.where(own["kind"] == "direct", own["customer_id"].astype(str).str.lower(), "")

    staged = hops[(hops["recipient_kind"] == SERVICE_RECIPIENT) & (hops["origin_service"] == hops["from_service"])]
    staged_rule = staged.drop_duplicates(["date", "origin_service"]).set_index(["date", "origin_service"])["rule"]
    via = sent.rename(columns={"origin_service": "service", "recipient": "customer_id", "from_service": "via"})
    via = via.assign(kind="split", tag="", method_id=[
        staged_rule.get((d, s), r) for d, s, r in zip(via["date"], via["service"], via["rule"])])
    columns = ["date", "service", "customer_id", "kind", "tag", "method_id", "rule", "via", *driver, "micros"]
    parts = [part[columns] for part in (own, via) if not part.empty]
    dollars = pd.concat(parts, ignore_index=True) if parts else own[columns].iloc[0:0].copy()
    dollars["_group"] = (dollars["date"].astype(str) + "|" + dollars["service"].astype(str) + "|" + dollars["kind"]
                         + "|" + dollars["tag"])
    return dollars


def _element(row) -> dict:
    element = {"AllocatedRatio": float(row.ratio)}
    if isinstance(row.driver_metric, str):
        element["UsageUnit"] = row.driver_metric
        if row.driver_quantity is not None and not pd.isna(row.driver_quantity):
            element["UsageQuantity"] = float(row.driver_quantity)
    element["x_Rule"] = row.rule
    if isinstance(row.driver_service, str):
        element["x_DriverService"] = row.driver_service
    if isinstance(row.via, str):
        element["x_ViaService"] = row.via
    if row.stage is not None and not pd.isna(row.stage):
        element["x_Stage"] = int(row.stage)
    return element


def _remainder_reasons(groups: pd.DataFrame, unallocated: pd.DataFrame, hops: pd.DataFrame) -> pd.Series:
    """x_UnallocatedReason of each group's unplaced part: what the allocation recorded for it."""
    split_loss = unallocated[unallocated["reason"].isin([NO_USAGE, UNKNOWN_CUSTOMER])]
    largest = (split_loss.groupby(["date", "service", "reason"], as_index=False)["cost"].sum()
               .sort_values("cost", ascending=False).drop_duplicates(["date", "service"])
               .set_index(["date", "service"])["reason"])
    sent_on = set(zip(hops.loc[hops["recipient_kind"] == SERVICE_RECIPIENT, "date"],
                      hops.loc[hops["recipient_kind"] == SERVICE_RECIPIENT, "origin_service"]))
    reasons = []
    for g in groups.itertuples():
        if g.kind in _KINDS.values():
            reasons.append(g.kind)
        elif g.kind == "direct":
            reasons.append(UNKNOWN_CUSTOMER)
        else:
            reasons.append(largest.get((g.date, g.service),
                                       UNPLACED_AFTER_HOP if (g.date, g.service) in sent_on else NO_USAGE))
    return pd.Series(reasons, index=groups.index, dtype=object)


def focus_allocated_rows(origin: pd.DataFrame, allocated: pd.DataFrame, hops: pd.DataFrame,
                         unallocated: pd.DataFrame, customer_names: pd.DataFrame,
                         rules: AllocationRules) -> pd.DataFrame:
    """focus_allocated_costs rows (OUTPUT_COLUMNS): one per origin charge and customer, plus one for
    the part no customer got. origin: origin_charges(); allocated, hops, unallocated: the days'
    customer_cost_allocation, allocation_hops and unallocated_costs; customer_names: date, id, name."""
    if origin.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
    dollars = customer_dollars(allocated, hops)
    origin = origin.assign(_micros=to_micros(origin["EffectiveCost"]))
    groups = origin.groupby("_group", as_index=False).agg(
        date=("date", "first"), service=("x_Service", "first"), kind=("_kind", "first"), P=("_micros", "sum"))
    orphan = dollars[~dollars["_group"].isin(groups["_group"])]
    if not orphan.empty:
        listed = "; ".join(f"{r.date} service {r.service!r} customer {r.customer_id!r} rule {r.rule!r} "
                           f"${r.micros / 1e6:,.2f}" for r in orphan.head(5).itertuples())
        raise FocusAllocationMismatch(
            f"{len(orphan)} allocated share(s) have no focus_costs charge their rule claims: {listed}; the rules file "
            "or daily_costs changed since the allocation ran: materialize customer_cost_allocation for those days again")

    dollars = dollars.merge(groups[["_group", "P"]], on="_group")
    dollars["ratio"] = np.where(dollars["P"] != 0, dollars["micros"] / dollars["P"].where(dollars["P"] != 0, 1), 0.0)
    placed = dollars.groupby("_group", as_index=False)["micros"].sum().rename(columns={"micros": "placed"})
    groups = groups.merge(placed, on="_group", how="left").fillna({"placed": 0})
    groups["remainder"] = groups["P"] - groups["placed"].astype(np.int64)
    groups["reason"] = _remainder_reasons(groups, unallocated, hops)
    groups["method_id"] = groups["_group"].map(dollars.groupby("_group")["method_id"].agg(_joined))

    # Recipients per group: customers by their summed ratio, the unplaced part by its own.
    # A group whose cost sums to zero has no ratios: its charges stay whole in one unallocated row.
    zero = groups.loc[groups["P"] == 0, "_group"]
    dollars = dollars[~dollars["_group"].isin(zero)].sort_values(["_group", "customer_id", "via"], na_position="first",
                                                                  kind="stable")
    dollars["element"] = [_element(r) for r in dollars.itertuples()]
    customers = dollars.groupby(["_group", "customer_id"], as_index=False).agg(
        weight=("ratio", "sum"), elements=("element", list), method_id=("method_id", _joined))
    customers = customers[customers["weight"] > 0]
    has_customers = groups["_group"].isin(customers["_group"])
    unplaced = groups[(groups["remainder"] != 0) | ~has_customers].copy()
    unplaced["weight"] = np.where(unplaced["P"] != 0, unplaced["remainder"] / unplaced["P"].where(unplaced["P"] != 0, 1), 1.0)
    unplaced["weight"] = unplaced["weight"].where(unplaced["_group"].isin(customers["_group"]), 1.0)
    unplaced["customer_id"] = _REMAINDER
    unplaced["elements"] = [[{"AllocatedRatio": float(w), "x_UnallocatedReason": r}]
                            for w, r in zip(unplaced["weight"], unplaced["reason"])]
    unplaced["method_id"] = unplaced["method_id"].where(unplaced["_group"].isin(customers["_group"]))
    recipients = pd.concat([customers, unplaced[["_group", "customer_id", "weight", "elements", "method_id"]]],
                           ignore_index=True).merge(groups[["_group", "reason"]], on="_group")

    rows = _split_costs(origin, recipients)
    return _focus_columns(rows, customer_names)


def _joined(values) -> str:
    return "+".join(sorted({v for v in values if isinstance(v, str)}))


def _split_costs(origin: pd.DataFrame, recipients: pd.DataFrame) -> pd.DataFrame:
    """Origin charges times their group's recipients, each cost and quantity column split in millionths."""
    origin = origin.assign(_row=np.arange(len(origin)))
    weights = origin[["_row"]].assign(_group=origin["_group"]).merge(
        recipients[["_group", "customer_id", "weight"]], on="_group")[["_row", "customer_id", "weight"]]
    rows = None
    summed = [*FOCUS_COST_COLUMNS, *FOCUS_QUANTITY_COLUMNS]
    for column in summed:
        pools = origin[["_row"]].assign(micros=to_micros(origin[column].astype(float).fillna(0.0)))
        shares, unsplit = split_pools(pools, weights, ["_row"])
        if not unsplit.empty:  # every group has a recipient of positive weight
            raise RuntimeError(f"focus_allocated_costs: {len(unsplit)} origin charge(s) found no recipient")
        shares = shares[["_row", "customer_id", "micros"]].rename(columns={"micros": column})
        rows = shares if rows is None else rows.merge(shares, on=["_row", "customer_id"], how="outer")
    for column in summed:
        rows[column] = to_dollars(rows[column].fillna(0).astype(np.int64))
    rows = origin.drop(columns=summed).merge(rows, on="_row").merge(recipients, on=["_group", "customer_id"], how="left")
    for column in FOCUS_QUANTITY_COLUMNS:  # a charge without a quantity keeps none
        rows[column] = rows[column].where(rows["_row"].map(origin.set_index("_row")[column].notna()))
    return rows.sort_values(["date", "x_OriginChargeId", "customer_id"], kind="stable").reset_index(drop=True)


def _focus_columns(rows: pd.DataFrame, customer_names: pd.DataFrame) -> pd.DataFrame:
    names = customer_names.drop_duplicates(["date", "id"]).set_index(["date", "id"])["name"]
    customer = rows["customer_id"] != _REMAINDER
    ids = rows["customer_id"].where(customer)
    rows["x_CustomerId"] = ids
    rows["AllocatedResourceId"] = ids
    rows["AllocatedResourceName"] = [
        (names.get((d, c)) or c) if isinstance(c, str) else None for d, c in zip(rows["date"], ids)]
    rows["AllocatedTags"] = [json.dumps({CUSTOMER_TAG: c}) if isinstance(c, str) else None for c in ids]
    rows["AllocatedMethodId"] = rows["method_id"].where(rows["method_id"].astype(str) != "")
    rows["AllocatedMethodDetails"] = [
        json.dumps({"Elements": e}) if isinstance(m, str) else None
        for e, m in zip(rows["elements"], rows["AllocatedMethodId"])]
    rows["x_UnallocatedReason"] = rows["reason"].where(~customer)
    return rows[OUTPUT_COLUMNS]
