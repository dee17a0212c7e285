"""Month-end cost forecasts (docs/reference.md#cost_forecasts): pure functions over DataFrames.

For each series (the company, a service, a customer) and as-of day D:

    forecast = actual cost of the month's days with data up to D
             + the predicted cost of the month's other days (after D, or missing)

A day's prediction is the series' recent level times its weekday factor:

* weekday factors: the last ``FIT_WEEKS`` weeks up to the fit day are cut
  into 7-day blocks; each day's cost relative to its block's mean, medianed
  per weekday over the blocks with data on every day, normalised to average 1;
* level: the median of the last ``LEVEL_DAYS`` deseasonalised days (a spike
  of a few days moves it little, a step moves it within a week).

The 80% interval comes from the series' own past errors: the same method,
fitted at each of the ``ERROR_ORIGINS`` days before D - h (h = days still to
predict), predicts its next h days; the 10% and 90% quantiles of the relative
errors (actual / predicted - 1), widened by ``INTERVAL_WIDENING``, are applied
to the prediction. Only days up to D are ever read for D: nothing after it leaks in.

Days without data are unknown, never $0: a day the source has (any series has
a row) on which a series seen before has none cost that series $0.
"""

from __future__ import annotations

import calendar
import datetime as dt
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIT_WEEKS = 8
LEVEL_DAYS = 14
ERROR_ORIGINS = 84
# Quantiles of past windows understate the spread (the windows overlap, and steps and spikes
# are rarer than the next month may bring): the interval's half-widths are stretched by this.
# Chosen on other seeded years than the backtest's and on the demo (benchmarks/FORECAST_RESULTS.md, "Tuning").
INTERVAL_WIDENING = 1.2
INTERVAL = (0.10, 0.90)
# Days before the as-of day the forecast reads: the fit, the longest month, the error origins.
HISTORY_DAYS = FIT_WEEKS * 7 + 31 + ERROR_ORIGINS

FORECAST_COLUMNS = ["as_of_date", "scope", "scope_value", "month_start", "month_end", "days_with_data",
                    "days_forecast", "actual_to_date", "forecast", "low", "high"]
COMPANY = "all"  # scope_value of the company's row


@dataclass(frozen=True)
class Series:
    """Daily costs of several series as a (calendar day x series) matrix.

    `cost` is NaN where the cost is unknown (the day has no data, or the
    series had not appeared yet); `observed` marks the days with data.
    """

    days: pd.DatetimeIndex
    keys: pd.MultiIndex  # (scope, scope_value)
    cost: np.ndarray
    observed: np.ndarray  # bool per day

    def position(self, day: dt.date) -> int:
        return int((pd.Timestamp(day) - self.days[0]).days)


