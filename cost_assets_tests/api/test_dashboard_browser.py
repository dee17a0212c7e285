"""The finance dashboard in headless Chromium (Debian's package), signed in through its login page."""

import os
import shutil
from pathlib import Path

import pytest

from cost_assets_tests.api.conftest import TOKEN
from cost_assets_tests.api.test_cli import RunningApi

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "benchmarks" / "out" / "dashboard.png"


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("COST_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (COST_REQUIRE_BROWSER=1) but /usr/bin/chromium is missing")
        pytest.skip("no Chromium here: install Debian's `chromium` package to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield launched
        launched.close()


def test_dashboard_draws_its_charts(api_warehouse, browser):
    api = RunningApi(api_warehouse.resolved_url)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{api.base}/")
        assert "API token" in page.content()  # signed out: the login page
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_function("document.body && document.body.dataset.chartsDrawn === 'anomalies,margins,services,trend'", timeout=30_000)
        assert page.evaluate("document.body.dataset.error") is None
        # Plotly drew real marks: stacked areas per team, one bar per customer with a margin.
        assert page.locator("#trend .scatterlayer .trace").count() == 2
        # The two days the provider still estimates are shaded and labelled.
        assert page.locator("#trend").get_attribute("data-estimated-days") == "2"
        assert "estimated" in page.locator("#trend .annotation").text_content()
        assert page.locator("#trend .shapelayer path").count() == 2
        assert page.locator("#margins .bars .point").count() == 2
        fills = [style for style in page.locator("#margins .bars .point path").evaluate_all("els => els.map(e => e.style.fill)")]
        assert sorted(fills) == ["rgb(18, 183, 106)", "rgb(217, 45, 32)"]  # the loss-making customer is red
        assert page.locator("#anomalies tbody tr").count() == 1
        assert "notifications" in page.locator("#anomalies tbody").inner_text()
        assert "times a usual Tuesday" in page.locator("#anomalies tbody").inner_text()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        api.stop()
