"""The `focus_costs` view and its CSV and Parquet exports, checked by the FinOps
Foundation's focus-validator 2.2.1 against FOCUS 1.2."""

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.focus_export import export_focus_costs, read_focus_costs
from cost_assets.ingestion.line_items import prepare_line_items, to_daily_costs
from cost_assets.ingestion.sources.focus import FocusSource
from cost_assets.resources import schema
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.resources.focus_costs import FOCUS_1_2_MANDATORY
from cost_assets.resources.warehouse import Warehouse
from cost_assets.rules import load_rules
from cost_assets_tests.helpers import materialize_days
from cost_assets_tests.ingestion.billing_files import (
    FOCUS_FIXTURES, GOLDEN, GOLDEN_DAY, cur_day, cur_path, focus_day, write_cur, write_focus,
)
from cost_assets_tests.ingestion.focus_validator import assert_conforms, focus_validator, validate  # noqa: F401

DAY1, DAY2 = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
DEMO_FIRST, DEMO_LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 14)
STRING_ID_COLUMNS = ["BillingAccountId", "BillingAccountName", "SubAccountId", "SubAccountName", "InvoiceId"]
FOCUS_CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
FOCUS_INVOICE = "G0123456789"  # the FOCUS file's InvoiceId; the CUR rows' bill_invoice_id is INV-1


@pytest.fixture
def mixed_warehouse(warehouse, tmp_path, monkeypatch):
    """DAY1 from a multi-cloud FOCUS file, DAY2 from CUR 2.0 with every line item type; both invoiced."""
    focus_rows = [{**row, "InvoiceId": FOCUS_INVOICE} for row in focus_day(DAY1)]
    monkeypatch.setenv("COST_SOURCE_URI", str(write_focus(tmp_path / "focus" / "focus.csv", focus_rows)))
    assert materialize_days([billing_costs], warehouse, DAY1, DAY1, billing=BillingSourceResource(source="focus")).success
    write_cur(cur_path(tmp_path / "cur", "2026-03"), cur_day(DAY2, tags={"user_team": "payments", "user_customer": "cust-001"}))
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path / "cur"))
    assert materialize_days([billing_costs], warehouse, DAY2, DAY2, billing=BillingSourceResource(source="cur2")).success
    return warehouse


def test_focus_costs_view_has_focus_names_and_the_same_money_as_daily_costs(mixed_warehouse):
    view = read_focus_costs(mixed_warehouse)
    daily = mixed_warehouse.read("SELECT date, SUM(billed_cost) AS billed, SUM(effective_cost) AS effective "
                                 "FROM daily_costs GROUP BY date ORDER BY date")
    view["day"] = view["ChargePeriodStart"].astype(str).str[:10]
    sums = view.groupby("day")[["BilledCost", "EffectiveCost"]].sum().astype(float).round(6)
    assert sums.values.tolist() == daily[["billed", "effective"]].astype(float).round(6).values.tolist()
    assert set(FOCUS_1_2_MANDATORY) <= set(view.columns)
    assert set(view["ChargeCategory"]) == FOCUS_CHARGE_CATEGORIES - {"Adjustment"}

    cur = view[view["day"] == DAY2.isoformat()].set_index(["x_ChargeCategory", "ChargeCategory"])
    money = cur[["BilledCost", "EffectiveCost"]].astype(float)
    # A reservation's fee: the purchase is billed, its unused part is unused-commitment usage.
    assert money.loc[("RIFee", "Purchase")].tolist() == [72.0, 0.0]
    assert money.loc[("RIFee", "Usage")].tolist() == [0.0, 4.0]
    assert cur.loc[("RIFee", "Usage"), "CommitmentDiscountStatus"] == "Unused"
    assert cur.loc[("SavingsPlanRecurringFee", "Usage"), "CommitmentDiscountCategory"] == "Spend"
    assert cur.loc[("SavingsPlanCoveredUsage", "Usage"), "CommitmentDiscountStatus"] == "Used"
    assert cur.loc[("Refund", "Credit"), "BilledCost"] == -2.0
    tags = cur.loc[("Usage", "Usage"), "Tags"]
    tags = tags if isinstance(tags, dict) else json.loads(tags)
    assert tags == {"team": "payments", "service": "untagged", "customer": "cust-001", "environment": "untagged"}

    focus = view[view["day"] == DAY1.isoformat()]
    unused = focus[focus["x_ChargeCategory"] == "UnusedCommitment"]
    assert unused[["ChargeCategory", "CommitmentDiscountStatus"]].values.tolist() == [["Usage", "Unused"]]
    assert set(focus["ProviderName"]) == {"Microsoft", "Google Cloud"}
    assert set(focus["ServiceCategory"]) == {"Compute"}  # Virtual Machines, Compute Engine
    assert set(focus["ServiceSubcategory"]) == {"Virtual Machines"}
    # the source's invoice id: FOCUS InvoiceId, CUR bill_invoice_id
    assert view.groupby("x_Source")["InvoiceId"].unique().map(list).to_dict() == {"focus": [FOCUS_INVOICE], "cur2": ["INV-1"]}
    # Units in FOCUS's format: the FOCUS file's Hours as they are, CUR's Hrs as Hours.
    assert set(view["PricingUnit"].dropna()) == set(view["ConsumedUnit"].dropna()) == {"Hours"}
    assert cur.loc[("Usage", "Usage"), "PricingUnit"] == "Hours"


