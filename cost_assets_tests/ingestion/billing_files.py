"""Test helpers for the `focus` and `cur2` sources: billing files the tests
write (CSV, gzip CSV, Parquet; tags as a map or JSON text) and moto's S3."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

# The FOCUS 1.2 specification's example data sets, vendored (CC-BY-4.0, see NOTICE.md there).
FOCUS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "focus_spec"

TAG_MAP = pa.map_(pa.string(), pa.string())


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start(day: dt.date, hour: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.timezone.utc)


def write_table(path: Path, rows: list[dict], tag_column: str, tags_as: str = "json",
                timestamps: list[str] = ()) -> Path:
    """Write rows (dicts of plain values; the tag column a dict or None) as
    CSV, gzip CSV or Parquet, chosen by the file name. In Parquet, `tags_as`
    'map' writes a map column, 'json' JSON text; `timestamps` become typed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    data = {c: [row.get(c) for row in rows] for c in columns}
    parquet = path.name.endswith(".parquet")
    arrays = {}
    for column, values in data.items():
        if column == tag_column:
            if parquet and tags_as == "map":
                arrays[column] = pa.array([None if v is None else list(v.items()) for v in values], type=TAG_MAP)
            else:
                # a str is written as it is: tests use it for tags that are not JSON
                arrays[column] = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                                          type=pa.string())
        elif parquet and column in timestamps:
            arrays[column] = pa.array([None if v is None else dt.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values],
                                      type=pa.timestamp("ms", tz="UTC"))
        else:
            try:
                arrays[column] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # a deliberately garbled value among numbers
                arrays[column] = pa.array([None if v is None else str(v) for v in values])
    table = pa.table(arrays)
    if parquet:
        pq.write_table(table, path)
    else:
        with pa.output_stream(str(path), compression="gzip" if path.name.endswith(".gz") else None) as out:
            pa_csv.write_csv(table, out)
    return path


# --- FOCUS ---------------------------------------------------------------------

# The specification's commitment examples, all on GOLDEN_DAY: (file, {charge_category: (billed, effective)}).
# Used commitment is Usage with billed 0 and effective > 0; unused commitment keeps
# its own category; the purchase is billed and has no effective cost.
GOLDEN_DAY = dt.date(2023, 1, 1)
GOLDEN = [
    ("commitment_discount_flexibility/one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv",
     {"Purchase": (0.50, 0.0), "Usage": (2.25, 2.75)}),
    ("commitment_discount_flexibility/one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv",
     {"Purchase": (2.00, 0.0), "Usage": (0.0, 2.00)}),
    ("commitment_discount_flexibility/one_hundred_percent_utilization_without_commitment_discount_flexibility.csv",
     {"Purchase": (1.50, 0.0), "Usage": (0.0, 1.50)}),
    ("commitment_discount_flexibility/zero_percent_utilization_without_commitment_discount_flexibility.csv",
     {"Purchase": (1.50, 0.0), "UnusedCommitment": (0.0, 1.50), "Usage": (2.00, 2.00)}),
    ("commitment_discount_scenarios/commitment_discount_purchase_scenario_1.csv", {"Purchase": (8760.0, 0.0)}),
    ("commitment_discount_scenarios/commitment_discount_usage_scenario_1.csv", {"Usage": (0.0, 1.0)}),
    ("commitment_discount_scenarios/commitment_discount_usage_scenario_2.csv", {"UnusedCommitment": (0.0, 1.0)}),
    ("commitment_discount_scenarios/commitment_discount_usage_scenario_3.csv", {"Usage": (0.0, 0.75), "UnusedCommitment": (0.0, 0.25)}),
    ("commitment_discount_scenarios/commitment_discount_usage_scenario_4.csv", {"Usage": (0.50, 1.50)}),
]

FOCUS_TIMESTAMPS = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"]


def focus_row(day: dt.date, billed: float, effective: float, *, hour: int | None = None, category: str = "Usage",
              provider: str = "Microsoft", account: str = "sub-7f3a91", service: str = "Virtual Machines",
              tags: dict | None = None, status: str | None = None, quantity: float | None = 1.0,
              unit: str | None = "Hours", currency: str = "USD", resource: str | None = "vm-1",
              billing_account: str = "ba-contoso") -> dict:
    start = day_start(day, hour or 0)
    end = start + (dt.timedelta(hours=1) if hour is not None else dt.timedelta(days=1))
    period = day.replace(day=1)
    return {
        "BillingAccountId": billing_account, "BillingCurrency": currency,
        "BillingPeriodStart": iso(day_start(period)),
        "BillingPeriodEnd": iso(day_start((period + dt.timedelta(days=32)).replace(day=1))),
        "ChargePeriodStart": iso(start), "ChargePeriodEnd": iso(end),
        "ChargeCategory": category, "CommitmentDiscountStatus": status,
        "BilledCost": billed, "EffectiveCost": effective,
        "ProviderName": provider, "SubAccountId": account, "ServiceName": service, "ResourceId": resource,
        "ConsumedQuantity": quantity, "ConsumedUnit": unit, "Tags": tags,
    }


