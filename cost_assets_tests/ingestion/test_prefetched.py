"""Billing file batches are read one ahead, in a background thread."""

from __future__ import annotations

import threading

import pytest

from cost_assets.ingestion.sources.files import prefetched


def _batches(log: list, fail_at: int | None = None):
    try:
        for index in range(5):
            if index == fail_at:
                raise OSError(f"unreadable batch {index}")
            log.append((index, threading.current_thread() is threading.main_thread()))
            yield index
    finally:
        log.append("closed")


def test_every_batch_arrives_in_order_read_off_the_calling_thread():
    log = []
    assert list(prefetched(_batches(log))) == [0, 1, 2, 3, 4]
    assert [entry for entry in log if entry != "closed"] == [(i, False) for i in range(5)]
    assert log[-1] == "closed"


def test_a_read_error_reaches_the_caller_after_the_batches_before_it():
    log, seen = [], []
    with pytest.raises(OSError, match="unreadable batch 3"):
        for batch in prefetched(_batches(log, fail_at=3)):
            seen.append(batch)
    assert seen == [0, 1, 2]


def test_a_caller_that_stops_early_closes_the_file():
    log = []
    with pytest.raises(ValueError):
        for batch in prefetched(_batches(log)):
            if batch == 1:
                raise ValueError("the caller failed")
    assert log[-1] == "closed" and len([e for e in log if e != "closed"]) <= 3  # at most one read ahead
