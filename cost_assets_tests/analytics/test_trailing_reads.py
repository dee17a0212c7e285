"""Consecutive chunks read each day of their trailing windows once."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cost_assets.analytics.queries import TrailingReads
from cost_assets.partitions import day_range

DAY = dt.date(2026, 3, 1)


def _rows(first: dt.date, last: dt.date) -> pd.DataFrame:
    """A row per day and customer; customers join as days go by, so later chunks bring new categories."""
    days = day_range(first, last)
    rows = [(d, f"c{n}", float(n + (d - DAY).days)) for d in days for n in range((d - DAY).days % 5 + 1)]
    frame = pd.DataFrame(rows, columns=["date", "customer_id", "cost"])
    return frame.astype({"date": "category", "customer_id": "category"})


def _recorded(asked: list):
    """A query of _rows that notes each range it is asked for."""
    def query(conn, first, last):
        asked.append((first, last))
        return _rows(first, last)
    return query


def test_a_chunk_reads_only_its_own_days_and_gets_the_same_rows_as_a_whole_read():
    asked = []
    query = _recorded(asked)
    reads = TrailingReads()
    for chunk_first in (DAY + dt.timedelta(days=59), DAY + dt.timedelta(days=66), DAY + dt.timedelta(days=73)):
        start, last = chunk_first - dt.timedelta(days=59), chunk_first + dt.timedelta(days=6)
        frame = reads.read(None, query, start, last)
        expected = _rows(start, last)
        got = frame.astype({"date": object, "customer_id": object}).sort_values(["date", "customer_id"])
        want = expected.astype({"date": object, "customer_id": object}).sort_values(["date", "customer_id"])
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
        assert isinstance(frame["customer_id"].dtype, pd.CategoricalDtype)
        assert list(frame["date"].cat.categories) == day_range(start, last)  # no days left over
    assert asked == [(DAY, DAY + dt.timedelta(days=65)),
                     (DAY + dt.timedelta(days=66), DAY + dt.timedelta(days=72)),
                     (DAY + dt.timedelta(days=73), DAY + dt.timedelta(days=79))]


def test_a_range_that_does_not_follow_the_last_one_is_read_whole():
    asked = []
    query = _recorded(asked)
    reads = TrailingReads()
    reads.read(None, query, DAY, DAY + dt.timedelta(days=9))
    frame = reads.read(None, query, DAY + dt.timedelta(days=20), DAY + dt.timedelta(days=29))  # a gap: not a next chunk
    assert asked[-1] == (DAY + dt.timedelta(days=20), DAY + dt.timedelta(days=29))
    assert len(frame) == len(_rows(DAY + dt.timedelta(days=20), DAY + dt.timedelta(days=29)))
