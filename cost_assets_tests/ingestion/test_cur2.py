"""The `cur2` source: AWS Data Exports CUR 2.0 files the tests write, locally and in moto's S3."""

import datetime as dt

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cost_assets.ingestion import rejected as rejected_module
from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.line_items import BadCostDataError
from cost_assets.ingestion.sources import files as files_module
from cost_assets.ingestion.sources.cur2 import Cur2Source, parse_cur2
from cost_assets.ingestion.sources.files import BillingFileError
from cost_assets.ingestion.sources.tags import no_tags
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.rules import load_rules
from cost_assets_tests.helpers import failure_message, materialize_days
from cost_assets_tests.ingestion.billing_files import (  # noqa: F401 - fixtures
    CUR_TYPES,
    cur_day,
    cur_path,
    cur_row,
    moto_endpoint,
    s3_bucket,
    upload_tree,
    write_cur,
)

DAY1, DAY2 = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
CUR2 = BillingSourceResource(source="cur2")
EXPECTED_BILLED = sum(unblended for _, unblended, _, _ in CUR_TYPES)
EXPECTED_EFFECTIVE = sum(effective for *_, effective in CUR_TYPES)


def daily_by_category(warehouse, day=None) -> pd.DataFrame:
    where = f"WHERE date = '{day.isoformat()}'" if day else ""
    frame = warehouse.read(
        f"SELECT charge_category, SUM(billed_cost) AS billed, SUM(effective_cost) AS effective "
        f"FROM daily_costs {where} GROUP BY charge_category ORDER BY charge_category"
    )
    return frame.set_index("charge_category").round(6)


def test_every_line_item_type_is_amortized_as_the_issue_table_says():
    raw = pd.DataFrame(cur_day(DAY1))
    raw = raw.drop(columns=["resource_tags"])
    parsed = parse_cur2(raw, no_tags(len(raw)))
    assert parsed["reason"].isna().all(), parsed["reason"].tolist()
    effective = dict(zip(parsed["charge_category"], parsed["effective_cost"]))
    assert effective == pytest.approx({kind: expected for kind, _, _, expected in CUR_TYPES})
    # billed_cost stays unblended for every type
    assert dict(zip(parsed["charge_category"], parsed["billed_cost"])) == {kind: unblended for kind, unblended, _, _ in CUR_TYPES}


def test_a_missing_amortization_input_rejects_the_row_naming_the_column():
    row = cur_row(DAY1, "SavingsPlanCoveredUsage", 8.0)  # no savings_plan_savings_plan_effective_cost
    raw = pd.DataFrame([row]).drop(columns=["resource_tags"])
    parsed = parse_cur2(raw, no_tags(1))
    assert parsed["reason"].iloc[0] == "savings_plan_savings_plan_effective_cost is empty (needed for SavingsPlanCoveredUsage)"


