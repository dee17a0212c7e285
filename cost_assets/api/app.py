"""The cost API and finance dashboard: a FastAPI app over the warehouse (CONTRACT §6)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import orjson
import pandas as pd
import plotly
from fastapi import Depends, FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from cost_assets.anomalies.alerts import explanation
from cost_assets.api import models, queries
from cost_assets.resources.warehouse import engine_for
from cost_assets.waste.report import waste_report

log = logging.getLogger("cost_api")
STATIC = Path(__file__).with_name("static")
# The charting library ships inside the plotly package: no CDN at run time.
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
MAX_DAYS = 730
SESSION_COOKIE = "cost_api_token"
NOT_FOUND = {404: {"model": models.ErrorBody}, 401: {"model": models.ErrorBody}}

DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


async def parse_as_of(
    as_of: Annotated[Optional[str], Query(pattern=DAY_PATTERN, json_schema_extra={"format": "date"},
                                         description="YYYY-MM-DD; default: the latest day with data")] = None,
) -> Optional[dt.date]:
    """A strict YYYY-MM-DD day (pydantic alone would also take `0` as 1970-01-01)."""
    if as_of is None:
        return None
    try:
        return dt.date.fromisoformat(as_of)
    except ValueError:
        raise RequestValidationError(
            [{"loc": ("query", "as_of"), "msg": f"{as_of!r} is not a calendar day", "type": "value_error"}]
        ) from None


AsOf = Annotated[Optional[dt.date], Depends(parse_as_of)]


def _query_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub_dependant in dependant.dependencies:
        names |= _query_names(sub_dependant)
    return names


async def known_parameters_only(request: Request) -> None:
    """A misspelt parameter (`?asof=`) must not silently answer for another day."""
    allowed = _query_names(request.scope["route"].dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": "unknown query parameter", "type": "value_error"} for name in unknown]
        )


def _money(value) -> float:
    return round(float(value), 2)


def _optional(value, digits: int = 2) -> Optional[float]:
    return None if value is None or pd.isna(value) else round(float(value), digits)


def _day(value) -> Optional[str]:
    """A day as YYYY-MM-DD, whether the driver returned a date or a string."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def answer(body: dict) -> Response:
    # Bodies are built as plain JSON here; skipping FastAPI's re-validation of
    # thousands of nested rows is what keeps /costs/customers fast. The
    # response_model still documents the shape, and the tests check it.
    return Response(orjson.dumps(body), media_type="application/json")


def economics_json(r: dict) -> bytes:
    """One customer's economics as JSON, its stored cost_breakdown spliced in as is
    (the warehouse holds it as JSON already: parsing and re-dumping 2,000 of them
    would double the work of /costs/customers)."""
    fields = orjson.dumps({
        "customerId": r["customer_id"], "customerName": r["customer_name"], "asOf": _day(r["as_of_date"]),
        "mrr": _optional(r["mrr"]), "monthlyInfraCost": _money(r["monthly_infra_cost"]),
        "grossMargin": _optional(r["gross_margin_pct"]),
        "costTrend": _optional(r["cost_trend_pct"], 1), "isNegativeMargin": bool(r["is_negative_margin"]),
        "fullyLoadedCost": _money(r["fully_loaded_cost"]), "fullyLoadedMargin": _optional(r["fully_loaded_margin_pct"]),
        "missingDays": int(r["missing_days"]),
    })
    return b'{"costBreakdown":' + r["cost_breakdown"].encode() + b"," + fields[1:]


