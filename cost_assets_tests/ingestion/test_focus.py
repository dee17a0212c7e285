"""The `focus` source: the FOCUS 1.2 specification's example data sets (golden),
and FOCUS files the tests write, locally and in moto's S3."""

import datetime as dt
import json

import pandas as pd
import pytest

from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.checks import total_mismatches
from cost_assets.ingestion.line_items import BadCostDataError, prepare_line_items, to_daily_costs, totals_by_day
from cost_assets.ingestion.sources import get_source
from cost_assets.ingestion.sources.files import BillingFileError
from cost_assets.ingestion.sources.focus import FocusSource
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.rules import load_rules
from cost_assets.settings import SettingError
from cost_assets_tests.helpers import failure_message, materialize_days
from cost_assets_tests.ingestion.billing_files import (  # noqa: F401 - fixtures
    FOCUS_FIXTURES,
    GOLDEN,
    GOLDEN_DAY,
    focus_day,
    focus_row,
    moto_endpoint,
    s3_bucket,
    upload_tree,
    write_focus,
)

SPEC_DAY = GOLDEN_DAY
DAY1, DAY2 = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
FOCUS = BillingSourceResource(source="focus")


def fetch_daily(uri: str, first: dt.date, last: dt.date):
    """The focus source's rows as daily_costs would hold them, the source result, and
    the reconciliation of those rows with the source's own day totals."""
    rules = load_rules()
    result = FocusSource(uri).fetch(first, last, rules)
    daily = to_daily_costs(prepare_line_items(result.line_items, rules), "focus")
    mismatches = total_mismatches(totals_by_day(daily), result.day_totals)
    return daily, result, mismatches


@pytest.mark.parametrize("name, expected", GOLDEN, ids=[g[0].split("/")[1].removesuffix(".csv") for g in GOLDEN])
def test_focus_specification_examples_keep_billed_and_effective_cost_apart(name, expected):
    daily, result, mismatches = fetch_daily(str(FOCUS_FIXTURES / name), SPEC_DAY, SPEC_DAY)
    by_category = daily.groupby("charge_category")[["billed_cost", "effective_cost"]].sum().round(6)
    assert {c: tuple(v) for c, v in by_category.iterrows()} == expected
    assert result.rejected_rows.empty and mismatches.empty


def test_the_specification_example_with_a_malformed_timestamp_has_that_row_rejected():
    # The spec's own purchase scenario 2 ends its third row at hour 30.
    name = "commitment_discount_scenarios/commitment_discount_purchase_scenario_2.csv"
    daily, result, mismatches = fetch_daily(str(FOCUS_FIXTURES / name), SPEC_DAY, SPEC_DAY)
    assert daily[["charge_category", "billed_cost", "effective_cost"]].values.tolist() == [["Purchase", 2.0, 0.0]]
    rejected = result.rejected_rows
    assert rejected[["date", "row_number", "billed_cost", "effective_cost"]].values.tolist() == [[SPEC_DAY, 3, 1.0, 0.0]]
    assert rejected["reason"].iloc[0] == "ChargePeriodEnd '2023-02-01T30:00:00Z' is not an ISO 8601 timestamp"
    assert rejected["file"].iloc[0].endswith("commitment_discount_purchase_scenario_2.csv")
    assert mismatches.empty


@pytest.mark.parametrize("name, tags_as", [("focus.csv", "json"), ("focus.csv.gz", "json"),
                                           ("focus.parquet", "map"), ("focus.parquet", "json")])
