"""The warehouse schema, declared once (docs/reference.md#warehouse-tables).

Table and column comments become `COMMENT ON` statements on PostgreSQL so BI
catalogs show what each column means.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
    text,
)

metadata = MetaData()

# Money: exact NUMERIC in the database, floats (rounded) in pandas.
Money = Numeric(20, 6, asdecimal=False)
Ratio = Float()


def _tag_columns() -> list[Column]:
    return [
        Column("team", String(128), primary_key=True, comment="Owning team (allocation tag `team`); 'untagged' when missing"),
        Column("service", String(128), primary_key=True, comment="Internal service name (allocation tag `service`); 'untagged' when missing"),
        Column("customer_id", String(128), primary_key=True, comment="Customer the resource is dedicated to (tag `customer`); 'untagged' when shared or missing"),
        Column("environment", String(64), primary_key=True, comment="production, staging, development, ... (tag `environment`); 'untagged' when missing"),
    ]


INVOICE_ID_COMMENT = ("Provider invoice the charge is on (CUR 2.0 bill_invoice_id, FOCUS InvoiceId); '' while not "
                      "invoiced and for sources without invoice ids (Cost Explorer, demo)")


def _cost_dimensions() -> list[Column]:
    return [
        Column("provider", String(64), primary_key=True, comment="Cloud provider, e.g. AWS"),
        Column("account_id", String(64), primary_key=True, comment="Billing sub-account (AWS linked account)"),
        Column("aws_service", String(256), primary_key=True, comment="Provider service as billed, e.g. Amazon Relational Database Service"),
        Column("charge_category", String(64), primary_key=True, comment="Usage, Credit, Refund, Tax, Purchase, ... (Cost Explorer RECORD_TYPE / CUR line item type / FOCUS ChargeCategory, UnusedCommitment for FOCUS unused commitment; UnusedCapacity and UnsplitInstanceCost for unused container capacity)"),
        *_tag_columns(),
        Column("usage_unit", String(64), primary_key=True, comment="Unit of usage_quantity, e.g. Hrs, GB-Mo"),
        Column("invoice_id", String(128), primary_key=True, server_default=text("''"), comment=INVOICE_ID_COMMENT),
    ]


def _cost_measures() -> list[Column]:
    return [
        Column("billed_cost", Money, nullable=False, comment="Unblended (cash) cost in USD"),
        Column("effective_cost", Money, nullable=False, comment="Amortized cost in USD: the basis of every allocation and report"),
        Column("usage_quantity", Float, nullable=False, comment="Usage amount in usage_unit"),
        Column("is_estimated", Boolean, nullable=False, comment="True while the provider still marks the day as estimated"),
        Column("source", String(32), nullable=False, comment="Billing source: demo, cost_explorer, focus or cur2"),
    ]


daily_costs = Table(
    "daily_costs",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day of the charge"),
    *_cost_dimensions(),
    *_cost_measures(),
    comment="Cloud cost per UTC day, account, provider service, charge category and allocation tags. Rewritten per daily partition.",
)

hourly_costs = Table(
    "hourly_costs",
    metadata,
    Column("hour_start", DateTime(timezone=False), primary_key=True, comment="UTC start of the charge hour"),
    Column("date", Date, nullable=False, index=True, comment="UTC day of the charge"),
    *_cost_dimensions(),
    Column("resource_id", String(512), primary_key=True, comment="Provider resource id where the source has one, else ''"),
    *_cost_measures(),
    comment="Hourly cost for the sources and environments that have hourly data (off-hours analysis).",
)

customer_snapshots = Table(
    "customer_snapshots",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day the product database was read for"),
    Column("id", String(128), primary_key=True, comment="Customer id, as in the `customer` tag"),
    Column("name", Text, nullable=False, comment="Customer name"),
    Column("mrr", Money, nullable=True, comment="Monthly recurring revenue in USD"),
    Column("status", String(32), nullable=False, comment="'active' marks live customers"),
    comment="The product database's customers as read for each day: MRR history.",
)

service_metrics = Table(
    "service_metrics",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("service", String(128), primary_key=True, comment="Internal service name, same names as the `service` tag"),
    Column("customer_id", String(128), primary_key=True, comment="Customer id"),
    Column("request_count", BigInteger, nullable=False, comment="Requests the customer made to the service that day"),
    comment="Per-customer request counts from the product database: the usage drivers of shared-cost allocation.",
)

def ALLOCATION_DRIVER_COLUMNS() -> list[Column]:  # noqa: N802 - fresh Column objects per table
    return [
        Column("stage", Integer, nullable=True, comment="Allocation stage of the hop: 1..n split services onto services, the last places cost on customers"),
        Column("driver_service", String(128), nullable=True, comment="Service whose usage drove the split (usage_proportional); null for direct, even, fixed and driver cost"),
        Column("driver_metric", String(128), nullable=True, comment="Driver metric: a usage_metrics metric (requests, db_time_ms, ...), cost, active_customers (even) or percent (fixed); null for direct"),
        Column("driver_quantity", Float, nullable=True, comment="The recipient's driver quantity that day (metric units; USD for cost; percent for fixed)"),
    ]


usage_metrics = Table(
    "usage_metrics",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("service", String(128), primary_key=True, comment="Internal service name, same names as the `service` tag"),
    Column("customer_id", String(128), primary_key=True, comment="Customer id; '' for the service's own usage (the driver of splits between services)"),
    Column("metric", String(128), primary_key=True, comment="Usage metric, e.g. requests (service_metrics.request_count), db_time_ms, log_gb"),
    Column("quantity", Float, nullable=False, comment="Usage that day in the metric's unit (0 or more)"),
    comment="Usage per day, service, customer and metric (requests included): the drivers of allocation rules.",
)

customer_cost_allocation = Table(
    "customer_cost_allocation",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("customer_id", String(128), primary_key=True, comment="Customer id"),
    Column("service", String(128), primary_key=True, comment="Internal service the cost belongs to"),
    Column("allocation_method", String(32), primary_key=True, comment="direct, usage_proportional, even or fixed"),
    Column("allocated_cost", Money, nullable=False, comment="Effective cost in USD placed on the customer"),
    Column("proportion", Ratio, nullable=False, comment="Customer's share of the split cost pool (1.0 for direct)"),
    Column("rule", String(128), nullable=False, comment="Name of the allocation rule that placed the cost"),
    *ALLOCATION_DRIVER_COLUMNS(),
    comment="Effective cost placed on customers, per day, customer, service and method.",
)

unallocated_costs = Table(
    "unallocated_costs",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("service", String(128), primary_key=True, comment="Internal service"),
    Column("team", String(128), primary_key=True, comment="Owning team"),
    Column("reason", String(32), primary_key=True, comment="untagged, unknown_customer, no_usage, internal or idle (unused container capacity)"),
    Column("cost", Money, nullable=False, comment="Effective cost in USD that could not be placed on a customer"),
    comment="Effective cost that no rule placed on a customer, with the reason.",
)

allocation_hops = Table(
    "allocation_hops",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("stage", Integer, primary_key=True, comment="1..n: splits of services onto services (senders first); the last stage places cost on customers"),
    Column("rule", String(128), primary_key=True, comment="Name of the allocation rule that made the hop"),
    Column("origin_service", String(128), primary_key=True, comment="Service whose bill (daily_costs) the dollars come from"),
    Column("from_service", String(128), primary_key=True, comment="Service whose cost pool the hop split"),
    Column("recipient_kind", String(16), primary_key=True, comment="service (a split onto another service) or customer"),
    Column("recipient", String(128), primary_key=True, comment="Receiving service name or customer id"),
    Column("allocation_method", String(32), nullable=False, comment="direct, usage_proportional, even or fixed"),
    *ALLOCATION_DRIVER_COLUMNS()[1:],
    Column("cost", Money, nullable=False, comment="Effective cost in USD moved by the hop"),
    Column("proportion", Ratio, nullable=False, comment="Recipient's share of the split pool (1.0 for direct)"),
    comment="Staged allocation, hop by hop: each split of a service onto services, and each customer hop of dollars "
            "another service sent, with its rule, driver metric and quantity (a service's own dollars placed on "
            "customers are its customer_cost_allocation rows).",
)

customer_overhead_allocation = Table(
    "customer_overhead_allocation",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("customer_id", String(128), primary_key=True, comment="Customer id"),
    Column("reason", String(32), primary_key=True, comment="The unallocated_costs reason spread (rules file allocation.overhead.reasons)"),
    Column("overhead_cost", Money, nullable=False, comment="Share of that day's unallocated cost of this reason, in USD"),
    Column("proportion", Ratio, nullable=False, comment="Customer's share of the day's allocated cost, which sets its overhead share"),
    comment="Unallocated cost of chosen reasons spread over customers by their allocated cost: "
            "allocated + overhead is the fully loaded cost. Not additive with unallocated_costs.",
)

customer_unit_economics = Table(
    "customer_unit_economics",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="Last day of the trailing 30-day window"),
    Column("customer_id", String(128), primary_key=True, comment="Customer id"),
    Column("customer_name", Text, nullable=False, comment="Customer name"),
    Column("mrr", Money, nullable=True, comment="MRR in USD as of as_of_date"),
    Column("monthly_infra_cost", Money, nullable=False, comment="Allocated cost over the trailing 30 days (direct, without overhead); when some days have no data, their average over the days with data times 30"),
    Column("gross_margin_pct", Float, nullable=True, comment="(mrr - monthly_infra_cost) / mrr * 100; null when MRR is 0 or missing"),
    Column("cost_trend_pct", Float, nullable=True, comment="Change of the 30-day cost against the previous 30 days, %; null without a previous cost"),
    Column("is_negative_margin", Boolean, nullable=False, comment="True when the cost exceeds the MRR (a missing MRR counts as 0)"),
    Column("status", String(32), nullable=True, comment="Customer status as of as_of_date; null when the customer is no longer in customer_snapshots"),
    Column("allocated_cost_30d", Money, nullable=False, comment="Allocated cost actually recorded over days as_of-29 .. as_of"),
    Column("previous_30_days_cost", Money, nullable=True, comment="Like monthly_infra_cost for days as_of-59 .. as_of-30; null when none of them has data"),
    Column("days_with_data", Integer, nullable=False, comment="Days of as_of-29 .. as_of with allocation data"),
    Column("missing_days", Integer, nullable=False, comment="Days of as_of-29 .. as_of without allocation data (not counted as zero cost)"),
    Column("overhead_cost", Money, nullable=False, comment="Spread overhead (customer_overhead_allocation) over the same 30 days, scaled like monthly_infra_cost"),
    Column("fully_loaded_cost", Money, nullable=False, comment="monthly_infra_cost + overhead_cost"),
    Column("fully_loaded_margin_pct", Float, nullable=True, comment="(mrr - fully_loaded_cost) / mrr * 100; null when MRR is 0 or missing"),
    Column("is_negative_margin_fully_loaded", Boolean, nullable=False, comment="True when the fully loaded cost exceeds the MRR"),
    Column("cost_breakdown", Text, nullable=False, comment='JSON array [{"service": ..., "cost": ...}] of monthly_infra_cost by service, largest first, in USD to the cent (adding up to monthly_infra_cost rounded to the cent)'),
    comment="Per-customer unit economics as of a day (trailing 30 days): every active customer and every customer with allocated cost.",
)

service_cost_report = Table(
    "service_cost_report",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="Last day of the trailing 30-day window"),
    Column("service", String(128), primary_key=True, comment="Internal service"),
    Column("team", String(128), nullable=False, comment="Owning team (largest cost share)"),
    Column("last_30_days_cost", Money, nullable=False, comment="Effective cost over days as_of-29 .. as_of"),
    Column("daily_average", Money, nullable=False, comment="last_30_days_cost / days with data"),
    Column("trend_pct", Float, nullable=True, comment="Change of the daily average against days as_of-59 .. as_of-30, %"),
    Column("cost_per_request", Float, nullable=True, comment="last_30_days_cost / requests; null without request data"),
    Column("previous_30_days_cost", Money, nullable=True, comment="Effective cost over days as_of-59 .. as_of-30; null when none of them has data"),
    Column("days_with_data", Integer, nullable=False, comment="Days of as_of-29 .. as_of with daily_costs rows"),
    Column("missing_days", Integer, nullable=False, comment="Days of as_of-29 .. as_of without daily_costs rows"),
    Column("request_count", BigInteger, nullable=True, comment="Requests to the service over the 30 days (service_metrics); null without request data"),
    Column("customers_served", Integer, nullable=False, comment="Customers with cost of this service allocated to them over the 30 days"),
    Column("cost_per_customer", Float, nullable=True, comment="last_30_days_cost / customers_served; null when no customer was served"),
    Column("top_cost_drivers", Text, nullable=False, comment='JSON array [{"awsService": ..., "cost": ...}]: the 5 largest provider services of the 30 days, USD to the cent'),
    comment="Per-service cost report as of a day (every environment; trend on daily averages).",
)

team_costs = Table(
    "team_costs",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="Last day of the trailing 30-day window"),
    Column("team", String(128), primary_key=True, comment="Team"),
    Column("last_30_days_cost", Money, nullable=False, comment="Effective cost over days as_of-29 .. as_of"),
    Column("service_count", Integer, nullable=False, comment="Distinct services with cost in the window"),
    Column("daily_average", Money, nullable=False, comment="last_30_days_cost / days with data"),
    Column("previous_30_days_cost", Money, nullable=True, comment="Effective cost over days as_of-59 .. as_of-30; null when none of them has data"),
    Column("trend_pct", Float, nullable=True, comment="Change of the daily average against days as_of-59 .. as_of-30, %"),
    Column("days_with_data", Integer, nullable=False, comment="Days of as_of-29 .. as_of with daily_costs rows"),
    Column("missing_days", Integer, nullable=False, comment="Days of as_of-29 .. as_of without daily_costs rows"),
    comment="Per-team cost as of a day.",
)

def _anomaly_columns(scope: str) -> list[Column]:
    return [
        Column("actual_cost", Money, nullable=False, comment="Effective cost that day"),
        Column("expected_cost", Money, nullable=True, comment="Baseline expectation for that day"),
        Column("impact_usd", Money, nullable=False, comment="actual_cost - expected_cost"),
        Column("score", Float, nullable=True, comment="Robust deviation score"),
        Column("severity", String(16), nullable=False, comment="warning or critical"),
        Column("detector", String(32), nullable=False, comment="seasonal (one-day test), drift (slow ramp or step) or new_service"),
        Column("is_provisional", Boolean, nullable=False, comment="True while the day's costs are still estimated by the provider"),
        Column("incident_id", String(256), nullable=False, comment=f"Consecutive anomalous days of {scope} share one incident id"),
        Column("incident_start", Date, nullable=False, comment="First day of the incident"),
        Column("incident_impact_usd", Money, nullable=False, comment="Impact summed from the incident's first day to this day"),
    ]


cost_anomalies = Table(
    "cost_anomalies",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day tested"),
    Column("service", String(128), primary_key=True, comment="Internal service"),
    *_anomaly_columns("a service"),
    comment="Cost anomalies per day and service: actual against a weekday-aware robust baseline.",
)

cost_anomalies_by_dimension = Table(
    "cost_anomalies_by_dimension",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day tested"),
    Column("dimension", String(16), primary_key=True, comment="team or account"),
    Column("dimension_value", String(128), primary_key=True, comment="Team name (tag `team`) or AWS account id"),
    *_anomaly_columns("a team or account"),
    comment="Cost anomalies per day of each team's and each account's total cost (same detector as cost_anomalies; "
            "not alerted).",
)

cost_anomaly_root_causes = Table(
    "cost_anomaly_root_causes",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day of the anomaly (cost_anomalies.date)"),
    Column("service", String(128), primary_key=True, comment="Internal service of the anomaly (cost_anomalies.service)"),
    Column("dimension", String(32), primary_key=True, comment="account, aws_service, charge_category, environment or customer"),
    Column("dimension_value", String(256), primary_key=True, comment="Account id, provider service, charge category, environment or customer id; '(other)' for the values past the top 10, together"),
    Column("actual_cost", Money, nullable=False, comment="The value's effective cost of the service that day"),
    Column("expected_cost", Money, nullable=False, comment="The anomaly's expected_cost times the value's share of the service's cost over the baseline days"),
    Column("impact_usd", Money, nullable=False, comment="actual_cost - expected_cost in cents; a dimension's rows add up to the anomaly's impact_usd rounded to the cent"),
    Column("share", Ratio, nullable=True, comment="impact_usd / the anomaly's impact_usd; null when that impact is 0"),
    Column("rank", Integer, nullable=False, comment="1 for the largest impact_usd of the dimension, then down"),
    comment="Root causes of cost_anomalies: each anomaly's excess split over the values of each daily_costs "
            "dimension, largest first (docs/reference.md#root-causes). Written with cost_anomalies.",
)

off_hours_waste = Table(
    "off_hours_waste",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="Last day of the trailing 30-day window (UTC days as_of-29 .. as_of)"),
    Column("environment", String(64), primary_key=True, comment="Non-production environment (COST_WASTE_ENVIRONMENTS)"),
    Column("service", String(128), primary_key=True, comment="Internal service (tag `service`)"),
    Column("team", String(128), primary_key=True, comment="Owning team (tag `team`)"),
    Column("total_cost", Money, nullable=False, comment="Effective cost in hourly_costs over the 30 days (hours observed only)"),
    Column("off_hours_cost", Money, nullable=False, comment="Part of total_cost in hours outside working hours (local time of COST_WORK_TIMEZONE)"),
    Column("schedulable_off_hours_cost", Money, nullable=False, comment="Part of off_hours_cost that a schedule could stop: charge category Usage, no per-month unit (GB-Mo), no storage service"),
    Column("schedulable_share", Ratio, nullable=True, comment="schedulable_off_hours_cost / off_hours_cost; null when off_hours_cost is 0"),
    Column("monthly_saving", Money, nullable=True, comment="Estimated monthly saving of stopping schedulable spend off-hours: schedulable_off_hours_cost x off_hours_expected / off_hours_observed x 30.4375 / 30; null when no off-hour was observed"),
    Column("hours_expected", Integer, nullable=False, comment="Hours in the 30-day window (720)"),
    Column("hours_observed", Integer, nullable=False, comment="Hours of the window with at least one hourly_costs row of the environment; missing hours are not counted as $0"),
    Column("off_hours_expected", Integer, nullable=False, comment="Off-hours in the 30-day window under the working-hours settings"),
    Column("off_hours_observed", Integer, nullable=False, comment="Off-hours with at least one hourly_costs row of the environment"),
    Column("top_resources", Text, nullable=False, comment='JSON array [{"resourceId", "offHoursCost", "schedulableOffHoursCost", "monthlySaving"}]: the largest schedulable off-hours resources, [] without resource ids'),
    Column("working_hours", String(128), nullable=False, comment="Working hours the row was computed with, e.g. 'mon-fri 08:00-20:00 UTC'"),
    comment="Non-production spend outside working hours per as-of day, environment, service and team over the trailing 30 days, and what scheduling would save.",
)

rejected_cost_rows = Table(
    "rejected_cost_rows",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day the row belongs to: its charge day, else the first day of its billing period"),
    Column("file", String(1024), primary_key=True, comment="Billing file or s3:// object the row was read from"),
    Column("row_number", BigInteger, primary_key=True, comment="1-based data row in the file (a CSV header is not counted)"),
    Column("source", String(32), nullable=False, comment="Billing source: focus or cur2"),
    Column("reason", Text, nullable=False, comment="Why the row could not be used, naming the column and the value"),
    Column("billed_cost", Money, nullable=True, comment="The row's billed (unblended) cost in USD where it could be read"),
    Column("effective_cost", Money, nullable=True, comment="The row's effective (amortized) cost in USD where it could be read"),
    Column("raw", Text, nullable=False, comment="The row's values as read from the file (JSON object of the columns read)"),
    comment="Billing-file rows that could not be parsed, kept instead of dropped. Rewritten per daily partition with daily_costs.",
)

daily_team_costs = Table(
    "daily_team_costs",
    metadata,
    Column("date", Date, primary_key=True, comment="UTC day"),
    Column("team", String(128), primary_key=True, comment="Team (allocation tag `team`)"),
    Column("billed_cost", Money, nullable=False, comment="Unblended cost in USD"),
    Column("effective_cost", Money, nullable=False, comment="Amortized cost in USD"),
    Column("is_estimated", Boolean, nullable=False, server_default=false(),
           comment="True while some of the day's cost is still estimated by the provider"),
    comment="daily_costs summed per day and team: the summary behind /costs/trend, small whatever the history.",
)

cost_forecasts = Table(
    "cost_forecasts",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="Last day of the month whose data the forecast used (nothing later is read)"),
    Column("scope", String(16), primary_key=True, comment="company, service or customer"),
    Column("scope_value", String(128), primary_key=True, comment="Internal service name or customer id; 'all' for the company"),
    Column("month_start", Date, nullable=False, comment="First day of as_of_date's month"),
    Column("month_end", Date, nullable=False, comment="Last day of as_of_date's month"),
    Column("days_with_data", Integer, nullable=False, comment="Days month_start .. as_of_date with data (daily_costs for company and services, customer_cost_allocation for customers)"),
    Column("days_forecast", Integer, nullable=False, comment="Days of the month predicted: those after as_of_date and those up to it without data"),
    Column("actual_to_date", Money, nullable=False, comment="Cost of the month's days with data up to as_of_date: effective cost (company, services) or allocated cost (customers)"),
    Column("forecast", Money, nullable=False, comment="actual_to_date + the predicted cost of the days_forecast days (weekday-aware recent level)"),
    Column("low", Money, nullable=False, comment="Lower bound of the 80% interval of the month's cost (10% quantile)"),
    Column("high", Money, nullable=False, comment="Upper bound of the 80% interval of the month's cost (90% quantile)"),
    Column("mrr", Money, nullable=True, comment="Customers: MRR in USD as of as_of_date (customer_snapshots); null for other scopes or without MRR"),
    Column("forecast_margin_pct", Float, nullable=True, comment="Customers: (mrr - forecast) / mrr * 100; null without a positive MRR"),
    comment="Month-end cost forecasts with an 80% interval, per as-of day, for the company, each service and each customer.",
)

# focus_allocated_costs (docs/reference.md#focus_allocated_costs): the focus_costs view's columns by name.
FOCUS_TIME_COLUMNS = ["BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"]
FOCUS_COST_COLUMNS = ["BilledCost", "ContractedCost", "EffectiveCost", "ListCost"]
# Summable quantities are split like costs (in millionths); unit prices repeat the origin charge's.
FOCUS_QUANTITY_COLUMNS = ["ConsumedQuantity", "PricingQuantity"]
FOCUS_UNIT_PRICE_COLUMNS = ["ContractedUnitPrice", "ListUnitPrice"]
FOCUS_BASE_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
    "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountStatus", "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId", "RegionName",
    "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId",
    "SkuPriceId", "SubAccountId", "SubAccountName", "Tags", "x_ChargeCategory", "x_Team", "x_Service", "x_CustomerId",
    "x_Environment", "x_IsEstimated", "x_Source",
]
FOCUS_ALLOCATION_COLUMNS = ["AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedResourceName",
                            "AllocatedTags", "x_UnallocatedReason", "x_OriginChargeId"]
_FOCUS_COMMENTS = {
    "x_CustomerId": "Customer the share is allocated to (null for the unallocated part); the origin charge's customer tag is in Tags",
    "x_IsEstimated": "True while the provider still marks the origin charge's day as estimated",
    "AllocatedMethodId": "FOCUS 1.3: the allocation rule that split the origin charge (a `targets: services` rule for staged dollars); null when no part of it reached a customer",
    "AllocatedMethodDetails": 'FOCUS 1.3: JSON {"Elements": [{"AllocatedRatio", "UsageUnit" (driver metric), "UsageQuantity" (driver quantity), x_ keys}]}, one element per path; null when no part reached a customer',
    "AllocatedResourceId": "FOCUS 1.3: customer id the share is allocated to; null for the unallocated part",
    "AllocatedResourceName": "FOCUS 1.3: customer name (customer_snapshots) the share is allocated to; null for the unallocated part",
    "AllocatedTags": 'FOCUS 1.3: JSON {"allocation/customer": id} of the customer; null for the unallocated part',
    "x_UnallocatedReason": "Reason the part stayed unallocated (internal, untagged, idle, unknown_customer, no_usage, unplaced_after_hop); null on customer rows",
    "x_OriginChargeId": "Identifier of the origin charge (a focus_costs row): the rows of one id add up to it",
}


def _focus_column(name: str) -> Column:
    if name in FOCUS_COST_COLUMNS:
        return Column(name, Money, nullable=False, comment=f"Share in USD of the origin charge's {name} (the shares of an origin charge add up to it exactly)")
    if name in FOCUS_QUANTITY_COLUMNS:
        return Column(name, Float, nullable=True, comment=f"Share of the origin charge's {name}, split like the costs; null when the charge's is")
    if name in FOCUS_UNIT_PRICE_COLUMNS:
        return Column(name, Float, nullable=True, comment=f"FOCUS {name} of the origin charge (focus_costs)")
    if name in FOCUS_TIME_COLUMNS:
        return Column(name, String(20), nullable=False, comment=f"FOCUS {name} of the origin charge, ISO 8601 UTC text")
    if name == "x_IsEstimated":
        return Column(name, Boolean, nullable=False, comment=_FOCUS_COMMENTS[name])
    if name == "x_OriginChargeId":
        return Column(name, String(32), nullable=False, comment=_FOCUS_COMMENTS[name])
    return Column(name, Text, nullable=True, comment=_FOCUS_COMMENTS.get(name, f"FOCUS {name} of the origin charge (focus_costs)"))


focus_allocated_costs = Table(
    "focus_allocated_costs",
    metadata,
    Column("date", Date, nullable=False, index=True, comment="UTC day of the origin charge"),
    *(_focus_column(name) for name in [*FOCUS_BASE_COLUMNS, *FOCUS_ALLOCATION_COLUMNS]),
    comment="focus_costs rows (origin charges) split onto the customers the allocation placed them on, one row per "
            "origin charge and customer plus one for the unallocated part, with the FOCUS 1.3 allocation columns.",
)
