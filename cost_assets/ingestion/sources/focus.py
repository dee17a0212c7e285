"""The `focus` billing source: FOCUS 1.0 to 1.2 files, CSV (optionally gzip) or Parquet (docs/reference.md#billing-inputs).

effective_cost is EffectiveCost and billed_cost is BilledCost. A commitment's
unused part (ChargeCategory Usage with CommitmentDiscountStatus Unused) keeps
its own charge category, UnusedCommitment, so it is never spread over teams.
"""

from __future__ import annotations

import pandas as pd

from cost_assets.ingestion.sources.billing_files import (
    BILLING_ACCOUNT,
    BILLING_PERIOD_START,
    CURRENCY,
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

UNUSED_COMMITMENT = "UnusedCommitment"

REQUIRED_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "BilledCost", "EffectiveCost")
# Mandatory in FOCUS 1.x but missing from partial data sets such as the
# specification's own examples: read when present.
OPTIONAL_COLUMNS = (
    "BillingCurrency", "BillingAccountId", "BillingPeriodStart", "SubAccountId", "ProviderName",
    "ServiceName", "ResourceId", "ConsumedQuantity", "ConsumedUnit", "CommitmentDiscountStatus", "Tags",
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
                      "charge_category": "ChargeCategory", "usage_unit": "ConsumedUnit", "resource_id": "ResourceId"}

    def parse(self, raw: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
        return parse_focus(raw, tags)
