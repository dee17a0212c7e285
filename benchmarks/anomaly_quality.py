"""Anomaly detection quality: the project's detector against the naive z-score.

Run by hand from the project root:

    .venv/bin/python benchmarks/anomaly_quality.py

It builds five seeded years of synthetic per-service daily costs, plants known
anomalies and missing days, scores both detectors at their defaults and the
naive one again at the project's alert budget, and writes
benchmarks/ANOMALY_RESULTS.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cost_assets.anomalies.detection import AnomalySettings, detect_anomalies, naive_zscore  # noqa: E402

SEED = 20250101
# Independent simulated years, pooled so that recall rests on more events.
YEARS = 5
START = dt.date(2025, 1, 1)
DAYS = 365
SERVICES = 40
# Events start after both detectors have a full baseline.
FIRST_EVENT_DAY, LAST_EVENT_DAY = 60, 325
RESULTS = Path(__file__).with_name("ANOMALY_RESULTS.md")
# Independent years beside the benchmark's, to check the drift threshold's trade-off on data it was not shown on.
HELD_OUT_SEED, HELD_OUT_YEARS = 30000000, 20
DRIFT_SCORES = (2.5, 3.0, 4.0)

# Weekday multipliers, Monday first.
WEEKLY_PATTERNS = {
    "none": [1, 1, 1, 1, 1, 1, 1],
    "production": [1, 1, 1, 1, 1, 0.9, 0.9],
    "development": [1, 1, 1, 1, 1, 0.5, 0.5],
    "batch": [1.3, 1, 1, 1, 1, 0.6, 0.6],
}
EVENT_TYPES = ["spike_25", "spike_50", "spike_100", "step_20", "step_40", "ramp", "new_service"]
LARGE_SPIKES = "spike ≥50%, ≥$100/day"
# How long after its start an alert still counts as detecting the event.
DETECTION_WINDOW_DAYS = {"step": 14, "ramp": 37, "new_service": 14}


@dataclass(frozen=True)
class Event:
    kind: str  # spike_25, spike_50, spike_100, step_20, step_40, ramp, new_service
    key: str
    start: int  # day index
    planted_usd: tuple[float, ...]  # extra cost on each day of the detection window

    @property
    def days(self) -> int:
        return len(self.planted_usd)

    @property
    def material_offset(self) -> int | None:
        """First day of the window whose planted extra cost reaches the alert minimum."""
        minimum = AnomalySettings().min_impact_usd
        return next((offset for offset, usd in enumerate(self.planted_usd) if usd >= minimum), None)


def generate(seed: int, prefix: str = "") -> tuple[pd.DataFrame, list[Event]]:
    """One simulated year; keys start with ``prefix``."""
    rng = np.random.default_rng(seed)
    day_index = np.arange(DAYS)
    weekdays = np.array([(START + dt.timedelta(days=int(d))).weekday() for d in day_index])
    levels = rng.permutation(np.geomspace(20, 5000, SERVICES))
    curves: dict[str, np.ndarray] = {}
    for number, level in enumerate(levels):
        key = f"{prefix}svc{number:02d}"
        if number < 4:  # flat: support plans, reservations, fixed fees
            curves[key] = np.full(DAYS, round(level, 2))
            continue
        if number < 6:  # near-flat
            curves[key] = level * np.exp(rng.normal(0, 0.002, DAYS))
            continue
        pattern = np.array(WEEKLY_PATTERNS[rng.choice(list(WEEKLY_PATTERNS))])[weekdays]
        growth = np.log1p(rng.uniform(-0.1, 0.8)) / 365
        noise = rng.uniform(0.01, 0.08 if level < 100 else 0.06)
        curves[key] = level * pattern * np.exp(growth * day_index + rng.normal(0, noise, DAYS))

    events: list[Event] = []
    busy: dict[str, list[tuple[int, int]]] = {key: [] for key in curves}

    def place(guard_after: int) -> tuple[str, int]:
        while True:
            key = str(rng.choice(list(curves)))
            start = int(rng.integers(FIRST_EVENT_DAY, LAST_EVENT_DAY))
            span = (start - 21, start + guard_after)
            if all(span[1] < lo or span[0] > hi for lo, hi in busy[key]):
                busy[key].append(span)
                return key, start

    for size in (25, 50, 100):
        for _ in range(10):
            days = int(rng.integers(1, 3))
            key, start = place(days + 21)
            extra = curves[key][start : start + days] * size / 100
            curves[key][start : start + days] += extra
            events.append(Event(f"spike_{size}", key, start, tuple(extra)))
    for size in (20, 40):
        for _ in range(5):
            key, start = place(60)
            extra = curves[key][start:] * size / 100
            curves[key][start:] += extra
            events.append(Event(f"step_{size}", key, start, tuple(extra[: DETECTION_WINDOW_DAYS["step"]])))
    for _ in range(6):
        key, start = place(90)
        ramp = np.minimum(np.arange(DAYS - start) + 1, 30)
        before = curves[key][start:].copy()
        curves[key][start:] *= 1.01**ramp
        extra = curves[key][start:] - before
        events.append(Event("ramp", key, start, tuple(extra[: DETECTION_WINDOW_DAYS["ramp"]])))
    for number in range(5):
        key = f"{prefix}new{number}"
        start = int(rng.integers(120, 300))
        level = float(rng.uniform(150, 3000))
        pattern = np.array(WEEKLY_PATTERNS[rng.choice(list(WEEKLY_PATTERNS))])[weekdays]
        curve = np.full(DAYS, np.nan)
        curve[start:] = level * pattern[start:] * np.exp(rng.normal(0, 0.04, DAYS - start))
        curves[key] = curve
        window = curve[start : start + DETECTION_WINDOW_DAYS["new_service"]]
        events.append(Event("new_service", key, start, tuple(window)))

    dates = pd.Index([START + dt.timedelta(days=int(d)) for d in day_index], name="date")
    frame = pd.DataFrame(curves, index=dates)
    history = frame.stack().rename("cost").rename_axis(["date", "key"]).reset_index()
    history["cost"] = history["cost"].round(2)
    # Missing days (export gaps) are not anomalies: single days at random, plus a few outages.
    keep = rng.random(len(history)) > 0.015
    for _ in range(8):
        key = str(rng.choice(list(curves)[:SERVICES]))
        gap_start = START + dt.timedelta(days=int(rng.integers(40, DAYS - 10)))
        gap_days = int(rng.integers(2, 6))
        gap_end = gap_start + dt.timedelta(gap_days - 1)
        keep &= ~((history["key"] == key) & history["date"].between(gap_start, gap_end)).to_numpy()
    history = history[keep].reset_index(drop=True)
    history["is_estimated"] = history["date"] >= START + dt.timedelta(days=DAYS - 2)
    return history, events


def episodes(alerts: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Consecutive alert days of a key (missing days between them bridged) as one episode."""
    ordinal = history.sort_values(["key", "date"]).assign(ordinal=lambda f: f.groupby("key").cumcount())
    alerts = alerts[["key", "date"]].merge(ordinal[["key", "date", "ordinal"]], on=["key", "date"])
    alerts = alerts.sort_values(["key", "date"], ignore_index=True)
    new = (alerts["key"] != alerts["key"].shift()) | (alerts["ordinal"].diff() != 1)
    alerts["episode"] = new.cumsum()
    return alerts.groupby("episode").agg(key=("key", "first"), first=("date", "min"), last=("date", "max"))


