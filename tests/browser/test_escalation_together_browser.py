"""The whole of an escalation with three people in three real browsers at once.

A seeker on a phone (the support page) talks with Alex (the supporter's page, /staff/) while
Kai watches the moderators' console (/moderation/). The seeker's imminent-danger message
reaches Alex, opens an escalation that Kai sees live and takes on; Kai observes the room and
whispers to Alex (the seeker never sees it), then resolves it with an outcome and a note.
Everyone's page follows every step, and the seeker's chat goes on throughout.

The wording is the suite's harmless imminent-danger placeholder; nothing describes a method.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_browser import open_console
from tests.browser.test_escalation_seeker_browser import DANGER, phone, staff

__all__ = ["open_console", "phone", "staff"]  # fixtures, imported for their names

pytestmark = pytest.mark.browser


def test_seeker_supporter_and_moderator_together(phone, staff, open_console):
    kai = open_console("moderator")
    kai.turn_on_sound()
    alex = staff("supporter1")
    alex.start_shift()
    person = phone()
    page = person.page
    room = person.start_chat()
    handle = page.locator(".whoami strong").inner_text()
    pane = alex.pane(handle)
    expect(pane).to_be_visible()

    # The seeker's message reaches Alex; the seeker is shown free help and the chat goes on.
    person.send(DANGER)
    expect(alex.bodies(handle)).to_have_text([DANGER])
    status = pane.locator(".pane-escalation")
    expect(status).to_have_text(re.compile(r"^Waiting for a moderator…"))
    expect(person.help).to_be_visible()
    expect(person.help.get_by_role("link", name=re.compile("^Samaritans"))).to_have_attribute(
        "href", "tel:116123"
    )

    # Kai's console: the escalation at the top, live, with its cue.
    card = kai.escalations.first
    expect(card).to_have_attribute("data-state", "open")
    expect(card.get_by_role("heading", level=3)).to_have_text(f"Chat: {handle} with Alex")
    expect(card.locator(".escalation-excerpt")).to_contain_text(DANGER)
    expect(kai.page).to_have_title("(1) Needs a moderator · peerchat")
    expect(kai.panel).to_have_attribute("data-chimes", "1")

    # Kai takes it on: Alex sees who.
    card.get_by_role("button", name="Take this on").click()
    expect(card).to_have_attribute("data-state", "acknowledged")
    expect(status).to_have_text("Kai (moderator) has taken this on.")

    # Kai observes the room from the escalation: the seeker and Alex see that a moderator is
    # present, without a name; Kai reads the conversation as it goes on.
    card.get_by_role("button", name="Observe the room").click()
    messages = kai.page.locator("#observe-messages > li .message-body")
    expect(messages).to_have_text([DANGER])
    presence = page.locator("#chat-presence")
    expect(presence).to_be_visible()
    expect(pane.locator(".room-presence")).to_be_visible()
    person.send("a placeholder message while someone reads along")
    expect(messages).to_have_text([DANGER, "a placeholder message while someone reads along"])
    expect(alex.bodies(handle)).to_have_text(
        [DANGER, "a placeholder message while someone reads along"]
    )

    # A whisper to Alex, who replies; the seeker's page never has either.
    notes = kai.page.locator("#observe").get_by_role("region", name="Notes with the supporters")
    notes.get_by_label("Write to the supporters").fill("a placeholder whisper for Alex")
    notes.get_by_role("button", name="Send note").click()
    alex_notes = pane.get_by_role("region", name="Moderator notes")
    expect(alex_notes.get_by_role("log")).to_contain_text("a placeholder whisper for Alex")
    alex_notes.get_by_label("Write to the moderators").fill("a placeholder reply from Alex")
    alex_notes.get_by_role("button", name="Send note").click()
    expect(notes.locator(".whisper-body")).to_have_text(
        ["a placeholder whisper for Alex", "a placeholder reply from Alex"]
    )
    main = page.locator("main")
    expect(main).not_to_contain_text("placeholder whisper")
    expect(main).not_to_contain_text("placeholder reply")

    # Kai resolves it with what happened and a note; Alex sees it resolved.
    kai.page.get_by_role("button", name="Stop observing").click()
    expect(presence).to_be_hidden()
    card.get_by_role("button", name="Resolve").click()
    form = card.locator("form.escalation-resolve")
    form.get_by_label("What happened").select_option(label="Supported in the chat")
    form.get_by_label("Note for the team (required)").fill("a placeholder resolution note")
    form.get_by_role("button", name="Mark as resolved").click()
    expect(kai.resolved.first).to_have_attribute("data-state", "resolved")
    expect(kai.escalations).to_have_count(0)
    expect(status).to_have_text(re.compile("^Resolved"))

    # The seeker's chat carried on throughout, and still does.
    person.send("a placeholder message at the end")
    person.expect_messages(
        [
            DANGER,
            "a placeholder message while someone reads along",
            "a placeholder message at the end",
        ]
    )
    expect(alex.bodies(handle).last).to_have_text("a placeholder message at the end")
    for word in ("Kai", "debrief", "escalation"):
        expect(main).not_to_contain_text(word)
    assert room
    person.assert_clean()
    alex.assert_clean()
    kai.assert_clean()
