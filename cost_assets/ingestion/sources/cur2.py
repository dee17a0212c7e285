"""The `cur2` billing source: AWS Data Exports CUR 2.0, Parquet or gzip CSV (docs/reference.md#billing-inputs),
laid out as <prefix>/data/BILLING_PERIOD=YYYY-MM/*.

billed_cost is the unblended cost; effective_cost is amortized by line item
type (AMORTIZATION). Unused commitment stays on its own rows: the RIFee and
SavingsPlanRecurringFee lines carry it as their effective cost, under their
own charge category, as do credits, refunds and tax.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from cost_assets.ingestion.sources.billing_files import (
    BILLING_ACCOUNT,
    BILLING_PERIOD_START,
    CURRENCY,
    LINE_ITEM_ID,
    LINE_ITEM_INTERVAL,
    PERIOD_FINAL,
    REASON,
    BillingFileSource,
    first_present,
    join_reasons,
    parse_amounts,
    parse_quantities,
    parse_timestamps,
    raw_column,
    text,
    unparseable,
)
from cost_assets.ingestion.container_splits import SPLIT_COST, SPLIT_PARENT, SPLIT_UNUSED_COST
from cost_assets.ingestion.sources.scan import amount_ok, ident, sql_text, typed_columns

PROVIDER = "AWS"
UNBLENDED = "line_item_unblended_cost"

# effective_cost per line item type: the sum of sign x column; any other type
# keeps its unblended cost. An empty list means 0.
AMORTIZATION: dict[str, list[tuple[str, int]]] = {
    "SavingsPlanCoveredUsage": [("savings_plan_savings_plan_effective_cost", 1)],
    # total commitment minus used commitment: the unused part of the plan
    "SavingsPlanRecurringFee": [("savings_plan_total_commitment_to_date", 1), ("savings_plan_used_commitment", -1)],
    "SavingsPlanNegation": [],
    "SavingsPlanUpfrontFee": [],
    "DiscountedUsage": [("reservation_effective_cost", 1)],
    # the reservation's unused amortized upfront fee plus its unused recurring fee
    "RIFee": [("reservation_unused_amortized_upfront_fee_for_billing_period", 1), ("reservation_unused_recurring_fee", 1)],
}
AMORTIZATION_COLUMNS = tuple(dict.fromkeys(column for terms in AMORTIZATION.values() for column, _ in terms))

REQUIRED_COLUMNS = (
    "line_item_usage_start_date", "line_item_usage_end_date", "line_item_line_item_type", UNBLENDED,
    "line_item_usage_account_id", "line_item_product_code", "line_item_currency_code", *AMORTIZATION_COLUMNS,
)
OPTIONAL_COLUMNS = (
    "product_servicecode", "line_item_resource_id", "line_item_usage_amount", "pricing_unit",
    "bill_payer_account_id", "bill_billing_period_start_date", "bill_invoice_id", "resource_tags",
    "identity_line_item_id", "identity_time_interval", *(
        # split cost allocation data (docs/reference.md#container-split-cost)
        "split_line_item_parent_resource_id", "split_line_item_split_cost", "split_line_item_unused_cost"),
)
# Line-item split columns -> the export's columns.
SPLIT_SOURCE_COLUMNS = {SPLIT_PARENT: "split_line_item_parent_resource_id", SPLIT_COST: "split_line_item_split_cost",
                        SPLIT_UNUSED_COST: "split_line_item_unused_cost"}


def amortize(line_item_type: pd.Series, raw: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """effective_cost per AMORTIZATION, and per row why it cannot be computed (else None)."""
    effective, _ = parse_amounts(raw[UNBLENDED], UNBLENDED)  # parse_cur2 names its problems
    reasons = [pd.Series(None, index=raw.index, dtype=object)]
    for kind, terms in AMORTIZATION.items():
        rows = (line_item_type == kind).to_numpy()
        if not rows.any():
            continue
        total = np.zeros(len(raw))
        for column, sign in terms:
            amounts, problems = parse_amounts(raw[column], column)
            values = amounts.to_numpy()
            missing = rows & np.isnan(values)
            if missing.any():
                reasons.append((problems[missing] + f" (needed for {kind})").reindex(raw.index))
            total = total + sign * values
        effective = effective.where(~rows, total)
    return effective, join_reasons(*reasons)


def parse_cur2(raw: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """CUR 2.0 rows -> line items (see BillingFileSource.parse)."""
    start = parse_timestamps(raw["line_item_usage_start_date"])
    end = parse_timestamps(raw["line_item_usage_end_date"])
    billed, billed_problems = parse_amounts(raw[UNBLENDED], UNBLENDED)
    kind = text(raw, "line_item_line_item_type")
    effective, amortization_problems = amortize(kind, raw)
    quantity_raw = raw_column(raw, "line_item_usage_amount")
    quantity = parse_quantities(quantity_raw)
    period_raw = raw_column(raw, "bill_billing_period_start_date")
    has_invoice_column = "bill_invoice_id" in raw
    if has_invoice_column:
        estimated = text(raw, "bill_invoice_id").isna()  # AWS leaves it blank until the month is invoiced
    else:
        estimated = pd.Series(False, index=raw.index)
    parent = text(raw, SPLIT_SOURCE_COLUMNS[SPLIT_PARENT])
    is_pod = parent.notna()
    split_amounts, split_problems = {SPLIT_COST: 0.0, SPLIT_UNUSED_COST: 0.0}, []
    for column in split_amounts:
        source_column = SPLIT_SOURCE_COLUMNS[column]
        if source_column not in raw:
            continue
        amounts, problems = parse_amounts(raw[source_column], source_column)
        split_amounts[column] = amounts.where(is_pod, 0.0).fillna(0.0)
        # a pod row's split figures must be amounts; other rows leave them empty
        split_problems.append(problems.where(is_pod & amounts.isna()))
    reasons = join_reasons(
        *split_problems,
        unparseable(raw["line_item_usage_start_date"], start, "line_item_usage_start_date", "an ISO 8601 timestamp"),
        unparseable(raw["line_item_usage_end_date"], end, "line_item_usage_end_date", "an ISO 8601 timestamp"),
        unparseable(kind, kind, "line_item_line_item_type", "a type"),
        billed_problems,
        unparseable(quantity_raw, quantity, "line_item_usage_amount", "a finite number", required=False),
        amortization_problems,
    )
    return pd.DataFrame({
        "charge_period_start": start,
        "charge_period_end": end,
        "provider": PROVIDER,
        "account_id": text(raw, "line_item_usage_account_id"),
        "aws_service": first_present(text(raw, "product_servicecode"), text(raw, "line_item_product_code")),
        "charge_category": kind,
        "team": tags["team"].array,
        "service": tags["service"].array,
        "customer_id": tags["customer_id"].array,
        "environment": tags["environment"].array,
        "usage_unit": text(raw, "pricing_unit"),
        "invoice_id": text(raw, "bill_invoice_id"),
        "resource_id": text(raw, "line_item_resource_id"),
        "billed_cost": billed,
        "effective_cost": effective,
        "usage_quantity": quantity.fillna(0.0),
        "is_estimated": estimated.astype(bool),
        REASON: reasons,
        BILLING_ACCOUNT: text(raw, "bill_payer_account_id"),
        BILLING_PERIOD_START: parse_timestamps(period_raw),
        CURRENCY: text(raw, "line_item_currency_code"),
        # Invoiced: the period is final, so a day without rows had no spend.
        PERIOD_FINAL: ~estimated if has_invoice_column else False,
        LINE_ITEM_ID: text(raw, "identity_line_item_id"),
        LINE_ITEM_INTERVAL: text(raw, "identity_time_interval"),
        SPLIT_PARENT: parent,
        **split_amounts,
    }, index=raw.index)


class Cur2Source(BillingFileSource):
    name = "cur2"
    required_columns = REQUIRED_COLUMNS
    optional_columns = OPTIONAL_COLUMNS
    tags_column = "resource_tags"
    start_column = "line_item_usage_start_date"
    source_columns = {"account_id": "line_item_usage_account_id", "aws_service": "product_servicecode",
                      "charge_category": "line_item_line_item_type", "usage_unit": "pricing_unit",
                      "invoice_id": "bill_invoice_id", "resource_id": "line_item_resource_id"}
    resource_column = "line_item_resource_id"
    line_item_id_columns = ("identity_line_item_id", "identity_time_interval")
    dictionary_columns = ("line_item_line_item_type", "line_item_usage_account_id", "line_item_product_code",
                          "product_servicecode", "line_item_currency_code", "pricing_unit", "line_item_resource_id",
                          "bill_payer_account_id", "bill_invoice_id", "identity_time_interval")

    def parse(self, raw: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
        return parse_cur2(raw, tags)

    def fast_columns(self, schema: pa.Schema) -> dict[str, str] | None:
        return cur2_fast_columns(schema)


NUMBER_COLUMNS = (UNBLENDED, *AMORTIZATION_COLUMNS, "line_item_usage_amount",
                  SPLIT_SOURCE_COLUMNS[SPLIT_COST], SPLIT_SOURCE_COLUMNS[SPLIT_UNUSED_COST])
TIMESTAMP_COLUMNS = ("line_item_usage_start_date", "line_item_usage_end_date", "bill_billing_period_start_date")


def cur2_fast_columns(schema: pa.Schema) -> dict[str, str] | None:
    """SQL per line-item column for scan.py's fast path: what parse_cur2 gives for a
    row it does not reject, and `dirty` for each row it might (those take parse_cur2).
    None when a column's type is one only parse_cur2 reads (text numbers or times)."""
    types = typed_columns(schema, NUMBER_COLUMNS, TIMESTAMP_COLUMNS)
    if types is None:
        return None

    def trimmed(column: str) -> str:  # scan.trimmed_text has stripped every text column
        return ident(column) if column in types else "CAST(NULL AS VARCHAR)"

    def number(column: str) -> str:
        return f"CAST({ident(column)} AS DOUBLE)"

    kind = trimmed("line_item_line_item_type")
    effective = " ".join(
        f"WHEN {sql_text(name)} THEN " + (" + ".join(["0.0", *(f"({sign} * {number(c)})" for c, sign in terms)]))
        for name, terms in AMORTIZATION.items()
    )
    amortization_dirty = " OR ".join(
        f"({kind} = {sql_text(name)} AND NOT ({' AND '.join(amount_ok(ident(c)) for c, _ in terms)}))"
        for name, terms in AMORTIZATION.items() if terms
    )
    quantity = number("line_item_usage_amount") if "line_item_usage_amount" in types else "CAST(NULL AS DOUBLE)"
    has_invoice = "bill_invoice_id" in types
    estimated = f"({trimmed('bill_invoice_id')} IS NULL)" if has_invoice else "false"
    parent = trimmed(SPLIT_SOURCE_COLUMNS[SPLIT_PARENT])

    def split_amount(column: str) -> str:
        source_column = SPLIT_SOURCE_COLUMNS[column]
        return f"coalesce({number(source_column)}, 0.0)" if source_column in types else "0.0"

    split_dirty = " OR ".join(
        f"({parent} IS NOT NULL AND NOT {amount_ok(ident(SPLIT_SOURCE_COLUMNS[c]))})"
        for c in (SPLIT_COST, SPLIT_UNUSED_COST) if SPLIT_SOURCE_COLUMNS[c] in types) or "false"
    return {
        "charge_period_start": "CAST(line_item_usage_start_date AS TIMESTAMPTZ)",
        "charge_period_end": "CAST(line_item_usage_end_date AS TIMESTAMPTZ)",
        "provider": sql_text(PROVIDER),
        "account_id": trimmed("line_item_usage_account_id"),
        "aws_service": f"coalesce({trimmed('product_servicecode')}, {trimmed('line_item_product_code')})",
        "charge_category": kind,
        **{column: ident(f"__tag_{column}") for column in ("team", "service", "customer_id", "environment")},
        "usage_unit": trimmed("pricing_unit"),
        "invoice_id": trimmed("bill_invoice_id"),
        "resource_id": trimmed("line_item_resource_id"),
        "billed_cost": number(UNBLENDED),
        "effective_cost": f"CASE {kind} {effective} ELSE {number(UNBLENDED)} END",
        "usage_quantity": f"coalesce({quantity}, 0.0)",
        "is_estimated": estimated,
        BILLING_ACCOUNT: trimmed("bill_payer_account_id"),
        # the period's start: billing_files makes it a date on the summed groups
        BILLING_PERIOD_START: ("CAST(bill_billing_period_start_date AS TIMESTAMPTZ)"
                               if "bill_billing_period_start_date" in types else "CAST(NULL AS TIMESTAMPTZ)"),
        CURRENCY: trimmed("line_item_currency_code"),
        PERIOD_FINAL: f"NOT {estimated}" if has_invoice else "false",
        LINE_ITEM_ID: trimmed("identity_line_item_id"),
        LINE_ITEM_INTERVAL: trimmed("identity_time_interval"),
        SPLIT_PARENT: parent,
        SPLIT_COST: f"CASE WHEN {parent} IS NULL THEN 0.0 ELSE {split_amount(SPLIT_COST)} END",
        SPLIT_UNUSED_COST: f"CASE WHEN {parent} IS NULL THEN 0.0 ELSE {split_amount(SPLIT_UNUSED_COST)} END",
        "dirty": (
            f"{split_dirty} OR "
            f"line_item_usage_start_date IS NULL OR line_item_usage_end_date IS NULL OR {kind} IS NULL"
            f" OR NOT {amount_ok(ident(UNBLENDED))}"
            f" OR ({quantity} IS NOT NULL AND NOT isfinite({quantity}))"
            f" OR {amortization_dirty}"
        ),
    }
