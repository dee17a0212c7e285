"""`cost-api`: serve the cost API and dashboard with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from cost_assets import settings
from cost_assets.api.app import create_app
from cost_assets.resources.warehouse import display_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cost-api", description="Serve the cost API (CONTRACT §6) and dashboard.")
    parser.add_argument("--host", default=settings.env("COST_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=settings.int_setting("COST_API_PORT", 8080))
    parser.add_argument("--insecure-no-auth", action="store_true", help="serve without COST_API_TOKEN (local use only)")
    args = parser.parse_args(argv)
    url = settings.warehouse_url()
    try:
        app = create_app(url, settings.env("COST_API_TOKEN"), allow_no_auth=args.insecure_no_auth)
    except ValueError as exc:
        print(f"cost-api: {exc}", file=sys.stderr)
        return 2
    print(f"cost-api: serving warehouse {display_url(url)} on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
