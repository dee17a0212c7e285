"""Settings of anomaly detection; each overrides one default of AnomalySettings.

    COST_ANOMALY_MIN_IMPACT_USD   a day is flagged only if it costs this many USD more than expected  50
    COST_ANOMALY_MIN_IMPACT_PCT   ...and this many percent more                                       20
    COST_ANOMALY_NEW_SERVICE_USD  a service with too little history is flagged above this per day    100
    COST_ANOMALY_DRIFT_SCORE      threshold of the drift (ramp) test; higher is quieter and slower    2.5

A bad value raises SettingError naming the setting.
"""

from __future__ import annotations

import dataclasses

from cost_assets.anomalies.detection import AnomalySettings
from cost_assets.settings import SettingError, env, float_setting

# setting -> (AnomalySettings field, divisor from the setting's unit to the field's: percent to fraction)
SETTINGS = {
    "COST_ANOMALY_MIN_IMPACT_USD": ("min_impact_usd", 1),
    "COST_ANOMALY_MIN_IMPACT_PCT": ("min_impact_pct", 100),
    "COST_ANOMALY_NEW_SERVICE_USD": ("new_service_daily_usd", 1),
    "COST_ANOMALY_DRIFT_SCORE": ("drift_score", 1),
}


def anomaly_settings() -> AnomalySettings:
    overrides = {
        field: float_setting(name, 0.0) / divisor for name, (field, divisor) in SETTINGS.items() if env(name) is not None
    }
    if overrides.get("drift_score") == 0:
        raise SettingError(f"COST_ANOMALY_DRIFT_SCORE={env('COST_ANOMALY_DRIFT_SCORE')!r} must be above 0")
    return dataclasses.replace(AnomalySettings(), **overrides)


def describe(settings: AnomalySettings) -> str:
    """The thresholds in force, for the materialization's metadata."""
    return (f"flag at >= ${settings.min_impact_usd:g} and >= {settings.min_impact_pct:.0%} above expected; "
            f"new service above ${settings.new_service_daily_usd:g}/day; drift score >= {settings.drift_score:g}")