def test_focus_files_land_per_day_tagged_and_reconciled(sqlite_warehouse, tmp_path, monkeypatch, name, tags_as):
    write_focus(tmp_path / "2026-03" / name, focus_day(DAY1, 0) + focus_day(DAY2, 1)
                + [focus_row(DAY2 + dt.timedelta(days=1), 99.0, 99.0)], tags_as)
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path / "**" / "focus.*"))

    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY2, billing=FOCUS)

    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["daily_costs_match_source_totals"] and checks["daily_costs_unique_keys"]
    daily = sqlite_warehouse.read(
        "SELECT date, charge_category, SUM(billed_cost) AS billed, SUM(effective_cost) AS effective "
        "FROM daily_costs GROUP BY date, charge_category ORDER BY date, charge_category")
    per_day = [["Purchase", 40.0, 0.0], ["Tax", 1.1, 1.1], ["UnusedCommitment", 0.0, 1.25], ["Usage", 12.75, 16.25]]
    assert daily.drop(columns="date").round(6).values.tolist() == per_day * 2
    tags = sqlite_warehouse.read("SELECT DISTINCT date, provider, account_id, team, service, customer_id, environment "
                                 "FROM daily_costs WHERE charge_category = 'Usage' ORDER BY date, provider")
    assert tags.drop(columns="date").values.tolist() == [
        ["Google Cloud", "proj-search-prod", "payments", "untagged", "cust-001", "production"],
        ["Microsoft", "sub-7f3a91", "payments", "untagged", "cust-001", "production"],
        ["Google Cloud", "proj-search-prod", "search", "api", "untagged", "untagged"],
        ["Microsoft", "sub-7f3a91", "search", "api", "untagged", "untagged"],
    ]
    hourly = sqlite_warehouse.read("SELECT COUNT(*) AS n, SUM(effective_cost) AS cost FROM hourly_costs")
    assert hourly.values.tolist() == [[6, 1.5]]


def test_focus_parquet_from_moto_s3(sqlite_warehouse, tmp_path, monkeypatch, s3_bucket):
    client, bucket = s3_bucket
    write_focus(tmp_path / "focus" / "data" / "BILLING_PERIOD=2026-03" / "part-00001.parquet", focus_day(DAY1), "map")
    upload_tree(client, bucket, tmp_path, "exports")
    monkeypatch.setenv("COST_SOURCE_URI", f"s3://{bucket}/exports/focus")

    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=FOCUS)

    assert result.success
    totals = sqlite_warehouse.read("SELECT SUM(billed_cost) AS billed, SUM(effective_cost) AS effective FROM daily_costs")
    assert totals.round(6).values.tolist() == [[53.85, 18.6]]
    metadata = result.asset_materializations_for_node("billing_costs")[0].metadata
    assert metadata["files_read"].value == 1 and metadata["billing_periods"].value == "2026-03"


def test_rejected_rows_over_the_threshold_fail_the_run_and_write_nothing(sqlite_warehouse, tmp_path, monkeypatch):
    good = tmp_path / "good.csv"
    write_focus(good, focus_day(DAY1))
    monkeypatch.setenv("COST_SOURCE_URI", str(good))
    assert materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=FOCUS).success
    before = sqlite_warehouse.read("SELECT * FROM daily_costs ORDER BY charge_category, provider, usage_unit")

    rows = focus_day(DAY1)
    rows[0]["Tags"] = "{team: payments"  # not JSON: the row's $12 cannot be tagged
    rows[3]["BilledCost"] = "forty"
    bad = write_focus(tmp_path / "bad.csv", rows)
    monkeypatch.setenv("COST_SOURCE_URI", str(bad))
    monkeypatch.setenv("COST_MAX_UNREADABLE_AMOUNTS", "1")  # the share check is tested here
    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=FOCUS, raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    # $12 of $18.60 readable: the garbled purchase amount cannot be weighed
    assert "2 billing row(s) could not be parsed and carry 64.52% of the cost" in message
    assert "checks.rejected_cost_share_max = 1.00%" in message
    assert f"{bad} row 1: Tags is not valid JSON: '{{team: payments'" in message
    assert f"{bad} row 4: BilledCost 'forty' is not a number" in message
    pd.testing.assert_frame_equal(
        sqlite_warehouse.read("SELECT * FROM daily_costs ORDER BY charge_category, provider, usage_unit"), before)
    assert sqlite_warehouse.read("SELECT COUNT(*) AS n FROM rejected_cost_rows")["n"].iloc[0] == 0


