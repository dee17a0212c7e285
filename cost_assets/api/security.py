"""Dashboard sessions, response headers and access-log redaction of the cost API."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Optional
from urllib.parse import parse_qsl, quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "cost_api_session"
SESSION_SECONDS = 12 * 3600

# On every response: no page of the API may be framed (clickjacking), nor sniffed into another type.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
# The dashboard runs only its own script files (no inline script, no eval) and talks only to this
# API; plotly.js styles its charts inline. An injected script would have nowhere to run or send to.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
# FastAPI's API docs load Swagger UI and ReDoc from a CDN with an inline script: framing is all they refuse.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CONTENT_SECURITY_POLICY = "frame-ancestors 'none'"


def content_security_policy(path: str) -> str:
    return DOCS_CONTENT_SECURITY_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY


def _session_key(token: str) -> bytes:
    # Derived from the token: every worker process agrees on it, and a new token ends every session.
    return hmac.new(token.encode(), b"cost-api dashboard session", hashlib.sha256).digest()


def _signature(token: str, payload: str) -> str:
    return hmac.new(_session_key(token), payload.encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: Optional[float] = None) -> str:
    """`expiry.nonce.signature`: proves the token was shown, without being the token."""
    payload = f"{int((now or time.time()) + SESSION_SECONDS)}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_signature(token, payload)}"


def session_is_valid(value: str, token: str, now: Optional[float] = None) -> bool:
    """Signed with this token and not expired; any other value (the token itself included) is not a session."""
    payload, _, signature = value.rpartition(".")
    expires_at = payload.partition(".")[0]
    if not (expires_at.isascii() and expires_at.isdigit()) or int(expires_at) <= (now or time.time()):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, payload).encode())


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """HttpOnly, SameSite=Strict, and Secure when the request came over HTTPS. Behind a
    TLS-terminating proxy, uvicorn takes the scheme from X-Forwarded-Proto when the proxy's
    address is in FORWARDED_ALLOW_IPS (default 127.0.0.1)."""
    response.set_cookie(SESSION_COOKIE, new_session(token), max_age=SESSION_SECONDS, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


class SecurityHeaders:
    """Adds SECURITY_HEADERS and the path's Content-Security-Policy to every response (pure ASGI:
    streaming responses too)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        added = {**SECURITY_HEADERS, "Content-Security-Policy": content_security_policy(scope["path"])}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().title() not in added]
                message = {**message, "headers": headers + [(k.lower().encode(), v.encode()) for k, v in added.items()]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RefuseQueryToken:
    """A token is taken from the Authorization header (or the session cookie) only: one in
    the query string would sit in access logs, proxy logs and browser history. Refused
    with 422, so whoever sent it learns to use the header or the dashboard's /#token=."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            names = sorted({name for name, _ in query if "token" in name.lower()})
            if names:
                response = JSONResponse(status_code=422, content={"detail": [
                    {"loc": ["query", name], "type": "value_error",
                     "msg": "a token is not taken from the query string: send an Authorization: Bearer header, "
                            "or open the dashboard at /#token=..."} for name in names]})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


# The only query parameters whose values the access log shows; any other value
# (a `?token=` pasted by mistake, say) is written as ***.
LOGGED_PARAMETERS = {"as_of", "days"}


def redact_query(path: str) -> str:
    path_only, question, query = path.partition("?")
    if not question:
        return path
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        shown = quote(value, safe="-:") if name in LOGGED_PARAMETERS else "***"
        parts.append(f"{quote(name, safe='_') if name in LOGGED_PARAMETERS else '***'}={shown}")
    return f"{path_only}?{'&'.join(parts)}"


class RedactAccessLog(logging.Filter):
    """uvicorn's access log with query values other than LOGGED_PARAMETERS masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access records: (client address, method, path with query, HTTP version, status).
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], redact_query(record.args[2]), *record.args[3:])
        return True
