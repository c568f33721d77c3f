"""The moderators' console (/moderation/) at 3 a.m.: an escalation arrives live, rings, counts
down to the wider notice, is taken on, read about and resolved; two moderators press "Take this
on" together; one left alone is re-announced on time.

Each test runs its own server (`run_topology`: one daphne process and one `run_worker`, the demo
accounts: Kai the moderator, Admin, the supporters Alex and Sam). The seeker and the supporter
are driven over HTTP and their own sockets, as their pages would be. The imminent-danger phrase
is the harmless placeholder the filter's tests use; nothing here describes a method.
"""

import json
import re
import time
import uuid
from contextlib import ExitStack

import pytest
import requests
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser.conftest import DEMO_ROOM, DESKTOP
from tests.browser.test_moderation_browser import ReviewPage

pytestmark = pytest.mark.browser

HTTP_TIMEOUT = 10
DANGER = "im going to do it tonight"
CALM = "thanks for listening, holding ice helped"
RENOTIFY_AFTER = 3


class Person:
    """Someone signed in over HTTP with a socket of their own, as their page would be."""

    def __init__(self, server, http: requests.Session):
        self.server = server
        self.base = server.base_url()
        self.http = http
        self.frames: list[dict] = []
        self.room: int | None = None
        self._sockets = ExitStack()
        self.ws = None

    def post(self, path: str, body: dict) -> requests.Response:
        return self.http.post(
            self.base + path,
            json=body,
            headers={"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base + "/"},
            timeout=HTTP_TIMEOUT,
        )

    def get(self, path: str) -> dict:
        response = self.http.get(self.base + path, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()

    def join(self, room: int) -> None:
        self.room = room
        self.ws = self._sockets.enter_context(
            connect(
                self.server.ws_url(),
                additional_headers=self.server.ws_headers(self.http),
                open_timeout=HTTP_TIMEOUT,
            )
        )
        assert self.next_frame("hello")["authenticated"] is True
        self.ws.send(json.dumps({"type": "join", "room": room, "since": 0}))
        self.next_frame("joined")

    def next_frame(self, kind: str, match=lambda frame: True, timeout: float = HTTP_TIMEOUT):
        for frame in self.frames:
            if frame.get("type") == kind and match(frame):
                self.frames.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if frame.get("type") == kind and match(frame):
                return frame
            self.frames.append(frame)

    def say(self, text: str) -> dict:
        msg_id = str(uuid.uuid4())
        frame = {"type": "send", "room": self.room, "client_msg_id": msg_id, "body": text}
        self.ws.send(json.dumps(frame, ensure_ascii=False))
        return self.next_frame("ack", lambda answer: answer.get("client_msg_id") == msg_id)

    def close(self) -> None:
        self._sockets.close()


def seeker_in_chat(server, supporter_username: str = "supporter1") -> tuple[Person, Person]:
    """A supporter goes on shift and a new seeker asks for a chat: both join the room."""
    supporter = Person(server, server.login(supporter_username))
    answer = supporter.post("/api/v1/staff/shift", {"action": "start"})
    assert answer.status_code == 200, answer.text

    http = requests.Session()
    http.get(server.base_url() + "/api/v1/me", timeout=HTTP_TIMEOUT).raise_for_status()
    seeker = Person(server, http)
    answer = seeker.post("/api/v1/seekers", {})
    assert answer.status_code == 201, answer.text
    version = seeker.get("/api/v1/support/intake")["agreement"]["version"]
    answer = seeker.post("/api/v1/support/requests", {"agreement_version": version})
    assert answer.status_code == 201, answer.text
    support = answer.json()
    assert support["state"] == "active", support
    room = support["session"]["room"]
    seeker.join(room)
    supporter.join(room)
    return seeker, supporter


@pytest.fixture
def people():
    everyone: list[Person] = []
    yield everyone
    for person in everyone:
        person.close()


class ConsolePage(ReviewPage):
    """A moderator's tab on the console, with its escalations."""

    @property
    def resolved(self):
        return self.page.locator("#resolved-list > li")

    @property
    def panel(self):
        return self.page.locator("#escalations")

    def chimes(self) -> int:
        return int(self.panel.get_attribute("data-chimes") or 0)

    def turn_on_sound(self) -> None:
        self.page.get_by_role("button", name="Turn on sound alerts").click()
        expect(self.panel).to_have_attribute("data-sound", "on")
        expect(self.page.get_by_role("button", name="Turn off sound alerts")).to_be_visible()


@pytest.fixture
def open_console(browser, server):
    contexts = []

    def open_(username: str = "moderator") -> ConsolePage:
        context = browser.new_context(viewport=DESKTOP)
        contexts.append(context)
        return ConsolePage(context.new_page(), server.base_url()).sign_in(username)

    yield open_
    for context in contexts:
        context.close()


# Tests ------------------------------------------------------------------------------------------


def test_an_escalation_rings_and_is_taken_on_read_and_resolved(open_console, server, people):
    kai = open_console()
    page = kai.page
    expect(page.locator("#escalations-empty")).to_have_text(
        "Nobody needs a moderator right now. New escalations appear here by themselves."
    )
    expect(page).to_have_title("Review · peerchat")
    kai.turn_on_sound()
    assert kai.chimes() == 0

    seeker, alex = seeker_in_chat(server)
    people.extend([seeker, alex])
    seeker_handle = seeker.get("/api/v1/me")["handle"]
    assert seeker.say(CALM)["status"] == "delivered"
    ack = seeker.say(DANGER)
    assert ack["status"] == "delivered" and ack["escalate"] is True, ack

    # The escalation comes to the top by itself: title, announcement, chime, the card.
    card = kai.escalations.first
    expect(kai.escalations).to_have_count(1)
    expect(page).to_have_title("(1) Needs a moderator · peerchat")
    expect(page.locator("#announce-now")).to_contain_text("Someone may be in danger")
    expect(kai.panel).to_have_attribute("data-chimes", "1")
    expect(kai.panel).to_have_attribute("data-last-chime", "soft")
    expect(kai.panel).to_have_attribute("data-open", "1")
    expect(card).to_have_attribute("data-state", "open")
    expect(card.get_by_role("heading", level=3)).to_have_text(f"Chat: {seeker_handle} with Alex")
    expect(card).to_contain_text("Needs a moderator")
    expect(card).to_contain_text("Moderators on duty told")
    expect(card).to_contain_text("Imminent-danger wording")
    expect(card).to_contain_text(f"raised by {seeker_handle} (seeker)")
    expect(card).to_contain_text("1 signal")
    expect(card.locator(".escalation-age")).to_have_text("(just now)")
    expect(card.locator(".escalation-excerpt")).to_contain_text(DANGER)
    countdown = card.locator(".escalation-countdown")
    expect(countdown).to_have_text(
        re.compile(r"^Every moderator will be told in [12]:\d\d if nobody takes this on\.$")
    )
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)  # it counts down by itself
    expect(page.locator("#review-summary")).to_contain_text(
        "1 escalation needs a moderator to take it on"
    )
    # It comes before the held messages on the page.
    assert (
        kai.section("Escalations").bounding_box()["y"]
        < kai.section("Waiting for review").bounding_box()["y"]
    )

    # A second signal attaches to it: no second escalation, no second chime.
    seeker.say(DANGER)
    expect(card).to_contain_text("2 signals")
    expect(kai.escalations).to_have_count(1)
    assert kai.chimes() == 1

    # Taking it on.
    card.get_by_role("button", name="Take this on").click()
    expect(card).to_have_attribute("data-state", "acknowledged")
    expect(card.locator(".escalation-status")).to_contain_text("You've taken this on.")
    expect(card.locator(".escalation-taken")).to_contain_text("You took this on at")
    expect(card.locator(".escalation-countdown")).to_have_count(0)
    expect(page).to_have_title("Review · peerchat")
    expect(kai.panel).to_have_attribute("data-open", "0")
    status = alex.next_frame(
        "escalation_status", lambda f: f["escalation"]["state"] == "acknowledged"
    )
    assert status["escalation"]["acknowledged_by"] == "Kai (moderator)"

    # Recent messages, on request, with the reading recorded.
    expect(card).to_contain_text("Opening recent messages is recorded.")
    card.get_by_role("button", name="Recent messages").click()
    context = card.get_by_role("region", name="Recent messages")
    expect(context.locator(".escalation-context-body")).to_have_text([CALM, DANGER, DANGER])
    expect(context.locator(".is-trigger")).to_have_count(2)
    expect(context).to_contain_text("Reading them is recorded in the audit log.")
    expect(context.get_by_role("heading", name="Recent messages")).to_be_focused()

    # The room can be opened from the escalation, read-only, in the same page.
    card.get_by_role("button", name="Observe the room").click()
    expect(page.locator("#observe-heading")).to_have_text(
        f"Observing: Chat: {seeker_handle} with Alex"
    )
    expect(page.locator("#observe-messages > li .message-body")).to_have_text(
        [CALM, DANGER, DANGER]
    )
    page.get_by_role("button", name="Stop observing").click()
    expect(page.locator("#observe")).to_be_hidden()

    # Resolving asks for what happened and a note, and says so in place.
    card.get_by_role("button", name="Resolve").click()
    form = card.locator("form.escalation-resolve")
    form.get_by_role("button", name="Mark as resolved").click()
    expect(form.locator(".form-error")).to_have_text("Choose what happened.")
    form.get_by_label("What happened").select_option(label="Supported in the chat")
    form.get_by_role("button", name="Mark as resolved").click()
    expect(form.locator(".form-error")).to_have_text("Write a short note on what happened.")
    form.get_by_label("Note for the team (required)").fill(
        "Talked it through with Alex; the seeker is with family tonight."
    )
    form.get_by_role("button", name="Mark as resolved").click()

    done = kai.resolved.first
    expect(kai.escalations).to_have_count(0)
    expect(done).to_have_attribute("data-state", "resolved")
    expect(done).to_contain_text("Supported in the chat · resolved by you at")
    expect(done).to_contain_text("the seeker is with family tonight")
    expect(page.locator("#escalations-heading")).to_be_focused()
    expect(page.locator("#escalations-empty")).to_be_visible()
    assert kai.chimes() == 1

    # The chat's record can be kept past the retention period: a safeguarding hold, and let go.
    done.get_by_role("button", name="Keep this chat's record").click()
    hold_form = done.locator("form.escalation-hold-form")
    hold_form.get_by_role("button", name="Place safeguarding hold").click()
    expect(hold_form.locator(".form-error")).to_have_text("Say why the record must be kept.")
    hold_form.get_by_label("Why must the record be kept? (staff only, required)").fill(
        "Safeguarding referral made."
    )
    hold_form.get_by_role("button", name="Place safeguarding hold").click()
    expect(done.locator(".escalation-hold")).to_contain_text(
        "Safeguarding hold: this chat's messages and notes are kept past the retention period"
    )
    expect(done.locator(".escalation-hold")).to_contain_text("Placed by you at")
    expect(done).to_contain_text("Why: Safeguarding referral made.")
    expect(hold_form).to_be_hidden()
    done.get_by_role("button", name="Release the hold").click()
    release = done.locator("form.escalation-hold-form")
    release.get_by_role("button", name="Release the hold").click()
    expect(done.locator(".escalation-hold")).to_have_count(0)
    expect(done.locator(".escalation-status")).to_contain_text("Hold released")
    expect(done.get_by_role("button", name="Keep this chat's record")).to_be_visible()

    text = page.locator("#review").inner_text().lower()
    for word in ("violation", "banned", "offender"):
        assert word not in text, word

    # The choice of sound is remembered; after a reload the browser waits for a click.
    page.reload()
    kai.expect_ready()
    expect(kai.panel).to_have_attribute("data-sound", "blocked")
    expect(page.locator("#sound-state")).to_contain_text("click anywhere on this page")
    expect(page.get_by_role("button", name="Turn off sound alerts")).to_be_visible()
    page.get_by_role("heading", name="Review", level=1).click()
    expect(kai.panel).to_have_attribute("data-sound", "on")
    kai.assert_clean()


def test_two_moderators_take_it_on_at_the_same_moment(open_console, server, people):
    kai, admin = open_console("moderator"), open_console("admin")
    sockets = []  # (route, frames the page sent on it)

    def route(ws):
        server_side = ws.connect_to_server()
        sent: list[dict] = []
        sockets.append((ws, sent))

        def to_server(message):
            sent.append(json.loads(message))
            server_side.send(message)

        ws.on_message(to_server)
        server_side.on_message(ws.send)

    admin.page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    admin.page.reload()
    admin.expect_ready()

    seeker, alex = seeker_in_chat(server)
    people.extend([seeker, alex])
    assert seeker.say(DANGER)["escalate"] is True
    for console in (kai, admin):
        expect(console.escalations).to_have_count(1)
        expect(console.escalations.first.get_by_role("button", name="Take this on")).to_be_visible()

    # Both press at the same instant (a shared deadline on the same clock).
    at = kai.page.evaluate("Date.now()") + 600
    press = """(at) => new Promise((resolve) => setTimeout(() => {
        document.querySelector("#escalations-list .escalation-take").click();
        resolve();
    }, at - Date.now()))"""
    for console in (kai, admin):
        console.page.evaluate(f"({press})({at}) && null")
    kai.page.wait_for_timeout(700)

    statuses = {}
    for console in (kai, admin):
        card = console.escalations.first
        expect(card).to_have_attribute("data-state", "acknowledged")
        expect(card.locator(".escalation-status")).not_to_have_text("")
        statuses[console] = card.locator(".escalation-status").inner_text()
    winners = [c for c, text in statuses.items() if text.startswith("You've taken this on.")]
    assert len(winners) == 1, statuses
    winner = winners[0]
    loser = admin if winner is kai else kai
    winner_name = "Kai (moderator)" if winner is kai else "Admin"
    assert re.fullmatch(
        rf"{re.escape(winner_name)} has already taken this on at \d\d:\d\d\.", statuses[loser]
    ), statuses
    expect(loser.escalations.first.locator(".escalation-taken")).to_contain_text(
        f"{winner_name} took this on at"
    )
    expect(winner.escalations.first.locator(".escalation-taken")).to_contain_text(
        "You took this on at"
    )
    expect(loser.escalations.first.locator(".escalation-status")).to_have_attribute(
        "data-tone", "calm"
    )

    # Admin's socket drops: the page watches again and the fresh snapshot replaces the list.
    sockets[-1][0].close()
    deadline = time.monotonic() + 10
    while len(sockets) < 2 and time.monotonic() < deadline:
        admin.page.wait_for_timeout(100)
    assert len(sockets) == 2
    admin.expect_ready()
    deadline = time.monotonic() + 10
    watch = {"type": "watch", "topic": "escalations"}
    while watch not in sockets[1][1] and time.monotonic() < deadline:
        admin.page.wait_for_timeout(100)
    assert watch in sockets[1][1], sockets[1][1]
    admin.page.wait_for_timeout(500)  # the snapshot that answers it
    expect(admin.escalations).to_have_count(1)
    expect(admin.escalations.first).to_have_attribute("data-state", "acknowledged")

    winner.assert_clean()
    loser.assert_clean(refused=1)


@pytest.mark.parametrize(
    "server",
    [
        {
            "ESCALATION_RENOTIFY_AFTER_SECONDS": str(RENOTIFY_AFTER),
            "ESCALATION_ON_CALL_AFTER_SECONDS": "3600",
        }
    ],
    indirect=True,
)
def test_an_escalation_nobody_takes_on_is_announced_again_on_time(open_console, server):
    kai = open_console()
    page = kai.page
    kai.turn_on_sound()

    # A supporter in the demo group room asks for urgent help.
    alex = Person(server, server.login("supporter1"))
    rooms = alex.get("/api/v1/rooms")["rooms"]
    room = next(r["id"] for r in rooms if r["name"] == DEMO_ROOM)
    answer = alex.post(f"/api/v1/rooms/{room}/escalate", {"note": "They went quiet after that."})
    assert answer.status_code == 201, answer.text
    opened = time.monotonic()

    card = kai.escalations.first
    expect(card).to_contain_text("The supporter asked for urgent help")
    expect(card).to_contain_text("Note: They went quiet after that.")
    expect(card).to_contain_text("Moderators on duty told")
    expect(kai.panel).to_have_attribute("data-chimes", "1")

    # The worker widens it after RENOTIFY_AFTER seconds: every moderator is told, and it rings
    # again, more insistently.
    expect(card).to_have_attribute("data-stage", "1", timeout=RENOTIFY_AFTER * 1000 + 8000)
    assert time.monotonic() - opened >= RENOTIFY_AFTER - 1
    expect(card.locator(".escalation-stage")).to_have_text("Every moderator told")
    expect(kai.panel).to_have_attribute("data-chimes", "2")
    expect(kai.panel).to_have_attribute("data-last-chime", "insistent")
    expect(page.locator("#announce-now")).to_have_text(
        f"Nobody has taken on the escalation in {DEMO_ROOM} yet. Every moderator has been told."
    )
    expect(card.locator(".escalation-countdown")).to_have_text(
        re.compile(r"^The on-call contact will be told in \d+:\d\d if nobody takes this on\.$")
    )
    expect(page).to_have_title("(1) Needs a moderator · peerchat")
    kai.assert_clean()


def test_observe_whisper_remove_pause_join_and_end_a_chat(open_console, server, people):
    seeker, alex = seeker_in_chat(server)
    people.extend([seeker, alex])
    who = seeker.get("/api/v1/me")["handle"]
    chat = f"Chat: {who} with Alex"
    assert seeker.say(CALM)["status"] == "delivered"
    assert alex.say("I'm here with you")["status"] == "delivered"

    kai = open_console()
    page = kai.page
    view = page.locator("#observe")
    messages = page.locator("#observe-messages > li .message-body")
    rooms = kai.section("Active rooms")
    expect(rooms.get_by_role("heading", name=chat, level=3)).to_be_visible()
    expect(rooms).to_contain_text("One-to-one chat · started")
    expect(view).to_be_hidden()

    # Observing: read-only and live; the room learns only that a moderator may be present.
    rooms.get_by_role("button", name=f"Observe {chat}").click()
    expect(view).to_be_visible()
    expect(page.locator("#observe-heading")).to_have_text(f"Observing: {chat}")
    expect(page.locator("#observe-heading")).to_be_focused()
    expect(messages).to_have_text([CALM, "I'm here with you"])
    expect(page.locator("#observe-input")).to_be_hidden()
    expect(view).to_contain_text("You are observing")
    assert alex.next_frame("presence")["moderator_present"] is True
    assert "joined" not in seeker.next_frame("presence")
    expect(rooms).to_contain_text("You're observing")
    alex.say("are you still there?")
    expect(messages).to_have_text([CALM, "I'm here with you", "are you still there?"])
    assert page.evaluate("location.hash") == f"#room-{alex.room}"

    # Whispers with the supporter; the seeker never receives them.
    notes = view.get_by_role("region", name="Notes with the supporters")
    notes.get_by_label("Write to the supporters").fill(
        "I'm reading along; say if you'd like me to step in."
    )
    notes.get_by_role("button", name="Send note").click()
    whisper = alex.next_frame("whisper")
    assert whisper["from"]["role"] == "moderator" and whisper["body"].startswith("I'm reading")
    alex.ws.send(json.dumps({"type": "whisper", "room": alex.room, "body": "Thanks, all good."}))
    expect(notes.locator(".whisper-body")).to_have_text(
        ["I'm reading along; say if you'd like me to step in.", "Thanks, all good."]
    )

    # Removing a message asks for a reason, then the room sees a neutral marker.
    page.get_by_role("button", name=f"Remove message 1 from {who}").click()
    remove = page.locator("#remove-form")
    expect(remove).to_contain_text(f"Remove message 1 from {who} (seeker)?")
    expect(remove.locator(".remove-quote")).to_have_text(CALM)
    expect(page.get_by_label("Reason (only moderators see it)")).to_be_focused()
    remove.get_by_role("button", name="Remove this message").click()
    expect(page.locator("#remove-error")).to_have_text(
        "Give a short reason. Only moderators see it."
    )
    page.get_by_label("Reason (only moderators see it)").fill("placeholder: testing removal")
    remove.get_by_role("button", name="Remove this message").click()
    expect(page.locator("#observe-status")).to_have_text(
        "Message 1 removed. The room sees that a moderator removed it."
    )
    for person in (seeker, alex):
        removed = person.next_frame("message_removed")
        assert removed["seqs"] == [1] and removed["by"] == "moderator", removed
    expect(page.locator("#observe-messages > li[data-seq='1']")).to_contain_text(
        "A moderator removed this message"
    )
    assert not [f for f in seeker.frames if f.get("type") == "whisper"], seeker.frames

    # Pausing asks first; while paused the seeker's messages wait.
    page.get_by_role("button", name="Pause chat", exact=True).click()
    expect(page.locator("#observe-confirm-text")).to_contain_text("Pause this chat?")
    page.get_by_role("button", name="Pause chat now").click()
    expect(page.locator("#observe-heading")).to_have_text(f"Observing: {chat} (paused)")
    expect(page.get_by_role("button", name="Resume chat", exact=True)).to_be_focused()
    msg_id = str(uuid.uuid4())
    frame = {"type": "send", "room": seeker.room, "client_msg_id": msg_id, "body": "hello?"}
    seeker.ws.send(json.dumps(frame))
    assert seeker.next_frame("error", lambda f: f.get("client_msg_id") == msg_id)["code"] == (
        "session_paused"
    )
    page.get_by_role("button", name="Resume chat", exact=True).click()
    page.get_by_role("button", name="Resume chat now").click()
    expect(page.locator("#observe-heading")).to_have_text(f"Observing: {chat}")
    assert seeker.say("hello again")["status"] == "delivered"
    expect(messages.last).to_have_text("hello again")

    # Joining openly: the pane gets a composer, and the room sees who joined.
    page.get_by_role("button", name="Join openly").click()
    expect(page.locator("#observe-heading")).to_have_text(re.compile(r"^In the room: "))
    composer = page.locator("#observe-input")
    expect(composer).to_be_enabled()
    joined = alex.next_frame("presence", lambda f: "joined" in f)
    assert joined["joined"] == {"handle": "Kai (moderator)", "role": "moderator"}
    composer.fill("Hi, I'm Kai from the moderation team. I'm here too.")
    composer.press("Enter")
    heard = seeker.next_frame("message", lambda f: f["body"].startswith("Hi, I'm Kai"))
    assert heard["sender"] == {"handle": "Kai (moderator)", "role": "moderator"}

    # Raising an escalation for this room from the view.
    page.get_by_role("button", name="Raise an escalation", exact=True).click()
    page.get_by_label("Why are you raising it? (for the team)").fill(
        "Checking in after a hard moment."
    )
    page.locator("#observe-raise-form").get_by_role("button", name="Raise escalation").click()
    expect(page.locator("#observe-status")).to_have_text(
        "Escalation raised. It's at the top of the page until someone takes it on."
    )
    card = kai.escalations.first
    expect(card).to_contain_text("A moderator raised it · raised by Kai (moderator)")
    expect(card).to_contain_text("Note: Checking in after a hard moment.")
    expect(card.get_by_role("button", name="Observe the room")).to_be_visible()

    # Ending the chat asks first, then both are told.
    page.get_by_role("button", name="End chat", exact=True).click()
    expect(page.locator("#observe-confirm-text")).to_contain_text("End this chat for both of them?")
    page.get_by_role("button", name="End chat now").click()
    expect(page.locator("#observe-status")).to_have_text("Chat ended.")
    ended = seeker.next_frame("session", lambda f: f.get("state") == "ended")
    assert ended["end_reason"] == "moderator_ended", ended
    expect(page.locator("#observe-heading")).to_have_text(re.compile(r"\(ended\)$"))
    expect(page.get_by_role("button", name="Pause chat", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="End chat", exact=True)).to_be_hidden()

    page.get_by_role("button", name=re.compile(r"^Close|^Stop observing")).click()
    expect(view).to_be_hidden()
    kai.assert_clean()
