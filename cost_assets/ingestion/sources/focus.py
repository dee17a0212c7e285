"""The `focus` billing source: FOCUS 1.0 to 1.2 files, CSV (optionally gzip) or Parquet (docs/reference.md#billing-inputs).

effective_cost is EffectiveCost and billed_cost is BilledCost. A commitment's
unused part (ChargeCategory Usage with CommitmentDiscountStatus Unused) keeps
its own charge category, UnusedCommitment, so it is never spread over teams.
"""

from __future__ import annotations

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
    set_where,
    text,
    unparseable,
)
from cost_assets.ingestion.sources.scan import amount_ok, ident, sql_text, typed_columns

UNUSED_COMMITMENT = "UnusedCommitment"

REQUIRED_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "BilledCost", "EffectiveCost")
# Mandatory in FOCUS 1.x but missing from partial data sets such as the
# specification's own examples: read when present.
OPTIONAL_COLUMNS = (
    "BillingCurrency", "BillingAccountId", "BillingPeriodStart", "SubAccountId", "ProviderName",
    "ServiceName", "ResourceId", "ConsumedQuantity", "ConsumedUnit", "CommitmentDiscountStatus", "Tags",
    "InvoiceId",  # FOCUS 1.2
)


def parse_focus(raw: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """FOCUS rows -> line items (see BillingFileSource.parse)."""
    start = parse_timestamps(raw["ChargePeriodStart"])
    end = parse_timestamps(raw["ChargePeriodEnd"])
    billed, billed_problems = parse_amounts(raw["BilledCost"], "BilledCost")
    effective, effective_problems = parse_amounts(raw["EffectiveCost"], "EffectiveCost")
    quantity_raw = raw_column(raw, "ConsumedQuantity")
    quantity = parse_quantities(quantity_raw)
    category = text(raw, "ChargeCategory")
    unused = text(raw, "CommitmentDiscountStatus").astype(object).str.lower().eq("unused").fillna(False).astype(bool)
    account = first_present(text(raw, "SubAccountId"), text(raw, "BillingAccountId"))
    period_raw = raw_column(raw, "BillingPeriodStart")
    reasons = join_reasons(
        unparseable(raw["ChargePeriodStart"], start, "ChargePeriodStart", "an ISO 8601 timestamp"),
        unparseable(raw["ChargePeriodEnd"], end, "ChargePeriodEnd", "an ISO 8601 timestamp"),
        unparseable(category, category, "ChargeCategory", "a category"),
        billed_problems,
        effective_problems,
        unparseable(quantity_raw, quantity, "ConsumedQuantity", "a finite number", required=False),
    )
    return pd.DataFrame({
        "charge_period_start": start,
        "charge_period_end": end,
        "provider": text(raw, "ProviderName"),
        "account_id": account,
        "aws_service": text(raw, "ServiceName"),
        "charge_category": set_where(category, unused, UNUSED_COMMITMENT),
        "team": tags["team"].array,
        "service": tags["service"].array,
        "customer_id": tags["customer_id"].array,
        "environment": tags["environment"].array,
        "usage_unit": text(raw, "ConsumedUnit"),
        "invoice_id": text(raw, "InvoiceId"),
        "resource_id": text(raw, "ResourceId"),
        "billed_cost": billed,
        "effective_cost": effective,
        "usage_quantity": quantity.fillna(0.0),
        "is_estimated": False,
        REASON: reasons,
        BILLING_ACCOUNT: text(raw, "BillingAccountId"),
        BILLING_PERIOD_START: parse_timestamps(period_raw),
        CURRENCY: text(raw, "BillingCurrency"),
    }, index=raw.index)


class FocusSource(BillingFileSource):
    name = "focus"
    required_columns = REQUIRED_COLUMNS
    optional_columns = OPTIONAL_COLUMNS
    tags_column = "Tags"
    start_column = "ChargePeriodStart"
    source_columns = {"provider": "ProviderName", "account_id": "SubAccountId", "aws_service": "ServiceName",
                      "charge_category": "ChargeCategory", "usage_unit": "ConsumedUnit", "invoice_id": "InvoiceId",
                      "resource_id": "ResourceId"}

    def parse(self, raw: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
        return parse_focus(raw, tags)

    resource_column = "ResourceId"
    line_item_id_columns = ()
    dictionary_columns = ("ChargeCategory", "BillingCurrency", "BillingAccountId", "SubAccountId", "ProviderName",
                          "ServiceName", "ResourceId", "ConsumedUnit", "CommitmentDiscountStatus", "InvoiceId")

    def fast_columns(self, schema: pa.Schema) -> dict[str, str] | None:
        return focus_fast_columns(schema)


NUMBER_COLUMNS = ("BilledCost", "EffectiveCost", "ConsumedQuantity")
TIMESTAMP_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart")


def focus_fast_columns(schema: pa.Schema) -> dict[str, str] | None:
    """SQL per line-item column for scan.py's fast path: what parse_focus gives for a
    row it does not reject, and `dirty` for each row it might (those take parse_focus)."""
    types = typed_columns(schema, NUMBER_COLUMNS, TIMESTAMP_COLUMNS)
    if types is None:
        return None

    def trimmed(column: str) -> str:  # scan.trimmed_text has stripped every text column
        return ident(column) if column in types else "CAST(NULL AS VARCHAR)"

    quantity = 'CAST("ConsumedQuantity" AS DOUBLE)' if "ConsumedQuantity" in types else "CAST(NULL AS DOUBLE)"
    category = trimmed("ChargeCategory")
    return {
        "charge_period_start": 'CAST("ChargePeriodStart" AS TIMESTAMPTZ)',
        "charge_period_end": 'CAST("ChargePeriodEnd" AS TIMESTAMPTZ)',
        "provider": trimmed("ProviderName"),
        "account_id": f"coalesce({trimmed('SubAccountId')}, {trimmed('BillingAccountId')})",
        "aws_service": trimmed("ServiceName"),
        "charge_category": (f"CASE WHEN lower({trimmed('CommitmentDiscountStatus')}) = 'unused' "
                            f"THEN {sql_text(UNUSED_COMMITMENT)} ELSE {category} END"),
        **{column: ident(f"__tag_{column}") for column in ("team", "service", "customer_id", "environment")},
        "usage_unit": trimmed("ConsumedUnit"),
        "invoice_id": trimmed("InvoiceId"),
        "resource_id": trimmed("ResourceId"),
        "billed_cost": 'CAST("BilledCost" AS DOUBLE)',
        "effective_cost": 'CAST("EffectiveCost" AS DOUBLE)',
        "usage_quantity": f"coalesce({quantity}, 0.0)",
        "is_estimated": "false",
        BILLING_ACCOUNT: trimmed("BillingAccountId"),
        # the period's start: billing_files makes it a date on the summed groups
        BILLING_PERIOD_START: ('CAST("BillingPeriodStart" AS TIMESTAMPTZ)'
                               if "BillingPeriodStart" in types else "CAST(NULL AS TIMESTAMPTZ)"),
        CURRENCY: trimmed("BillingCurrency"),
        PERIOD_FINAL: "false",
        LINE_ITEM_ID: "CAST(NULL AS VARCHAR)",
        LINE_ITEM_INTERVAL: "CAST(NULL AS VARCHAR)",
        "dirty": (
            f'"ChargePeriodStart" IS NULL OR "ChargePeriodEnd" IS NULL OR {category} IS NULL'
            f' OR NOT {amount_ok(ident("BilledCost"))} OR NOT {amount_ok(ident("EffectiveCost"))}'
            f" OR ({quantity} IS NOT NULL AND NOT isfinite({quantity}))"
        ),
    }