def evaluate(alerts: pd.DataFrame, history: pd.DataFrame, events: list[Event]) -> dict:
    found = episodes(alerts, history)
    alert_days = set(zip(alerts["key"], alerts["date"]))
    windows = [
        (event, START + dt.timedelta(days=event.start), START + dt.timedelta(days=event.start + event.days - 1))
        for event in events
    ]
    true_episode = [
        any(event.key == row.key and row.first <= last and row.last >= first for event, first, last in windows)
        for row in found.itertuples()
    ]
    detections = []
    for event, first, _ in windows:
        delay = next(
            (offset for offset in range(event.days) if (event.key, first + dt.timedelta(days=offset)) in alert_days),
            None,
        )
        material = event.material_offset
        detections.append({
            "kind": event.kind,
            "first_day_usd": event.planted_usd[0],
            "material": material is not None,
            "detected": delay is not None,
            "delay": delay,
            "material_delay": None if delay is None or material is None else max(delay - material, 0),
        })
    # Keys that appear mid-year count in proportion to the days they exist.
    spans = history.groupby("key")["date"].agg(["min", "max"])
    service_years = ((spans["max"] - spans["min"]).map(lambda span: span.days) + 1).sum() / DAYS
    present = set(zip(history["key"], history["date"]))

    def after_missing(key: str, first: dt.date) -> bool:
        days_before = [first - dt.timedelta(days=back) for back in (1, 2, 3)]
        return any(day >= spans.loc[key, "min"] and (key, day) not in present for day in days_before)

    false_after_missing = sum(
        not true and after_missing(row.key, row.first) for row, true in zip(found.itertuples(), true_episode)
    )
    false_episodes = len(found) - sum(true_episode)
    return {
        "episodes": len(found),
        "false_episodes": false_episodes,
        "false_after_missing": false_after_missing,
        "precision": sum(true_episode) / len(found) if len(found) else 1.0,
        "false_per_service_90d": false_episodes / service_years / (DAYS / 90),
        "detections": pd.DataFrame(detections),
    }


