"""The DuckDB path of billing files (sources/scan.py) against the pandas path it
stands in for: on typed Parquet with good rows, hourly rows, padded text and
every kind of unusable row, both give the same line items, totals, rejected
rows (file, row number, reason), deliveries and held days."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cost_assets.ingestion.sources import billing_files
from cost_assets.ingestion.sources.billing_files import BillingFileSource, compact
from cost_assets.ingestion.sources.cur2 import Cur2Source
from cost_assets.ingestion.sources.focus import FocusSource
from cost_assets.rules import load_rules
from cost_assets_tests.ingestion.billing_files import cur_day, cur_path, cur_row, focus_day, focus_row, write_cur, write_table

DAY1, DAY2 = dt.date(2026, 3, 30), dt.date(2026, 3, 31)
FOCUS_TIMESTAMPS = ["ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"]


def fetch(source: BillingFileSource, monkeypatch, fast: bool, first=DAY1, last=DAY2):
    """The source's fetch with the DuckDB path on, or off (every batch through parse())."""
    calls = []
    original = type(source).fast_columns

    def counted(self, schema):
        columns = original(self, schema) if fast else None
        calls.append(columns is not None)
        return columns

    monkeypatch.setattr(type(source), "fast_columns", counted)
    try:
        return source.fetch(first, last, load_rules()), calls
    finally:
        monkeypatch.setattr(type(source), "fast_columns", original)


def sorted_items(items: pd.DataFrame) -> pd.DataFrame:
    items = compact(items).astype({"resource_id": object})
    keys = [c for c in items.columns if c not in ("billed_cost", "effective_cost", "usage_quantity")]
    frame = items.assign(**{c: items[c].astype(str) for c in keys})
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same(fast, slow):
    fast_items, slow_items = sorted_items(fast.line_items), sorted_items(slow.line_items)
    pd.testing.assert_frame_equal(fast_items, slow_items, check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(fast.day_totals.sort_values("date").reset_index(drop=True),
                                  slow.day_totals.sort_values("date").reset_index(drop=True), check_dtype=False)
    columns = ["date", "file", "row_number", "reason", "raw"]
    order = ["file", "row_number"]
    pd.testing.assert_frame_equal(fast.rejected_rows[columns].sort_values(order).reset_index(drop=True),
                                  slow.rejected_rows[columns].sort_values(order).reset_index(drop=True),
                                  check_dtype=False)
    for costs in ("billed_cost", "effective_cost"):
        for a, b in zip(fast.rejected_rows.sort_values(order)[costs], slow.rejected_rows.sort_values(order)[costs]):
            assert (a is None and b is None) or (a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b))))
    assert fast.held_days == slow.held_days
    assert fast.complete_days == slow.complete_days
    assert fast.metadata == slow.metadata


def mixed_cur_rows() -> list[dict]:
    rows = cur_day(DAY1) + cur_day(DAY2, tags={"user_team": "  Payments ", "user_environment": "prod"})
    rows += [cur_row(DAY1, "Usage", 0.25, hour=h, resource=f"i-{h}") for h in range(3)]  # hourly rows keep resources
    rows += [
        cur_row(DAY1, "Usage", float("inf")),                      # not a finite amount
        cur_row(DAY1, "Usage", 2e12),                              # over the bound
        cur_row(DAY2, "Usage", None),                              # empty amount
        cur_row(DAY2, "SavingsPlanCoveredUsage", 3.0),             # its amortization input is missing
        cur_row(DAY1, "  ", 1.0),                                  # blank line item type
        cur_row(DAY2, "Usage", 1.0, amount=float("nan")),          # NaN usage: the pandas path keeps it (0)
        cur_row(DAY1, "Usage", 1.5, account=" 111122223333\t"),    # padding that trimming removes
        cur_row(DAY1, "Usage", 0.75, invoice=" INV-2 "),           # a second invoice, padded
        cur_row(DAY2, "Usage", 0.5, invoice="  "),                 # not invoiced yet
        cur_row(dt.date(2026, 3, 2), "Usage", 4.0),                # outside the window, inside the period
    ]
    rows[-1]["line_item_usage_start_date"] = None                 # no start: dated by its billing period
    return rows


def test_cur2_duckdb_path_equals_the_pandas_path(tmp_path, monkeypatch):
    write_cur(cur_path(tmp_path, "2026-03"), mixed_cur_rows())
    fast, calls = fetch(Cur2Source(str(tmp_path)), monkeypatch, fast=True)
    slow, _ = fetch(Cur2Source(str(tmp_path)), monkeypatch, fast=False)

    assert calls and all(calls)  # the DuckDB path did take the batch
    assert len(slow.rejected_rows) == 6 and fast.rejected_rows["reason"].str.contains("needed for SavingsPlanCoveredUsage").any()
    assert_same(fast, slow)
    assert set(fast.line_items["team"].dropna()) >= {"  Payments "}  # raw here, normalized in prepare_line_items
    assert set(fast.line_items["invoice_id"].dropna()) == {"INV-1", "INV-2"}


def test_focus_duckdb_path_equals_the_pandas_path(tmp_path, monkeypatch):
    rows = focus_day(DAY1) + focus_day(DAY2, tags_variant=1)
    rows += [focus_row(DAY1, float("nan"), 1.0), focus_row(DAY2, 1.0, 5e13),
             focus_row(DAY1, 2.0, 2.0, category=" "), focus_row(DAY2, 1.0, 1.0, hour=5)]
    rows = [{**row, "InvoiceId": [" G0123 ", None, "G0456"][n % 3]} for n, row in enumerate(rows)]
    tags = {row["Tags"] if isinstance(row["Tags"], str) else None for row in rows}
    path = write_table(tmp_path / "bill" / "focus.parquet", rows, "Tags", "map", FOCUS_TIMESTAMPS)
    assert pq.read_schema(path).field("ChargePeriodStart").type == pa.timestamp("ms", tz="UTC"), tags
    fast, calls = fetch(FocusSource(str(tmp_path / "bill")), monkeypatch, fast=True)
    slow, _ = fetch(FocusSource(str(tmp_path / "bill")), monkeypatch, fast=False)

    assert calls and all(calls)
    assert len(slow.rejected_rows) == 3
    assert_same(fast, slow)
    assert set(fast.line_items["invoice_id"].dropna()) == {"G0123", "G0456"}


def test_text_typed_parquet_takes_the_pandas_path(tmp_path, monkeypatch):
    rows = cur_day(DAY1)
    path = cur_path(tmp_path, "2026-03")
    path.parent.mkdir(parents=True)
    table = pa.table({c: pa.array([None if r[c] is None else str(r[c]) for r in rows], pa.string())
                      for c in rows[0] if c != "resource_tags"})
    pq.write_table(table, path)
    result, calls = fetch(Cur2Source(str(tmp_path)), monkeypatch, fast=True)
    assert calls == [False]
    assert result.metadata["rows_in_window"] == len(rows)


def test_identical_parquet_files_are_found_through_the_duckdb_path(tmp_path, monkeypatch):
    rows = cur_day(DAY1)
    write_cur(cur_path(tmp_path, "2026-03", name="costs-00001"), rows)
    write_cur(cur_path(tmp_path, "2026-03", name="costs-00002"), rows)
    with pytest.raises(billing_files.BadCostDataError, match="hold the same"):
        Cur2Source(str(tmp_path)).fetch(DAY1, DAY1, load_rules())