def test_the_demo_parquet_export_conforms_to_focus_1_2(warehouse, focus_validator, tmp_path):
    assert materialize_days([billing_costs], warehouse, DEMO_FIRST, DEMO_LAST).success
    export = tmp_path / "focus_costs.parquet"

    rows = export_focus_costs(warehouse, export, DEMO_FIRST, DEMO_LAST)

    table = pq.read_table(export)
    assert rows == table.num_rows > 100
    assert set(FOCUS_1_2_MANDATORY) | {"InvoiceId", "ServiceSubcategory"} <= set(table.column_names)
    assert {"Provider", "Publisher", "InvoiceIssuer", "ResourceID"}.isdisjoint(table.column_names)  # pre-1.0 names
    # The demo's account ids are all digits; typed as strings they stay strings.
    assert all(table.schema.field(c).type == pa.string() for c in STRING_ID_COLUMNS)
    assert table.schema.field("BilledCost").type == pa.float64()
    assert table.column("BillingAccountId").to_pylist()[0].isdigit()
    assert str(table.schema.field("ChargePeriodStart").type) == "timestamp[ms, tz=UTC]"
    assert round(sum(table.column("EffectiveCost").to_pylist()), 2) == round(float(warehouse.read(
        "SELECT SUM(effective_cost) AS total FROM daily_costs")["total"].iloc[0]), 2)

    report = validate(focus_validator, export)
    assert_conforms(report)


def test_the_csv_export_of_focus_and_cur_rows_conforms_to_focus_1_2(mixed_warehouse, focus_validator, tmp_path):
    export = tmp_path / "focus_costs.csv"
    rows = export_focus_costs(mixed_warehouse, export, DAY1, DAY2)
    written = pd.read_csv(export)
    assert rows == len(written) > 10
    assert set(FOCUS_1_2_MANDATORY) <= set(written.columns)

    report = validate(focus_validator, export)
    # EffectiveCost-C-005-C: "EffectiveCost MUST be 0 when ChargeCategory is Purchase and the
    # purchase is intended to cover future eligible charges". The validator checks every
    # Purchase row, and CUR's Fee (support, a domain) is a Purchase that covers no future
    # charges: its EffectiveCost is its cost. Every other rule must hold.
    assert written.query("x_ChargeCategory == 'Fee'")[["ChargeCategory", "EffectiveCost"]].values.tolist() == [["Purchase", 3.0]]
    assert report.failed == {"EffectiveCost-C-005-C"}, report.summary()
    assert set(report.excused) == {"InvoiceId-C-004-C"}  # every row is invoiced: see InvoiceId-C-003-C
    assert len(report.rules("PASS")) > 100, report.summary()


