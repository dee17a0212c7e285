"""The `focus_costs` view and its CSV export, checked by the FinOps Foundation's focus-validator."""

import datetime as dt
import json

import pandas as pd
import pytest

from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.focus_export import VALIDATOR_1_0_ALIASES, export_focus_costs, read_focus_costs
from cost_assets.resources.billing import BillingSourceResource
from cost_assets.resources.focus_costs import FOCUS_1_2_MANDATORY
from cost_assets_tests.helpers import materialize_days
from cost_assets_tests.ingestion.billing_files import cur_day, cur_path, focus_day, write_cur, write_focus
from cost_assets_tests.ingestion.focus_validator import SKIPPED_RULES, focus_validator, validate  # noqa: F401

DAY1, DAY2 = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
FOCUS_CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}


@pytest.fixture
def mixed_warehouse(warehouse, tmp_path, monkeypatch):
    """DAY1 from a multi-cloud FOCUS file, DAY2 from CUR 2.0 with every line item type."""
    monkeypatch.setenv("COST_SOURCE_URI", str(write_focus(tmp_path / "focus" / "focus.csv", focus_day(DAY1))))
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


def test_the_focus_export_passes_the_finops_foundation_validator(mixed_warehouse, focus_validator, tmp_path):
    export = tmp_path / "focus_costs.csv"
    rows = export_focus_costs(mixed_warehouse, export, DAY1, DAY2)
    written = pd.read_csv(export)
    assert rows == len(written) > 10
    assert set(FOCUS_1_2_MANDATORY) <= set(written.columns)
    assert set(VALIDATOR_1_0_ALIASES) <= set(written.columns)

    report = validate(focus_validator, export, tmp_path)

    problems = {rule: report.messages[rule] for rule in report.rules("failed") | report.rules("errored")}
    assert not problems, f"focus-validator failed rules: {problems}\n{report.output}"
    assert report.rules("skipped") == SKIPPED_RULES
    assert len(report.rules("passed")) > 100


def test_the_validator_catches_a_broken_export(focus_validator, tmp_path):
    # The check above can fail: the same validator run flags a file that breaks FOCUS.
    broken = tmp_path / "broken.csv"
    pd.DataFrame({"BilledCost": ["a lot"], "ChargeCategory": ["Usage"], "ChargeFrequency": ["Sometimes"]}).to_csv(broken, index=False)
    report = validate(focus_validator, broken, tmp_path)
    assert {"BilledCost_IsDecimal", "ChargeFrequency_Enum", "EffectiveCost_Required"} <= report.rules("failed")
