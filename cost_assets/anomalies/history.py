"""The cost history the detector scores, built from daily_costs."""

from __future__ import annotations

import pandas as pd


def cost_history(key_days: pd.DataFrame, key: str) -> pd.DataFrame:
    """Daily cost per value of the `key` column, with missing days kept distinct from $0 days.

    `key_days` has date, `key`, cost, is_estimated for the days that have
    data. A day with no row for any key was not ingested: it stays missing
    for all. On an ingested day, a key seen before that day but absent from
    it cost $0.
    """
    if key_days.empty:
        return pd.DataFrame(columns=["date", "key", "cost", "is_estimated"])
    ingested = sorted(key_days["date"].unique())
    first_seen = key_days.groupby(key)["date"].min()
    grid = pd.MultiIndex.from_product([ingested, first_seen.index], names=["date", key]).to_frame(index=False)
    grid = grid[grid["date"] >= grid[key].map(first_seen)]
    estimated_days = key_days.groupby("date")["is_estimated"].any()
    history = grid.merge(key_days, on=["date", key], how="left")
    history["cost"] = history["cost"].fillna(0.0)
    history["is_estimated"] = history["date"].map(estimated_days).astype(bool)
    return history.rename(columns={key: "key"})[["date", "key", "cost", "is_estimated"]]
