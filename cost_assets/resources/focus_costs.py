"""The `focus_costs` view: daily_costs with FOCUS 1.2 column names, for FOCUS-aware tools.

One row per daily_costs row, with two adjustments so the view reads as FOCUS:
- charge categories map to FOCUS ChargeCategory (CHARGE_CATEGORIES);
- a commitment fee whose effective cost is its unused part (RIFee,
  SavingsPlanRecurringFee) becomes a Purchase row (billed, effective 0) plus a
  Usage row with CommitmentDiscountStatus Unused (effective, billed 0), as the
  FOCUS examples show it. Both sums stay equal to daily_costs'.

The warehouse keeps neither list prices nor payer accounts nor SKUs: ListCost
and ContractedCost carry BilledCost, BillingAccountId the sub-account, the SKU
and resource columns are null (daily rows span many of them). InvoiceId is the
source's invoice id (CUR 2.0 bill_invoice_id, FOCUS InvoiceId), null while a
charge is not invoiced and for sources without one (Cost Explorer, demo).
ServiceCategory and ServiceSubcategory come from the provider service's name,
PricingUnit and ConsumedUnit are the usage unit in FOCUS's unit format
(Hrs -> Hours, GB-Mo -> GB-Months).
Allocation tags are in Tags (JSON) and in x_ columns.
"""

from __future__ import annotations

NAME = "focus_costs"
COMMENT = (
    "daily_costs with FOCUS 1.2 column names (one row per day, account, service, charge category and "
    "allocation tags); commitment fees split into Purchase and unused Usage rows. Allocation tags in Tags and x_ columns."
)

# daily_costs.charge_category -> FOCUS ChargeCategory; anything else is an Adjustment.
# Covers CUR line item types, Cost Explorer record types and FOCUS's own.
CHARGE_CATEGORIES = {
    "Usage": "Usage", "DiscountedUsage": "Usage", "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage", "UnusedCommitment": "Usage",
    # An EC2 instance's cost its pods did not use (ingestion/container_splits.py).
    "UnusedCapacity": "Usage", "UnsplitInstanceCost": "Usage",
    "Purchase": "Purchase", "Fee": "Purchase", "RIFee": "Purchase", "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase", "Recurring reservation fee": "Purchase", "Upfront reservation fee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit", "Refund": "Credit", "BundledDiscount": "Credit", "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit", "DistributorDiscount": "Credit", "Discount": "Credit",
    "Enterprise Discount Program Discount": "Credit",
    "Adjustment": "Adjustment",
}
# Fees whose effective cost is the commitment's unused part.
UNUSED_COMMITMENT_FEES = ("RIFee", "SavingsPlanRecurringFee", "Recurring reservation fee")
COMMITTED_USAGE = {"DiscountedUsage": "Usage", "SavingsPlanCoveredUsage": "Spend", "UnusedCommitment": None}
RECURRING = ("RIFee", "SavingsPlanRecurringFee", "Recurring reservation fee")

