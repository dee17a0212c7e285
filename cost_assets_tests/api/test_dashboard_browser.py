"""The finance dashboard in headless Chromium (Debian's package), signed in through its login page:
its charts, a drill-down from the margin chart to a customer's page whose figures equal the API's to
the cent and whose CSVs add up, another as_of, and a list of 2,000 customers searched and paged."""

import csv
import datetime as dt
import io
import os
import shutil
from pathlib import Path

import httpx
import pytest

from cost_assets.resources import schema
from cost_assets_tests.api.conftest import AUTH, EARLIER, TOKEN, _economics
from cost_assets_tests.api.test_cli import RunningApi

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "benchmarks" / "out" / "dashboard.png"
FIGURES = ["mrr", "monthlyInfraCost", "grossMargin", "fullyLoadedCost", "fullyLoadedMargin"]


@pytest.fixture(scope="module")
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


# Records what the Content-Security-Policy blocked (a blocked script or style would break the page quietly).
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
                          (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def new_page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    return page


def assert_no_csp_violations(page) -> None:
    assert page.evaluate("window.cspViolations") == []


def insert(warehouse, table, rows: list[dict]) -> None:
    with warehouse.transaction() as conn:
        conn.execute(table.insert(), rows)


def shown_number(text: str) -> float:
    """'-$1,234.56' or '-50.00%' as the number it shows."""
    return float(text.replace("$", "").replace(",", "").replace("%", ""))


def wait_rendered(page, fragment: str) -> None:
    page.wait_for_function("(want) => document.body && (document.body.dataset.rendered === want || document.body.dataset.error)",
                           arg=fragment, timeout=30_000)
    assert page.evaluate("document.body.dataset.error") is None
    assert page.evaluate("document.body.dataset.rendered") == fragment


def check_figures(page, economics: dict) -> None:
    for field in FIGURES:
        figure = page.locator(f"#customer .figure[data-field={field}]")
        assert float(figure.get_attribute("data-value")) == economics[field], field
        assert shown_number(figure.locator("strong").inner_text()) == economics[field], field


def download_csv(page, table: str) -> list[dict]:
    with page.expect_download() as download:
        page.click(f"button.csv[data-table={table}]")
    return list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))


