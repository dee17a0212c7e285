"""Daily cost anomaly detection.

Three detectors score every (key, day) of a long cost history; a day is flagged
by the first that fires, in this order:

* ``seasonal`` - one-day test. The expected cost of day D is the key's recent
  level (median of its last ``level_days`` deseasonalised days before D) times
  D's weekday factor (median, over the last ``baseline_weeks`` same weekdays, of
  the day's cost relative to the mean of the week centred on it). The score is
  the excess over a robust spread (MAD of recent relative residuals) that has a
  floor, so a perfectly flat service cannot produce an infinite score. Flags need
  the score, ``min_impact_usd`` and ``min_impact_pct``.
* ``drift`` - sustained-shift test for ramps and steps that the one-day test
  misses because its recent level follows them. An EWMA of the deseasonalised
  days (span ``drift_window_days``, D included) is compared with a reference
  level (median of the ``drift_reference_days`` before the span) extrapolated
  along the key's own growth, measured against the period before the
  reference. Flags need the shift's score and a day that is at least
  ``min_impact_usd`` and ``drift_min_impact_pct`` above the reference.
* ``new_service`` - a key that appeared after the history began and has too
  little history to score, on a day costing more than ``new_service_daily_usd``.

Baselines use only days before D and only days with data: a missing day is
unknown and is skipped, while a $0 row is a real cost of zero. Medians keep
earlier anomalies out of later baselines, and the drift test also leaves out the
days the one-day test flagged. Only cost increases are flagged. ``critical``
needs a high score and a large impact in both dollars and percent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

OUTPUT_COLUMNS = [
    "date",
    "key",
    "actual_cost",
    "expected_cost",
    "impact_usd",
    "score",
    "severity",
    "detector",
    "is_provisional",
    "incident_id",
    "incident_start",
    "incident_impact_usd",
]

SCORE_COLUMNS = [
    "date",
    "key",
    "actual_cost",
    "is_provisional",
    "expected_cost",
    "impact_usd",
    "score",
    "detector",
    "severity",
    "drift_shift",
    "drift_score",
    "observed_day",
]

# Scales a median absolute deviation to a normal standard deviation.
_MAD_TO_SIGMA = 1.4826
# Variance of a sample median relative to a sample mean, for normal noise.
_MEDIAN_VARIANCE_RATIO = np.pi / 2


@dataclass(frozen=True)
class AnomalySettings:
    # A day is flagged only if it costs at least this much more than expected...
    min_impact_usd: float = 50.0
    # ...and at least this fraction more.
    min_impact_pct: float = 0.20
    # A key with too little history is flagged on a day costing more than this.
    new_service_daily_usd: float = 100.0
    # Scores are excess cost in robust standard deviations.
    warning_score: float = 4.0
    # Critical needs a high score AND a large dollar AND a large relative impact.
    critical_score: float = 8.0
    critical_impact_usd: float = 500.0
    critical_impact_pct: float = 0.5
    # Weeks behind the weekday profile; 7x as many residuals behind the spread.
    baseline_weeks: int = 8
    # Days behind the recent level: a median, so anomalies of fewer than half as
    # many days do not move it.
    level_days: int = 14
    # Days of level history, then as many residuals, a key needs to be scored.
    min_history_days: int = 7
    # The spread is at least this fraction of the expected cost and this many USD.
    spread_floor_pct: float = 0.05
    spread_floor_usd: float = 5.0
    # Drift: EWMA of recent days (this span, D included) against the reference period before it.
    drift_window_days: int = 5
    drift_reference_days: int = 28
    # Low enough to catch a +1%/day ramp within a week on a noisy service; 4 is far
    # quieter but a few days slower (benchmarks/ANOMALY_RESULTS.md).
    drift_score: float = 2.5
    # A sustained shift is evidence from many days, so the day may be less far
    # above expected than min_impact_pct; min_impact_usd still applies.
    drift_min_impact_pct: float = 0.05
    # Floor of the daily spread in the drift test, which averages many days.
    drift_spread_floor_pct: float = 0.01
    # Faster growth (per day) is not extrapolated as the key's normal trend.
    max_daily_growth: float = 0.005

    @property
    def baseline_days(self) -> int:
        return 7 * self.baseline_weeks


def detect_anomalies(
    history: pd.DataFrame,
    test_days: list[dt.date] | None = None,
    settings: AnomalySettings = AnomalySettings(),
) -> pd.DataFrame:
    """Flagged (key, day) rows for the days in ``test_days`` (default: every day in ``history``).

    ``history`` has one row per (key, date) with columns ``date`` (datetime.date),
    ``key``, ``cost`` and ``is_estimated``; a (key, date) without a row is a
    missing day. All days are scored so that incidents reaching back before
    ``test_days`` keep their start, id and running impact.

    Consecutive flagged days of a key form one incident; an incident also
    continues across days without data (nothing is known about them), but not
    across a day that has data and was not flagged.
    """
    scores = score_history(history, settings)
    return _finish(scores[scores["detector"].notna()], test_days)


def score_history(history: pd.DataFrame, settings: AnomalySettings = AnomalySettings()) -> pd.DataFrame:
    """Every (key, day) with data, scored; the diagnostic view behind detect_anomalies.

    ``detector`` and ``severity`` are set on flagged days, whose expected_cost,
    impact_usd and score come from that detector; other days carry the seasonal
    detector's values (NaN while a key has too little history). ``drift_shift``
    (relative level shift) and ``drift_score`` show how close a day came to a
    drift alert; ``observed_day`` numbers each key's days with data.
    """
    if history.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    cost, estimated = _to_wide(history)
    s = settings
    profile = _weekday_profile(cost, s.baseline_weeks)
    # Until a key's weekly shape is measured (or if it never can be, as with
    # sparse data) its days are treated alike.
    factors = profile.fillna(1.0)
    # Days whose weekday normally costs nothing carry no information about the level.
    deseasonalised = cost / factors.where(factors > 0)

    level = _median_of_previous(deseasonalised, s.level_days, s.min_history_days)
    expected = level * factors
    residual = cost / expected.where(expected > 0) - 1
    # Residuals are centred by construction, so the MAD is taken about zero.
    spread = _MAD_TO_SIGMA * _median_of_previous(residual.abs(), s.baseline_days, s.min_history_days)
    expected = expected.where(spread.notna())
    impact = cost - expected
    sigma_usd = np.maximum(expected * np.maximum(spread, s.spread_floor_pct), s.spread_floor_usd)
    score = impact / sigma_usd
    seasonal_flag = (
        (score >= s.warning_score) & (impact >= s.min_impact_usd) & (impact >= s.min_impact_pct * expected)
    )

    # The drift test compares levels weeks apart, so it uses only days whose weekly
    # shape was known, and not the days the one-day test flagged.
    drift = _drift(deseasonalised.where(profile.notna()).mask(seasonal_flag), factors, spread, s)
    # The score says the level has moved; the day itself must still clear the
    # impact minimums against the level before the move.
    drift_impact = cost - drift["expected"]
    drift_flag = (
        (drift["score"] >= s.drift_score)
        & (drift_impact >= s.min_impact_usd)
        & (drift_impact >= s.drift_min_impact_pct * drift["expected"])
    )

    # A key is new from its first day with cost while it cannot be scored yet,
    # and only if the history began well before it: at the start every key looks new.
    has_cost = cost.gt(0)
    days_before_cost = (~has_cost.cummax()).sum()
    appeared_later = has_cost.any() & (days_before_cost >= s.min_history_days)
    new_flag = expected.isna() & has_cost.cummax() & appeared_later & (cost > s.new_service_daily_usd)

    is_drift = ~seasonal_flag & drift_flag
    is_new = ~seasonal_flag & ~drift_flag & new_flag
    # A new key has no baseline: all of its cost is unexpected, scored in
    # multiples of the new-service threshold.
    expected = expected.mask(is_drift, drift["expected"]).mask(is_new, 0.0)
    score = score.mask(is_drift, drift["score"]).mask(is_new, cost / s.new_service_daily_usd)
    detector = pd.DataFrame(
        np.select([seasonal_flag, is_drift, is_new], ["seasonal", "drift", "new_service"], ""),
        index=cost.index, columns=cost.columns,
    )
    long = _long({
        "actual_cost": cost,
        "is_provisional": estimated,
        "expected_cost": expected,
        "impact_usd": cost - expected,
        "score": score,
        "detector": detector,
        "drift_shift": drift["shift"],
        "drift_score": drift["score"],
    })
    long["detector"] = long["detector"].mask(long["detector"] == "")
    long["severity"] = _severity(long, s).where(long["detector"].notna())
    return long[SCORE_COLUMNS]


def naive_zscore(
    history: pd.DataFrame,
    test_days: list[dt.date] | None = None,
    warning_z: float = 2.0,
    critical_z: float = 3.0,
    window_days: int = 30,
) -> pd.DataFrame:
    """The rule this module replaces: z = (cost - mean) / stddev of the prior 30 days.

    Flags z > warning_z (warning) and z > critical_z (critical); days whose prior
    window has a zero stddev or fewer than 7 observed days are skipped.
    """
    cost, estimated = _to_wide(history)
    prior = cost.rolling(window_days, min_periods=7)
    mean = prior.mean().shift(1)
    std = prior.std().shift(1)
    z = (cost - mean) / std.where(std > 0)
    wide = {
        "actual_cost": cost,
        "is_provisional": estimated,
        "expected_cost": mean,
        "impact_usd": cost - mean,
        "score": z,
    }
    long = _long(wide)
    flagged = long[long["score"] > warning_z].copy()
    flagged["severity"] = np.where(flagged["score"] > critical_z, "critical", "warning")
    flagged["detector"] = "zscore"
    return _finish(flagged, test_days)


def _to_wide(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cost and is_estimated as (calendar day x key) frames; missing days are NaN."""
    missing = {"date", "key", "cost", "is_estimated"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks columns {sorted(missing)}")
    if history.duplicated(["key", "date"]).any():
        raise ValueError("history has more than one row for a (key, date)")
    frame = history.assign(date=pd.to_datetime(history["date"]), cost=history["cost"].astype(float))
    if frame.empty:
        calendar = pd.DatetimeIndex([], name="date")
    else:
        calendar = pd.date_range(frame["date"].min(), frame["date"].max(), freq="D", name="date")
    cost = frame.pivot(index="date", columns="key", values="cost").reindex(calendar)
    estimated = frame.pivot(index="date", columns="key", values="is_estimated").reindex(calendar)
    return cost, estimated.astype("boolean").fillna(False).astype(bool)


def _long(wide: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (key, day) with data, sorted; observed_day numbers each key's days with data."""
    long = pd.concat({name: frame.stack(future_stack=True) for name, frame in wide.items()}, axis=1)
    long = long[long["actual_cost"].notna()].rename_axis(["date", "key"]).reset_index()
    long = long.sort_values(["key", "date"], ignore_index=True)
    long["date"] = long["date"].dt.date
    long["is_provisional"] = long["is_provisional"].astype(bool)
    long["observed_day"] = long.groupby("key").cumcount()
    return long


def _median_of_previous(frame: pd.DataFrame, days: int, min_periods: int) -> pd.DataFrame:
    """At each day, the median of the key's last ``days`` values before it.

    Counting values rather than calendar days lets a baseline reach back over
    missing days instead of shrinking.
    """
    medians = {
        key: values.dropna().rolling(days, min_periods=min_periods).median() for key, values in frame.items()
    }
    return pd.DataFrame(medians, index=frame.index, columns=frame.columns).ffill().shift(1)


def _weekday_profile(cost: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """Each day's weekday factor, known before the day.

    Each day's cost is taken relative to the mean of the week centred on it, so
    a change of level does not distort the weekly shape; a weekday's factor is
    the median of its last ``weeks`` ratios that were complete before the day,
    normalised so the seven factors average 1. NaN until every weekday has one.
    """
    weekday = cost.index.dayofweek.to_numpy()
    week_mean = cost.rolling(7, min_periods=7, center=True).mean()
    ratio = cost / week_mean.where(week_mean > 0)
    medians = np.full((7, *cost.shape), np.nan)
    for day in range(7):
        same_weekday = ratio[weekday == day].rolling(weeks, min_periods=1).median()
        # A ratio's week ends three days after it, and must end before the scored day.
        medians[day] = same_weekday.reindex(cost.index).ffill().shift(4).to_numpy()
    profile = medians / medians.mean(axis=0)
    return pd.DataFrame(profile[weekday, np.arange(len(cost))], index=cost.index, columns=cost.columns)


def _drift(
    deseasonalised: pd.DataFrame, factors: pd.DataFrame, spread: pd.DataFrame, s: AnomalySettings
) -> dict[str, pd.DataFrame]:
    """Expected cost without the recent drift, the recent relative shift, and its score."""
    window, reference_days = s.drift_window_days, s.drift_reference_days
    reference = deseasonalised.shift(window).rolling(reference_days, min_periods=reference_days // 2).median()
    earlier = deseasonalised.shift(window + reference_days).rolling(
        reference_days, min_periods=reference_days // 2
    ).median()
    # The key's growth from the earlier period to the reference is its normal
    # trend, extrapolated from the reference's centre; without an earlier period
    # the trend is unknown and the test does not run.
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = np.log(reference.where(reference > 0) / earlier.where(earlier > 0)) / reference_days
    growth = growth.clip(-s.max_daily_growth, s.max_daily_growth)
    to_recent = np.exp(growth * (window + reference_days) / 2)
    to_day = np.exp(growth * (window + (reference_days - 1) / 2))

    # The EWMA weighs the latest days most, so a ramp shows sooner than in a plain
    # window mean of the same variance; days without data are skipped, not zeros.
    alpha = 2 / (window + 1)
    recent = deseasonalised.ewm(alpha=alpha, ignore_na=True).mean().where(deseasonalised.notna())
    shift = recent / (reference * to_recent) - 1
    sigma = np.maximum(spread, s.drift_spread_floor_pct)
    shift_sigma = sigma * np.sqrt(alpha / (2 - alpha) + _MEDIAN_VARIANCE_RATIO / reference_days)
    return {"expected": reference * to_day * factors, "shift": shift, "score": shift / shift_sigma}


def _severity(scored: pd.DataFrame, s: AnomalySettings) -> pd.Series:
    impact = scored["impact_usd"]
    critical = (
        (scored["score"] >= s.critical_score)
        & (impact >= s.critical_impact_usd)
        & (impact >= s.critical_impact_pct * scored["expected_cost"])
    )
    return pd.Series(np.where(critical, "critical", "warning"), index=scored.index)


def _finish(flagged: pd.DataFrame, test_days: list[dt.date] | None) -> pd.DataFrame:
    """Adds incidents to flagged rows, keeps the test days and the output columns."""
    if flagged.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    flagged = flagged.sort_values(["key", "date"], ignore_index=True)
    # Consecutive observed_day numbers mean only missing days lie between two flagged days.
    new_incident = (flagged["key"] != flagged["key"].shift()) | (flagged["observed_day"].diff() != 1)
    incident = new_incident.cumsum()
    flagged["incident_start"] = flagged.groupby(incident)["date"].transform("first")
    flagged["incident_id"] = flagged["key"].astype(str) + ":" + flagged["incident_start"].map(dt.date.isoformat)
    flagged["incident_impact_usd"] = flagged.groupby(incident)["impact_usd"].cumsum()
    if test_days is not None:
        flagged = flagged[flagged["date"].isin(set(test_days))]
    return flagged[OUTPUT_COLUMNS].reset_index(drop=True)
