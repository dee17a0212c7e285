import datetime as dt

import pandas as pd
import pytest

from cost_assets.ingestion.line_items import (
    BadCostDataError,
    LINE_ITEM_COLUMNS,
    prepare_line_items,
    to_daily_costs,
    to_hourly_costs,
    totals_by_day,
)
from cost_assets.rules import load_rules


def line(**overrides):
    row = {
        "charge_period_start": "2026-03-01T00:00:00Z",
        "charge_period_end": "2026-03-02T00:00:00Z",
        "provider": "AWS",
        "account_id": "111",
        "aws_service": "Amazon EC2",
        "charge_category": "Usage",
        "team": "core",
        "service": "api",
        "customer_id": None,
        "environment": "production",
        "usage_unit": "Hrs",
        "resource_id": "",
        "billed_cost": "10.0",
        "effective_cost": "8.0",
        "usage_quantity": "5",
        "is_estimated": False,
        "row_ref": "test row",
    }
    row.update(overrides)
    return row


def frame(*rows):
    return pd.DataFrame(list(rows), columns=LINE_ITEM_COLUMNS)


def test_tag_values_are_trimmed_lowercased_aliased_and_missing_becomes_untagged():
    items = prepare_line_items(
        frame(
            line(environment=" Prod "),
            line(environment="stg", team=""),
            line(environment=None, team=None, service="  "),
        ),
        load_rules(),
    )
    assert items["environment"].tolist() == ["production", "staging", "untagged"]
    assert items["team"].tolist() == ["core", "untagged", "untagged"]
    assert items["service"].tolist() == ["api", "api", "untagged"]


def test_daily_rows_sum_line_items_of_the_same_key_and_keep_estimated():
    items = prepare_line_items(
        frame(
            line(),
            line(charge_period_start="2026-03-01T13:00:00Z", billed_cost="2.5", effective_cost="2.5", is_estimated=True),
            line(charge_period_start="2026-03-02T00:00:00Z", charge_period_end="2026-03-03T00:00:00Z"),
        ),
        load_rules(),
    )
    daily = to_daily_costs(items, "test").sort_values("date")
    assert daily["date"].tolist() == [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    assert daily["billed_cost"].tolist() == [12.5, 10.0]
    assert daily["effective_cost"].tolist() == [10.5, 8.0]
    assert daily["is_estimated"].tolist() == [True, False]
    assert totals_by_day(items)["effective_cost"].tolist() == [10.5, 8.0]


def test_charges_are_dated_by_their_utc_start_day():
    items = prepare_line_items(frame(line(charge_period_start="2026-03-01T23:30:00-05:00")), load_rules())
    assert items["date"].tolist() == [dt.date(2026, 3, 2)]


def test_only_hour_long_charges_become_hourly_rows():
    items = prepare_line_items(
        frame(
            line(charge_period_start="2026-03-01T03:00:00Z", charge_period_end="2026-03-01T04:00:00Z", environment="staging"),
            line(),
        ),
        load_rules(),
    )
    hourly = to_hourly_costs(items, "test")
    assert len(hourly) == 1
    assert hourly["hour_start"].iloc[0] == pd.Timestamp("2026-03-01 03:00:00")
    assert hourly["environment"].iloc[0] == "staging"


def test_an_amount_that_is_not_a_number_is_refused_naming_the_row():
    with pytest.raises(BadCostDataError, match=r"non-numeric effective_cost: bad row \(effective_cost='12,5'\)"):
        prepare_line_items(frame(line(), line(effective_cost="12,5", row_ref="bad row")), load_rules())


@pytest.mark.parametrize("amount", ["inf", "-inf", "1e300", "1.2e17", "1e12"])
def test_an_amount_that_is_not_finite_or_absurd_is_refused_naming_the_row(amount):
    # Cost Explorer and the demo go through here: the same bound as billing files (README "Bad input").
    with pytest.raises(BadCostDataError, match=rf"billed_cost that is not a finite amount under 10\^12 USD: bad row"):
        prepare_line_items(frame(line(), line(billed_cost=amount, row_ref="bad row")), load_rules())


def test_an_amount_just_under_the_bound_is_kept():
    items = prepare_line_items(frame(line(billed_cost="-999999999999.99")), load_rules())
    assert items["billed_cost"].tolist() == [-999999999999.99]


def test_a_tag_value_wider_than_the_warehouse_column_is_refused_naming_the_row():
    with pytest.raises(BadCostDataError, match=r"team longer than the 128 characters the warehouse holds: long row \(129 characters\)"):
        prepare_line_items(frame(line(team="t" * 129, row_ref="long row")), load_rules())
    assert prepare_line_items(frame(line(team=" " + "t" * 128 + " ")), load_rules())["team"].str.len().tolist() == [128]


def test_a_missing_usage_amount_is_zero_but_a_garbled_one_is_refused():
    items = prepare_line_items(frame(line(usage_quantity=None)), load_rules())
    assert items["usage_quantity"].tolist() == [0.0]
    with pytest.raises(BadCostDataError, match="usage_quantity"):
        prepare_line_items(frame(line(usage_quantity="n/a")), load_rules())


def test_missing_columns_are_named():
    with pytest.raises(BadCostDataError, match="effective_cost"):
        prepare_line_items(frame(line()).drop(columns=["effective_cost"]), load_rules())