def test_dashboard_draws_its_charts_and_drills_down_to_a_customer(api_warehouse, browser):
    # Loss Co as of the day before too, with other figures: what changing as_of must show.
    insert(api_warehouse, schema.customer_unit_economics, [_economics(EARLIER, "c2", "Loss Co", 1000.0, 1234.56, -23.46)])
    api = RunningApi(api_warehouse.resolved_url)
    try:
        get = lambda path: httpx.get(f"{api.base}{path}", headers=AUTH).json()  # noqa: E731
        worst = min((c for c in get("/costs/customers")["customers"] if c["grossMargin"] is not None),
                    key=lambda c: c["grossMargin"])
        page = new_page(browser)
        page.goto(f"{api.base}/")
        assert "API token" in page.content()  # signed out: the login page
        assert_no_csp_violations(page)
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_function("() => document.body && document.body.dataset.chartsDrawn === 'anomalies,margins,services,trend'", timeout=30_000)
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
        # Its root causes, by dollars, as /costs/anomalies gives them.
        causes = page.locator("#anomalies tbody td").nth(7).inner_text()
        for cause in get("/costs/anomalies")["anomalies"][0]["rootCauses"]:
            assert f"{cause['value']}: ${cause['impactUsd']:,.2f}" in causes
        assert causes.startswith("account 111111111111: $3,955.00;") and "provider service AWS Lambda: $3,950.00" in causes
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 10_000

        # Click the most negative bar of the margin chart, where the user would.
        lowest = page.evaluate("() => { const x = document.getElementById('margins').data[0].x; return x.indexOf(Math.min(...x)); }")
        box = page.locator("#margins .bars .point").nth(lowest).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        wait_rendered(page, f"#view=customer&id={worst['customerId']}")

        economics = get(f"/costs/customers/{worst['customerId']}")
        check_figures(page, economics)
        assert page.locator("#cost-mrr .scatterlayer .trace").count() == 3
        assert page.locator("#margin-history .scatterlayer .trace").count() == 2

        # The allocation explanation: a row per service, method and rule, with the pool, driver and share.
        allocation = get(f"/costs/customers/{worst['customerId']}/allocation?days=30")
        rows = page.locator("#allocation tbody tr")
        assert rows.count() == len(allocation["allocation"]) == 2
        for i, line in enumerate(allocation["allocation"]):
            cells = rows.nth(i).locator("td").all_inner_texts()
            assert cells[:3] == [line["service"], line["method"], line["rule"]]
            assert shown_number(cells[3]) == line["pooledCost"] and shown_number(cells[5]) == line["allocatedCost"]
            assert shown_number(cells[4]) == round(line["share"] * 100, 2)
        shared = page.locator("#allocation tbody tr", has_text="shared-db by requests").locator("td").all_inner_texts()
        assert shared[3:5] == ["$200.00", "37.50%"]  # $75 of two days of a $100 pool

        # Each CSV adds up to the total shown under its table, which is the API's.
        by_service = download_csv(page, "cost-by-service")
        shown_total = float(page.locator("#cost-by-service tfoot td.num").get_attribute("data-value"))
        assert round(sum(float(r["cost"]) for r in by_service), 2) == shown_total == economics["monthlyInfraCost"]
        assert [r["service"] for r in by_service] == [b["service"] for b in economics["costBreakdown"]]
        placed = download_csv(page, "allocation")
        shown_total = float(page.locator("#allocation tfoot td.num[data-value]").get_attribute("data-value"))
        assert round(sum(float(r["customer's cost"]) for r in placed), 2) == shown_total == allocation["total"]

        # One stacked bar per service (largest on top), a trace per method.
        assert page.evaluate("document.getElementById('cost-by-method').data.map(t => [t.name, t.y, t.x])") == [
            ["direct", ["shared-db", "worker"], [0, 90]], ["usage_proportional", ["shared-db", "worker"], [75, 0]]]

        # On to the service, its team and the waste page: each the API's figures.
        page.click("#allocation tbody a:text-is('shared-db')")
        wait_rendered(page, "#view=service&id=shared-db")
        report = get("/costs/services/shared-db")
        assert float(page.locator("#service .figure[data-field=last30DaysCost]").get_attribute("data-value")) == report["last30DaysCost"]
        assert page.locator("#service-customers tbody tr").count() == 4  # c1, c2, c3 (no MRR) and c5 (no cost) of the list
        page.click("#service .figure[data-field=team] a")
        wait_rendered(page, "#view=team&id=platform")
        assert page.locator("#team .figure[data-field=totalCost] strong").inner_text() == "$3,000.00"
        assert page.locator("#service-list tbody tr").count() == 2  # shared-db and cdn
        page.click("nav a[data-view=waste]")
        wait_rendered(page, "#view=waste")
        assert float(page.locator("#waste .figure[data-field=totalCost]").get_attribute("data-value")) == get("/costs/waste")["totalCost"]
        page.goto(f"{api.base}/#view=customer&id={worst['customerId']}")
        wait_rendered(page, f"#view=customer&id={worst['customerId']}")

        # Another day: other figures, the API's for that day, and the day is in the URL.
        page.fill("#as-of-picker", EARLIER.isoformat())
        wait_rendered(page, f"#view=customer&id={worst['customerId']}&as_of={EARLIER}")
        earlier = get(f"/costs/customers/{worst['customerId']}?as_of={EARLIER}")
        assert earlier["monthlyInfraCost"] == 1234.56 != economics["monthlyInfraCost"]
        check_figures(page, earlier)
        assert page.locator("#allocation tfoot td.num[data-value]").get_attribute("data-value") == "85"  # 30 + 30 + 25

        # The URL is the state: opened anew, it shows the same page.
        shared_page = new_page(browser)
        shared_page.context.add_cookies(page.context.cookies())
        shared_page.goto(page.url)
        wait_rendered(shared_page, f"#view=customer&id={worst['customerId']}&as_of={EARLIER}")
        check_figures(shared_page, earlier)
        assert_no_csp_violations(page)  # every chart drawn under the dashboard's Content-Security-Policy
        assert_no_csp_violations(shared_page)
    finally:
        api.stop()


def test_2000_customers_are_searched_and_paged(sqlite_warehouse, browser):
    # Search and paging happen in the page; the API's list on PostgreSQL is test_api's.
    warehouse = sqlite_warehouse
    day = dt.date(2026, 3, 31)
    insert(warehouse, schema.customer_unit_economics,
           [_economics(day, f"cust-{n:04d}", f"Customer {n:04d}", 1000.0, float(n % 700), 100 - (n % 700) / 10)
            for n in range(2000)])
    api = RunningApi(warehouse.resolved_url)
    try:
        # A shared link, opened signed out: the login page, then the page the link points to.
        page = new_page(browser)
        page.goto(f"{api.base}/#view=customers")
        assert_no_csp_violations(page)
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        wait_rendered(page, "#view=customers")
        assert page.evaluate("window.Plotly") is None  # a list without charts does not wait for plotly.js
        assert page.locator(".count").get_attribute("data-count") == "2000"
        assert page.locator("#customer-list tbody tr").count() == 50
        assert page.locator(".pager").get_attribute("data-pages") == "40"
        # Lowest margin first: customer 699 (cost $699 on $1,000) heads the list.
        assert page.locator("#customer-list tbody tr").first.locator("td").nth(1).inner_text() == "cust-0699"

        page.click(".pager a.page-link[data-page='2']")
        wait_rendered(page, "#view=customers&page=2")
        assert page.locator(".pager").get_attribute("data-page") == "2"
        assert page.locator("#customer-list tbody tr").first.locator("td").nth(1).inner_text() == "cust-0674"  # two customers per cost: page 1 held 699..675

        page.fill("#search", "customer 1999")  # filtered as one types, without a round trip
        page.wait_for_function("() => document.querySelector('.count').dataset.count === '1'", timeout=5_000)
        assert page.url.endswith("#view=customers&q=customer+1999")
        page.click("#customer-list tbody a")
        wait_rendered(page, "#view=customer&id=cust-1999")
        assert page.locator("#customer .figure[data-field=monthlyInfraCost]").get_attribute("data-value") == str(1999 % 700)
        assert_no_csp_violations(page)
    finally:
        api.stop()
