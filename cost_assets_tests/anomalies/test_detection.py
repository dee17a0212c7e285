import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cost_assets.anomalies.detection import (
    OUTPUT_COLUMNS,
    AnomalySettings,
    detect_anomalies,
    naive_zscore,
    score_history,
)

START = dt.date(2025, 1, 6)  # a Monday


def day(index: int) -> dt.date:
    return START + dt.timedelta(days=index)


def history_of(series: dict[str, list[float | None]], estimated_from: int | None = None) -> pd.DataFrame:
    """Long history from per-key daily costs; None marks a missing day (no row)."""
    rows = [
        (day(index), key, cost, estimated_from is not None and index >= estimated_from)
        for key, costs in series.items()
        for index, cost in enumerate(costs)
        if cost is not None
    ]
    return pd.DataFrame(rows, columns=["date", "key", "cost", "is_estimated"])


def noisy(level: float, days: int, noise: float, seed: int = 0, weekend: float = 1.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [
        level * (weekend if day(index).weekday() >= 5 else 1.0) * (1 + rng.normal(0, noise)) for index in range(days)
    ]


def test_spike_is_critical_on_its_first_day():
    costs = noisy(1000, 70, 0.02)
    costs[60] = 3000.0
    flagged = detect_anomalies(history_of({"ec2": costs}))

    assert list(flagged.columns) == OUTPUT_COLUMNS
    assert flagged["date"].tolist() == [day(60)]
    row = flagged.iloc[0]
    assert row["severity"] == "critical"
    assert row["detector"] == "seasonal"
    assert row["expected_cost"] == pytest.approx(1000, rel=0.05)
    assert row["impact_usd"] == pytest.approx(3000 - row["expected_cost"])


def test_flat_service_with_tiny_noise_is_quiet_and_scores_stay_finite():
    flat = [400.0] * 80
    near_flat = noisy(400, 80, 0.0005)
    # A 10% move on a perfectly flat service is below the percentage minimum and
    # must not become an infinite score.
    flat[70] = 440.0
    history = history_of({"support": flat, "reserved": near_flat})

    assert detect_anomalies(history).empty
    scores = score_history(history)
    scored = scores["score"].dropna()
    assert len(scored) > 100
    assert np.isfinite(scored).all()
    assert scores.loc[(scores["key"] == "support") & (scores["date"] == day(70)), "score"].item() < 10


def test_weekly_pattern_does_not_alert_on_weekends_or_mondays():
    history = history_of({
        "dev": noisy(1000, 140, 0.03, seed=1, weekend=0.5),
        "prod": noisy(3000, 140, 0.03, seed=2, weekend=0.9),
    })

    assert detect_anomalies(history).empty
    scores = score_history(history).dropna(subset=["score"])
    weekend = scores[pd.to_datetime(scores["date"]).dt.weekday >= 5]
    assert weekend["expected_cost"].lt(scores["expected_cost"].median()).any()
    assert scores["score"].abs().max() < 4


@pytest.mark.parametrize(
    ("level", "jump", "flagged"),
    [
        (100.0, 45.0, False),  # +45%, but only $45
        (10_000.0, 1_000.0, False),  # $1000, but only +10%
        (300.0, 90.0, True),  # +30% and $90
    ],
)
def test_both_minimum_dollar_and_percentage_impact_are_required(level, jump, flagged):
    costs = noisy(level, 60, 0.01, seed=3)
    costs[50] = level + jump

    result = detect_anomalies(history_of({"svc": costs}))

    assert (day(50) in set(result["date"])) is flagged
    assert len(result) == int(flagged)


def test_new_service_rule():
    days = 60
    history = history_of({
        "ec2": noisy(1000, days, 0.02),
        "sagemaker": [None] * 40 + [300.0] * 20,
        "tiny": [None] * 40 + [40.0] * 20,
    })

    flagged = detect_anomalies(history)

    new = flagged[flagged["key"] == "sagemaker"]
    assert new["date"].min() == day(40)
    assert (new["detector"] == "new_service").all()
    first = new.iloc[0]
    assert first["expected_cost"] == 0
    assert first["impact_usd"] == 300
    assert set(flagged["key"]) == {"sagemaker"}


def test_keys_present_from_the_start_are_not_new():
    flagged = detect_anomalies(history_of({"ec2": [500.0] * 20, "rds": [None, 800.0] + [800.0] * 18}))

    assert flagged.empty


def test_missing_days_are_unknown_and_zero_days_are_real():
    normal = noisy(1000, 80, 0.02, seed=4)
    missing = normal[:40] + [None] * 10 + normal[50:]
    zero = normal[:40] + [0.0] * 10 + normal[50:]

    missing_scores = score_history(history_of({"svc": missing}))
    zero_scores = score_history(history_of({"svc": zero}))

    # A missing day is not scored at all; a $0 day is scored as a real drop.
    assert day(40) not in set(missing_scores["date"])
    zero_day = zero_scores[zero_scores["date"] == day(40)].iloc[0]
    assert zero_day["actual_cost"] == 0
    assert zero_day["impact_usd"] == pytest.approx(-zero_day["expected_cost"])
    assert zero_day["expected_cost"] == pytest.approx(1000, rel=0.05)

    # After missing days the baseline is the cost before them; after ten $0 days
    # the baseline is $0 and the return of the cost is an anomaly.
    after_gap = missing_scores[missing_scores["date"] == day(50)].iloc[0]
    assert after_gap["expected_cost"] == pytest.approx(1000, rel=0.05)
    assert detect_anomalies(history_of({"svc": missing})).empty
    assert day(50) in set(detect_anomalies(history_of({"svc": zero}))["date"])


def test_ramp_is_caught_by_the_drift_detector():
    days, ramp_start = 150, 110
    costs = noisy(2000, days, 0.015, seed=5)
    for index in range(ramp_start, days):
        costs[index] *= 1.01 ** min(index - ramp_start + 1, 30)

    flagged = detect_anomalies(history_of({"kinesis": costs}))

    assert not flagged.empty
    first = flagged.iloc[0]
    assert first["detector"] == "drift"
    assert ramp_start <= (first["date"] - START).days <= ramp_start + 10
    assert (flagged["detector"] != "seasonal").all()
    assert flagged["incident_id"].nunique() == 1


def test_consecutive_days_form_one_incident_with_a_stable_id():
    costs = noisy(1000, 70, 0.02, seed=6)
    costs[60:63] = [2500.0, 2600.0, 2700.0]
    history = history_of({"lambda": costs})

    flagged = detect_anomalies(history)

    assert flagged["date"].tolist() == [day(60), day(61), day(62)]
    assert set(flagged["incident_id"]) == {f"lambda:{day(60).isoformat()}"}
    assert set(flagged["incident_start"]) == {day(60)}
    assert flagged["incident_impact_usd"].tolist() == pytest.approx(flagged["impact_usd"].cumsum().tolist())

    # Scoring only the last day keeps the incident's id, start and running impact.
    last = detect_anomalies(history, test_days=[day(62)])
    assert last["incident_id"].tolist() == [f"lambda:{day(60).isoformat()}"]
    assert last["incident_impact_usd"].item() == pytest.approx(flagged["incident_impact_usd"].iloc[-1])


def test_incident_spans_missing_days_but_not_normal_days():
    costs = noisy(1000, 80, 0.02, seed=7)
    costs[60], costs[61], costs[62] = 2500.0, None, 2500.0
    costs[70], costs[72] = 2500.0, 2500.0

    flagged = detect_anomalies(history_of({"svc": costs}))

    assert flagged["date"].tolist() == [day(60), day(62), day(70), day(72)]
    assert flagged["incident_id"].tolist() == [f"svc:{day(60)}", f"svc:{day(60)}", f"svc:{day(70)}", f"svc:{day(72)}"]


def test_flagged_estimated_day_is_provisional():
    costs = noisy(1000, 70, 0.02, seed=8)
    costs[68] = 2500.0
    costs[69] = 2500.0

    flagged = detect_anomalies(history_of({"svc": costs}, estimated_from=69))

    assert flagged.set_index("date")["is_provisional"].to_dict() == {day(68): False, day(69): True}


def test_baseline_excludes_the_scored_day_and_later_days():
    costs = noisy(1000, 80, 0.03, seed=9)
    changed = costs.copy()
    changed[60] = 50_000.0
    changed[61:] = [c * 3 for c in costs[61:]]

    def seasonal_expectation(series):
        scores = score_history(history_of({"svc": series}))
        return scores.loc[scores["date"] == day(60)].iloc[0]

    before, after = seasonal_expectation(costs), seasonal_expectation(changed)
    assert after["detector"] == "seasonal"
    assert after["expected_cost"] == before["expected_cost"]


def test_demo_shaped_data_has_only_the_lambda_critical():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        series = {}
        for number in range(20):
            level = float(np.exp(rng.uniform(np.log(30), np.log(3000))))
            weekend = 0.9 if number % 2 else 1.0
            series[f"svc{number}"] = [
                level * (weekend if day(index).weekday() >= 5 else 1.0) * (1 + 0.001 * index)
                * (1 + rng.uniform(-0.03, 0.03))
                for index in range(90)
            ]
        series["lambda"] = [50 * (1 + rng.uniform(-0.03, 0.03)) for _ in range(90)]
        series["lambda"][70:74] = [4000.0, 4100.0, 3900.0, 4050.0]

        flagged = detect_anomalies(history_of(series))

        critical = flagged[flagged["severity"] == "critical"]
        assert set(critical["key"]) == {"lambda"}
        assert critical["date"].min() == day(70)
        assert flagged[flagged["key"] != "lambda"]["incident_id"].nunique() <= 1


def test_naive_zscore_flags_spikes_and_skips_flat_windows():
    noisy_costs = noisy(1000, 50, 0.02, seed=10)
    noisy_costs[45] = 1500.0
    flat = [300.0] * 50
    flat[45] = 900.0

    flagged = naive_zscore(history_of({"svc": noisy_costs, "flat": flat}))

    spike = flagged[(flagged["key"] == "svc") & (flagged["date"] == day(45))]
    assert spike["severity"].tolist() == ["critical"]
    assert spike["detector"].tolist() == ["zscore"]
    assert "flat" not in set(flagged["key"])
    assert list(flagged.columns) == OUTPUT_COLUMNS


def test_no_anomalies_gives_the_output_columns():
    empty = pd.DataFrame(columns=["date", "key", "cost", "is_estimated"])
    for history in (history_of({"svc": [100.0] * 30}), empty):
        result = detect_anomalies(history, settings=AnomalySettings())

        assert result.empty
        assert list(result.columns) == OUTPUT_COLUMNS


def test_duplicate_rows_are_rejected():
    history = history_of({"svc": [100.0] * 3})
    with pytest.raises(ValueError, match="more than one row"):
        detect_anomalies(pd.concat([history, history.iloc[:1]]))
