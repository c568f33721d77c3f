"""The content filter as the people in a chat meet it: a seeker's message held for a moderator
(seen only by its sender, with a kind note and where help is, again after a reload) until the
moderator shares it; a message behind a content warning that the supporter chooses to read; and
someone who may be in danger, heard by their supporter and put first on the review page.

Three real browsers on one server (`run_topology`, one daphne process, the demo accounts): the
seeker on their phone at /support/, Alex the supporter at /staff/, Kai the moderator at
/moderation/. The phrases are the harmless placeholders the filter's own tests use as
positives; nothing here describes a real method.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, WatchedTab

pytestmark = pytest.mark.browser

HELD = "how many pills would it take"
GRAPHIC = "there was blood everywhere and it wouldnt stop"
DANGER = "im going to do it tonight"
ALLOWED = "holding ice helped me a lot"
ONLY_YOU = "Only you can see this for now"

CONFLICT_LOG = "the server responded with a status of 409 (Conflict)"


class Tab(WatchedTab):
    """One person's browser tab, with what its console said and what the CSP refused."""

    def __init__(self, browser, base_url: str, viewport: dict):
        self.context = browser.new_context(viewport=viewport)
        super().__init__(self.context.new_page(), base_url)
        self.csp: list[str] = []

    def sign_in(self, username: str, landing: str) -> None:
        self.sign_in_with_form(username, next_path=landing, landing="**" + landing)
        expect(self.page.locator("#connection-status")).to_have_text("Connected")

    def check_csp(self) -> None:
        """Collect this document's CSP refusals (call before every reload)."""
        self.csp.extend(self.page.evaluate("window.__cspViolations || []"))

    def assert_clean(self) -> None:
        self.check_csp()
        assert self.csp == [], self.csp
        assert [line for line in self.console if CONFLICT_LOG not in line] == [], self.console

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser, server):
    opened: list[Tab] = []

    def open_(viewport: dict = DESKTOP) -> Tab:
        tab = Tab(browser, server.base_url(), viewport)
        opened.append(tab)
        return tab

    yield open_
    for tab in opened:
        tab.close()


def start_chat(tabs):
    """Alex goes on shift at /staff/; a seeker asks on their phone; the chat starts on both."""
    alex = tabs()
    alex.sign_in("supporter1", "/staff/")
    alex.page.get_by_role("button", name="Start shift").click()
    expect(alex.page.locator("#shift-state")).to_have_text(
        "You're on shift. New chats come to you as places free up."
    )
    seeker = tabs(PHONE)
    seeker.page.goto(seeker.base_url + "/support/")
    seeker.page.get_by_role("button", name="Talk to someone").click()
    seeker.page.get_by_role("button", name="I agree — find me a supporter").click()
    expect(seeker.page.get_by_role("heading", name="Chat with Alex", level=1)).to_be_visible()
    handle = seeker.page.request.get(seeker.base_url + "/api/v1/me").json()["handle"]
    pane = alex.page.get_by_role("region", name=handle, exact=True)
    expect(pane).to_be_visible()
    return seeker, alex, handle, pane


def say(seeker: Tab, text: str) -> None:
    composer = seeker.page.get_by_role("textbox", name="Message to Alex")
    composer.fill(text)
    composer.press("Enter")


def seeker_bubbles(seeker: Tab):
    return seeker.page.locator("#support-pane .messages > li")


def delivered_bodies(tab_page_or_pane):
    return tab_page_or_pane.locator(".messages > li[data-seq] .message-body")