def series_matrix(costs: pd.DataFrame, observed_days: dict[str, set[dt.date]], first: dt.date, last: dt.date) -> Series:
    """The matrix of `costs` (date, scope, scope_value, cost) over first..last.

    `observed_days` gives, per scope, the days its source has data: on those, a
    series seen before the day and without a row cost $0.
    """
    days = pd.date_range(first, last, freq="D")
    costs = costs[(costs["date"] >= first) & (costs["date"] <= last)]
    wide = (costs.assign(date=pd.to_datetime(costs["date"]))
            .pivot_table(index="date", columns=["scope", "scope_value"], values="cost", aggfunc="sum")
            .reindex(days))
    if wide.columns.empty:
        keys = pd.MultiIndex.from_tuples([], names=["scope", "scope_value"])
        return Series(days, keys, np.empty((len(days), 0)), np.zeros((len(days), 0), dtype=bool))
    values = wide.to_numpy(dtype=float)
    observed = np.zeros(values.shape, dtype=bool)
    for column, (scope, _) in enumerate(wide.columns):
        observed[:, column] = days.isin(pd.to_datetime(sorted(observed_days.get(scope, set()))))
    seen = np.maximum.accumulate(~np.isnan(values), axis=0)
    values = np.where(np.isnan(values) & observed & seen, 0.0, values)
    values = np.where(observed, values, np.nan)
    return Series(days, wide.columns, values, observed)


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """np.nanmedian (NaN where a slice has no value), by one sort: numpy's own goes through
    masked arrays for small inputs, which made fitting a backfill's days 20 times slower."""
    ordered = np.moveaxis(np.sort(values, axis=axis), axis, 0)  # NaN sort last
    count = (~np.isnan(ordered)).sum(axis=0)
    lower = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[None], axis=0)[0]
    upper = np.take_along_axis(ordered, np.maximum(count // 2, 0)[None], axis=0)[0]
    return np.where(count > 0, (lower + upper) / 2, np.nan)


def fit(series: Series, origin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level per series, weekday factors [7 x series], whole weeks they rest on per series)
    from the days up to position `origin`. Without a whole week the factors are 1."""
    weeks = min(FIT_WEEKS, (origin + 1) // 7)
    n_keys = series.cost.shape[1]
    if weeks == 0:
        return np.full(n_keys, np.nan), np.ones((7, n_keys)), np.zeros(n_keys, dtype=int)
    start = origin + 1 - weeks * 7
    window = series.cost[start:origin + 1]
    blocks = window.reshape(weeks, 7, n_keys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # Only whole weeks: a week's mean over some of its days is biased by which days they are.
        complete = ~np.isnan(blocks).any(axis=1, keepdims=True)
        block_mean = np.where(complete, np.nanmean(blocks, axis=1, keepdims=True), np.nan)
        ratio = blocks / np.where(block_mean > 0, block_mean, np.nan)
        by_position = _nanmedian(ratio, axis=0)  # [7 x series], position 0 = weekday of `start`
        by_position = by_position / np.nanmean(by_position, axis=0, keepdims=True)
    by_position = np.where(np.isfinite(by_position) & (by_position > 0), by_position, 1.0)
    first_weekday = (series.days[0].weekday() + start) % 7
    factors = np.roll(by_position, first_weekday, axis=0)  # row = weekday (Monday 0)
    weekdays = (first_weekday + np.arange(weeks * 7)) % 7
    recent = (window / factors[weekdays])[-LEVEL_DAYS:]
    return _nanmedian(recent, axis=0), factors, complete.sum(axis=(0, 1))


def predicted_sum(level: np.ndarray, factors: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """Predicted cost of days of the given weekdays, per series (an unknown level predicts $0)."""
    return np.nan_to_num(level) * factors[weekdays].sum(axis=0)


class Forecaster:
    """Forecasts over one Series; fits are cached per origin day (a backfill reuses them)."""

    def __init__(self, series: Series):
        self.series = series
        self._fits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._weekday = series.days.weekday.to_numpy()

    def _fit(self, origin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if origin not in self._fits:
            self._fits[origin] = fit(self.series, origin)
        return self._fits[origin]

    def relative_errors(self, as_of: int, horizon: int) -> np.ndarray:
        """[origins x series] actual / predicted - 1 of the next `horizon` days, for origins
        as_of - horizon - k (k < ERROR_ORIGINS) whose days all lie up to as_of; NaN where unknown."""
        errors = np.full((ERROR_ORIGINS, self.series.cost.shape[1]), np.nan)
        for k in range(ERROR_ORIGINS):
            origin = as_of - horizon - k
            if origin < 13:  # a fit needs two weeks
                break
            days = slice(origin + 1, origin + 1 + horizon)
            actual = self.series.cost[days]
            known = ~np.isnan(actual)
            if not known.any():
                continue
            level, factors, weeks = self._fit(origin)
            weekdays = self._weekday[days]
            # Compare on the days with data only: a missing day is neither over nor under.
            predicted = np.nan_to_num(level) * np.where(known, factors[weekdays], 0.0).sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                # Fits on less than two whole weeks (a series' first days) say nothing of later ones.
                errors[k] = np.where((predicted > 0) & (weeks >= 2), np.nansum(actual, axis=0) / predicted - 1, np.nan)
        return errors

    def month_end(self, as_of: dt.date) -> pd.DataFrame:
        """One row per series: the month of `as_of`'s cost to date, forecast and 80% interval."""
        series = self.series
        position = series.position(as_of)
        month_start = as_of.replace(day=1)
        month_end = as_of.replace(day=calendar.monthrange(as_of.year, as_of.month)[1])
        month = [month_start + dt.timedelta(days=i) for i in range((month_end - month_start).days + 1)]
        month_positions = np.array([series.position(day) for day in month])
        in_history = month_positions <= position
        past = month_positions[in_history]
        # A day with data is known for every series: one that had not appeared yet cost $0.
        known = series.observed[past] if len(past) else np.zeros((0, series.cost.shape[1]), dtype=bool)
        actual = np.nansum(series.cost[past], axis=0) if len(past) else np.zeros(series.cost.shape[1])
        observed_days = known.sum(axis=0)
        # Days to predict: after as_of, and the month's days up to it without data.
        future_weekdays = np.array([day.weekday() for day, future in zip(month, ~in_history) if future], dtype=int)
        past_weekdays = self._weekday[past]
        n_keys = series.cost.shape[1]
        missing_weekday_counts = np.zeros((7, n_keys))
        for weekday in range(7):
            missing_weekday_counts[weekday] = ((~known) & (past_weekdays[:, None] == weekday)).sum(axis=0)
        future_counts = np.bincount(future_weekdays, minlength=7)[:, None]
        counts = missing_weekday_counts + future_counts
        level, factors, _ = self._fit(position)
        remaining = np.nan_to_num(level) * (factors * counts).sum(axis=0)
        horizon = counts.sum(axis=0).astype(int)
        low, high = remaining.copy(), remaining.copy()
        for h in sorted(set(horizon[horizon > 0])):
            columns = horizon == h
            errors = self.relative_errors(position, int(h))[:, columns]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo_q, hi_q = np.nan_to_num(np.nanquantile(errors, INTERVAL, axis=0))
            # The interval always holds the forecast, even when every past error had one sign.
            low[columns] = remaining[columns] * (1 + np.minimum(lo_q, 0.0) * INTERVAL_WIDENING)
            high[columns] = remaining[columns] * (1 + np.maximum(hi_q, 0.0) * INTERVAL_WIDENING)
        low = np.maximum(low, 0.0)
        frame = pd.DataFrame({
            "as_of_date": as_of,
            "scope": series.keys.get_level_values(0),
            "scope_value": series.keys.get_level_values(1),
            "month_start": month_start,
            "month_end": month_end,
            "days_with_data": observed_days,
            "days_forecast": horizon,
            "actual_to_date": actual.round(6),
            "forecast": (actual + remaining).round(2),
            "low": (actual + low).round(2),
            "high": (actual + high).round(2),
        })
        return frame[FORECAST_COLUMNS]


def forecast_days(series: Series, as_of_days: list[dt.date]) -> pd.DataFrame:
    """Forecast rows of every series for each as-of day."""
    forecaster = Forecaster(series)
    frames = [forecaster.month_end(day) for day in as_of_days]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FORECAST_COLUMNS)


def with_margins(forecasts: pd.DataFrame, mrr: pd.DataFrame) -> pd.DataFrame:
    """Customer rows gain mrr (as of their as-of day) and forecast_margin_pct = (mrr - forecast) / mrr * 100,
    null without a positive MRR; other rows get nulls.

    `mrr` has as_of_date, customer_id, mrr.
    """
    merged = forecasts.merge(
        mrr.rename(columns={"customer_id": "scope_value"}).assign(scope="customer"),
        on=["as_of_date", "scope", "scope_value"], how="left")
    positive = merged["mrr"].where(merged["mrr"] > 0)
    merged["forecast_margin_pct"] = ((positive - merged["forecast"]) / positive * 100).round(4)
    return merged
