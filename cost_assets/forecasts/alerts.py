"""Margin alerts: which customers' forecast margins to post, and the Slack payload.

Pure functions; sensors.py wires them to cost_forecasts materializations and to
the anomaly alerts' webhook (cost_assets.anomalies.alerts.AlertWebhook).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cost_assets.anomalies.alerts import AlertCursor


def alert_key(customer_id: str, month_start: dt.date) -> str:
    """The cursor's key of one customer's month: one post each."""
    return f"{customer_id}@{month_start:%Y-%m}"


def select_margin_alerts(forecasts: pd.DataFrame, cursor: AlertCursor, threshold_pct: float) -> pd.DataFrame:
    """Customer-months whose forecast margin is below `threshold_pct` and not posted yet:
    the row of the latest as-of day of each, lowest margin first.

    `forecasts` holds cost_forecasts rows of scope customer. A customer without a
    positive MRR has no margin and is not posted.
    """
    if forecasts.empty:
        return forecasts
    below = forecasts[forecasts["forecast_margin_pct"].notna() & (forecasts["forecast_margin_pct"] < threshold_pct)]
    keys = [alert_key(c, m) for c, m in zip(below["scope_value"], below["month_start"])]
    fresh = below[np.array([key not in cursor.alerted for key in keys], dtype=bool)]
    latest = fresh.sort_values("as_of_date").groupby(["scope_value", "month_start"]).tail(1)
    return latest.sort_values(["forecast_margin_pct", "scope_value"])


def _usd(value) -> str:
    return f"${value:,.2f}"


def margin_payload(row: dict, threshold_pct: float, base_url: str) -> dict:
    """Slack incoming-webhook JSON for one customer whose month is forecast below the margin threshold."""
    as_of = row["as_of_date"]
    month = f"{row['month_start']:%B %Y}"
    link = f"{base_url}/assets/cost_forecasts?partition={as_of.isoformat()}"
    headline = (f":chart_with_downwards_trend: Forecast margin of customer {row['scope_value']} for {month}: "
                f"{row['forecast_margin_pct']:.1f}% (threshold {threshold_pct:g}%)")
    details = (f"Month-end cost forecast {_usd(row['forecast'])} (80% interval {_usd(row['low'])} .. {_usd(row['high'])}) "
               f"against MRR {_usd(row['mrr'])}; {_usd(row['actual_to_date'])} to {as_of.isoformat()}.")
    return {
        "text": f"{headline}. {details} {link}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{details}"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Customer*\n{row['scope_value']}"},
                    {"type": "mrkdwn", "text": f"*Month*\n{month}"},
                    {"type": "mrkdwn", "text": f"*Forecast*\n{_usd(row['forecast'])}"},
                    {"type": "mrkdwn", "text": f"*80% interval*\n{_usd(row['low'])} .. {_usd(row['high'])}"},
                    {"type": "mrkdwn", "text": f"*MRR*\n{_usd(row['mrr'])}"},
                    {"type": "mrkdwn", "text": f"*Forecast margin*\n{row['forecast_margin_pct']:.1f}%"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open cost_forecasts in Dagster>"}},
        ],
    }