def test_a_held_message_waits_for_a_moderator_then_reaches_the_chat(tabs):
    seeker, alex, handle, pane = start_chat(tabs)
    kai = tabs()
    kai.sign_in("moderator", "/moderation/")
    expect(kai.page.locator("#review")).to_have_attribute("data-view", "ready")

    # Held: only the seeker sees it, with a kind note and the free numbers under it.
    say(seeker, HELD)
    mine = seeker.page.locator("#support-pane .message--pending")
    expect(mine).to_have_count(1)
    expect(mine.locator(".message-body")).to_have_text(HELD)
    expect(mine.locator(".message-note")).to_contain_text(ONLY_YOU)
    expect(mine.locator(".message-note")).to_contain_text("your supporter is still here")
    expect(mine.get_by_role("link", name=re.compile("^Samaritans"))).to_have_attribute(
        "href", "tel:116123"
    )
    expect(mine.get_by_role("list", name="Free help, any time")).to_be_visible()
    expect(mine).not_to_contain_text("Sending")

    # They keep talking; Alex sees that, not the held message.
    say(seeker, ALLOWED)
    expect(delivered_bodies(pane)).to_have_text([ALLOWED])
    expect(pane).not_to_contain_text(HELD)
    expect(delivered_bodies(seeker.page.locator("#support-pane"))).to_have_text([ALLOWED])
    expect(seeker_bubbles(seeker).last).to_contain_text(HELD)  # still theirs, still waiting

    # After a reload the held message is there again, marked the same way (from `joined`).
    seeker.check_csp()
    seeker.page.reload()
    expect(seeker.page.get_by_role("heading", name="Chat with Alex", level=1)).to_be_visible()
    expect(delivered_bodies(seeker.page.locator("#support-pane"))).to_have_text([ALLOWED])
    mine = seeker.page.locator("#support-pane .message--pending")
    expect(mine).to_have_count(1)
    expect(mine.locator(".message-body")).to_have_text(HELD)
    expect(mine.locator(".message-note")).to_contain_text(ONLY_YOU)

    # Kai sees it live and shares it; both sides get it as the room's next message.
    card = kai.page.locator("#waiting-list > li").filter(has_text=HELD)
    expect(card).to_contain_text(f"Chat: {handle} with Alex")
    expect(card.get_by_role("heading", level=3)).to_have_text(f"{handle} (seeker)")
    card.get_by_role("button", name="Share with the room").click()
    expect(kai.page.locator("#decided-list > li").filter(has_text=HELD)).to_contain_text(
        "Shared with the room by Kai (moderator)"
    )

    expect(delivered_bodies(pane)).to_have_text([ALLOWED, HELD])
    expect(delivered_bodies(seeker.page.locator("#support-pane"))).to_have_text([ALLOWED, HELD])
    expect(seeker.page.locator("#support-pane .message--pending")).to_have_count(0)
    seqs = seeker_bubbles(seeker).evaluate_all("items => items.map(i => Number(i.dataset.seq))")
    assert seqs == [1, 2], seqs
    alex_seqs = pane.locator(".messages > li").evaluate_all(
        "items => items.map(i => Number(i.dataset.seq))"
    )
    assert alex_seqs == [1, 2], alex_seqs

    for tab in (seeker, alex):
        text = tab.page.locator("main").inner_text().lower()
        for word in ("violation", "banned", "offender"):
            assert word not in text, word
    for tab in (seeker, alex, kai):
        tab.assert_clean()


def test_a_content_warning_and_someone_who_may_be_in_danger(tabs):
    seeker, alex, handle, pane = start_chat(tabs)
    kai = tabs()
    kai.sign_in("moderator", "/moderation/")
    expect(kai.page.locator("#review")).to_have_attribute("data-view", "ready")

    # Graphic description in a one-to-one chat: delivered behind a content warning.
    say(seeker, GRAPHIC)
    warned = pane.locator(".messages > li.message--warned")
    expect(warned).to_have_count(1)
    expect(warned.locator(".message-body")).to_have_text(
        "This message describes injury. Show message"
    )
    expect(pane).not_to_contain_text("blood")
    warned.get_by_role("button", name="Show message").click()
    expect(delivered_bodies(pane)).to_have_text([GRAPHIC])
    expect(pane.locator(".messages > li.message--warned")).to_have_count(0)
    expect(pane.locator(".messages > li[data-seq='1']")).to_be_focused()
    # The seeker reads their own words, and is told what others see.
    own = seeker.page.locator("#support-pane .messages > li[data-seq='1']")
    expect(own.locator(".message-body")).to_have_text(GRAPHIC)
    expect(own.locator(".message-note")).to_contain_text("behind a note")
    expect(
        kai.page.locator("#notices-list > li").filter(has_text="there was blood")
    ).to_contain_text("Shared behind a content warning")

    # Someone who may be in danger: Alex must see it; the seeker is shown where help is,
    # gently; Kai gets it at the top of the moderators' console, with the room.
    say(seeker, DANGER)
    expect(delivered_bodies(pane)).to_have_text([GRAPHIC, DANGER])
    own = seeker.page.locator("#support-pane .messages > li[data-seq='2']")
    expect(own.locator(".message-body")).to_have_text(DANGER)
    expect(own.locator(".message-note")).to_contain_text("If you're in danger right now")
    expect(own.get_by_role("link", name=re.compile("^Emergency services"))).to_have_attribute(
        "href", "tel:999"
    )
    # It is an escalation: at the top of Kai's console, with the room and the words.
    alert = kai.page.locator("#escalations-list > li")
    expect(alert).to_have_count(1)
    expect(alert).to_have_attribute("data-state", "open")
    expect(alert.get_by_role("heading", level=3)).to_have_text(f"Chat: {handle} with Alex")
    expect(alert.locator(".escalation-excerpt")).to_contain_text(DANGER)
    expect(kai.page.locator("#announce-now")).to_contain_text("Someone may be in danger")
    # Nothing is only the seeker's: no bubble is left waiting.
    expect(seeker.page.locator("#support-pane .message--pending")).to_have_count(0)
    for tab in (seeker, alex, kai):
        tab.assert_clean()
