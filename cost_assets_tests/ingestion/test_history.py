"""History: the default partitions reach back to 2023, a billing source holding
days before the first partition says so, and a real AWS export of 2023-11 ingests."""

import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.sources.cur2 import Cur2Source
from cost_assets.partitions import days_before_partitions, first_partition_day
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.rules import load_rules
from cost_assets.settings import partitions_start_date
from cost_assets_tests.helpers import materialize_days
from cost_assets_tests.ingestion.billing_files import cur_path, cur_row, write_cur

CUR2 = BillingSourceResource(source="cur2")
AWS_SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "aws_cur_2023_11" / "sample-anonymous-aws-export-2023-11.csv"


def test_the_default_partitions_start_on_2023_01_01(monkeypatch):
    monkeypatch.delenv("COST_PARTITIONS_START", raising=False)
    assert partitions_start_date() == dt.date(2023, 1, 1)


@pytest.mark.parametrize("held, expected", [
    (None, None),
    ((dt.date(2023, 1, 1), dt.date(2023, 3, 1)), None),
    ((dt.date(2022, 11, 5), dt.date(2022, 11, 30)), (dt.date(2022, 11, 5), dt.date(2022, 11, 30))),
    ((dt.date(2022, 12, 30), dt.date(2023, 1, 2)), (dt.date(2022, 12, 30), dt.date(2022, 12, 31))),
])
def test_days_before_partitions(held, expected):
    assert days_before_partitions(held, dt.date(2023, 1, 1)) == expected


def warnings_of(instance, run_id) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id) if entry.level == logging.WARNING]


def daily_costs_metadata(result) -> dict:
    """The metadata of daily_costs (one materialization per day of the run, all with the same metadata)."""
    materializations = [m for m in result.asset_materializations_for_node("billing_costs")
                         if m.asset_key.to_user_string() == "daily_costs"]
    return {key: value.value for key, value in materializations[0].metadata.items()}


def test_a_billing_file_holding_days_before_the_partitions_says_so(sqlite_warehouse, tmp_path, monkeypatch):
    start = first_partition_day()
    days = [start + dt.timedelta(days=offset) for offset in (-3, -2, 0, 1)]
    # one file outside any BILLING_PERIOD folder: it is read whole
    write_cur(tmp_path / "export.csv.gz", [cur_row(day, "Usage", 10.0) for day in days], tags_as="json")
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path / "export.csv.gz"))
    instance = DagsterInstance.ephemeral()

    result = materialize_days([billing_costs], sqlite_warehouse, start, start + dt.timedelta(days=1),
                              billing=CUR2, instance=instance)

    assert result.success
    metadata = daily_costs_metadata(result)
    first, last = days[0].isoformat(), (start - dt.timedelta(days=1)).isoformat()
    assert metadata["days_before_partitions_start"] == f"{first}..{last}"
    assert metadata["partitions_start"] == f"{start.isoformat()} (COST_PARTITIONS_START)"
    [warning] = [w for w in warnings_of(instance, result.run_id) if "COST_PARTITIONS_START" in w]
    assert f"holds days {first}..{last} before the first daily partition {start.isoformat()}" in warning
    assert f"COST_PARTITIONS_START is set to {first} or earlier" in warning
    # the partitions' own days are ingested as usual
    assert sqlite_warehouse.read("SELECT SUM(billed_cost) AS billed FROM daily_costs")["billed"][0] == pytest.approx(20.0)


def test_a_billing_period_folder_before_the_partitions_is_reported_by_its_month_unread(sqlite_warehouse, tmp_path,
                                                                                        monkeypatch):
    start = first_partition_day()
    old_month = (start - dt.timedelta(days=1)).replace(day=1)
    write_cur(cur_path(tmp_path, f"{old_month:%Y-%m}"), [cur_row(old_month + dt.timedelta(days=4), "Usage", 7.0)])
    write_cur(cur_path(tmp_path, f"{start:%Y-%m}"), [cur_row(start, "Usage", 10.0)])
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path))

    result = materialize_days([billing_costs], sqlite_warehouse, start, start, billing=CUR2)

    metadata = daily_costs_metadata(result)
    assert metadata["files_outside_window"] == 1
    assert metadata["days_before_partitions_start"] == f"{old_month.isoformat()}..{(start - dt.timedelta(days=1)).isoformat()}"