def matched_threshold(naive_rows: pd.DataFrame, history: pd.DataFrame, budget: int) -> float:
    """Lowest naive z threshold raising no more alert episodes than ``budget``."""
    low, high = 2.0, 100.0
    for _ in range(40):
        middle = (low + high) / 2
        if len(episodes(naive_rows[naive_rows["score"] > middle], history)) > budget:
            low = middle
        else:
            high = middle
    return high


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def type_rows(name: str, result: dict) -> list[dict]:
    detections = result["detections"]
    groups = {kind: detections[detections["kind"] == kind] for kind in EVENT_TYPES}
    groups[LARGE_SPIKES] = detections[
        detections["kind"].isin(["spike_50", "spike_100"]) & (detections["first_day_usd"] >= 100)
    ]
    rows = []
    for kind, group in groups.items():
        material = group[group["material"]]
        rows.append({
            "type": kind,
            "detector": name,
            "events": len(group),
            "material_events": len(material),
            "recall": group["detected"].mean(),
            "material_recall": material["detected"].mean() if len(material) else float("nan"),
            "f1": f1(result["precision"], group["detected"].mean()),
            "material_f1": f1(result["precision"], material["detected"].mean()) if len(material) else float("nan"),
            "median_delay": group["delay"].median(),
            "max_delay": group["delay"].max(),
            "median_material_delay": material["material_delay"].median(),
        })
    return rows


def demo_like_check(seeds: range, settings: AnomalySettings = AnomalySettings()) -> dict:
    """The demo company's shape: ~20 SaaS services over 90 days and one misconfigured Lambda."""
    lambda_first_day_critical = 0
    other_critical = other_incidents = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rows = []
        spike_day = int(rng.integers(40, 85))
        for number in range(20):
            level = 50.0 if number == 0 else float(np.exp(rng.uniform(np.log(30), np.log(3000))))
            weekend = 0.9 if number % 2 else 1.0
            for day in range(90):
                date = START + dt.timedelta(days=day)
                cost = level * (weekend if date.weekday() >= 5 else 1.0) * (1 + 0.0015 * day)
                cost *= 1 + rng.uniform(-0.03, 0.03)
                if number == 0 and spike_day <= day < spike_day + 4:
                    cost = 4000 * (1 + rng.uniform(-0.03, 0.03))
                rows.append((date, "lambda" if number == 0 else f"svc{number}", cost, day >= 88))
        history = pd.DataFrame(rows, columns=["date", "key", "cost", "is_estimated"])
        flagged = detect_anomalies(history, settings=settings)
        first = flagged[(flagged["key"] == "lambda") & (flagged["date"] == START + dt.timedelta(days=spike_day))]
        lambda_first_day_critical += int((first["severity"] == "critical").any())
        others = flagged[flagged["key"] != "lambda"]
        other_critical += int((others["severity"] == "critical").sum())
        other_incidents += others["incident_id"].nunique()
    return {
        "runs": len(seeds),
        "lambda_first_day_critical": lambda_first_day_critical,
        "other_critical_days": other_critical,
        "other_incidents_per_run": other_incidents / len(seeds),
    }


