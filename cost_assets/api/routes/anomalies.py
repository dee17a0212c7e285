"""/costs/anomalies: the anomalies of the week up to as_of, each with why it was flagged and its root causes."""

import datetime as dt
from itertools import groupby

from fastapi import APIRouter

from cost_assets.anomalies.alerts import explanation
from cost_assets.anomalies.root_causes import API_DIMENSIONS
from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, money, optional
from cost_assets.api.dependencies import AsOf, Warehouse

router = APIRouter()


def _anomaly(r: dict, causes: list[dict]) -> dict:
    return {
        "service": r["service"], "date": day(r["date"]), "currentDaily": money(r["actual_cost"]),
        "expectedDaily": optional(r["expected_cost"]), "impactUsd": money(r["impact_usd"]),
        "deviation": optional(r["score"], 1), "severity": r["severity"], "detector": r["detector"],
        "incidentId": r["incident_id"], "incidentStart": day(r["incident_start"]),
        "isProvisional": bool(r["is_provisional"]),
        "reason": explanation(r, dt.date.fromisoformat(day(r["date"]))),
        # The query orders them largest first.
        "rootCauses": [
            {"dimension": API_DIMENSIONS[c["cause_dimension"]], "value": c["cause_value"],
             "impactUsd": money(c["cause_impact_usd"])}
            for c in causes if c["cause_dimension"] is not None
        ],
    }


@router.get("/costs/anomalies", response_model=models.Anomalies)
def get_anomalies(rows: Warehouse, as_of: AsOf = None):
    # One row per root cause: consecutive rows of the same anomaly make one item.
    found = groupby(rows(queries.anomalies(as_of)), key=lambda r: (day(r["date"]), r["service"]))
    return answer({"anomalies": [_anomaly(first, [first, *rest]) for _, (first, *rest) in found]})
