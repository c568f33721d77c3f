"""Two-factor sign-in in a real browser, on a phone: a supporter signs in with their password,
sets up an authenticator app by typing the key shown as text (as someone who cannot scan the QR
code on their own screen would), confirms with a code, sees the backup codes, and reaches their
page with its socket connected; then signs out and back in with a code. No page trips the CSP.

The server runs with STAFF_TWO_FACTOR=1 (the demo accounts otherwise sign in with a password
alone). The codes are computed from the key read off the page (tests/otp.py, RFC 6238).
"""

import time
from base64 import b32decode

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, PHONE, WatchedTab
from tests.otp import totp

pytestmark = pytest.mark.browser


def assert_page_clean(tab: WatchedTab) -> None:
    """No CSP refusals on the page now open (each page load starts its own list)."""
    assert tab.page.evaluate("window.__cspViolations") == []


@pytest.mark.parametrize("server", [{"STAFF_TWO_FACTOR": "1"}], indirect=True)
def test_a_supporter_sets_up_two_factor_on_a_phone_and_reaches_their_page(browser, server):
    context = browser.new_context(viewport=PHONE)
    try:
        tab = WatchedTab(context.new_page(), server.base_url())
        page = tab.page
        page.goto(tab.base_url + "/accounts/login/")
        page.get_by_label("Username").fill("supporter1")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.wait_for_url("**/accounts/two-factor/setup/?next=/after-sign-in/")
        expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
        qr = page.get_by_role("img", name="QR code of the key shown below")
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box["width"] >= 150 and abs(box["width"] - box["height"]) < 2, box
        assert box["x"] + box["width"] <= PHONE["width"]  # fits the phone's screen
        # The site's own links are hidden until the code is given; signing out is not.
        expect(page.get_by_role("navigation", name="Site")).to_have_count(0)
        expect(page.get_by_role("button", name="Not now: sign out")).to_be_visible()
        assert_page_clean(tab)

        key = b32decode(page.locator("#two-factor-key").inner_text().replace(" ", ""))
        page.get_by_label("The 6-digit code the app shows now").fill(totp(key, time.time()))
        page.get_by_role("button", name="Confirm").click()

        page.wait_for_url("**/accounts/two-factor/backup-codes/**")
        codes = page.get_by_role("list", name="Backup codes").get_by_role("listitem")
        expect(codes).to_have_count(10)
        assert_page_clean(tab)
        page.get_by_role("link", name="I've saved them: continue").click()

        page.wait_for_url("**/staff/")
        expect(page.locator("#connection-status")).to_have_text("Connected")
        expect(page.locator("#shift-state")).not_to_have_text("Checking your shift…")
        assert_page_clean(tab)

        # Next time: the password, then the code (a later one: each is accepted once).
        page.get_by_role("button", name="Sign out").first.click()
        page.wait_for_url(tab.base_url + "/")
        page.goto(tab.base_url + "/accounts/login/?next=/staff/")
        page.get_by_label("Username").fill("supporter1")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/accounts/two-factor/?next=/staff/")
        assert_page_clean(tab)
        page.get_by_label("6-digit code").fill(totp(key, time.time() + 30))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/staff/")
        expect(page.locator("#connection-status")).to_have_text("Connected")
        assert_page_clean(tab)
        assert tab.console == []
    finally:
        context.close()