def generate_years(seed: int = SEED, years: int = YEARS) -> tuple[pd.DataFrame, list[Event]]:
    years = [generate(seed + year, prefix=f"y{year}/") for year in range(years)]
    return pd.concat([history for history, _ in years], ignore_index=True), [
        event for _, events in years for event in events
    ]


def fmt(value: float, digits: int = 2) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def sensitivity_rows(history: pd.DataFrame, events: list[Event], label: str) -> list[str]:
    """The drift threshold's trade-off between quiet and quick ramp detection."""
    rows = []
    for drift_score in DRIFT_SCORES:
        settings = dataclasses.replace(AnomalySettings(), drift_score=drift_score)
        result = evaluate(detect_anomalies(history, settings=settings), history, events)
        ramps = next(row for row in type_rows("project", result) if row["type"] == "ramp")
        default = " (default)" if drift_score == AnomalySettings().drift_score else ""
        rows.append(
            f"| {label} | {drift_score:g}{default} | {result['false_episodes']} "
            f"| {result['false_per_service_90d']:.3f} | {result['precision']:.2f} | {fmt(ramps['recall'])} "
            f"| {fmt(ramps['median_delay'], 1)} | {fmt(ramps['median_material_delay'], 1)} |"
        )
    return rows


def main() -> None:
    history, events = generate_years()
    ours = detect_anomalies(history, settings=AnomalySettings())
    naive_all = naive_zscore(history, warning_z=0.0)
    ours_result = evaluate(ours, history, events)
    threshold = matched_threshold(naive_all, history, ours_result["episodes"])
    matched_name = f"naive z>{threshold:.2f} (matched budget)"
    alerts = {
        "project": ours,
        "naive z>2 (default)": naive_all[naive_all["score"] > 2.0],
        matched_name: naive_all[naive_all["score"] > threshold],
    }
    results = {name: evaluate(rows, history, events) for name, rows in alerts.items()}
    per_type = pd.DataFrame([row for name, result in results.items() for row in type_rows(name, result)])
    demo = demo_like_check(range(20))
    sensitivity = sensitivity_rows(history, events, f"benchmark ({YEARS} years)")
    sensitivity += sensitivity_rows(*generate_years(HELD_OUT_SEED, HELD_OUT_YEARS), f"held out ({HELD_OUT_YEARS} years)")

    lines = [
        "# Anomaly detection quality",
        "",
        f"Measured {dt.date.today().isoformat()} with `benchmarks/anomaly_quality.py` "
        f"({YEARS} simulated years, seeds {SEED}..{SEED + YEARS - 1}, default `AnomalySettings`).",
        "",
        f"Data, per simulated year: {DAYS} days of synthetic daily cost for {SERVICES} services ($20-$5000/day; "
        "weekly patterns none / -10% weekends / -50% weekends / batch Mondays; growth -10%..+80%/year; "
        "lognormal noise 1-8%; 4 perfectly flat and 2 near-flat services) plus 5 services that appear mid-year. "
        "Planted: 10 spikes each of +25%, +50%, +100% (1-2 days), 5 steps each of +20% and +40% (persistent), "
        "6 ramps of +1%/day compounding for 30 days, 5 new services ($150-$3000/day). "
        "About 1.5% of rows and 8 outages of 2-5 days are dropped as missing days; they are not anomalies.",
        "",
        "How it is measured: an alert is any flagged (service, day), warning or critical. Consecutive alert "
        "days of a service (bridging missing days) form one episode; an episode is true if it overlaps a "
        "planted event's window on that service (spike: its days; step and new service: 14 days; ramp: 37 "
        "days), else false. Recall is per event type: the event has an alert inside its window. Precision is "
        "over all episodes (false episodes have no type), and each type's F1 combines that precision with the "
        "type's recall. A *material* event plants at least $50 of extra cost on some day of its window (the "
        "project's `min_impact_usd`: smaller ones are deliberately not alerted). Delay is days from the "
        "event's first day to its first alert; material delay counts from the first day the planted extra "
        "cost reached $50. The matched-budget naive threshold is the lowest z that raises no more episodes "
        "than the project's detector.",
        "",
        "| detector | episodes | false episodes | of which ≤3 days after missing data | precision "
        "| false alerts / service / 90 days |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {result['episodes']} | {result['false_episodes']} | {result['false_after_missing']} "
            f"| {result['precision']:.2f} "
            f"| {result['false_per_service_90d']:.3f} |"
        )
    lines += [
        "",
        "| type | detector | events (material) | recall | recall, material | F1 | F1, material "
        "| delay median / max | material delay median |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in per_type.sort_values("type", key=lambda kinds: kinds.map((EVENT_TYPES + [LARGE_SPIKES]).index),
                                    kind="stable").itertuples():
        lines.append(
            f"| {row.type} | {row.detector} | {row.events} ({row.material_events}) | {fmt(row.recall)} "
            f"| {fmt(row.material_recall)} | {fmt(row.f1)} | {fmt(row.material_f1)} "
            f"| {fmt(row.median_delay, 1)} / {fmt(row.max_delay, 0)} | {fmt(row.median_material_delay, 1)} |"
        )
    lines += [
        "",
        f"Demo-shaped check ({demo['runs']} seeded runs of 20 SaaS services over 90 days, weekends -10% on half, "
        "+0.15%/day growth, uniform ±3% noise, one Lambda at $50/day jumping to $4000/day for 4 days): "
        f"Lambda critical on its first spike day in {demo['lambda_first_day_critical']}/{demo['runs']} runs; "
        f"{demo['other_critical_days']} critical days on other services; "
        f"{demo['other_incidents_per_run']:.2f} other incidents per run.",
        "",
        f"Drift threshold (`COST_ANOMALY_DRIFT_SCORE`): quieter against quicker on ramps, on the benchmark's "
        f"years and on {HELD_OUT_YEARS} further independent years (seeds {HELD_OUT_SEED}..). The default is the "
        "quietest of these thresholds that meets the ramp target on both.",
        "",
        "| data | drift score | false episodes | false alerts / service / 90 days | precision | ramp recall "
        "| ramp delay median | ramp material delay median |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *sensitivity,
        "",
        "Targets:",
        "",
    ]
    checks = targets(per_type, results, matched_name, demo)
    lines += [f"- {target}: {'met' if met else 'NOT met'}" for target, met in checks]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