@pytest.mark.parametrize("fmt, tags_as", [("parquet", "map"), ("parquet", "json"), ("csv.gz", "json")])
def test_cur2_files_land_per_day_amortized_tagged_and_reconciled(sqlite_warehouse, tmp_path, monkeypatch, fmt, tags_as):
    tags = [{"user_team": "Payments", "user_environment": "prod"}, {"user:team": "search", "user_service": "api"}]
    rows = cur_day(DAY1, tags=tags[0]) + cur_day(DAY2, tags=tags[1])
    # hourly rows feed hourly_costs; a row from the next day stays out of the window
    rows += [cur_row(DAY2, "Usage", 0.5, hour=h, resource="i-hourly", tags=tags[1]) for h in (0, 1)]
    rows += [cur_row(DAY2 + dt.timedelta(days=1), "Usage", 99.0)]
    write_cur(cur_path(tmp_path, "2026-03", fmt), rows[:15], tags_as)
    write_cur(cur_path(tmp_path, "2026-03", fmt, name="costs-00002"), rows[15:], tags_as)
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path))

    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY2, billing=CUR2)

    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["daily_costs_match_source_totals"] and checks["daily_costs_unique_keys"]
    for day in (DAY1, DAY2):
        by_category = daily_by_category(sqlite_warehouse, day)
        extra = 1.0 if day == DAY2 else 0.0
        assert by_category["billed"].sum() == pytest.approx(EXPECTED_BILLED + extra)
        assert by_category["effective"].sum() == pytest.approx(EXPECTED_EFFECTIVE + extra)
        # unused commitment, credits, refunds and tax keep their own charge category
        assert by_category.loc["RIFee", "effective"] == pytest.approx(4.0)
        assert by_category.loc["SavingsPlanRecurringFee", "effective"] == pytest.approx(4.0)
        assert by_category.loc["Credit", "billed"] == pytest.approx(-5.0)
        assert by_category.loc["Refund", "billed"] == pytest.approx(-2.0)
        assert by_category.loc["Tax", "effective"] == pytest.approx(1.2)
    tagged = sqlite_warehouse.read("SELECT date, team, service, environment, account_id, aws_service, is_estimated FROM daily_costs")
    assert set(tagged.loc[tagged["date"] == DAY1.isoformat(), "team"]) == {"payments"}
    assert set(tagged.loc[tagged["date"] == DAY1.isoformat(), "environment"]) == {"production"}
    assert set(tagged.loc[tagged["date"] == DAY2.isoformat(), "team"]) == {"search"}
    assert set(tagged.loc[tagged["date"] == DAY2.isoformat(), "service"]) == {"api"}
    assert set(tagged["account_id"]) == {"111122223333"} and set(tagged["aws_service"]) == {"AmazonEC2"}
    assert not tagged["is_estimated"].astype(bool).any()
    hourly = sqlite_warehouse.read("SELECT hour_start, resource_id, effective_cost FROM hourly_costs ORDER BY hour_start")
    assert hourly["resource_id"].tolist() == ["i-hourly", "i-hourly"]
    assert hourly["effective_cost"].tolist() == [0.5, 0.5]
    materialization = result.asset_materializations_for_node("billing_costs")[0]
    assert materialization.metadata["rows_read"].value == len(rows)
    assert materialization.metadata["rejected_rows"].value == 0


@pytest.mark.parametrize("fmt, tags_as", [("parquet", "map"), ("csv.gz", "json")])
def test_cur2_from_moto_s3(sqlite_warehouse, tmp_path, monkeypatch, s3_bucket, fmt, tags_as):
    client, bucket = s3_bucket
    rows = cur_day(DAY1, tags={"user_team": "payments"}, invoice=None)
    write_cur(cur_path(tmp_path, "2026-03", fmt), rows, tags_as)
    upload_tree(client, bucket, tmp_path, "exports")
    monkeypatch.setenv("COST_SOURCE_URI", f"s3://{bucket}/exports")

    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=CUR2)

    assert result.success
    totals = daily_by_category(sqlite_warehouse)
    assert totals["billed"].sum() == pytest.approx(EXPECTED_BILLED)
    assert totals["effective"].sum() == pytest.approx(EXPECTED_EFFECTIVE)
    # a blank bill_invoice_id means AWS has not invoiced the month yet
    flags = sqlite_warehouse.read("SELECT DISTINCT is_estimated, team FROM daily_costs")
    assert flags["is_estimated"].astype(bool).tolist() == [True] and flags["team"].tolist() == ["payments"]


def test_a_run_reads_each_billing_period_file_once_and_only_periods_in_the_window(tmp_path, monkeypatch):
    for period, day in [("2026-02", dt.date(2026, 2, 27)), ("2026-03", DAY1), ("2026-04", dt.date(2026, 4, 1))]:
        write_cur(cur_path(tmp_path, period), cur_day(day))
    reads = []
    original = files_module.read_batches
    monkeypatch.setattr(
        "cost_assets.ingestion.sources.billing_files.read_batches",
        lambda file, *args, **kwargs: (reads.append(file.uri), original(file, *args, **kwargs))[1],
    )
    result = Cur2Source(str(tmp_path)).fetch(dt.date(2026, 3, 28), DAY2, load_rules())
    assert [uri.split("BILLING_PERIOD=")[1][:7] for uri in reads] == ["2026-03"]
    assert result.metadata["files_outside_window"] == 2
    assert sorted(result.day_totals["date"]) == [DAY1]


def test_parquet_row_groups_outside_the_window_are_skipped(tmp_path):
    path = cur_path(tmp_path, "2026-03")
    days = [cur_day(DAY1 - dt.timedelta(days=1)), cur_day(DAY1), cur_day(DAY2)]
    write_cur(path, [row for day in days for row in day])
    # rewrite as one row group per day, as a month file holds them
    table = pq.read_table(path)
    pq.write_table(table, path, row_group_size=len(CUR_TYPES))
    result = Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
    assert result.metadata["rows_read"] == len(CUR_TYPES)
    assert result.day_totals["billed_cost"].sum() == pytest.approx(EXPECTED_BILLED)


