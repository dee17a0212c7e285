"""Root causes of anomalies: each anomaly's excess split over the dimensions of daily_costs
(docs/reference.md#root-causes).

For an anomaly of service S on day D, and one dimension (say account):

* the baseline days are S's last ``baseline_days`` days with cost data before the
  incident's first day: the days the seasonal detector takes its level from, and
  not yet touched by the incident, however long it runs;
* value v's expected cost is the anomaly's expected_cost times v's share of S's
  cost over those days (the detector's expectation, split by the usual mix);
* v's contribution is its actual cost on D minus its expected cost.

The expected costs add up to expected_cost and the actual costs to actual_cost,
so the contributions add up to the excess exactly; they are then rounded to
cents that still add up, the largest taking the rounding remainder. A value
absent on D contributes minus its expected cost; a new value all of its cost.
Without baseline days (a new service) nothing was expected of any value when
expected_cost is 0, else the expectation is split like the day's own costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cost_assets.analytics.economics import cents_summing_to

# Root-cause dimension as stored -> daily_costs column.
DIMENSIONS = {
    "account": "account_id",
    "aws_service": "aws_service",
    "charge_category": "charge_category",
    "environment": "environment",
    "customer": "customer_id",
}
# The same dimensions as the API names them (docs/reference.md#cost-api).
API_DIMENSIONS = {"account": "account", "aws_service": "awsService", "charge_category": "chargeCategory",
                  "environment": "environment", "customer": "customer"}
# Values kept by name per anomaly and dimension; the rest are added up into OTHER.
TOP_VALUES = 10
OTHER = "(other)"
SLICE_COLUMNS = ["date", "service", *DIMENSIONS.values(), "cost"]
OUTPUT_COLUMNS = ["date", "service", "dimension", "dimension_value", "actual_cost", "expected_cost",
                  "impact_usd", "share", "rank"]


def root_causes(anomalies: pd.DataFrame, slices: pd.DataFrame, baseline_days: int) -> pd.DataFrame:
    """Root causes of each anomaly, ranked per dimension by dollars, largest first.

    `anomalies` has date, service, expected_cost and incident_start (cost_anomalies
    rows); `slices` the effective cost per date, service and each DIMENSIONS column
    (SLICE_COLUMNS), covering every anomaly's day and the days before its incident.
    """
    missing = set(SLICE_COLUMNS) - set(slices.columns)
    if missing:
        raise ValueError(f"cost slices lack columns {sorted(missing)}")
    by_service = {service: frame for service, frame in slices.groupby("service", sort=False)}
    empty = slices.iloc[0:0]
    frames = []
    for anomaly in anomalies.itertuples(index=False):
        rows = by_service.get(anomaly.service, empty)
        days = np.sort(rows["date"].unique())
        baseline_set = set(days[days < anomaly.incident_start][-baseline_days:])
        today = rows[rows["date"] == anomaly.date]
        baseline = rows[rows["date"].isin(baseline_set)]
        expected = 0.0 if pd.isna(anomaly.expected_cost) else float(anomaly.expected_cost)
        for dimension, column in DIMENSIONS.items():
            found = _split(today.groupby(column)["cost"].sum(), baseline.groupby(column)["cost"].sum(), expected)
            frames.append(found.assign(date=anomaly.date, service=anomaly.service, dimension=dimension))
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[OUTPUT_COLUMNS]


def _split(actual: pd.Series, baseline: pd.Series, expected: float) -> pd.DataFrame:
    """One dimension of one anomaly: each value's actual, expected and impact, ranked."""
    if expected == 0:
        mix = pd.Series(0.0, index=actual.index)
    elif baseline.sum() > 0:
        mix = baseline / baseline.sum()
    elif actual.sum() > 0:
        mix = actual / actual.sum()
    else:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    values = actual.index.union(mix.index)
    frame = pd.DataFrame({
        "dimension_value": values.astype(str),
        "actual_cost": actual.reindex(values, fill_value=0.0).to_numpy(dtype=float),
        "expected_cost": expected * mix.reindex(values, fill_value=0.0).to_numpy(dtype=float),
    })
    frame["impact_usd"] = frame["actual_cost"] - frame["expected_cost"]
    excess = frame["impact_usd"].sum()
    # Largest first; ties by value so a re-run ranks them the same.
    frame = frame.sort_values(["impact_usd", "dimension_value"], ascending=[False, True], ignore_index=True)
    if len(frame) > TOP_VALUES + 1:
        rest = frame.iloc[TOP_VALUES:]
        other = pd.DataFrame([{"dimension_value": OTHER, **rest[["actual_cost", "expected_cost", "impact_usd"]].sum()}])
        frame = pd.concat([frame.iloc[:TOP_VALUES], other], ignore_index=True)
        frame = frame.sort_values("impact_usd", ascending=False, kind="stable", ignore_index=True)
    impact = frame["impact_usd"].to_numpy()
    cents = cents_summing_to(np.zeros(len(frame), dtype=np.int64), impact, np.arange(len(frame)), 1)
    frame["impact_usd"] = cents / 100.0
    frame["share"] = frame["impact_usd"] / round(excess, 2) if round(excess, 2) != 0 else np.nan
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame
