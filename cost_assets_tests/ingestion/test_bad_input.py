"""Bad billing files, on SQLite and PostgreSQL (README "Bad input").

Each case either fails the run naming the file, row or day and leaves the
warehouse as it was (it starts with good data), or quarantines the bad rows in
rejected_cost_rows and writes exactly the readable bill. Never a silent change
in totals.
"""

import datetime as dt
import json

import pandas as pd
import pytest

from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.rejected import max_unreadable_amounts
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.settings import SettingError
from cost_assets_tests.helpers import failure_message, materialize_days
from cost_assets_tests.ingestion.billing_files import (
    cur_day,
    cur_path,
    focus_day,
    focus_row,
    write_cur,
    write_focus,
)

DAY1, DAY2, DAY3 = dt.date(2026, 3, 29), dt.date(2026, 3, 30), dt.date(2026, 3, 31)
FOCUS = BillingSourceResource(source="focus")
CUR2 = BillingSourceResource(source="cur2")
TABLES = ["daily_costs", "hourly_costs", "rejected_cost_rows"]
# One focus_day() costs this much (billed, effective).
DAY_BILL = (53.85, 18.6)


def snapshot(warehouse) -> dict[str, pd.DataFrame]:
    """Every ingestion table, in a stable order."""
    frames = {}
    for name in TABLES:
        frame = warehouse.read(f"SELECT * FROM {name}")
        frames[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True) if not frame.empty else frame
    return frames


def assert_unchanged(warehouse, before: dict[str, pd.DataFrame]) -> None:
    after = snapshot(warehouse)
    for name in TABLES:
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)


def totals(warehouse) -> list[list]:
    frame = warehouse.read("SELECT date, SUM(billed_cost) AS billed, SUM(effective_cost) AS effective "
                           "FROM daily_costs GROUP BY date ORDER BY date")
    return [[str(d)[:10], round(float(b), 6), round(float(e), 6)] for d, b, e in frame.itertuples(index=False)]


def run(warehouse, uri, monkeypatch, first=DAY1, last=DAY2, billing=FOCUS):
    monkeypatch.setenv("COST_SOURCE_URI", str(uri))
    return materialize_days([billing_costs], warehouse, first, last, billing=billing, raise_on_error=False)


def load_good_bill(warehouse, folder, monkeypatch):
    monkeypatch.delenv("COST_MAX_UNREADABLE_AMOUNTS", raising=False)
    path = write_focus(folder / "good" / "focus.csv", focus_day(DAY1) + focus_day(DAY2))
    assert run(warehouse, path, monkeypatch).success
    assert totals(warehouse) == [[DAY1.isoformat(), *DAY_BILL], [DAY2.isoformat(), *DAY_BILL]]
    return warehouse, snapshot(warehouse)


