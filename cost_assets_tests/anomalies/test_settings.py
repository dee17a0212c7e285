"""Anomaly thresholds from the environment: defaults, overrides, and errors that name the setting."""

import pytest

from cost_assets.anomalies.detection import AnomalySettings
from cost_assets.anomalies.settings import SETTINGS, anomaly_settings, describe
from cost_assets.settings import SettingError


def test_defaults_without_settings(clean_env):
    assert anomaly_settings() == AnomalySettings()
    assert describe(anomaly_settings()) == (
        "flag at >= $50 and >= 20% above expected; new service above $100/day; drift score >= 2.5")


def test_settings_override_their_defaults_only(clean_env):
    clean_env.setenv("COST_ANOMALY_MIN_IMPACT_USD", "250")
    clean_env.setenv("COST_ANOMALY_MIN_IMPACT_PCT", "35")
    clean_env.setenv("COST_ANOMALY_DRIFT_SCORE", " 4 ")
    settings = anomaly_settings()
    assert (settings.min_impact_usd, settings.min_impact_pct, settings.drift_score) == (250.0, 0.35, 4.0)
    assert settings.new_service_daily_usd == AnomalySettings().new_service_daily_usd
    assert settings.warning_score == AnomalySettings().warning_score


@pytest.mark.parametrize("name, raw", [
    ("COST_ANOMALY_MIN_IMPACT_USD", "fifty"),
    ("COST_ANOMALY_MIN_IMPACT_PCT", "-5"),
    ("COST_ANOMALY_NEW_SERVICE_USD", "inf"),
    ("COST_ANOMALY_DRIFT_SCORE", "nan"),
    ("COST_ANOMALY_DRIFT_SCORE", "0"),
])
def test_a_bad_value_names_the_setting(clean_env, name, raw):
    clean_env.setenv(name, raw)
    with pytest.raises(SettingError, match=f"{name}={raw!r}"):
        anomaly_settings()
