"""`cost-api`: serve the cost API and dashboard with uvicorn."""

from __future__ import annotations

import argparse
import copy
import os
import sys

import uvicorn
import uvicorn.config
from fastapi import FastAPI

from cost_assets import settings
from cost_assets.api.app import create_app
from cost_assets.resources.warehouse import display_url

# Set by --insecure-no-auth for the worker processes, which build their own app.
NO_AUTH_FLAG = "COST_API_INSECURE_NO_AUTH"


def app_from_settings() -> FastAPI:
    """The app as configured by the environment (uvicorn's factory, one per worker)."""
    config = settings.get_settings()
    return create_app(config.warehouse_url, config.api_token, allow_no_auth=settings.env(NO_AUTH_FLAG) == "1")


def log_config() -> dict:
    """uvicorn's logging, its access log passed through RedactAccessLog (no token in a query string reaches it)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": "cost_assets.api.security.RedactAccessLog"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_query"]
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cost-api", description="Serve the cost API (docs/reference.md#cost-api) and dashboard.")
    try:
        config = settings.get_settings()
    except settings.SettingError as exc:
        print(f"cost-api: {exc}", file=sys.stderr)
        return 2
    parser.add_argument("--host", default=config.api_host)
    parser.add_argument("--port", type=int, default=config.api_port)
    parser.add_argument("--workers", type=int, default=config.api_workers,
                        help="worker processes (COST_API_WORKERS); one per core serves concurrent clients best")
    parser.add_argument("--insecure-no-auth", action="store_true", help="serve without COST_API_TOKEN (local use only)")
    args = parser.parse_args(argv)
    if args.insecure_no_auth:
        os.environ[NO_AUTH_FLAG] = "1"
    try:
        app_from_settings()  # fail here, with the reason, rather than in every worker
    except ValueError as exc:
        print(f"cost-api: {exc}", file=sys.stderr)
        return 2
    print(f"cost-api: serving warehouse {display_url(config.warehouse_url)} on http://{args.host}:{args.port}",
          file=sys.stderr)
    uvicorn.run("cost_assets.api.cli:app_from_settings", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info", log_config=log_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