def test_a_billing_source_within_the_partitions_reports_none(sqlite_warehouse, tmp_path, monkeypatch):
    start = first_partition_day()
    write_cur(cur_path(tmp_path, f"{start:%Y-%m}"), [cur_row(start, "Usage", 10.0)])
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path))
    instance = DagsterInstance.ephemeral()

    result = materialize_days([billing_costs], sqlite_warehouse, start, start, billing=CUR2, instance=instance)

    assert daily_costs_metadata(result)["days_before_partitions_start"] == "none"
    assert not [w for w in warnings_of(instance, result.run_id) if "COST_PARTITIONS_START" in w]


# --- the real AWS export of 2023-11 ------------------------------------------------


def cur2_column(legacy: str) -> str:
    """The CUR 2.0 name of a legacy CUR column: lineItem/UsageStartDate -> line_item_usage_start_date."""
    return "_".join(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", part).lower() for part in legacy.split("/"))


def test_cur2_column_names():
    assert cur2_column("lineItem/UsageStartDate") == "line_item_usage_start_date"
    assert cur2_column("lineItem/LineItemType") == "line_item_line_item_type"
    assert cur2_column("savingsPlan/SavingsPlanEffectiveCost") == "savings_plan_savings_plan_effective_cost"
    assert cur2_column("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod") == \
        "reservation_unused_amortized_upfront_fee_for_billing_period"
    assert cur2_column("product/servicecode") == "product_servicecode"


def test_the_real_2023_11_aws_sample_ingests_with_no_partition_setting(warehouse, tmp_path, monkeypatch):
    monkeypatch.delenv("COST_PARTITIONS_START", raising=False)
    assert first_partition_day() <= dt.date(2023, 11, 1), "the definitions were built with a later COST_PARTITIONS_START"
    lines = AWS_SAMPLE.read_text().splitlines(keepends=True)
    header = ",".join(cur2_column(column) for column in lines[0].rstrip("\n").split(","))
    export = tmp_path / "export" / "data" / "BILLING_PERIOD=2023-11" / "export-00001.csv"
    export.parent.mkdir(parents=True)
    export.write_text(header + "\n" + "".join(lines[1:]))
    monkeypatch.setenv("COST_SOURCE_URI", str(tmp_path / "export"))
    raw = pd.read_csv(AWS_SAMPLE)
    raw["day"] = raw["lineItem/UsageStartDate"].str[:10]
    expected = raw.groupby("day")["lineItem/UnblendedCost"].sum()

    result = materialize_days([billing_costs], warehouse, dt.date(2023, 11, 1), dt.date(2023, 11, 30),
                              billing=CUR2)

    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["daily_costs_match_source_totals"]
    stored = warehouse.read("SELECT date, SUM(billed_cost) AS billed, SUM(effective_cost) AS effective "
                                   "FROM daily_costs GROUP BY date ORDER BY date")
    stored["date"] = pd.to_datetime(stored["date"]).dt.strftime("%Y-%m-%d")
    stored = stored.set_index("date")
    assert list(stored.index) == list(expected.index)  # every day of the file, none invented
    assert stored["billed"].to_dict() == pytest.approx(expected.to_dict(), abs=1e-6)  # the warehouse keeps 6 decimals
    assert round(stored["billed"].sum(), 2) == round(raw["lineItem/UnblendedCost"].sum(), 2) == 0.08  # the file's own sum, to the cent
    metadata = daily_costs_metadata(result)
    assert metadata["rows_in_window"] == len(raw)
    assert metadata["days_before_partitions_start"] == "none"


def test_held_days_count_parquet_row_groups_that_are_skipped_unread(tmp_path):
    days = [dt.date(2022, 12, 30), dt.date(2022, 12, 31), dt.date(2023, 1, 1)]
    path = tmp_path / "export.parquet"
    write_cur(path, [cur_row(day, "Usage", 5.0) for day in days])
    pq.write_table(pq.read_table(path), path, row_group_size=1)  # one row group per day

    result = Cur2Source(str(path)).fetch(days[-1], days[-1], load_rules())

    assert result.metadata["rows_read"] == 1  # the other days' row groups were skipped
    assert result.held_days == (days[0], days[-1])
