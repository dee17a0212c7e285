"""JSON bodies of the cost API, built as bytes: skipping FastAPI's re-validation of
thousands of nested rows is what keeps /costs/customers fast. Each route's
response_model still documents the shape, and the tests check it."""

from __future__ import annotations

import datetime as dt
from typing import Optional

import orjson
import pandas as pd
from fastapi.responses import Response


def money(value) -> float:
    return round(float(value), 2)


def optional(value, digits: int = 2) -> Optional[float]:
    return None if value is None or pd.isna(value) else round(float(value), digits)


def day(value) -> Optional[str]:
    """A day as YYYY-MM-DD, whether the driver returned a date or a string."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def answer(body: dict) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def json_answer(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def economics_json(r: dict) -> bytes:
    """One customer's economics as JSON, its stored cost_breakdown spliced in as is
    (the warehouse holds it as JSON already: parsing and re-dumping 2,000 of them
    would double the work of /costs/customers)."""
    fields = orjson.dumps({
        "customerId": r["customer_id"], "customerName": r["customer_name"], "asOf": day(r["as_of_date"]),
        "mrr": optional(r["mrr"]), "monthlyInfraCost": money(r["monthly_infra_cost"]),
        "grossMargin": optional(r["gross_margin_pct"]),
        "costTrend": optional(r["cost_trend_pct"], 1), "isNegativeMargin": bool(r["is_negative_margin"]),
        "fullyLoadedCost": money(r["fully_loaded_cost"]), "fullyLoadedMargin": optional(r["fully_loaded_margin_pct"]),
        "missingDays": int(r["missing_days"]),
    })
    return b'{"costBreakdown":' + r["cost_breakdown"].encode() + b"," + fields[1:]
