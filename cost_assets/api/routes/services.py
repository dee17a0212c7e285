"""/costs/services and /costs/services/{name}: each service's cost report."""

import json

from fastapi import APIRouter, HTTPException

from cost_assets.api import models, queries
from cost_assets.api.bodies import answer, day, money, optional
from cost_assets.api.dependencies import AsOf, PathName, Warehouse

router = APIRouter()


@router.get("/costs/services", response_model=models.Services)
def get_services(rows: Warehouse, as_of: AsOf = None):
    found = rows(queries.services(as_of))
    return answer({
        "asOf": day(found[0]["as_of_date"] if found else as_of),
        "services": [
            {"service": r["service"], "team": r["team"], "last30DaysCost": money(r["last_30_days_cost"]),
             "trend": optional(r["trend_pct"], 1)}
            for r in found
        ],
    })


@router.get("/costs/services/{name}", response_model=models.ServiceReport)
def get_service(rows: Warehouse, name: PathName, as_of: AsOf = None):
    found = rows(queries.service(name, as_of))
    if not found:
        raise HTTPException(status_code=404, detail=f"no cost report for service {name!r}")
    r = found[0]
    return answer({
        "service": r["service"], "team": r["team"], "asOf": day(r["as_of_date"]),
        "last30DaysCost": money(r["last_30_days_cost"]), "dailyAverage": money(r["daily_average"]),
        "trend": optional(r["trend_pct"], 1), "topCostDrivers": json.loads(r["top_cost_drivers"]),
        "costPerRequest": optional(r["cost_per_request"], 8), "costPerCustomer": optional(r["cost_per_customer"]),
        "missingDays": int(r["missing_days"]),
    })
