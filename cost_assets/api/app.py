"""The cost API and finance dashboard: a FastAPI app over the warehouse (see docs/reference.md)."""

from __future__ import annotations

import logging
from typing import Optional

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from cost_assets.api import models
from cost_assets.api.dependencies import ApiState, authorized, strict_query
from cost_assets.api.routes import anomalies, customers, dashboard, forecast, services, teams, trend, waste
from cost_assets.api.security import SECURITY_HEADERS, RefuseQueryToken, SecurityHeaders
from cost_assets.resources.warehouse import SchemaNotCurrentError, Warehouse, WarehouseError
from cost_assets.settings import API_TIMEOUTS, get_settings

log = logging.getLogger("cost_api")
NOT_FOUND = {404: {"model": models.ErrorBody}, 401: {"model": models.ErrorBody}}
RESOURCES = [teams, services, customers, anomalies, trend, waste, forecast]


def api_warehouse(url: str) -> Warehouse:
    """The warehouse as the API uses it: each COST_DB_*_TIMEOUT_S, capped by the API's
    shorter limits, so a stalled database answers 503 while the client still waits."""
    runs = get_settings().db_timeouts
    return Warehouse(url=url, connect_timeout_s=min(runs.connect_s, API_TIMEOUTS.connect_s),
                     statement_timeout_s=min(runs.statement_s or API_TIMEOUTS.statement_s, API_TIMEOUTS.statement_s),
                     lock_timeout_s=min(runs.lock_s or API_TIMEOUTS.lock_s, API_TIMEOUTS.lock_s))


def create_app(warehouse_url: str, token: Optional[str], allow_no_auth: bool = False) -> FastAPI:
    """The app. Without a token it refuses to exist unless `allow_no_auth` says so."""
    if not token and not allow_no_auth:
        raise ValueError("COST_API_TOKEN is not set: refusing to serve cost data without auth (use --insecure-no-auth to override)")
    app = FastAPI(title="Cost API", version="1.0", description="Per-customer, per-service and per-team cloud costs.")
    app.state.api = ApiState(warehouse=api_warehouse(warehouse_url), token=token)
    auth = [Depends(authorized), Depends(strict_query)]
    for resource in RESOURCES:
        app.include_router(resource.router, dependencies=auth, responses=NOT_FOUND)
    app.include_router(dashboard.router)
    app.include_router(dashboard.session_router, dependencies=auth)
    app.add_middleware(RefuseQueryToken)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: the refusal above gets the headers too

    @app.exception_handler(WarehouseError)
    async def _warehouse_unavailable(request: Request, exc: WarehouseError) -> JSONResponse:
        # Every "the database cannot answer now" lands here (cost_assets.api.dependencies.warehouse raises it).
        log.error("warehouse unavailable serving %s: %s", request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": "warehouse unavailable, try again later"},
                            headers={"Retry-After": "30"})

    @app.exception_handler(SchemaNotCurrentError)
    async def _schema_not_current(request: Request, exc: SchemaNotCurrentError) -> JSONResponse:
        # Not "try again later": an operator has to migrate the warehouse; the message says how.
        log.error("serving %s: %s", request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:  # no stack traces to clients
        log.exception("error serving %s", request.url.path)
        # Answered outside the middleware stack (Starlette's ServerErrorMiddleware): add the headers here.
        return JSONResponse(status_code=500, content={"detail": "internal error"}, headers=SECURITY_HEADERS)

    return app