# FOCUS ServiceCategory and ServiceSubcategory (FOCUS 1.2 allowed values) from the
# provider service's name (lower case), first match wins; otherwise Other / Other (Other).
# Rows of one category stay together, so the category does not depend on the subcategory rows.
SERVICE_SUBCATEGORIES = [
    ("AI and Machine Learning", "Generative AI", ["bedrock", "openai"]),
    ("AI and Machine Learning", "Natural Language Processing", ["comprehend"]),
    ("AI and Machine Learning", "Machine Learning", ["sagemaker", "machine learning", "vertex ai"]),
    ("AI and Machine Learning", "Other (AI and Machine Learning)", ["rekognition"]),
    ("Analytics", "Search", ["opensearch", "elasticsearch"]),
    ("Analytics", "Streaming Analytics", ["kinesis"]),
    ("Analytics", "Business Intelligence", ["quicksight"]),
    ("Analytics", "Data Processing", ["athena", "glue", "emr"]),
    ("Analytics", "Analytics Platforms", ["synapse", "databricks"]),
    ("Databases", "Data Warehouses", ["redshift", "bigquery"]),
    ("Databases", "Caching", ["elasticache", "memorydb"]),
    ("Databases", "NoSQL Databases", ["dynamodb", "documentdb", "cosmos", "bigtable"]),
    ("Databases", "Relational Databases", ["relational database", "rds", "aurora", "sql", "spanner"]),
    ("Databases", "Other (Databases)", ["neptune", "database"]),
    ("Storage", "Object Storage", ["simple storage", "s3", "glacier"]),
    ("Storage", "Block Storage", ["elastic block", "ebs"]),
    ("Storage", "File Storage", ["efs", "elastic file"]),
    ("Storage", "Backup Storage", ["backup"]),
    ("Storage", "Other (Storage)", ["storage"]),
    ("Networking", "Content Delivery", ["cloudfront", "cdn"]),
    ("Networking", "Application Networking", ["load balancing", "elb"]),
    ("Networking", "Network Security", ["waf", "shield", "firewall"]),
    ("Networking", "Network Routing", ["route 53", "route53", "dns"]),
    ("Networking", "Network Connectivity", ["vpc", "data transfer", "direct connect", "vpn"]),
    ("Networking", "Other (Networking)", ["network"]),
    ("Compute", "Containers", ["container", "kubernetes", "eks", "ecs"]),
    ("Compute", "Serverless Compute", ["lambda", "fargate", "functions", "cloud run"]),
    ("Compute", "Virtual Machines", ["elastic compute", "ec2", "virtual machine", "compute engine", "lightsail"]),
    ("Compute", "Other (Compute)", ["compute", "batch"]),
    ("Integration", "API Management", ["api gateway", "api management"]),
    ("Integration", "Messaging", ["simple queue", "sqs", "simple notification", "sns", "eventbridge", "mq", "pub/sub", "service bus"]),
    ("Integration", "Workflow Orchestration", ["step functions"]),
    ("Management and Governance", "Observability", ["cloudwatch", "monitor", "logging", "log analytics"]),
    ("Management and Governance", "Compliance", ["cloudtrail", "config"]),
    ("Management and Governance", "Other (Management and Governance)", ["systems manager"]),
    ("Security", "Secret Management", ["key management", "kms", "secrets manager", "certificate"]),
    ("Security", "Threat Detection and Response", ["guardduty", "inspector"]),
    ("Security", "Other (Security)", ["security"]),
    ("Identity", "Identity and Access Management", ["cognito", "directory", "identity", "entra"]),
    ("Developer Tools", "Continuous Integration and Deployment", ["codebuild", "codepipeline", "codedeploy", "devops", "cloud build"]),
    ("Developer Tools", "Source Code Management", ["codecommit"]),
    ("Developer Tools", "Other (Developer Tools)", ["x-ray"]),
]
OTHER_SERVICE = ("Other", "Other (Other)")

# Provider units -> FOCUS UnitFormat (plural time units, "-" for compound units); others as given.
FOCUS_UNITS = {
    "Hrs": "Hours", "Hr": "Hours", "hours": "Hours", "Hour": "Hours",
    "GB-Mo": "GB-Months", "GB-Month": "GB-Months", "GB-Hrs": "GB-Hours", "GB-Second": "GB-Seconds",
    "Lambda-GB-Second": "GB-Seconds", "vCPU-Hrs": "vCPU-Hours", "vCPU-Hour": "vCPU-Hours",
    "LCU-Hrs": "LCU-Hours",
    "ReadCapacityUnit-Hrs": "ReadCapacityUnit-Hours", "WriteCapacityUnit-Hrs": "WriteCapacityUnit-Hours",
    "Request": "Requests", "Minute": "Minutes", "Second": "Seconds",
}

# FOCUS 1.2 mandatory columns; the view carries all of them.
FOCUS_1_2_MANDATORY = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
    "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit", "ProviderName",
    "PublisherName", "ServiceCategory", "ServiceName",
]

UNKNOWN = "Unknown"  # for mandatory non-null text the warehouse does not have


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _case(expression: str, mapping: dict[str, str | None], default: str) -> str:
    whens = " ".join(
        f"WHEN {_quote(key)} THEN {_quote(value) if value is not None else 'NULL'}" for key, value in mapping.items()
    )
    return f"CASE {expression} {whens} ELSE {default} END"


