"""The whole journey in real browsers, across two daphne processes on PostgreSQL + Redis.

A seeker with no account, on a phone, on one process; a trained supporter on shift, on a
desktop, on the other. Agreement → waiting room → chat → close → feedback and handover note.
Everything that crosses between the two people crosses between the two processes, so it goes
through Redis: the match, the messages, the end of the chat.
"""

import re

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CSP_WATCH, DESKTOP, PHONE, browser
from tests.servers import DEMO_PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

__all__ = ["browser"]  # the module-scoped Chromium fixture, used by name

AGREE = "I agree — find me a supporter"
NOTE_LABEL = (
    "Short note for the team: what helped, anything the next supporter should know. Staff only."
)


@pytest.fixture
def _empty_channel_layer():
    """Replace the suite's async fixture: Playwright's sync API refuses to run in a loop."""
    return


def database_row(topology, sql: str, *params):
    with psycopg.connect(topology.env["DATABASE_URL"], connect_timeout=5) as connection:
        return connection.execute(sql, params).fetchone()


def test_a_seeker_reaches_a_supporter_and_closes_kindly_across_processes(topology, browser):
    seeker_context = browser.new_context(viewport=PHONE)
    staff_context = browser.new_context(viewport=DESKTOP)
    seeker, staff = seeker_context.new_page(), staff_context.new_page()
    for page in (seeker, staff):
        page.add_init_script(CSP_WATCH)
    on_shift = False
    try:
        # The seeker arrives on process 0 with no account; nobody is on shift yet.
        seeker.goto(topology.base_url(0) + "/")
        seeker.get_by_role("button", name="Start without signing up").click()
        seeker.wait_for_url("**/support/")
        expect(seeker.get_by_role("heading", name="Before you start", exact=True)).to_be_visible()
        expect(seeker.get_by_role("region", name="Your privacy")).to_contain_text(
            "Who can read this chat"
        )
        seeker.get_by_role("group", name="Are you safe right now?").get_by_label(
            "Not sure", exact=True
        ).check()
        expect(
            seeker.get_by_role("region", name="You don't have to wait to get help")
        ).to_be_visible()
        seeker.get_by_role("button", name=AGREE).click()
        expect(seeker.get_by_role("heading", name=re.compile("wait", re.I)).first).to_be_visible()
        expect(seeker.locator("#queue-estimate")).to_contain_text("Nobody is on shift")
        handle = seeker.request.get(topology.base_url(0) + "/api/v1/me").json()["handle"]

        # The supporter signs in on process 1 and goes on shift: the match is made there and
        # reaches the seeker's page on process 0 by itself.
        staff.goto(topology.base_url(1) + "/accounts/login/")
        staff.get_by_label("Username").fill("supporter1")
        staff.get_by_label("Password").fill(DEMO_PASSWORD)
        staff.get_by_role("button", name="Sign in").click()
        staff.wait_for_url("**/staff/")
        staff.get_by_role("button", name="Start shift").click()
        on_shift = True
        seeker_composer = seeker.get_by_role("textbox", name="Message to Alex")
        expect(seeker_composer).to_be_visible(timeout=15_000)
        pane = staff.get_by_role("region", name=handle, exact=True)
        expect(pane).to_be_visible()

        # Both talk; each message crosses the processes.
        seeker_composer.fill("A placeholder first message.")
        seeker_composer.press("Enter")
        expect(pane.locator(".message-body")).to_have_text(["A placeholder first message."])
        staff_composer = pane.get_by_role("textbox", name=f"Message to {handle}")
        staff_composer.fill("Thank you for reaching out. I'm here.")
        staff_composer.press("Enter")
        expect(seeker.locator("#support-pane .message-body")).to_have_text(
            ["A placeholder first message.", "Thank you for reaching out. I'm here."]
        )

        # The seeker ends the chat: feedback for them, a handover note for the supporter.
        seeker.get_by_role("button", name="End chat").click()
        seeker.get_by_role("button", name="Yes, end the chat").click()
        seeker.get_by_role("group", name="Did you feel listened to?").get_by_label("5").check()
        seeker.get_by_role("group", name="Would you come back?").get_by_label("Yes").check()
        seeker.get_by_role("button", name="Send", exact=True).click()
        expect(seeker.get_by_role("button", name="Start a new chat")).to_be_visible()

        note = pane.get_by_label(NOTE_LABEL)
        expect(note).to_be_visible()
        note.fill("A placeholder handover note.")
        pane.get_by_role("button", name=re.compile("Save", re.I)).click()
        expect(pane.get_by_label(NOTE_LABEL)).to_be_hidden()

        state, reason, urgent, listened, would_return, version = database_row(
            topology,
            """
            SELECT s.state, s.end_reason, r.urgent, f.listened, f.would_return, a.version
            FROM peerchat_supportsession s
            JOIN peerchat_supportrequest r ON r.id = s.request_id
            JOIN peerchat_feedback f ON f.session_id = s.id
            JOIN peerchat_agreement a ON a.id = r.agreement_id
            JOIN peerchat_user u ON u.id = s.seeker_id
            WHERE u.handle = %s
            """,
            handle,
        )
        assert (state, reason, urgent, listened, would_return) == (
            "ended",
            "seeker_ended",
            True,
            5,
            "yes",
        )
        assert version >= 1
        (notes,) = database_row(
            topology,
            "SELECT count(*) FROM peerchat_handovernote n JOIN peerchat_supportsession s "
            "ON s.id = n.session_id JOIN peerchat_user u ON u.id = s.seeker_id "
            "WHERE u.handle = %s AND n.kind = 'close'",
            handle,
        )
        assert notes == 1
        for page in (seeker, staff):
            assert page.evaluate("window.__cspViolations") == []
    finally:
        if on_shift:
            staff.request.post(
                topology.base_url(1) + "/api/v1/staff/shift",
                data={"action": "end"},
                headers={
                    "X-CSRFToken": next(
                        c["value"] for c in staff_context.cookies() if c["name"] == "csrftoken"
                    ),
                    "Referer": topology.base_url(1) + "/",
                },
            )
        seeker_context.close()
        staff_context.close()