@pytest.fixture
def good(warehouse, tmp_path, monkeypatch):
    """A warehouse holding the good bill of DAY1 and DAY2, and its contents."""
    return load_good_bill(warehouse, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def shared_good(module_warehouse, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return load_good_bill(module_warehouse, tmp_path_factory.mktemp("bill"), monkeypatch)


@pytest.fixture
def kept_good(shared_good, monkeypatch):
    """`good`, loaded once per module and warehouse, for the tests whose run must leave it as it
    was (each asserts so: one that changed it fails, and so do the later ones)."""
    monkeypatch.delenv("COST_MAX_UNREADABLE_AMOUNTS", raising=False)
    return shared_good


def assert_refused(result, warehouse, before, *fragments: str) -> str:
    assert not result.success
    message = failure_message(result)
    for fragment in fragments:
        assert fragment in message, message
    assert_unchanged(warehouse, before)
    return message


# --- amounts -------------------------------------------------------------------

def half_garbled(value) -> list[dict]:
    rows = focus_day(DAY1) + focus_day(DAY2)
    for row in rows[::2]:
        row["BilledCost"] = value
        row["EffectiveCost"] = value
    return rows


@pytest.mark.parametrize("value, reason", [
    ("n/a", "BilledCost 'n/a' is not a number"),
    ("NaN", "BilledCost 'NaN' is not a number"),
    (None, "BilledCost is empty"),
], ids=["n/a", "NaN", "empty"])
def test_half_garbled_amounts_fail_the_run_as_unknown_cost_not_zero(kept_good, tmp_path, monkeypatch, value, reason):
    warehouse, before = kept_good
    path = write_focus(tmp_path / "bad" / "focus.csv", half_garbled(value))

    result = run(warehouse, path, monkeypatch)

    message = assert_refused(result, warehouse, before, "8 billing row(s) have an amount that cannot be read",
                             "COST_MAX_UNREADABLE_AMOUNTS = 0", f"{path} row 1: {reason}", f"{path} row 3: ")


def test_unreadable_amounts_allowed_by_the_setting_are_quarantined_and_the_readable_bill_is_written(
        good, tmp_path, monkeypatch):
    warehouse, _ = good
    monkeypatch.setenv("COST_MAX_UNREADABLE_AMOUNTS", "8")
    rows = half_garbled("n/a")
    path = write_focus(tmp_path / "bad" / "focus.csv", rows)

    result = run(warehouse, path, monkeypatch)

    assert result.success
    readable = pd.DataFrame(rows[1::2])
    readable["date"] = readable["ChargePeriodStart"].str[:10]
    expected = readable.groupby("date")[["BilledCost", "EffectiveCost"]].sum().round(6).reset_index().values.tolist()
    assert totals(warehouse) == expected
    rejected = warehouse.read("SELECT row_number, billed_cost, effective_cost FROM rejected_cost_rows ORDER BY row_number")
    assert rejected["row_number"].tolist() == list(range(1, 17, 2))
    assert rejected["billed_cost"].isna().all() and rejected["effective_cost"].isna().all()
    metadata = result.asset_materializations_for_node("billing_costs")[0].metadata
    assert metadata["rejected_rows"].value == 8
    assert metadata["rejected_unreadable_amounts"].value == 8


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e300", "1.2e17", "1000000000000"])
def test_non_finite_and_absurd_amounts_fail_the_run_naming_file_row_column_and_value(kept_good, tmp_path, monkeypatch, value):
    warehouse, before = kept_good
    rows = focus_day(DAY1) + focus_day(DAY2)
    rows[9]["BilledCost"] = value  # billed only: the effective cost stays readable
    path = write_focus(tmp_path / "bad" / "focus.csv", rows)

    result = run(warehouse, path, monkeypatch)

    assert_refused(result, warehouse, before, f"{path} row 10: BilledCost {value!r} is not a finite amount under 10^12 USD",
                   "COST_MAX_UNREADABLE_AMOUNTS")


def test_infinite_amounts_in_parquet_fail_the_run(kept_good, tmp_path, monkeypatch):
    warehouse, before = kept_good
    rows = focus_day(DAY1) + focus_day(DAY2)
    rows[2]["EffectiveCost"] = float("-inf")
    path = write_focus(tmp_path / "bad" / "focus.parquet", rows, "map")

    result = run(warehouse, path, monkeypatch)

    assert_refused(result, warehouse, before, f"{path} row 3: EffectiveCost -inf is not a finite amount under 10^12 USD")


def test_an_absurd_amount_allowed_by_the_setting_is_quarantined_without_overflowing(good, tmp_path, monkeypatch):
    warehouse, _ = good
    monkeypatch.setenv("COST_MAX_UNREADABLE_AMOUNTS", "1")
    rows = focus_day(DAY1) + focus_day(DAY2) + [focus_row(DAY2, "1.2e17", 0.01)]
    path = write_focus(tmp_path / "bad" / "focus.csv", rows)

    result = run(warehouse, path, monkeypatch)

    assert result.success, failure_message(result)
    assert totals(warehouse) == [[DAY1.isoformat(), *DAY_BILL], [DAY2.isoformat(), *DAY_BILL]]
    rejected = warehouse.read("SELECT row_number, reason, billed_cost, effective_cost, raw FROM rejected_cost_rows")
    assert rejected["row_number"].tolist() == [17]
    assert pd.isna(rejected["billed_cost"].iloc[0]) and float(rejected["effective_cost"].iloc[0]) == 0.01
    assert json.loads(rejected["raw"].iloc[0])["BilledCost"] == "1.2e17"


# --- empty windows ---------------------------------------------------------------

def header_only(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(focus_row(DAY1, 1.0, 1.0)) + "\n")
    return path


def test_a_header_only_file_does_not_replace_days_that_hold_data(kept_good, tmp_path, monkeypatch):
    warehouse, before = kept_good
    path = header_only(tmp_path / "late" / "focus.csv")

    result = run(warehouse, path, monkeypatch)

    assert_refused(result, warehouse, before, f"COST_SOURCE_URI={path} has no billing rows for "
                   f"{DAY1.isoformat()}, {DAY2.isoformat()}", "daily_costs already holds")


def test_a_header_only_file_on_days_without_data_writes_nothing(warehouse, tmp_path, monkeypatch):
    path = header_only(tmp_path / "late" / "focus.csv")

    result = run(warehouse, path, monkeypatch)

    assert result.success, failure_message(result)
    assert totals(warehouse) == []
    metadata = result.asset_materializations_for_node("billing_costs")[0].metadata
    assert metadata["days_without_billing_rows"].value == f"{DAY1.isoformat()}, {DAY2.isoformat()}"


def test_a_late_day_is_not_replaced_with_nothing(kept_good, tmp_path, monkeypatch):
    warehouse, before = kept_good
    path = write_focus(tmp_path / "late" / "focus.csv", focus_day(DAY1))  # DAY2's rows are not there yet

    result = run(warehouse, path, monkeypatch)

    assert_refused(result, warehouse, before, f"has no billing rows for {DAY2.isoformat()},", "probably late")


def test_a_window_without_rows_or_data_succeeds_and_changes_nothing(kept_good, tmp_path, monkeypatch):
    warehouse, before = kept_good
    path = write_focus(tmp_path / "good2" / "focus.csv", focus_day(DAY1) + focus_day(DAY2))

    result = run(warehouse, path, monkeypatch, DAY3, DAY3)

    assert result.success, failure_message(result)
    assert_unchanged(warehouse, before)


@pytest.mark.parametrize("invoice, replaced", [("INV-1", True), (None, False)], ids=["invoiced", "estimated"])
def test_an_invoiced_cur2_period_may_empty_a_day_an_estimated_one_may_not(warehouse, tmp_path, monkeypatch, invoice, replaced):
    path = cur_path(tmp_path, "2026-03")
    write_cur(path, cur_day(DAY1, invoice=invoice) + cur_day(DAY2, invoice=invoice))
    assert run(warehouse, tmp_path, monkeypatch, billing=CUR2).success
    before = snapshot(warehouse)
    write_cur(path, cur_day(DAY1, invoice=invoice))  # the period's export, rewritten without DAY2

    result = run(warehouse, tmp_path, monkeypatch, billing=CUR2)

    if replaced:
        assert result.success, failure_message(result)
        assert [day for day, *_ in totals(warehouse)] == [DAY1.isoformat()]
    else:
        assert_refused(result, warehouse, before, f"has no billing rows for {DAY2.isoformat()},")


# --- deliveries ------------------------------------------------------------------

def test_the_same_file_twice_in_one_folder_is_refused_naming_both(kept_good, tmp_path, monkeypatch):
    warehouse, before = kept_good
    rows = focus_day(DAY1) + focus_day(DAY2)
    first = write_focus(tmp_path / "bill" / "focus.csv", rows)
    copy = write_focus(tmp_path / "bill" / "focus-copy.csv", rows)

    result = run(warehouse, tmp_path / "bill", monkeypatch)

    assert_refused(result, warehouse, before, f"{copy} and {first} hold the same 16 billing rows")


def test_the_same_file_in_two_folders_is_refused_naming_both_files(kept_good, tmp_path, monkeypatch):
    warehouse, before = kept_good
    rows = focus_day(DAY1) + focus_day(DAY2)
    first = write_focus(tmp_path / "bill" / "march" / "focus.csv", rows)
    copy = write_focus(tmp_path / "bill" / "march-again" / "focus.csv", rows)

    result = run(warehouse, tmp_path / "bill", monkeypatch)

    assert_refused(result, warehouse, before, "comes from 2 overlapping deliveries",
                   f"{copy} and {first} hold the same 16 billing rows")  # march-again/ sorts first


def with_line_item_ids(rows: list[dict], prefix: str) -> list[dict]:
    for number, row in enumerate(rows):
        row["identity_line_item_id"] = f"{prefix}{number:04d}"
        row["identity_time_interval"] = f"{row['line_item_usage_start_date']}/{row['line_item_usage_end_date']}"
    return rows


def test_cur2_rows_delivered_twice_with_the_same_line_item_ids_are_refused(warehouse, tmp_path, monkeypatch):
    rows = with_line_item_ids(cur_day(DAY1) + cur_day(DAY2), "li-")
    parquet = write_cur(cur_path(tmp_path, "2026-03"), rows)
    assert run(warehouse, tmp_path, monkeypatch, billing=CUR2).success
    before = snapshot(warehouse)
    # The same rows again, as gzip CSV beside the Parquet file: different bytes, same line items.
    csv = write_cur(cur_path(tmp_path, "2026-03", "csv", name="costs-00002"), rows[:5], "json")

    result = run(warehouse, tmp_path, monkeypatch, billing=CUR2)

    assert_refused(result, warehouse, before, f"{parquet} and {csv} share 5 line item(s) (identity_line_item_id")


def test_cur2_part_files_of_one_delivery_are_not_duplicates(warehouse, tmp_path, monkeypatch):
    write_cur(cur_path(tmp_path, "2026-03", name="costs-00001"), with_line_item_ids(cur_day(DAY1), "a-"))
    write_cur(cur_path(tmp_path, "2026-03", name="costs-00002"), with_line_item_ids(cur_day(DAY2), "b-"))
    result = run(warehouse, tmp_path, monkeypatch, billing=CUR2)
    assert result.success, failure_message(result)
    assert len(totals(warehouse)) == 2


def test_header_only_files_beside_a_good_file_are_not_duplicates(warehouse, tmp_path, monkeypatch):
    write_focus(tmp_path / "bill" / "focus.csv", focus_day(DAY1) + focus_day(DAY2))
    header_only(tmp_path / "bill" / "empty-1.csv")
    header_only(tmp_path / "bill" / "empty-2.csv")
    result = run(warehouse, tmp_path / "bill", monkeypatch)
    assert result.success, failure_message(result)
    assert totals(warehouse) == [[DAY1.isoformat(), *DAY_BILL], [DAY2.isoformat(), *DAY_BILL]]


# --- tags ------------------------------------------------------------------------

@pytest.mark.parametrize("tags, column, width", [
    ({"team": "x" * 10_000}, "Tags team", 128),
    ({"team": "payments", "env": "e" * 65}, "Tags environment", 64),
], ids=["team-10000", "environment-65"])
def test_a_tag_value_wider_than_its_column_is_a_rejected_row(good, tmp_path, monkeypatch, tags, column, width):
    warehouse, _ = good
    rows = focus_day(DAY1) + focus_day(DAY2) + [focus_row(DAY2, 0.05, 0.05, tags=tags)]
    path = write_focus(tmp_path / "bad" / "focus.csv", rows)

    result = run(warehouse, path, monkeypatch)

    assert result.success, failure_message(result)
    assert totals(warehouse) == [[DAY1.isoformat(), *DAY_BILL], [DAY2.isoformat(), *DAY_BILL]]
    rejected = warehouse.read("SELECT file, row_number, reason, billed_cost FROM rejected_cost_rows")
    assert rejected[["file", "row_number"]].values.tolist() == [[str(path), 17]]
    length = len(max(tags.values(), key=len))
    assert rejected["reason"].iloc[0] == f"{column} is {length} characters long; the warehouse holds at most {width}"
    assert float(rejected["billed_cost"].iloc[0]) == 0.05


# --- rejected rows without a day -------------------------------------------------

def test_a_rejected_row_without_a_day_or_period_is_stored_once_over_three_runs(warehouse, tmp_path, monkeypatch):
    rows = focus_day(DAY1) + focus_day(DAY2) + focus_day(DAY3) + [focus_row(DAY2, 0.05, 0.05)]
    rows[-1]["ChargePeriodStart"] = "sometime in March"
    for row in rows:
        del row["BillingPeriodStart"]  # nothing says which period the bad row belongs to
    path = write_focus(tmp_path / "bill" / "focus.csv", rows)

    for day in (DAY1, DAY2, DAY3):
        assert run(warehouse, path, monkeypatch, day, day).success

    rejected = warehouse.read("SELECT date, row_number FROM rejected_cost_rows")
    assert rejected["row_number"].tolist() == [len(rows)]
    assert str(rejected["date"].iloc[0])[:10] == DAY1.isoformat()  # where the first run put it
    assert totals(warehouse) == [[day.isoformat(), *DAY_BILL] for day in (DAY1, DAY2, DAY3)]


def test_a_negative_unreadable_amount_limit_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("COST_MAX_UNREADABLE_AMOUNTS", "-1")
    with pytest.raises(SettingError, match="COST_MAX_UNREADABLE_AMOUNTS='-1' must be at least 0"):
        max_unreadable_amounts()
