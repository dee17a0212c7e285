"""Which hourly_costs rows a billing fetch writes, and over which days."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cost_assets.ingestion.line_items import prepare_line_items, to_hourly_costs
from cost_assets.ingestion.sources.base import SourceResult
from cost_assets.rules import Rules


def hourly_costs_rows(result: SourceResult, items: pd.DataFrame, rules: Rules, first: dt.date, last: dt.date,
                      source: str) -> tuple[pd.DataFrame, tuple[dt.date, dt.date] | None]:
    """hourly_costs rows from the window's prepared `items` plus the source's
    separate hourly_line_items, and the [first, last] days they replace
    (None: replace no day, hourly_costs keeps what it holds)."""
    if result.hourly_days is None:
        span = (first, last)
    else:
        days = sorted(set(result.hourly_days))
        if days and (days[-1] - days[0]).days != len(days) - 1:
            raise ValueError(f"{source}: hourly_days must be consecutive days, not {', '.join(map(str, days))}")
        span = (max(first, days[0]), min(last, days[-1])) if days else None
        if span is not None and span[0] > span[1]:
            span = None
    frames = [items]
    if result.hourly_line_items is not None:
        frames.append(prepare_line_items(result.hourly_line_items, rules))
    hourly_items = pd.concat(frames, ignore_index=True) if len(frames) > 1 else items
    if span is None:
        return to_hourly_costs(hourly_items.iloc[0:0], source), None
    in_span = (hourly_items["date"] >= span[0]) & (hourly_items["date"] <= span[1])
    return to_hourly_costs(hourly_items[in_span], source), span