def focus_day(day: dt.date, tags_variant: int = 0) -> list[dict]:
    """A multi-cloud day: on-demand, committed and unused commitment, a purchase, hourly rows, tax."""
    tags = [{"team": "Payments", "env": "prod", "customer": "cust-001"}, {"Team": "search", "service": "api"}][tags_variant]
    return [
        focus_row(day, 12.0, 12.0, tags=tags),
        focus_row(day, 0.0, 3.5, tags=tags, status="Used"),
        focus_row(day, 0.0, 1.25, tags=None, status="Unused", resource=None),
        focus_row(day, 40.0, 0.0, category="Purchase", tags=None, quantity=None, unit=None, resource=None),
        *[focus_row(day, 0.25, 0.25, hour=h, tags=tags, provider="Google Cloud", account="proj-search-prod",
                    service="Compute Engine", resource="gce-1") for h in (0, 1, 2)],
        focus_row(day, 1.1, 1.1, category="Tax", tags=None, quantity=None, unit=None, resource=None),
    ]


def write_focus(path: Path, rows: list[dict], tags_as: str = "json") -> Path:
    return write_table(path, rows, "Tags", tags_as, FOCUS_TIMESTAMPS)


# --- CUR 2.0 -------------------------------------------------------------------

CUR_TIMESTAMPS = ["line_item_usage_start_date", "line_item_usage_end_date", "bill_billing_period_start_date"]
AMORTIZATION_INPUTS = [
    "savings_plan_savings_plan_effective_cost", "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "reservation_effective_cost", "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
]


def cur_row(day: dt.date, kind: str, unblended: float, *, hour: int | None = None, account: str = "111122223333",
            product: str = "AmazonEC2", tags: dict | None = None, resource: str | None = "i-0abc",
            amount: float = 1.0, unit: str | None = "Hrs", invoice: str | None = "INV-1", currency: str = "USD",
            payer: str = "999988887777", **amortization: float) -> dict:
    start = day_start(day, hour or 0)
    end = start + (dt.timedelta(hours=1) if hour is not None else dt.timedelta(days=1))
    unknown = set(amortization) - set(AMORTIZATION_INPUTS)
    assert not unknown, unknown
    return {
        "bill_payer_account_id": payer,
        "bill_billing_period_start_date": iso(day_start(day.replace(day=1))),
        "bill_invoice_id": invoice,
        "line_item_usage_start_date": iso(start), "line_item_usage_end_date": iso(end),
        "line_item_line_item_type": kind, "line_item_unblended_cost": unblended,
        "line_item_usage_account_id": account, "line_item_product_code": product, "product_servicecode": product,
        "line_item_currency_code": currency, "line_item_resource_id": resource,
        "line_item_usage_amount": amount, "pricing_unit": unit,
        **{column: amortization.get(column) for column in AMORTIZATION_INPUTS},
        "resource_tags": tags,
    }


# Every line item type of the amortization table (issue 3), with its expected effective cost.
CUR_TYPES = [
    # (line item type, unblended, amortization inputs, expected effective_cost)
    ("Usage", 10.0, {}, 10.0),
    ("SavingsPlanCoveredUsage", 8.0, {"savings_plan_savings_plan_effective_cost": 5.0}, 5.0),
    ("SavingsPlanNegation", -8.0, {}, 0.0),
    ("SavingsPlanRecurringFee", 24.0, {"savings_plan_total_commitment_to_date": 24.0, "savings_plan_used_commitment": 20.0}, 4.0),
    ("SavingsPlanUpfrontFee", 1000.0, {}, 0.0),
    ("DiscountedUsage", 0.0, {"reservation_effective_cost": 3.0}, 3.0),
    ("RIFee", 72.0, {"reservation_unused_amortized_upfront_fee_for_billing_period": 1.5, "reservation_unused_recurring_fee": 2.5}, 4.0),
    ("Credit", -5.0, {}, -5.0),
    ("Refund", -2.0, {}, -2.0),
    ("Tax", 1.2, {}, 1.2),
    ("Fee", 3.0, {}, 3.0),
]


def cur_day(day: dt.date, tags: dict | None = None, **overrides) -> list[dict]:
    """One row of every line item type on `day`."""
    return [cur_row(day, kind, unblended, tags=tags, **amortization, **overrides)
            for kind, unblended, amortization, _ in CUR_TYPES]


def cur_path(root: Path, period: str, fmt: str = "parquet", name: str = "costs-00001", export: str = "costs",
             delivery: str | None = None) -> Path:
    """<root>/<export>/data/BILLING_PERIOD=YYYY-MM/[<delivery>/]<name>.<fmt>, the Data Exports layout."""
    folder = root / export / "data" / f"BILLING_PERIOD={period}"
    if delivery:
        folder = folder / delivery
    suffix = ".snappy.parquet" if fmt == "parquet" else ".csv.gz"
    return folder / f"{name}{suffix}"


def write_cur(path: Path, rows: list[dict], tags_as: str = "map") -> Path:
    return write_table(path, rows, "resource_tags", tags_as, CUR_TIMESTAMPS)


# --- S3 ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    """moto's real S3 API on a free local port."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint, monkeypatch):
    """A fresh bucket; boto3's own chain (AWS_ENDPOINT_URL, keys) points at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3")
    bucket = f"billing-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def upload_tree(client, bucket: str, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