def create_app(warehouse_url: str, token: Optional[str], allow_no_auth: bool = False) -> FastAPI:
    """The app. Without a token it refuses to exist unless `allow_no_auth` says so."""
    if not token and not allow_no_auth:
        raise ValueError("COST_API_TOKEN is not set: refusing to serve cost data without auth (use --insecure-no-auth to override)")
    engine: Engine = engine_for(warehouse_url)
    app = FastAPI(title="Cost API", version="1.0", description="Per-customer, per-service and per-team cloud costs.")
    bearer = HTTPBearer(auto_error=False)

    async def authorized(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        if not token:
            return
        offered = credentials.credentials if credentials else request.cookies.get(SESSION_COOKIE, "")
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def rows(statement) -> list[dict]:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(statement)]

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:  # no stack traces to clients
        log.exception("error serving %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    auth = [Depends(authorized), Depends(known_parameters_only)]

    @app.get("/costs/teams", response_model=models.Teams, dependencies=auth, responses=NOT_FOUND)
    def get_teams(as_of: AsOf = None):
        found = rows(queries.teams(as_of))
        return answer({
            "asOf": _day(found[0]["as_of_date"] if found else as_of),
            "teams": [{"team": r["team"], "totalCost": _money(r["last_30_days_cost"]), "serviceCount": int(r["service_count"])} for r in found],
        })

    @app.get("/costs/services", response_model=models.Services, dependencies=auth, responses=NOT_FOUND)
    def get_services(as_of: AsOf = None):
        found = rows(queries.services(as_of))
        return answer({
            "asOf": _day(found[0]["as_of_date"] if found else as_of),
            "services": [
                {"service": r["service"], "team": r["team"], "last30DaysCost": _money(r["last_30_days_cost"]),
                 "trend": _optional(r["trend_pct"], 1)}
                for r in found
            ],
        })

    @app.get("/costs/services/{name}", response_model=models.ServiceReport, dependencies=auth, responses=NOT_FOUND)
    def get_service(name: Annotated[str, PathParam(max_length=128)], as_of: AsOf = None):
        found = rows(queries.service(name, as_of))
        if not found:
            raise HTTPException(status_code=404, detail=f"no cost report for service {name!r}")
        r = found[0]
        return answer({
            "service": r["service"], "team": r["team"], "asOf": _day(r["as_of_date"]),
            "last30DaysCost": _money(r["last_30_days_cost"]), "dailyAverage": _money(r["daily_average"]),
            "trend": _optional(r["trend_pct"], 1), "topCostDrivers": json.loads(r["top_cost_drivers"]),
            "costPerRequest": _optional(r["cost_per_request"], 8), "costPerCustomer": _optional(r["cost_per_customer"]),
            "missingDays": int(r["missing_days"]),
        })

    @app.get("/costs/customers/{customer_id}", response_model=models.CustomerEconomics, dependencies=auth, responses=NOT_FOUND)
    def get_customer(customer_id: Annotated[str, PathParam(max_length=128)], as_of: AsOf = None):
        found = rows(queries.customers(as_of, customer_id))
        if not found:
            raise HTTPException(status_code=404, detail=f"no unit economics for customer {customer_id!r}")
        return Response(economics_json(found[0]), media_type="application/json")

    @app.get("/costs/customers/{customer_id}/allocation", response_model=models.CustomerAllocation,
             dependencies=auth, responses=NOT_FOUND)
    def get_customer_allocation(customer_id: Annotated[str, PathParam(max_length=128)],
                                days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30, as_of: AsOf = None):
        found = rows(queries.customer_allocation(customer_id, as_of, days))
        if not found:
            raise HTTPException(status_code=404, detail=f"no cost allocated to customer {customer_id!r} "
                                                        f"in the {days} days to {as_of or 'the latest day'}")
        lines = [
            {"service": r["service"], "method": r["allocation_method"], "rule": r["rule"],
             "allocatedCost": _money(r["allocated_cost"]), "pooledCost": _optional(r["pooled_cost"]),
             "share": _optional(float(r["allocated_cost"]) / float(r["pooled_cost"]), 4) if r["pooled_cost"] else None,
             "days": int(r["days"])}
            for r in found
        ]
        return answer({"customerId": customer_id, "asOf": _day(found[0]["as_of_date"]), "days": days,
                       "total": _money(sum(float(r["allocated_cost"]) for r in found)), "allocation": lines})

    @app.get("/costs/customers", response_model=models.Customers, dependencies=auth, responses=NOT_FOUND)
    def get_customers(as_of: AsOf = None):
        found = rows(queries.customers(as_of))
        as_of_json = orjson.dumps(_day(found[0]["as_of_date"] if found else as_of))
        body = b'{"asOf":' + as_of_json + b',"customers":[' + b",".join(economics_json(r) for r in found) + b"]}"
        return Response(body, media_type="application/json")

    @app.get("/costs/anomalies", response_model=models.Anomalies, dependencies=auth, responses=NOT_FOUND)
    def get_anomalies(as_of: AsOf = None):
        return answer({"anomalies": [
            {
                "service": r["service"], "date": _day(r["date"]), "currentDaily": _money(r["actual_cost"]),
                "expectedDaily": _optional(r["expected_cost"]), "impactUsd": _money(r["impact_usd"]),
                "deviation": _optional(r["score"], 1), "severity": r["severity"], "detector": r["detector"],
                "incidentId": r["incident_id"], "incidentStart": _day(r["incident_start"]),
                "isProvisional": bool(r["is_provisional"]),
                "reason": explanation(r, dt.date.fromisoformat(_day(r["date"]))),
            }
            for r in rows(queries.anomalies(as_of))
        ]})

    @app.get("/costs/trend", response_model=models.Trend, dependencies=auth, responses=NOT_FOUND)
    def get_trend(days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30, as_of: AsOf = None):
        trend: dict[str, dict] = {}
        for r in rows(queries.trend(as_of, days)):
            day = trend.setdefault(_day(r["date"]),
                                   {"date": _day(r["date"]), "total": 0.0, "byTeam": {}, "isEstimated": False})
            day["byTeam"][r["team"]] = _money(r["cost"])
            day["total"] += float(r["cost"])
            day["isEstimated"] = day["isEstimated"] or bool(r["is_estimated"])
        for day in trend.values():
            day["total"] = _money(day["total"])
        return answer({"trend": list(trend.values())})

    @app.get("/costs/waste", response_model=models.Waste, dependencies=auth, responses=NOT_FOUND)
    def get_waste(as_of: AsOf = None):
        """Non-production spend outside working hours and what scheduling would save (trailing 30 days)."""
        found = pd.DataFrame(rows(queries.waste(as_of)))
        return answer(waste_report(found, as_of))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
        try:
            await authorized(request, credentials)
        except HTTPException:
            return FileResponse(STATIC / "login.html", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return FileResponse(STATIC / "dashboard.html")

    @app.post("/session", include_in_schema=False, dependencies=auth)
    def start_session(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
        """Trade a bearer token for an HttpOnly cookie, so the dashboard page can load."""
        response = JSONResponse({"ok": True})
        if token and credentials:
            response.set_cookie(SESSION_COOKIE, credentials.credentials, httponly=True, samesite="strict")
        return response

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]+$")]):
        path = PLOTLY_JS if name == PLOTLY_JS.name else STATIC / name
        if not path.is_file():
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(path)

    return app