def _in(values) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")"


def _service(part: int) -> str:
    """ServiceCategory (part 0) or ServiceSubcategory (part 1) of the row's provider service."""
    whens = " ".join(
        f"WHEN {' OR '.join(f'LOWER(aws_service) LIKE {_quote(chr(37) + word + chr(37))}' for word in words)} "
        f"THEN {_quote((category, subcategory)[part])}"
        for category, subcategory, words in SERVICE_SUBCATEGORIES
    )
    return f"CASE {whens} ELSE {_quote(OTHER_SERVICE[part])} END"


def _dialect_expressions(dialect: str) -> dict[str, str]:
    """Date and JSON expressions, which SQLite and PostgreSQL spell differently."""
    tags = "'team', team, 'service', service, 'customer', customer_id, 'environment', environment"
    if dialect == "postgresql":
        day = "(date::timestamp AT TIME ZONE 'UTC')"
        month = "date_trunc('month', date::timestamp)"
        return {
            "ChargePeriodStart": day,
            "ChargePeriodEnd": "((date + 1)::timestamp AT TIME ZONE 'UTC')",
            "BillingPeriodStart": f"({month} AT TIME ZONE 'UTC')",
            "BillingPeriodEnd": f"(({month} + interval '1 month') AT TIME ZONE 'UTC')",
            "Tags": f"jsonb_build_object({tags})",
        }
    return {  # SQLite keeps dates as ISO text, so the view gives ISO 8601 UTC text
        "ChargePeriodStart": "strftime('%Y-%m-%dT00:00:00Z', date)",
        "ChargePeriodEnd": "strftime('%Y-%m-%dT00:00:00Z', date, '+1 day')",
        "BillingPeriodStart": "strftime('%Y-%m-01T00:00:00Z', date)",
        "BillingPeriodEnd": "strftime('%Y-%m-%dT00:00:00Z', date, 'start of month', '+1 month')",
        "Tags": f"json_object({tags})",
    }


