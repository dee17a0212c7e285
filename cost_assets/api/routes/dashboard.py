"""The finance dashboard: its page, sign-in (a bearer token traded for a session cookie) and static files."""

from pathlib import Path
from typing import Annotated, Optional

import plotly
from fastapi import APIRouter, Depends, HTTPException, Path as PathParam, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from cost_assets.api.dependencies import bearer, token_accepted
from cost_assets.api.security import set_session_cookie

STATIC = Path(__file__).parents[1] / "static"
# The charting library ships inside the plotly package: no CDN at run time.
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
    if not token_accepted(request, credentials):
        return FileResponse(STATIC / "login.html", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return FileResponse(STATIC / "dashboard.html")


# Mounted with the auth dependencies: only a right bearer token gets here.
session_router = APIRouter(include_in_schema=False)


@session_router.post("/session")
def start_session(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
    """Trade the bearer token for a signed session cookie (not the token), so the dashboard page can load."""
    response = JSONResponse({"ok": True})
    token = request.app.state.api.token
    if token and credentials:
        set_session_cookie(response, request, token)
    return response


@router.get("/static/{name}")
def static(name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]+$")]):
    path = PLOTLY_JS if name == PLOTLY_JS.name else STATIC / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(path)