def targets(per_type: pd.DataFrame, results: dict, matched_name: str, demo: dict) -> list[tuple[str, bool]]:
    ours = per_type[per_type["detector"] == "project"].set_index("type")
    naive = per_type[per_type["detector"] == matched_name].set_index("type")
    spikes = ["spike_25", "spike_50", "spike_100"]
    beaten = [kind for kind in EVENT_TYPES if not kind.startswith("step")]
    return [
        (f"recall ≥ 0.9 on {LARGE_SPIKES}", ours.loc[LARGE_SPIKES, "recall"] >= 0.9),
        ("≤ 1 false alert per service per 90 days", results["project"]["false_per_service_90d"] <= 1),
        ("spike delay ≤ 1 day", ours.loc[spikes, "max_delay"].max() <= 1),
        ("ramp delay ≤ 7 days (median, from the ramp's first day)", ours.loc["ramp", "median_delay"] <= 7),
        ("ramp delay ≤ 7 days (median, from material onset)", ours.loc["ramp", "median_material_delay"] <= 7),
        ("F1 strictly above matched-budget naive on every type but steps (all events)",
         all(ours.loc[kind, "f1"] > naive.loc[kind, "f1"] for kind in beaten)),
        ("F1 strictly above matched-budget naive on every type but steps (material events)",
         all(ours.loc[kind, "material_f1"] > naive.loc[kind, "material_f1"] for kind in beaten)),
        ("F1 on steps at least matched-budget naive's",
         all(ours.loc[kind, "f1"] >= naive.loc[kind, "f1"] for kind in ["step_20", "step_40"])),
        ("demo Lambda critical on its first day, nothing else critical",
         demo["lambda_first_day_critical"] == demo["runs"] and demo["other_critical_days"] == 0),
    ]


if __name__ == "__main__":
    main()
