"""Escalations from the seeker's and the supporter's side, in real browsers.

A seeker on a small phone (the support page) talks with Alex (the supporter's page, /staff/).
Someone who may be in danger is shown free help beside the conversation, which carries on;
Alex follows the escalation ("Waiting for a moderator…", "Kai has taken this on", "Resolved")
and can ask a moderator for urgent help himself; the moderator, Kai, acts over the HTTP API as
the moderators' console would. Then what moderators' oversight changes in the chat: a removed
message, a paused chat.

Each test runs its own server (`run_topology`, one daphne process, the demo accounts). Message
texts are neutral placeholders; the imminent-danger wording is the suite's usual placeholder.
"""

import json
import re
import time
from contextlib import ExitStack

import pytest
import requests
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.browser.conftest import CSP_WATCH
from tests.browser.test_staff_browser import StaffPage

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 375, "height": 740}
AGREE = "I agree — find me a supporter"
DANGER = "im going to do it tonight"  # the suite's imminent-danger placeholder
HTTP_TIMEOUT = 10
HELP = "Free help, right now"


class PhoneSeeker:
    """Someone on a small phone, on the support page, with what its console said."""

    def __init__(self, browser, server):
        self.base_url = server.base_url()
        self.context = browser.new_context(viewport=SMALL_PHONE, has_touch=True)
        self.page: Page = self.context.new_page()
        self.page.add_init_script(CSP_WATCH)
        self.console: list[str] = []
        self.escalate_posts: list[str] = []
        self.sent: list[dict] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.on(
            "request",
            lambda request: (
                self.escalate_posts.append(request.url)
                if request.method == "POST" and request.url.endswith("/escalate")
                else None
            ),
        )
        self.page.on("websocket", self._on_websocket)

    def _on_console(self, message) -> None:
        if message.type in {"error", "warning"}:
            self.console.append(f"{message.type}: {message.text}")

    def _on_websocket(self, websocket) -> None:
        websocket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))

    def close(self) -> None:
        self.context.close()

    def start_chat(self, supporter: str = "Alex") -> int:
        self.page.goto(self.base_url + "/support/")
        self.page.get_by_role("button", name="Talk to someone").click()
        expect(self.page.get_by_role("heading", name="Before you start")).to_be_visible()
        self.page.get_by_role("button", name=AGREE).click()
        expect(self.heading).to_have_text(f"Chat with {supporter}")
        expect(self.page.locator("#connection-status")).to_have_text("Connected")
        return self.room()

    def room(self) -> int:
        response = self.page.request.get(self.base_url + "/api/v1/support/current")
        return response.json()["session"]["room"]

    def send(self, text: str) -> None:
        self.composer.fill(text)
        self.composer.press("Enter")

    @property
    def heading(self):
        return self.page.get_by_role("heading", level=1)

    @property
    def composer(self):
        return self.page.get_by_role("textbox", name=re.compile("^Message to "))

    @property
    def urgent(self):
        return self.page.get_by_role("button", name="I need urgent help")

    @property
    def help(self):
        return self.page.get_by_role("region", name=HELP)

    @property
    def bodies(self):
        return self.page.locator("#support-pane .messages > li .message-body")

    def expect_messages(self, texts: list[str]) -> None:
        expect(self.bodies).to_have_text(texts)
        expect(self.page.locator("#support-pane .message--pending")).to_have_count(0)

    def escalates_sent(self) -> int:
        return sum(1 for frame in self.sent if frame.get("type") == "escalate")

    def assert_clean(self) -> None:
        assert self.page.evaluate("window.__cspViolations || []") == []
        assert self.console == [], self.console
        text = self.page.locator("main").inner_text().lower()
        for word in ("violation", "banned", "offender", "risk score"):
            assert word not in text, word