def test_a_file_missing_a_required_column_is_refused_naming_file_and_column(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "line_item_unblended_cost"} for row in cur_day(DAY1)]
    path = write_cur(cur_path(tmp_path, "2026-03", "csv.gz"), rows)
    with pytest.raises(BadCostDataError) as error:
        Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
    assert str(path) in str(error.value) and "line_item_unblended_cost" in str(error.value)


def test_more_than_one_currency_is_refused(tmp_path):
    write_cur(cur_path(tmp_path, "2026-03"), cur_day(DAY1) + [cur_row(DAY1, "Usage", 1.0, currency="EUR")])
    with pytest.raises(BadCostDataError, match="mix currencies: EUR .*, USD"):
        Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())


def test_overlapping_deliveries_of_a_billing_period_are_refused(tmp_path):
    # "create new file" exports keep each refresh: two deliveries of March would double it
    write_cur(cur_path(tmp_path, "2026-03", delivery="20260330T0100"), cur_day(DAY1))
    write_cur(cur_path(tmp_path, "2026-03", delivery="20260331T0100"), cur_day(DAY1))
    with pytest.raises(BadCostDataError) as error:
        Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
    message = str(error.value)
    assert "billing period 2026-03 of AWS 999988887777 comes from 2 overlapping deliveries" in message
    assert "20260330T0100" in message and "20260331T0100" in message


def test_two_payer_accounts_in_one_period_are_not_an_overlap(tmp_path):
    write_cur(cur_path(tmp_path, "2026-03", export="org-a"), cur_day(DAY1, payer="111111111111"))
    write_cur(cur_path(tmp_path, "2026-03", export="org-b"), cur_day(DAY1, payer="222222222222"))
    result = Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
    assert result.day_totals["billed_cost"].sum() == pytest.approx(2 * EXPECTED_BILLED)


def test_unparseable_rows_are_kept_in_rejected_cost_rows_and_counted(sqlite_warehouse, tmp_path, monkeypatch):
    rows = cur_day(DAY1) * 40  # enough cost that one bad row stays under the 1% default
    rows.append(cur_row(DAY1, "Usage", "12,50 USD", amount=2.0))
    write_cur(cur_path(tmp_path, "2026-03", "csv.gz"), rows, "json")
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path))
    monkeypatch.setenv("COST_MAX_UNREADABLE_AMOUNTS", "1")  # its amount is unknown: accepted only when allowed

    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=CUR2)

    assert result.success
    rejected = sqlite_warehouse.read("SELECT * FROM rejected_cost_rows")
    assert rejected[["date", "row_number", "source"]].values.tolist() == [[DAY1.isoformat(), len(rows), "cur2"]]
    assert rejected["reason"].iloc[0] == "line_item_unblended_cost '12,50 USD' is not a number"
    assert rejected["file"].iloc[0].endswith("BILLING_PERIOD=2026-03/costs-00001.csv.gz")
    assert '"line_item_unblended_cost": "12,50 USD"' in rejected["raw"].iloc[0]  # kept as read
    metadata = result.asset_materializations_for_node("billing_costs")[0].metadata
    assert metadata["rejected_rows"].value == 1
    assert daily_by_category(sqlite_warehouse)["billed"].sum() == pytest.approx(40 * EXPECTED_BILLED)


def test_a_row_without_a_readable_day_is_stored_on_its_billing_period_and_weighed_by_every_window(tmp_path):
    rows = cur_day(DAY1)
    rows.append(cur_row(DAY1, "Usage", 500.0))
    rows[-1]["line_item_usage_start_date"] = "2026-03-30 lunchtime"
    write_cur(cur_path(tmp_path, "2026-03", "csv.gz"), rows, "json")
    result = Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
    rejected = result.rejected_rows
    assert rejected[["date", "row_number"]].values.tolist() == [[dt.date(2026, 3, 1), len(rows)]]
    assert rejected["reason"].iloc[0] == "line_item_usage_start_date '2026-03-30 lunchtime' is not an ISO 8601 timestamp"
    assert rejected_module.in_window(rejected, DAY1, DAY1).empty  # stored by the run that covers March 1 ...
    items = pd.DataFrame({"billed_cost": [EXPECTED_BILLED], "effective_cost": [EXPECTED_EFFECTIVE]})
    with pytest.raises(rejected_module.RejectedCostShareError, match=r"1 billing row\(s\) could not be parsed and carry 31\.19% of the cost"):
        rejected_module.check_share(rejected, items, 0.01, "rules.yaml")  # ... and weighed by this one


