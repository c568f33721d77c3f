"""An evaluator's morning: sign in, read the charts and tables of the seeded demo history, switch
to months, and download the CSV for a report, on a desktop and on a phone."""

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, WatchedTab

pytestmark = pytest.mark.browser


@pytest.fixture
def history_server(server):
    server.manage("seed_demo_history")
    return server


def test_an_evaluator_reads_the_figures_and_downloads_them(browser, history_server):
    """On a desktop and on a phone, against one server (seeding the history takes a while)."""
    for viewport in (DESKTOP, PHONE):
        _read_and_download(browser, history_server, viewport)


def _read_and_download(browser, history_server, viewport):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    tab = WatchedTab(context.new_page(), history_server.base_url())
    page = tab.page
    tab.sign_in_with_form("evaluator", landing="**/evaluation/")
    expect(page.get_by_role("heading", name="Figures for evaluators")).to_be_visible()
    expect(page.get_by_role("link", name="Figures")).to_have_attribute("aria-current", "page")

    # Weekly bars of the requests, built from the demo's twenty-six weeks of history.
    requests = page.locator('[data-measure="requests"]')
    expect(requests.get_by_role("heading", name="Sessions requested")).to_be_visible()
    assert requests.locator("svg rect").count() > 10
    # The table is one tap away and holds rounded counts.
    requests.get_by_text("Table: Sessions requested").click()
    table = requests.get_by_role("table")
    expect(table).to_be_visible()
    all_column = [c.strip() for c in table.locator("tbody tr td:last-child").all_inner_texts()]
    assert len(all_column) == 26
    shown = [int(v) for v in all_column if v.isdigit() and int(v) > 0]
    assert len(shown) >= 12 and all(v % 5 == 0 for v in shown)
    # Waiting times as lines of medians and 90th percentiles.
    waits = page.locator('[data-measure="queue_wait"]')
    assert waits.locator("svg polyline").count() >= 2

    # Months: the "Over" choices follow "Show by".
    page.get_by_label("Show by").select_option("month")
    expect(page.get_by_label("Over")).to_have_value("12")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/evaluation/?period=month&count=12")
    expect(page.locator("#evaluation-span")).to_contain_text("12 complete months")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("peerchat-figures-month-")
    text = open(download.path(), encoding="utf-8-sig").read()  # noqa: SIM115 - read once
    rows = list(csv.reader(io.StringIO(text)))
    header = rows.index(next(r for r in rows if r and r[0] == "measure"))
    data = rows[header + 1 :]
    assert data and all(len(r) == len(rows[header]) for r in data)
    requested = [r for r in data if r[0] == "requests" and r[3] == "all" and r[8]]
    assert sum(int(r[8]) for r in requested) > 300

    if viewport is PHONE:
        overflow = page.evaluate(
            "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, "the page should not scroll sideways on a phone"
    assert page.evaluate("window.__cspViolations") == []
    assert tab.console == []
    context.close()
