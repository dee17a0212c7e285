"""FOCUS allocated costs: the table focus_allocated_costs, focus_costs rows split onto customers with the
FOCUS 1.3 allocation columns (docs/reference.md#focus_allocated_costs).

Revision ID: 0007_focus_allocated_costs
Revises: 0006_container_splits
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Boolean, Column, Date, Float, MetaData, Numeric, String, Table, Text

revision = "0007_focus_allocated_costs"
down_revision = "0006_container_splits"
branch_labels = None
depends_on = None
# sha256 of the views' CREATE statements at this revision (migrations.views_fingerprint()): unchanged.
views_fingerprint = "be939c9a7cc58940100f4a0afa252fa48dfb6125092ac08906cd87f21634b5aa"

Money = Numeric(20, 6, asdecimal=False)


def _table(metadata: MetaData) -> Table:
    """Frozen copy of schema.focus_allocated_costs at this revision."""
    return Table(
        "focus_allocated_costs",
        metadata,
        Column('date', Date, nullable=False, index=True, comment='UTC day of the origin charge'),
        Column('AvailabilityZone', Text, nullable=True, comment='FOCUS AvailabilityZone of the origin charge (focus_costs)'),
        Column('BilledCost', Money, nullable=False, comment="Share in USD of the origin charge's BilledCost (the shares of an origin charge add up to it exactly)"),
        Column('BillingAccountId', Text, nullable=True, comment='FOCUS BillingAccountId of the origin charge (focus_costs)'),
        Column('BillingAccountName', Text, nullable=True, comment='FOCUS BillingAccountName of the origin charge (focus_costs)'),
        Column('BillingCurrency', Text, nullable=True, comment='FOCUS BillingCurrency of the origin charge (focus_costs)'),
        Column('BillingPeriodEnd', String(20), nullable=False, comment='FOCUS BillingPeriodEnd of the origin charge, ISO 8601 UTC text'),
        Column('BillingPeriodStart', String(20), nullable=False, comment='FOCUS BillingPeriodStart of the origin charge, ISO 8601 UTC text'),
        Column('ChargeCategory', Text, nullable=True, comment='FOCUS ChargeCategory of the origin charge (focus_costs)'),
        Column('ChargeClass', Text, nullable=True, comment='FOCUS ChargeClass of the origin charge (focus_costs)'),
        Column('ChargeDescription', Text, nullable=True, comment='FOCUS ChargeDescription of the origin charge (focus_costs)'),
        Column('ChargeFrequency', Text, nullable=True, comment='FOCUS ChargeFrequency of the origin charge (focus_costs)'),
        Column('ChargePeriodEnd', String(20), nullable=False, comment='FOCUS ChargePeriodEnd of the origin charge, ISO 8601 UTC text'),
        Column('ChargePeriodStart', String(20), nullable=False, comment='FOCUS ChargePeriodStart of the origin charge, ISO 8601 UTC text'),
        Column('CommitmentDiscountCategory', Text, nullable=True, comment='FOCUS CommitmentDiscountCategory of the origin charge (focus_costs)'),
        Column('CommitmentDiscountId', Text, nullable=True, comment='FOCUS CommitmentDiscountId of the origin charge (focus_costs)'),
        Column('CommitmentDiscountName', Text, nullable=True, comment='FOCUS CommitmentDiscountName of the origin charge (focus_costs)'),
        Column('CommitmentDiscountStatus', Text, nullable=True, comment='FOCUS CommitmentDiscountStatus of the origin charge (focus_costs)'),
        Column('CommitmentDiscountType', Text, nullable=True, comment='FOCUS CommitmentDiscountType of the origin charge (focus_costs)'),
        Column('ConsumedQuantity', Float, nullable=True, comment="Share of the origin charge's ConsumedQuantity, split like the costs; null when the charge's is"),
        Column('ConsumedUnit', Text, nullable=True, comment='FOCUS ConsumedUnit of the origin charge (focus_costs)'),
        Column('ContractedCost', Money, nullable=False, comment="Share in USD of the origin charge's ContractedCost (the shares of an origin charge add up to it exactly)"),
        Column('ContractedUnitPrice', Float, nullable=True, comment='FOCUS ContractedUnitPrice of the origin charge (focus_costs)'),
        Column('EffectiveCost', Money, nullable=False, comment="Share in USD of the origin charge's EffectiveCost (the shares of an origin charge add up to it exactly)"),
        Column('InvoiceId', Text, nullable=True, comment='FOCUS InvoiceId of the origin charge (focus_costs)'),
        Column('InvoiceIssuerName', Text, nullable=True, comment='FOCUS InvoiceIssuerName of the origin charge (focus_costs)'),
        Column('ListCost', Money, nullable=False, comment="Share in USD of the origin charge's ListCost (the shares of an origin charge add up to it exactly)"),
        Column('ListUnitPrice', Float, nullable=True, comment='FOCUS ListUnitPrice of the origin charge (focus_costs)'),
        Column('PricingCategory', Text, nullable=True, comment='FOCUS PricingCategory of the origin charge (focus_costs)'),
        Column('PricingQuantity', Float, nullable=True, comment="Share of the origin charge's PricingQuantity, split like the costs; null when the charge's is"),
        Column('PricingUnit', Text, nullable=True, comment='FOCUS PricingUnit of the origin charge (focus_costs)'),
        Column('ProviderName', Text, nullable=True, comment='FOCUS ProviderName of the origin charge (focus_costs)'),
        Column('PublisherName', Text, nullable=True, comment='FOCUS PublisherName of the origin charge (focus_costs)'),
        Column('RegionId', Text, nullable=True, comment='FOCUS RegionId of the origin charge (focus_costs)'),
        Column('RegionName', Text, nullable=True, comment='FOCUS RegionName of the origin charge (focus_costs)'),
        Column('ResourceId', Text, nullable=True, comment='FOCUS ResourceId of the origin charge (focus_costs)'),
        Column('ResourceName', Text, nullable=True, comment='FOCUS ResourceName of the origin charge (focus_costs)'),
        Column('ResourceType', Text, nullable=True, comment='FOCUS ResourceType of the origin charge (focus_costs)'),
        Column('ServiceCategory', Text, nullable=True, comment='FOCUS ServiceCategory of the origin charge (focus_costs)'),
        Column('ServiceName', Text, nullable=True, comment='FOCUS ServiceName of the origin charge (focus_costs)'),
        Column('ServiceSubcategory', Text, nullable=True, comment='FOCUS ServiceSubcategory of the origin charge (focus_costs)'),
        Column('SkuId', Text, nullable=True, comment='FOCUS SkuId of the origin charge (focus_costs)'),
        Column('SkuPriceId', Text, nullable=True, comment='FOCUS SkuPriceId of the origin charge (focus_costs)'),
        Column('SubAccountId', Text, nullable=True, comment='FOCUS SubAccountId of the origin charge (focus_costs)'),
        Column('SubAccountName', Text, nullable=True, comment='FOCUS SubAccountName of the origin charge (focus_costs)'),
        Column('Tags', Text, nullable=True, comment='FOCUS Tags of the origin charge (focus_costs)'),
        Column('x_ChargeCategory', Text, nullable=True, comment='FOCUS x_ChargeCategory of the origin charge (focus_costs)'),
        Column('x_Team', Text, nullable=True, comment='FOCUS x_Team of the origin charge (focus_costs)'),
        Column('x_Service', Text, nullable=True, comment='FOCUS x_Service of the origin charge (focus_costs)'),
        Column('x_CustomerId', Text, nullable=True, comment="Customer the share is allocated to (null for the unallocated part); the origin charge's customer tag is in Tags"),
        Column('x_Environment', Text, nullable=True, comment='FOCUS x_Environment of the origin charge (focus_costs)'),
        Column('x_IsEstimated', Boolean, nullable=False, comment="True while the provider still marks the origin charge's day as estimated"),
        Column('x_Source', Text, nullable=True, comment='FOCUS x_Source of the origin charge (focus_costs)'),
        Column('AllocatedMethodId', Text, nullable=True, comment='FOCUS 1.3: the allocation rule that split the origin charge (a `targets: services` rule for staged dollars); null when no part of it reached a customer'),
        Column('AllocatedMethodDetails', Text, nullable=True, comment='FOCUS 1.3: JSON {"Elements": [{"AllocatedRatio", "UsageUnit" (driver metric), "UsageQuantity" (driver quantity), x_ keys}]}, one element per path; null when no part reached a customer'),
        Column('AllocatedResourceId', Text, nullable=True, comment='FOCUS 1.3: customer id the share is allocated to; null for the unallocated part'),
        Column('AllocatedResourceName', Text, nullable=True, comment='FOCUS 1.3: customer name (customer_snapshots) the share is allocated to; null for the unallocated part'),
        Column('AllocatedTags', Text, nullable=True, comment='FOCUS 1.3: JSON {"allocation/customer": id} of the customer; null for the unallocated part'),
        Column('x_UnallocatedReason', Text, nullable=True, comment='Reason the part stayed unallocated (internal, untagged, idle, unknown_customer, no_usage, unplaced_after_hop); null on customer rows'),
        Column('x_OriginChargeId', String(32), nullable=False, comment='Identifier of the origin charge (a focus_costs row): the rows of one id add up to it'),
        comment='focus_costs rows (origin charges) split onto the customers the allocation placed them on, one row per origin charge and customer plus one for the unallocated part, with the FOCUS 1.3 allocation columns.',
    )


def upgrade() -> None:
    _table(MetaData()).create(op.get_bind())


def downgrade() -> None:
    _table(MetaData()).drop(op.get_bind())
