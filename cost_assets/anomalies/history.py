"""The cost history the detector scores, built from daily_costs."""

from __future__ import annotations

import pandas as pd


def service_history(service_days: pd.DataFrame) -> pd.DataFrame:
    """Per-service daily cost with missing days kept distinct from $0 days.

    `service_days` has date, service, cost, is_estimated for the days that
    have data. A day with no row for any service was not ingested: it stays
    missing for all. On an ingested day, a service seen before that day
    but absent from it cost $0.
    """
    if service_days.empty:
        return pd.DataFrame(columns=["date", "key", "cost", "is_estimated"])
    ingested = sorted(service_days["date"].unique())
    first_seen = service_days.groupby("service")["date"].min()
    grid = pd.MultiIndex.from_product([ingested, first_seen.index], names=["date", "service"]).to_frame(index=False)
    grid = grid[grid["date"] >= grid["service"].map(first_seen)]
    estimated_days = service_days.groupby("date")["is_estimated"].any()
    history = grid.merge(service_days, on=["date", "service"], how="left")
    history["cost"] = history["cost"].fillna(0.0)
    history["is_estimated"] = history["date"].map(estimated_days).astype(bool)
    return history.rename(columns={"service": "key"})[["date", "key", "cost", "is_estimated"]]