class Moderator:
    """Kai, the demo moderator, over the HTTP API (as the moderators' console would)."""

    def __init__(self, server):
        self.base = server.base_url()
        self.http: requests.Session = server.login("moderator")

    def _post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(
            self.base + path,
            json=body or {},
            headers={"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base + "/"},
            timeout=HTTP_TIMEOUT,
        )

    def escalations(self, room: int) -> list[dict]:
        response = self.http.get(self.base + "/api/moderation/escalations", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return [item for item in response.json()["items"] if item["room"] == room]

    def open_escalation(self, room: int) -> dict:
        deadline = time.monotonic() + 10
        while True:
            items = [item for item in self.escalations(room) if item["state"] != "resolved"]
            if items or time.monotonic() > deadline:
                assert len(items) == 1, items
                return items[0]
            time.sleep(0.2)

    def acknowledge(self, escalation: int) -> None:
        answer = self._post(f"/api/moderation/escalations/{escalation}/acknowledge")
        assert answer.status_code == 200, answer.text

    def resolve(self, escalation: int) -> None:
        answer = self._post(
            f"/api/moderation/escalations/{escalation}/resolve",
            {"outcome": "supported", "note": "a placeholder outcome note"},
        )
        assert answer.status_code == 200, answer.text


class ModeratorSocket:
    """Kai's socket, as the moderators' console opens it (observe, whisper, join)."""

    def __init__(self, server, http: requests.Session):
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(
            connect(
                server.ws_url(),
                additional_headers=server.ws_headers(http),
                open_timeout=HTTP_TIMEOUT,
            )
        )
        self.frames: list[dict] = []
        assert self.next_frame("hello")["authenticated"] is True

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame, ensure_ascii=False))

    def next_frame(self, kind: str, match=lambda frame: True) -> dict:
        for frame in self.frames:
            if frame.get("type") == kind and match(frame):
                self.frames.remove(frame)
                return frame
        while True:
            frame = json.loads(self.ws.recv(timeout=HTTP_TIMEOUT))
            if frame.get("type") == kind and match(frame):
                return frame
            self.frames.append(frame)

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def phone(browser, server):
    people: list[PhoneSeeker] = []

    def open_() -> PhoneSeeker:
        person = PhoneSeeker(browser, server)
        people.append(person)
        return person

    yield open_
    for person in people:
        person.close()


@pytest.fixture
def staff(browser, server):
    contexts = []

    def open_(username: str = "supporter1") -> StaffPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return StaffPage(context.new_page(), server.base_url()).sign_in(username)

    yield open_
    for context in contexts:
        context.close()


