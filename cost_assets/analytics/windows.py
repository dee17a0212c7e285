"""Trailing 30-day windows for every as-of day of a range at once (docs/reference.md#invariants).

"Last 30 days" for as-of day D is D-29 .. D and the trend compares it with
D-59 .. D-30. Daily values are laid out as a dense days x keys array; one
cumulative sum then yields both windows of every as-of day, so a year of
as-of days costs about as much as one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cost_assets.partitions import day_range

WINDOW_DAYS = 30
LOOKBACK_DAYS = 2 * WINDOW_DAYS  # days an as-of day reads: its window and the previous one


@dataclass(frozen=True)
class AsOfWindows:
    first: dt.date  # first as-of day
    last: dt.date  # last as-of day

    @property
    def start(self) -> dt.date:
        """First day any window of the range covers."""
        return self.first - dt.timedelta(days=LOOKBACK_DAYS - 1)

    @property
    def day_count(self) -> int:
        return (self.last - self.start).days + 1

    @property
    def as_of_days(self) -> list[dt.date]:
        return day_range(self.first, self.last)

    def day_index(self, dates: pd.Series) -> np.ndarray:
        """Position of each date among start..last; the dates must lie in that range."""
        codes, uniques = pd.factorize(pd.Series(dates))  # a few distinct days among many rows
        unique_days = pd.to_datetime(pd.Series(uniques, dtype=object)).to_numpy().astype("datetime64[D]")
        index = (unique_days - np.datetime64(self.start, "D")).astype(np.int64)[codes]
        outside = (index < 0) | (index >= self.day_count)
        if outside.any():
            raise ValueError(f"{int(outside.sum())} row(s) fall outside {self.start}..{self.last}")
        return index

    def dense(self, day_index: np.ndarray, key_index: np.ndarray, values: np.ndarray, keys: int) -> np.ndarray:
        """days x keys array of `values` summed per (day, key)."""
        flat = np.bincount(day_index * keys + key_index, weights=np.asarray(values, dtype=float),
                           minlength=self.day_count * keys)
        return flat.reshape(self.day_count, keys)

    def trailing(self, daily: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(current, previous) window sums: as-of days x keys, from days x keys."""
        cumulative = np.concatenate([np.zeros((1, daily.shape[1])), np.cumsum(daily, axis=0)])
        end = np.arange(LOOKBACK_DAYS, self.day_count + 1)  # cumulative index just past each as-of day
        current = cumulative[end] - cumulative[end - WINDOW_DAYS]
        previous = cumulative[end - WINDOW_DAYS] - cumulative[end - LOOKBACK_DAYS]
        return current, previous

    def data_days(self, days_with_data) -> tuple[np.ndarray, np.ndarray]:
        """(current, previous) count of days with data per as-of day."""
        has_data = np.zeros((self.day_count, 1))
        days = pd.to_datetime(pd.Series(list(days_with_data), dtype=object)).to_numpy().astype("datetime64[D]")
        index = (np.unique(days) - np.datetime64(self.start, "D")).astype(np.int64)
        has_data[index[(index >= 0) & (index < self.day_count)], 0] = 1.0
        current, previous = self.trailing(has_data)
        return np.rint(current[:, 0]).astype(int), np.rint(previous[:, 0]).astype(int)


def key_index(frame: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """(distinct keys sorted, position of each row among them), by integer codes
    rather than hashing tuples of strings row by row."""
    if frame.empty:
        return pd.DataFrame({k: pd.Series(dtype=object) for k in keys}), np.zeros(0, dtype=np.int64)
    code = np.zeros(len(frame), dtype=np.int64)
    labels = []
    for key in keys:
        codes, uniques = pd.factorize(frame[key], sort=True)
        code = code * len(uniques) + codes
        labels.append(np.asarray(uniques, dtype=object))
    distinct, position = np.unique(code, return_inverse=True)
    columns = {}
    for key, uniques in zip(reversed(keys), reversed(labels)):
        columns[key] = uniques[distinct % len(uniques)]
        distinct = distinct // len(uniques)
    return pd.DataFrame({k: columns[k] for k in keys}), position


def monthly(window_sum: np.ndarray, days_with_data: np.ndarray) -> np.ndarray:
    """A window's cost as a 30-day figure: days without data are estimated from
    the days with data, not counted as zero. NaN when no day has data."""
    days = np.asarray(days_with_data, dtype=float)
    days = days.reshape(days.shape + (1,) * (np.ndim(window_sum) - days.ndim))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(days > 0, window_sum * WINDOW_DAYS / days, np.nan)


def change_pct(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(current - previous) / previous * 100; NaN without a positive previous value."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.nan_to_num(previous) > 0, (current - previous) / previous * 100.0, np.nan)
