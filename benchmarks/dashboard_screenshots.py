"""Screenshots of the dashboard on the demo company, for the README: the overview and the page
of the customer with the most negative margin (docs/screenshots/overview.png, customer.png).

Run by hand:  .venv/bin/python benchmarks/dashboard_screenshots.py [--warehouse benchmarks/out/demo.db]

Without that warehouse file it first materializes the demo's 2026-08-20..2026-11-26 into it
(`python -m cost_assets.demo.run`, a few minutes), then serves it with `cost-api` and takes
the pictures in Debian's headless Chromium (`/usr/bin/chromium`) through playwright.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
FIRST, LAST = "2026-08-20", "2026-11-26"  # 99 days: the 90-day charts are full, the Lambda spike is inside
# The last day of the Lambda incident (COST_DEMO_SPIKE_START's default, 2026-11-10, plus 3 days): the
# overview lists it as an open anomaly.
AS_OF = "2026-11-13"
TOKEN = "screenshot-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def materialize_demo(database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "DAGSTER_HOME": home, "COST_WAREHOUSE_URL": f"sqlite:///{database}",
               "COST_DEMO_SPIKE_START": "2026-11-10"}
        subprocess.run([sys.executable, "-m", "cost_assets.demo.run", "--from", FIRST, "--to", LAST],
                       env=env, cwd=ROOT, check=True)


def serve(database: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "COST_WAREHOUSE_URL": f"sqlite:///{database}", "COST_API_TOKEN": TOKEN}
    process = subprocess.Popen([str(Path(sys.executable).with_name("cost-api")), "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("cost-api did not start")


def wait_rendered(page, fragment: str) -> None:
    page.wait_for_function("(want) => document.body && (document.body.dataset.rendered === want || document.body.dataset.error)",
                           arg=fragment, timeout=60_000)
    if page.evaluate("document.body.dataset.error"):
        raise RuntimeError(f"the dashboard failed: {page.evaluate('document.body.dataset.error')}")
    page.wait_for_timeout(500)  # plotly's transitions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "benchmarks" / "out" / "demo.db")
    args = parser.parse_args()
    database = args.warehouse.resolve()
    if not database.exists():
        materialize_demo(database)
    process, base = serve(database)
    try:
        customers = httpx.get(f"{base}/costs/customers?as_of={AS_OF}", headers={"Authorization": f"Bearer {TOKEN}"}).json()["customers"]
        worst = min((c for c in customers if c["grossMargin"] is not None), key=lambda c: c["grossMargin"])
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/#token={TOKEN}")
            wait_rendered(page, "#view=overview")
            page.goto(f"{base}/#view=overview&as_of={AS_OF}")
            wait_rendered(page, f"#view=overview&as_of={AS_OF}")
            OUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT / "overview.png"), full_page=True)
            page.goto(f"{base}/#view=customer&id={worst['customerId']}&as_of={AS_OF}")
            wait_rendered(page, f"#view=customer&id={worst['customerId']}&as_of={AS_OF}")
            page.screenshot(path=str(OUT / "customer.png"), full_page=True)
            browser.close()
        print(f"wrote {OUT / 'overview.png'} and {OUT / 'customer.png'} ({worst['customerName']}, {worst['customerId']})")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