def _columns(dialect: str) -> dict[str, str]:
    """FOCUS column -> SQL expression over daily_costs, for every row."""
    null_text, null_number = "CAST(NULL AS TEXT)", "CAST(NULL AS NUMERIC)"
    category = _case("charge_category", CHARGE_CATEGORIES, "'Adjustment'")
    fee = f"charge_category IN {_in(UNUSED_COMMITMENT_FEES)}"
    usage = f"({category}) = 'Usage'"
    has_unit = "COALESCE(usage_unit, '') <> ''"
    unit = _case("usage_unit", FOCUS_UNITS, "usage_unit")
    dates = _dialect_expressions(dialect)
    account = f"COALESCE(NULLIF(account_id, ''), '{UNKNOWN}')"
    provider = f"COALESCE(NULLIF(provider, ''), '{UNKNOWN}')"
    return {
        "AvailabilityZone": null_text,
        "BilledCost": "billed_cost",
        "BillingAccountId": account,
        "BillingAccountName": account,
        "BillingCurrency": "'USD'",
        "BillingPeriodEnd": dates["BillingPeriodEnd"],
        "BillingPeriodStart": dates["BillingPeriodStart"],
        "ChargeCategory": category,
        "ChargeClass": null_text,
        "ChargeDescription": "charge_category",
        "ChargeFrequency": (
            f"CASE WHEN charge_category IN {_in(RECURRING)} THEN 'Recurring' "
            f"WHEN {usage} THEN 'Usage-Based' ELSE 'One-Time' END"
        ),
        "ChargePeriodEnd": dates["ChargePeriodEnd"],
        "ChargePeriodStart": dates["ChargePeriodStart"],
        "CommitmentDiscountCategory": _case("charge_category", COMMITTED_USAGE, null_text),
        "CommitmentDiscountId": null_text,
        "CommitmentDiscountName": null_text,
        "CommitmentDiscountStatus": (
            "CASE WHEN charge_category IN ('DiscountedUsage', 'SavingsPlanCoveredUsage') THEN 'Used' "
            "WHEN charge_category = 'UnusedCommitment' THEN 'Unused' ELSE NULL END"
        ),
        "CommitmentDiscountType": null_text,
        "ConsumedQuantity": f"CASE WHEN {usage} AND {has_unit} THEN usage_quantity ELSE NULL END",
        "ConsumedUnit": f"CASE WHEN {usage} AND {has_unit} THEN {unit} ELSE NULL END",
        "ContractedCost": "billed_cost",
        "ContractedUnitPrice": null_number,
        "EffectiveCost": f"CASE WHEN {fee} THEN 0 ELSE effective_cost END",
        "InvoiceId": "NULLIF(invoice_id, '')",
        "InvoiceIssuerName": provider,
        "ListCost": "billed_cost",
        "ListUnitPrice": null_number,
        "PricingCategory": (
            f"CASE WHEN charge_category IN {_in(COMMITTED_USAGE)} THEN 'Committed' "
            f"WHEN ({category}) IN ('Usage', 'Purchase') THEN 'Standard' ELSE NULL END"
        ),
        "PricingQuantity": f"CASE WHEN ({category}) <> 'Tax' AND {has_unit} THEN usage_quantity ELSE NULL END",
        "PricingUnit": f"CASE WHEN ({category}) <> 'Tax' AND {has_unit} THEN {unit} ELSE NULL END",
        "ProviderName": provider,
        "PublisherName": provider,
        "RegionId": null_text,
        "RegionName": null_text,
        "ResourceId": null_text,
        "ResourceName": null_text,
        "ResourceType": null_text,
        "ServiceCategory": _service(0),
        "ServiceName": f"COALESCE(NULLIF(aws_service, ''), '{UNKNOWN}')",
        "ServiceSubcategory": _service(1),
        "SkuId": null_text,
        "SkuPriceId": null_text,
        "SubAccountId": "NULLIF(account_id, '')",
        "SubAccountName": "NULLIF(account_id, '')",
        "Tags": dates["Tags"],
        "x_ChargeCategory": "charge_category",
        "x_Team": "team",
        "x_Service": "service",
        "x_CustomerId": "customer_id",
        "x_Environment": "environment",
        "x_IsEstimated": "is_estimated",
        "x_Source": "source",
    }


def _unused_part(columns: dict[str, str]) -> dict[str, str]:
    """The Usage row that carries an unused-commitment fee's effective cost."""
    return {
        **columns,
        "BilledCost": "0", "ContractedCost": "0", "ListCost": "0",
        "EffectiveCost": "effective_cost",
        "ChargeCategory": "'Usage'",
        "ChargeFrequency": "'Usage-Based'",
        "CommitmentDiscountCategory": "CASE WHEN charge_category = 'SavingsPlanRecurringFee' THEN 'Spend' ELSE 'Usage' END",
        "CommitmentDiscountStatus": "'Unused'",
        "PricingCategory": "'Committed'",
        "PricingQuantity": "CAST(NULL AS NUMERIC)",
        "PricingUnit": "CAST(NULL AS TEXT)",
    }


def select_sql(dialect: str) -> str:
    columns = _columns(dialect)
    fee = f"charge_category IN {_in(UNUSED_COMMITMENT_FEES)}"

    def select(chosen: dict[str, str], where: str = "") -> str:
        body = ",\n  ".join(f'{expression} AS "{name}"' for name, expression in chosen.items())
        return f"SELECT\n  {body}\nFROM daily_costs{where}"

    return f"{select(columns)}\nUNION ALL\n{select(_unused_part(columns), f' WHERE {fee} AND effective_cost <> 0')}"


class FocusCostsView:
    """Created with the other warehouse views (views.VIEWS)."""

    name = NAME
    comment = COMMENT

    def create(self, conn) -> None:
        from cost_assets.resources.views import View  # views.py lists this view: import it late

        View(name=self.name, select_sql=select_sql(conn.dialect.name), comment=self.comment).create(conn)


FOCUS_COSTS_VIEW = FocusCostsView()