def test_rejected_rows_under_a_raised_threshold_are_stored(warehouse, tmp_path, monkeypatch):
    rules = tmp_path / "rules.yaml"
    rules.write_text("checks:\n  rejected_cost_share_max: 0.5\n")
    monkeypatch.setenv("COST_ALLOCATION_RULES", str(rules))
    rows = focus_day(DAY1)
    rows[3]["BilledCost"] = "forty"
    monkeypatch.setenv("COST_SOURCE_URI", str(write_focus(tmp_path / "bad.csv", rows)))
    monkeypatch.setenv("COST_MAX_UNREADABLE_AMOUNTS", "1")

    result = materialize_days([billing_costs], warehouse, DAY1, DAY1, billing=FOCUS)

    assert result.success
    rejected = warehouse.read("SELECT date, row_number, reason, billed_cost, effective_cost, raw FROM rejected_cost_rows")
    assert len(rejected) == 1
    row = rejected.iloc[0]
    assert (str(row["date"])[:10], row["row_number"], row["reason"]) == (DAY1.isoformat(), 4, "BilledCost 'forty' is not a number")
    assert pd.isna(row["billed_cost"]) and row["effective_cost"] == 0.0
    assert json.loads(row["raw"])["BilledCost"] == "forty"
    metadata = result.asset_materializations_for_node("billing_costs")[0].metadata
    assert metadata["rejected_rows"].value == 1
    assert metadata["rejected_cost_share"].value == 0.0  # its only readable amount is an effective cost of 0


def test_a_focus_file_missing_a_required_column_is_refused_naming_file_and_column(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "EffectiveCost"} for row in focus_day(DAY1)]
    path = write_focus(tmp_path / "focus.parquet", rows)
    with pytest.raises(BadCostDataError, match=f"{path} lacks the required column\\(s\\) EffectiveCost"):
        FocusSource(str(tmp_path)).fetch(DAY1, DAY1, load_rules())


def test_a_billing_currency_other_than_usd_is_refused(tmp_path):
    write_focus(tmp_path / "focus.csv", [focus_row(DAY1, 1.0, 1.0, currency="EUR")])
    with pytest.raises(BadCostDataError, match="is billed in EUR; the warehouse holds USD only"):
        FocusSource(str(tmp_path)).fetch(DAY1, DAY1, load_rules())


def test_overlapping_focus_files_for_one_billing_period_are_refused(tmp_path):
    write_focus(tmp_path / "march" / "focus.csv", focus_day(DAY1))
    write_focus(tmp_path / "march-copy" / "focus.csv", focus_day(DAY1))
    write_focus(tmp_path / "gcp" / "focus.csv", [focus_row(DAY1, 1.0, 1.0, provider="Google Cloud", billing_account="gcp-ba")])
    with pytest.raises(BadCostDataError) as error:
        FocusSource(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
    message = str(error.value)
    assert "billing period 2026-03 of Google Cloud ba-contoso comes from 2 overlapping deliveries" in message
    assert f"{tmp_path / 'march'}, {tmp_path / 'march-copy'};" in message  # the GCP-only folder is no overlap


def test_the_focus_source_needs_cost_source_uri_and_names_a_missing_path(tmp_path, monkeypatch):
    monkeypatch.delenv("COST_SOURCE_URI", raising=False)
    with pytest.raises(SettingError, match="COST_SOURCE=focus needs COST_SOURCE_URI"):
        get_source("focus")
    with pytest.raises(BillingFileError, match=f"COST_SOURCE_URI='{tmp_path / 'nowhere'}': no such file or folder"):
        FocusSource(str(tmp_path / "nowhere")).fetch(DAY1, DAY1, load_rules())


def test_focus_invoice_ids_are_kept_and_one_too_long_is_a_rejected_row(tmp_path):
    rows = [{**row, "InvoiceId": "G0123456789"} for row in focus_day(DAY1)]
    rows += [{**focus_row(DAY1, 2.0, 2.0), "InvoiceId": None},         # not invoiced yet
             {**focus_row(DAY1, 0.5, 0.5), "InvoiceId": "I" * 129}]    # wider than the warehouse holds
    path = write_focus(tmp_path / "bill" / "focus.csv", rows)

    daily, result, mismatches = fetch_daily(str(path), DAY1, DAY1)

    assert mismatches.empty
    on_invoice = daily.groupby("invoice_id")["billed_cost"].sum().round(6).to_dict()
    assert on_invoice == {"": 2.0, "G0123456789": round(sum(r["BilledCost"] for r in focus_day(DAY1)), 6)}
    assert result.rejected_rows["reason"].tolist() == ["InvoiceId is 129 characters long; the warehouse holds at most 128"]