def test_someone_in_danger_is_shown_help_and_the_supporter_follows_the_escalation(
    phone, staff, server
):
    alex = staff("supporter1")
    alex.start_shift()
    person = phone()
    page = person.page
    room = person.start_chat()
    handle = page.locator(".whoami strong").inner_text()
    pane = alex.pane(handle)
    expect(pane).to_be_visible()

    # "I need urgent help" is always there in the chat, on a 375px phone, with the quick exit.
    for locator in (
        person.urgent,
        page.get_by_role("link", name="Quick exit"),
        person.composer,
    ):
        expect(locator).to_be_in_viewport()
    expect(person.urgent).to_have_accessible_description(re.compile("Your chat stays open"))
    assert page.evaluate("document.documentElement.scrollWidth") <= SMALL_PHONE["width"]
    expect(person.help).to_be_hidden()

    # The seeker's imminent-danger message: delivered to Alex, who sees that a moderator has
    # been asked; the seeker is shown free help beside the chat, which carries on.
    person.send(DANGER)
    expect(alex.bodies(handle)).to_have_text([DANGER])
    status = pane.locator(".pane-escalation")
    expect(status).to_have_text(re.compile(r"^Waiting for a moderator… asked under a minute ago"))
    expect(pane).to_have_class(re.compile("staff-pane--escalated"))
    expect(person.help).to_be_visible()
    expect(person.help).to_contain_text("Someone from the team will check in")
    expect(person.help.get_by_role("link", name=re.compile("^Samaritans"))).to_have_attribute(
        "href", "tel:116123"
    )
    expect(
        person.help.get_by_role("link", name=re.compile("^Emergency services"))
    ).to_have_attribute("href", "tel:999")
    person.expect_messages([DANGER])
    expect(person.composer).to_be_in_viewport()
    expect(page.get_by_role("log")).to_be_visible()
    person.send("a placeholder message after that")
    expect(alex.bodies(handle)).to_have_text([DANGER, "a placeholder message after that"])
    person.expect_messages([DANGER, "a placeholder message after that"])

    # The panel can be put away; focus goes back to the button that brings help again.
    person.help.get_by_role("button", name="Hide free help").click()
    expect(person.help).to_be_hidden()
    expect(person.urgent).to_be_focused()

    # Kai takes it on, then resolves it: Alex sees each step.
    kai = Moderator(server)
    first = kai.open_escalation(room)
    assert first["kind"] == "filter", first
    kai.acknowledge(first["id"])
    expect(status).to_have_text("Kai (moderator) has taken this on.")
    kai.resolve(first["id"])
    expect(status).to_have_text(re.compile("^Resolved"))
    expect(pane).not_to_have_class(re.compile("staff-pane--escalated"))

    # Alex asks a moderator for urgent help, with a short note: the seeker is shown free help
    # again (the `resources` frame), kindly, and Alex sees that a moderator was asked.
    pane.get_by_role("button", name="Ask a moderator for urgent help").click()
    note = pane.get_by_label("Anything the moderator should know? (optional)")
    expect(note).to_be_focused()
    note.fill("a placeholder note for the moderator")
    pane.get_by_role("button", name="Ask now").click()
    expect(status).to_have_text(re.compile(r"^Waiting for a moderator…"))
    expect(note).to_be_hidden()
    expect(person.help).to_be_visible()
    expect(person.help).to_contain_text("Your supporter has asked someone else from the team")
    expect(person.help).to_contain_text("You can keep talking here")
    second = kai.open_escalation(room)
    assert second["id"] != first["id"]
    assert second["kind"] == "supporter", second
    assert second["triggers"][-1]["note"] == "a placeholder note for the moderator"

    # The seeker presses "I need urgent help" twice: each press is answered kindly, and both
    # join the escalation that is still open (no storm of alerts).
    person.urgent.click()
    expect(person.help).to_contain_text("Someone from the team has been asked to help")
    expect(person.page.locator("#chat-help-heading")).to_be_focused()
    person.help.get_by_role("button", name="Hide free help").click()
    person.urgent.click()
    expect(person.help).to_be_visible()
    expect(person.help).to_contain_text("Someone from the team has been asked to help")
    expect(page.get_by_role("link", name="Quick exit")).to_be_in_viewport()
    deadline = time.monotonic() + 10
    while kai.open_escalation(room)["trigger_count"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    items = [item for item in kai.escalations(room) if item["state"] != "resolved"]
    assert len(items) == 1 and items[0]["id"] == second["id"], items
    assert items[0]["trigger_count"] == 3, items[0]
    assert person.escalates_sent() == 2
    assert person.escalate_posts == []  # the socket was open: no HTTP fallback

    # Kai takes this one on too.
    kai.acknowledge(second["id"])
    expect(status).to_have_text("Kai (moderator) has taken this on.")

    # Alex's page: the debrief due and the pause after a hard chat, after a reload too.
    debriefs = alex.page.locator("#shift-debriefs")
    expect(debriefs).to_contain_text("Debrief due by")
    alex.page.reload()
    expect(alex.connection).to_have_text("Connected")
    expect(debriefs.get_by_role("listitem")).to_have_count(2)
    expect(debriefs.get_by_role("listitem").first).to_have_text(
        # The demo's supervisor has times after the shift: the worker books the first one.
        re.compile(r"^Debrief due by .+ — booked for .+ with Kai \(moderator\)$")
    )
    expect(alex.page.locator("#shift-paused")).to_have_text(
        re.compile(r"^No new chats until .+ — take a breather\.")
    )
    # After the reload the open escalation comes back from `joined.escalation`.
    expect(alex.pane(handle).locator(".pane-escalation")).to_have_text(
        "Kai (moderator) has taken this on."
    )

    # Nothing of this reaches the seeker's page: no debriefs, no pause, no moderator's name.
    main = page.locator("main")
    for words in ("debrief", "breather", "Kai"):
        expect(main).not_to_contain_text(words)

    person.assert_clean()
    alex.assert_clean()


def test_urgent_help_goes_over_http_while_the_socket_reconnects(phone, staff, server):
    alex = staff("supporter1")
    alex.start_shift()
    person = phone()
    page = person.page
    network = {"up": True, "sockets": []}

    def route(ws):
        if not network["up"]:
            ws.close(code=4000)
            return
        network["sockets"].append(ws)
        ws.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    room = person.start_chat()

    network["up"] = False
    for ws in network["sockets"]:
        ws.close(code=4000)
    expect(page.locator("#connection-status")).to_have_text(re.compile("Reconnecting|Offline"))

    # The numbers show at once; the request goes over HTTP; the team's answer follows.
    person.urgent.click()
    expect(person.help).to_be_visible()
    expect(person.help.get_by_role("link", name=re.compile("^Samaritans"))).to_have_attribute(
        "href", "tel:116123"
    )
    expect(person.help).to_contain_text("Someone from the team has been asked to help")
    assert len(person.escalate_posts) == 1, person.escalate_posts
    kai = Moderator(server)
    item = kai.open_escalation(room)
    assert item["kind"] == "seeker", item
    # Alex hears about it on his own socket.
    handle = page.locator(".whoami strong").inner_text()
    expect(alex.pane(handle).locator(".pane-escalation")).to_have_text(
        re.compile(r"^Waiting for a moderator…")
    )

    network["up"] = True
    expect(page.locator("#connection-status")).to_have_text("Connected", timeout=30_000)
    person.send("a placeholder message once back")
    expect(alex.bodies(handle)).to_have_text(["a placeholder message once back"])
    person.assert_clean()
    alex.assert_clean()


def test_moderators_in_the_chat_as_the_seeker_and_the_supporter_see_them(phone, staff, server):
    alex = staff("supporter1")
    alex.start_shift()
    person = phone()
    page = person.page
    # The phone's socket, through a relay that can hold back a pause for a moment (so a send
    # meets the server's `session_paused` refusal, as when the pause and a message cross).
    relay = {"hold_pause": False}

    def route(ws):
        upstream = ws.connect_to_server()

        def from_server(message):
            if relay["hold_pause"] and '"type":"session"' in message and '"paused":true' in message:
                return
            ws.send(message)

        upstream.on_message(from_server)
        ws.on_message(lambda message: upstream.send(message))

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    room = person.start_chat()
    handle = page.locator(".whoami strong").inner_text()
    pane = alex.pane(handle)
    person.send("a first placeholder line")
    person.send("a second placeholder line")
    expect(alex.bodies(handle)).to_have_text(
        ["a first placeholder line", "a second placeholder line"]
    )
    presence = page.locator("#chat-presence")
    expect(presence).to_be_hidden()

    # Kai observes: both see the discreet marker, tied to the agreement; nobody is named.
    kai = Moderator(server)
    socket = ModeratorSocket(server, kai.http)
    try:
        socket.send({"type": "observe", "room": room, "since": 0})
        joined = socket.next_frame("joined", lambda frame: frame["room"] == room)
        assert joined["role"] == "observer" and joined["observing"] is True, joined
        expect(presence).to_be_visible()
        expect(presence).to_have_text(
            "A moderator is here too. As the room agreement says, they can join to help keep "
            "everyone safe."
        )
        expect(pane.locator(".room-presence")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Kai")

        # A whisper: Alex's "Moderator notes" open by themselves; Alex replies; the seeker's
        # page never has it.
        socket.send({"type": "whisper", "room": room, "body": "a placeholder whisper for Alex"})
        socket.next_frame("whisper_sent")
        notes = pane.get_by_role("region", name="Moderator notes")
        expect(notes).to_be_visible()
        expect(notes).to_contain_text(
            "Only staff can see this — the person you're supporting can't."
        )
        expect(notes.get_by_role("log")).to_contain_text("a placeholder whisper for Alex")
        expect(pane.get_by_role("button", name="Moderator notes (1)")).to_have_attribute(
            "aria-expanded", "true"
        )
        notes.get_by_label("Write to the moderators").fill("a placeholder reply from Alex")
        notes.get_by_role("button", name="Send note").click()
        reply = socket.next_frame("whisper", lambda frame: frame["from"]["handle"] == "Alex")
        assert reply["body"] == "a placeholder reply from Alex", reply
        expect(notes.get_by_role("log").get_by_role("listitem")).to_have_count(2)
        expect(notes.get_by_label("Write to the moderators")).to_have_value("")
        expect(page.locator("main")).not_to_contain_text("placeholder whisper")
        expect(page.locator("main")).not_to_contain_text("placeholder reply")

        # Kai takes the first message out: a neutral marker for both, live and after a reload.
        removed = kai._post(
            f"/api/moderation/rooms/{room}/messages/1/remove", {"reason": "a placeholder reason"}
        )
        assert removed.status_code == 200, removed.text
        marker = "A moderator removed this message"
        seeker_first = page.locator("#support-pane .messages > li[data-seq='1']")
        expect(seeker_first.locator(".message-body")).to_have_text(marker)
        expect(pane.locator(".messages > li[data-seq='1'] .message-body")).to_have_text(marker)
        page.reload()
        expect(person.heading).to_have_text("Chat with Alex")
        expect(seeker_first.locator(".message-body")).to_have_text(marker)
        expect(
            page.locator("#support-pane .messages > li[data-seq='2'] .message-body")
        ).to_have_text("a second placeholder line")
        # A page opened while a moderator is present shows the marker from `joined`.
        expect(presence).to_be_visible()

        # Kai pauses the chat: a calm notice, the composer waits and keeps what was typed.
        person.composer.fill("a placeholder typed before the pause")
        paused = kai._post(f"/api/moderation/rooms/{room}/pause", {"note": "a placeholder"})
        assert paused.status_code == 200, paused.text
        notice = page.locator("#chat-paused")
        expect(notice).to_have_text(re.compile("^A moderator has paused this chat for a moment"))
        expect(person.composer).to_be_disabled()
        expect(person.composer).to_have_value("a placeholder typed before the pause")
        expect(page.get_by_role("button", name="Send")).to_be_disabled()
        expect(person.urgent).to_be_enabled()  # help stays one tap away
        expect(alex.composer(handle)).to_be_disabled()
        resumed = kai._post(f"/api/moderation/rooms/{room}/resume", {})
        assert resumed.status_code == 200, resumed.text
        expect(notice).to_be_hidden()
        expect(person.composer).to_be_enabled()
        expect(person.composer).to_have_value("a placeholder typed before the pause")

        # A message that meets the pause on its way stays with the seeker, and goes once the
        # chat carries on.
        relay["hold_pause"] = True
        paused = kai._post(f"/api/moderation/rooms/{room}/pause", {})
        assert paused.status_code == 200, paused.text
        expect(alex.composer(handle)).to_be_disabled()
        person.composer.press("Enter")
        waiting = page.locator("#support-pane .message--pending")
        expect(waiting).to_have_count(1)
        expect(waiting).to_contain_text("This message will be sent as soon as it carries on.")
        expect(waiting).to_contain_text("a placeholder typed before the pause")
        expect(notice).to_be_visible()
        relay["hold_pause"] = False
        resumed = kai._post(f"/api/moderation/rooms/{room}/resume", {})
        assert resumed.status_code == 200, resumed.text
        expect(alex.bodies(handle)).to_have_text(
            [marker, "a second placeholder line", "a placeholder typed before the pause"]
        )
        person.expect_messages(
            [marker, "a second placeholder line", "a placeholder typed before the pause"]
        )

        # Kai stops observing: the marker goes.
        socket.send({"type": "leave", "room": room})
        socket.next_frame("left")
        expect(presence).to_be_hidden()
        expect(pane.locator(".room-presence")).to_be_hidden()

        # Kai joins openly and says something: named, and labelled as a moderator.
        joined_openly = kai._post(f"/api/moderation/rooms/{room}/join", {})
        assert joined_openly.status_code == 200, joined_openly.text
        events = page.locator("#support-pane .messages > li.message-event")
        expect(events).to_have_text(["Kai (moderator) joined the chat"])
        expect(pane.locator(".messages > li.message-event")).to_have_text(
            ["Kai (moderator) joined the chat"]
        )
        expect(presence).to_be_visible()
        socket.send({"type": "join", "room": room, "since": 0})
        socket.next_frame("joined", lambda frame: frame["room"] == room)
        socket.send(
            {
                "type": "send",
                "room": room,
                "client_msg_id": "6f1c1d7e-8a0e-4a5e-9d0b-0c7f3f6b2a11",
                "body": "a placeholder word from the moderator",
            }
        )
        socket.next_frame("ack")
        from_kai = page.locator("#support-pane .messages > li.message--moderator")
        expect(from_kai.locator(".message-body")).to_have_text(
            "a placeholder word from the moderator"
        )
        expect(from_kai.locator(".message-sender")).to_have_text("Kai (moderator)")
        left = kai._post(f"/api/moderation/rooms/{room}/leave", {})
        assert left.status_code == 200, left.text
        expect(events).to_have_text(
            ["Kai (moderator) joined the chat", "Kai (moderator) left the chat"]
        )
        expect(presence).to_be_hidden()
    finally:
        socket.close()

    for tab_text in (page.locator("main").inner_text(), pane.inner_text()):
        for word in ("violation", "banned", "offender"):
            assert word not in tab_text.lower(), word
    person.assert_clean()
    alex.assert_clean()


def test_an_observer_pane_for_the_moderators_console(phone, staff, server, open_chat):
    """RoomPane's `observe` option, `messageActions` and Peerchat.Whispers, as the moderators'
    console uses them (here on a bare page of Kai's, built by the same scripts)."""
    alex = staff("supporter1")
    alex.start_shift()
    person = phone()
    page = person.page
    room = person.start_chat()
    handle = page.locator(".whoami strong").inner_text()
    person.send("a placeholder line to read")
    expect(alex.bodies(handle)).to_have_text(["a placeholder line to read"])

    kai = open_chat("moderator")
    kai_page = kai.page
    expect(kai.status).to_have_text("Connected")
    kai_page.evaluate(
        r"""async (room) => {
          const script = document.querySelector("script[src*='client/roompane']");
          await new Promise((resolve, reject) => {
            const tag = document.createElement("script");
            tag.src = script.src.replace(/roompane(\.[0-9a-f]+)?\.js$/, "whispers.js");
            tag.onload = resolve;
            tag.onerror = reject;
            document.head.append(tag);
          });
          document.getElementById("chat").hidden = true;
          const host = document.createElement("div");
          host.id = "observe-host";
          host.style.height = "36rem";
          host.style.display = "flex";
          host.style.flexDirection = "column";
          document.querySelector("main").append(host);
          const notes = document.createElement("div");
          document.querySelector("main").append(notes);
          const conn = new Peerchat.Connection({ handle: "Kai (moderator)", role: "moderator" });
          window.__picked = [];
          window.__observer = new Peerchat.RoomPane(host, {
            connection: conn,
            room,
            name: "Observing",
            keepName: true,
            observe: true,
            messageActions: (message) => [
              { label: "Remove", ariaLabel: "Remove message " + message.seq,
                onClick: (picked) => window.__picked.push(picked.seq) },
            ],
          });
          window.__whispers = new Peerchat.Whispers(notes, { connection: conn, room });
          conn.start();
        }""",
        room,
    )
    observer = kai_page.locator("#observe-host > .pane")
    expect(observer.locator(".message-body")).to_have_text(["a placeholder line to read"])
    assert any(f.get("type") == "observe" and f.get("room") == room for f in kai.sent_frames)
    assert not any(f.get("type") == "join" and f.get("room") == room for f in kai.sent_frames)
    expect(observer.locator(".room-closed")).to_have_text(
        "You are observing — the people here see that a moderator may be present."
    )
    expect(observer.get_by_role("textbox")).to_have_count(0)
    expect(observer.get_by_role("button", name="I need urgent help")).to_be_hidden()
    expect(observer.locator(".room-presence")).to_be_hidden()
    # The seeker and Alex see that a moderator may be present; nobody is named.
    expect(page.locator("#chat-presence")).to_be_visible()
    expect(alex.pane(handle).locator(".room-presence")).to_be_visible()

    # Live messages arrive; each has the console's action.
    person.send("a second placeholder line")
    expect(observer.locator(".message-body")).to_have_text(
        ["a placeholder line to read", "a second placeholder line"]
    )
    observer.get_by_role("button", name="Remove message 2").click()
    assert kai_page.evaluate("window.__picked") == [2]

    # Kai whispers from the console's thread; Alex reads it, the seeker never does.
    notes = kai_page.get_by_role("region", name="Moderator notes")
    notes.get_by_label("Write to the moderators").fill("a placeholder whisper from the console")
    notes.get_by_role("button", name="Send note").click()
    expect(notes.get_by_role("log")).to_contain_text("a placeholder whisper from the console")
    expect(notes.locator(".whisper-from")).to_have_text(["You"])
    expect(alex.pane(handle).get_by_role("region", name="Moderator notes")).to_contain_text(
        "a placeholder whisper from the console"
    )
    expect(page.locator("main")).not_to_contain_text("placeholder whisper")

    # Closing the observer pane leaves the room: the marker goes.
    kai_page.evaluate("window.__observer.destroy()")
    expect(page.locator("#chat-presence")).to_be_hidden()
    person.assert_clean()
    alex.assert_clean()
    assert kai.csp_violations() == []
    assert kai.console == [], kai.console
