"""What the cost API's routes depend on: auth, the warehouse, and strict parameters."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Callable, Optional

from fastapi import Depends, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError, OperationalError

from cost_assets.api import security
from cost_assets.resources.database import timeout_setting
from cost_assets.resources.warehouse import Warehouse as WarehouseResource, WarehouseError

MAX_DAYS = 730
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Years 2000 to 9999, as the OpenAPI schema states it (parse_as_of checks the same).
EARLIEST_AS_OF = dt.date(2000, 1, 1)
AS_OF_PATTERN = r"^(2[0-9]{3}|[3-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"

bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class ApiState:
    """What create_app configures, kept on app.state.api for the dependencies."""

    warehouse: WarehouseResource
    token: Optional[str]


def _state(request: Request) -> ApiState:
    return request.app.state.api


def token_accepted(request: Request, credentials: Optional[HTTPAuthorizationCredentials]) -> bool:
    """A bearer token equal to COST_API_TOKEN, or a session cookie signed with it."""
    token = _state(request).token
    if not token:
        return True
    if credentials:
        return hmac.compare_digest(credentials.credentials.encode(), token.encode())
    return security.session_is_valid(request.cookies.get(security.SESSION_COOKIE, ""), token)


async def authorized(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
    if not token_accepted(request, credentials):
        raise HTTPException(status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def _query_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub_dependant in dependant.dependencies:
        names |= _query_names(sub_dependant)
    return names


async def strict_query(request: Request) -> None:
    """A misspelt parameter (`?asof=`) must not silently answer for another day, nor a
    repeated one (`?as_of=A&as_of=B`) for whichever came last."""
    allowed = _query_names(request.scope["route"].dependant)
    counts = Counter(name for name, _ in request.query_params.multi_items())
    errors = [{"loc": ("query", name), "msg": "unknown query parameter", "type": "value_error"}
              for name in sorted(set(counts) - allowed)]
    errors += [{"loc": ("query", name), "msg": f"given {count} times: give it once", "type": "value_error"}
               for name, count in sorted(counts.items()) if count > 1 and name in allowed]
    if errors:
        raise RequestValidationError(errors)


async def parse_as_of(
    as_of: Annotated[Optional[str], Query(json_schema_extra={"format": "date", "pattern": AS_OF_PATTERN},
                                         description="YYYY-MM-DD, from 2000-01-01; default: the latest day with data")] = None,
) -> Optional[dt.date]:
    """A strict YYYY-MM-DD day (pydantic alone would also take `0` as 1970-01-01), from
    EARLIEST_AS_OF: the windows before a day of year 1 would leave the calendar."""
    if as_of is None:
        return None
    day = None
    if re.fullmatch(DAY_PATTERN, as_of):
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            pass
    if day is None:
        raise RequestValidationError(
            [{"loc": ("query", "as_of"), "msg": f"{as_of!r} is not a calendar day (YYYY-MM-DD)", "type": "value_error"}])
    if day < EARLIEST_AS_OF:
        raise RequestValidationError(
            [{"loc": ("query", "as_of"), "msg": f"{as_of} is before {EARLIEST_AS_OF}, the earliest day the API answers for",
              "type": "value_error"}])
    return day


AsOf = Annotated[Optional[dt.date], Depends(parse_as_of)]
Days = Annotated[int, Query(ge=1, le=MAX_DAYS)]
# A service name or customer id as it appears in a path; no NUL byte (PostgreSQL text cannot hold one).
PathName = Annotated[str, PathParam(max_length=128, pattern=r"^[^\x00]+$")]

Rows = Callable[[object], list[dict]]


def warehouse(request: Request) -> Rows:
    """Run one statement on the warehouse, its rows as dicts. The one place the API
    reaches the database: a warehouse that cannot be reached raises WarehouseError."""
    resource = _state(request).warehouse

    def rows(statement) -> list[dict]:
        # Unreachable, or past the API's own timeouts (a locked table, a stalled server): 503.
        try:
            # The API reads only: a schema that is not this release's is refused, never migrated.
            resource.require_current_schema(where="of this API")
            conn = resource.engine.connect()
        except DBAPIError as exc:
            raise WarehouseError(resource.describe_error(exc)) from exc
        with conn:
            try:
                return [dict(r._mapping) for r in conn.execute(statement)]
            except OperationalError as exc:
                if not (exc.connection_invalidated or timeout_setting(str(exc.orig))):
                    raise  # a broken query or schema is a 500, not "try again later"
                raise WarehouseError(resource.describe_error(exc)) from exc

    return rows


Warehouse = Annotated[Rows, Depends(warehouse)]