def test_an_export_of_invoiced_and_not_yet_invoiced_days_fails_only_the_validators_invoice_id_pair(
        warehouse, focus_validator, tmp_path, monkeypatch):
    """FOCUS 1.2 wants InvoiceId null on charges not yet invoiced and set on invoiced ones, so a
    window across an invoice date mixes both. focus-validator 2.2.1 checks InvoiceId-C-004-C ("null")
    and C-005-C ("not null") over the whole file and ORs those results in C-003-C: a mixed file fails
    the four InvoiceId rules, and nothing else (docs/reference.md#focus-export)."""
    write_cur(cur_path(tmp_path / "cur", "2026-03"), cur_day(DAY1) + cur_day(DAY2, invoice=None))
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path / "cur"))
    assert materialize_days([billing_costs], warehouse, DAY1, DAY2, billing=BillingSourceResource(source="cur2")).success
    export = tmp_path / "focus_costs.parquet"
    export_focus_costs(warehouse, export, DAY1, DAY2)
    table = pq.read_table(export).to_pandas()
    table["day"] = table["ChargePeriodStart"].astype(str).str[:10]
    assert table.groupby("day")["InvoiceId"].apply(lambda ids: sorted(set(ids.fillna("null")))).to_dict() == {
        str(DAY1): ["INV-1"], str(DAY2): ["null"]}

    report = validate(focus_validator, export)
    invoice_id_rules = {"InvoiceId-C-000-O", "InvoiceId-C-003-C", "InvoiceId-C-004-C", "InvoiceId-C-005-C"}
    assert report.failed == {"EffectiveCost-C-005-C", *invoice_id_rules}, report.summary()  # C-005: CUR's Fee
    assert len(report.rules("PASS")) > 100, report.summary()


def load_golden_case(warehouse: Warehouse, name: str) -> None:
    """daily_costs of a specification example, through the focus source and the
    ingestion's normalization (GOLDEN_DAY lies before the daily partitions start)."""
    rules = load_rules()
    result = FocusSource(str(FOCUS_FIXTURES / name)).fetch(GOLDEN_DAY, GOLDEN_DAY, rules)
    assert result.rejected_rows.empty, name
    daily = to_daily_costs(prepare_line_items(result.line_items, rules), "focus")
    with warehouse.transaction() as conn:
        warehouse.replace_window(conn, schema.daily_costs, GOLDEN_DAY, GOLDEN_DAY, daily)


def test_exports_of_the_focus_specification_examples_conform_to_focus_1_2(focus_validator, tmp_path):
    # Each golden case in its own warehouse, exported; the exports validated as one data set.
    tables = []
    for number, (name, _) in enumerate(GOLDEN):
        warehouse = Warehouse(url=f"sqlite:///{tmp_path / f'golden-{number}.db'}")
        load_golden_case(warehouse, name)
        export = tmp_path / f"golden-{number}.parquet"
        assert export_focus_costs(warehouse, export) > 0, name
        tables.append(pq.read_table(export))
    combined = tmp_path / "golden.parquet"
    pq.write_table(pa.concat_tables(tables), combined)
    rows = pq.read_table(combined).to_pandas()
    assert set(rows["ChargeCategory"]) == {"Purchase", "Usage"}
    assert set(rows["CommitmentDiscountStatus"].dropna()) == {"Unused"}

    assert_conforms(validate(focus_validator, combined), min_passed=80)


def test_the_validator_catches_a_broken_export(focus_validator, tmp_path):
    # The checks above can fail: the same validator run flags a file that breaks FOCUS.
    broken = tmp_path / "broken.csv"
    pd.DataFrame({"BilledCost": ["a lot"], "ChargeCategory": ["Usage"], "ChargeFrequency": ["Sometimes"],
                  "PricingUnit": ["per hour!"]}).to_csv(broken, index=False)
    report = validate(focus_validator, broken)
    with pytest.raises(AssertionError, match="FAILED BilledCost") as failure:
        assert_conforms(report)
    assert "FAILED ChargeFrequency" in str(failure.value) and "skipped as not applicable" in str(failure.value)
