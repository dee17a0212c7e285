"""/costs/anomalies: the anomalies of the week up to as_of, each with why it was flagged."""

import datetime as dt

from fastapi import APIRouter

from cost_assets.anomalies.alerts import explanation
from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, money, optional
from cost_assets.api.dependencies import AsOf, Warehouse

router = APIRouter()


@router.get("/costs/anomalies", response_model=models.Anomalies)
def get_anomalies(rows: Warehouse, as_of: AsOf = None):
    return answer({"anomalies": [
        {
            "service": r["service"], "date": day(r["date"]), "currentDaily": money(r["actual_cost"]),
            "expectedDaily": optional(r["expected_cost"]), "impactUsd": money(r["impact_usd"]),
            "deviation": optional(r["score"], 1), "severity": r["severity"], "detector": r["detector"],
            "incidentId": r["incident_id"], "incidentStart": day(r["incident_start"]),
            "isProvisional": bool(r["is_provisional"]),
            "reason": explanation(r, dt.date.fromisoformat(day(r["date"]))),
        }
        for r in rows(queries.anomalies(as_of))
    ]})