def test_s3_object_vanishing_mid_read_fails_naming_the_key_and_keeps_previous_data(
        sqlite_warehouse, tmp_path, monkeypatch, s3_bucket):
    client, bucket = s3_bucket
    write_cur(cur_path(tmp_path, "2026-03"), cur_day(DAY1))
    upload_tree(client, bucket, tmp_path, "exports")
    monkeypatch.setenv("COST_SOURCE_URI", f"s3://{bucket}/exports")
    assert materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=CUR2).success
    before = sqlite_warehouse.read("SELECT * FROM daily_costs ORDER BY charge_category")

    # Delete the object right after the source's first ranged GET of it (its footer).
    key = "exports/costs/data/BILLING_PERIOD=2026-03/costs-00001.snappy.parquet"
    real_client = files_module.s3_client

    def vanishing_client():
        source_client = real_client()
        deleted = []

        def delete_after_first_get(**kwargs):
            if not deleted:
                deleted.append(True)
                client.delete_object(Bucket=bucket, Key=key)

        source_client.meta.events.register("after-call.s3.GetObject", delete_after_first_get)
        return source_client

    monkeypatch.setattr("cost_assets.ingestion.sources.billing_files.s3_client", vanishing_client)
    result = materialize_days([billing_costs], sqlite_warehouse, DAY1, DAY1, billing=CUR2, raise_on_error=False)

    assert not result.success
    assert f"s3://{bucket}/{key} vanished while it was being read" in failure_message(result)
    pd.testing.assert_frame_equal(sqlite_warehouse.read("SELECT * FROM daily_costs ORDER BY charge_category"), before)


def test_an_unreadable_s3_object_fails_naming_the_key(tmp_path, monkeypatch, s3_bucket):
    client, bucket = s3_bucket
    key = "exports/costs/data/BILLING_PERIOD=2026-03/costs-00001.snappy.parquet"
    client.put_object(Bucket=bucket, Key=key, Body=b"PAR1 this is not parquet")
    with pytest.raises(BillingFileError, match=f"s3://{bucket}/{key} cannot be read"):
        Cur2Source(f"s3://{bucket}/exports").fetch(DAY1, DAY1, load_rules())


@pytest.mark.parametrize("fmt, tags_as", [("parquet", "map"), ("csv.gz", "json")])
def test_invoice_ids_are_kept_per_invoice_and_shown_as_focus_invoice_id(warehouse, tmp_path, monkeypatch, fmt, tags_as):
    # DAY1 invoiced, one Usage line on a second invoice (e.g. a Marketplace invoice); DAY2 not invoiced yet.
    rows = cur_day(DAY1) + [cur_row(DAY1, "Usage", 0.75, invoice=" INV-2 ")] + cur_day(DAY2, invoice=None)
    write_cur(cur_path(tmp_path, "2026-03", fmt), rows, tags_as)
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path))

    result = materialize_days([billing_costs], warehouse, DAY1, DAY2, billing=CUR2)

    assert result.success, failure_message(result)
    usage = warehouse.read("SELECT date, invoice_id, billed_cost, is_estimated FROM daily_costs "
                           "WHERE charge_category = 'Usage' ORDER BY date, invoice_id")
    assert [[str(d), i, round(float(b), 6), bool(e)] for d, i, b, e in usage.values.tolist()] == [
        [str(DAY1), "INV-1", 10.0, False], [str(DAY1), "INV-2", 0.75, False], [str(DAY2), "", 10.0, True]]
    for day, extra in ((DAY1, 0.75), (DAY2, 0.0)):
        assert daily_by_category(warehouse, day)["billed"].sum() == pytest.approx(EXPECTED_BILLED + extra)
    view = warehouse.read('SELECT "ChargePeriodStart", "InvoiceId", "BilledCost" FROM focus_costs')
    view["day"] = view["ChargePeriodStart"].astype(str).str[:10]
    invoiced = view.groupby("day")["InvoiceId"].apply(lambda ids: sorted(set(ids.dropna()))).to_dict()
    assert invoiced == {str(DAY1): ["INV-1", "INV-2"], str(DAY2): []}
    assert view[view["day"] == str(DAY2)]["InvoiceId"].isna().all()  # null, not '', while not invoiced
