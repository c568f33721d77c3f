"""The moderators' console (/moderation/) on a night shift: held messages arriving live,
sharing them or keeping them back, someone else deciding first, someone who may be in danger
coming first, "try a phrase", and a policy addition that takes effect at once.

Each test runs its own server (`run_topology`, one daphne process, the demo accounts: Kai the
moderator, Admin, and the supporters Alex and Sam in the demo group room). Messages are sent the
way a chat page sends them, over the socket. The phrases are the harmless placeholders the
filter's own tests use as positives; nothing here describes a real method.
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

from tests.browser.conftest import DEMO_ROOM, DESKTOP, WatchedTab
from tests.servers import DEMO_PASSWORD

pytestmark = pytest.mark.browser

HTTP_TIMEOUT = 10

HELD = "how many pills would it take"
BLOCKED = "kys"
CONTACT = "call me on 07700 900123"
DANGER = "im going to do it tonight"
ALLOWED = "holding ice helped me a lot"
MADE_UP = "how many zorblex would it take"

CONFLICT_LOG = "the server responded with a status of 409 (Conflict)"


class Member:
    """Someone in the demo group room, on a socket of their own (as their chat page would be)."""

    def __init__(self, server, username: str):
        self.server = server
        self.http: requests.Session = server.login(username)
        rooms = self.http.get(server.base_url() + "/api/v1/rooms", timeout=HTTP_TIMEOUT).json()
        self.room = next(room["id"] for room in rooms["rooms"] if room["name"] == DEMO_ROOM)
        self._sockets = ExitStack()
        self.ws = self._sockets.enter_context(
            connect(
                server.ws_url(),
                additional_headers=server.ws_headers(self.http),
                open_timeout=HTTP_TIMEOUT,
            )
        )
        self.frames: list[dict] = []
        assert self.next_frame("hello")["authenticated"] is True
        self.ws.send(json.dumps({"type": "join", "room": self.room, "since": 0}))
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
        """Send `text` and return the server's ack."""
        msg_id = str(uuid.uuid4())
        frame = {"type": "send", "room": self.room, "client_msg_id": msg_id, "body": text}
        self.ws.send(json.dumps(frame, ensure_ascii=False))
        return self.next_frame("ack", lambda answer: answer.get("client_msg_id") == msg_id)

    def heard(self, text: str, timeout: float = HTTP_TIMEOUT) -> dict:
        return self.next_frame("message", lambda frame: frame.get("body") == text, timeout)

    def hears_nothing_of(self, text: str, seconds: float = 1.0) -> None:
        try:
            frame = self.heard(text, timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"the room received {frame!r}")

    def close(self) -> None:
        self._sockets.close()


class ReviewPage(WatchedTab):
    """A moderator's browser tab on /moderation/, with what its console said."""

    def sign_in(self, username: str) -> "ReviewPage":
        self.sign_in_with_form(username, next_path="/moderation/", landing="**/moderation/")
        self.expect_ready()
        return self

    def expect_ready(self) -> None:
        expect(self.page.locator("#connection-status")).to_have_text("Connected")
        expect(self.page.locator("#review")).to_have_attribute("data-view", "ready")

    # What the moderator sees -----------------------------------------------------------------

    def section(self, name: str):
        return self.page.get_by_role("region", name=re.compile("^" + re.escape(name)))

    @property
    def escalations(self):
        return self.page.locator("#escalations-list > li")

    @property
    def waiting(self):
        return self.page.locator("#waiting-list > li")

    @property
    def notices(self):
        return self.page.locator("#notices-list > li")

    @property
    def decided(self):
        return self.page.locator("#decided-list > li")

    def item(self, where, text: str):
        """The card in a list whose message reads `text`."""
        return where.filter(has=self.page.locator(".review-text", has_text=text))

    def try_phrase(self, text: str, room: str = "One-to-one chat") -> None:
        self.page.get_by_label("Phrase", exact=True).fill(text)
        self.page.get_by_label("Room", exact=True).select_option(label=room)
        self.page.get_by_role("button", name="Check").click()

    @property
    def verdict(self):
        return self.page.locator("#try-result .try-verdict")

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations")

    def assert_clean(self, *, refused: int = 0) -> None:
        """No CSP violations, a quiet console but for `refused` answers of 409 that the page
        expected and explained (the browser logs every refused request)."""
        assert self.csp_violations() == []
        assert [line for line in self.console if CONFLICT_LOG not in line] == []
        assert len(self.console) == refused, self.console


@pytest.fixture
def open_review(browser, server):
    contexts = []

    def open_(username: str = "moderator", *, viewport: dict = DESKTOP) -> ReviewPage:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        return ReviewPage(context.new_page(), server.base_url()).sign_in(username)

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def member(server):
    people: list[Member] = []

    def open_(username: str) -> Member:
        person = Member(server, username)
        people.append(person)
        return person

    yield open_
    for person in people:
        person.close()


def moderator_api(server, username: str = "admin"):
    """Another moderator acting over HTTP, as their own review page would."""
    http = server.login(username)
    base = server.base_url()

    def post(path: str, body: dict) -> requests.Response:
        return http.post(
            base + path,
            json=body,
            headers={"X-CSRFToken": http.cookies["csrftoken"], "Referer": base + "/moderation/"},
            timeout=HTTP_TIMEOUT,
        )

    return http, post


# Tests ------------------------------------------------------------------------------------------


def test_held_messages_arrive_live_and_are_shared_or_kept_back(open_review, member):
    kai = open_review()
    page = kai.page
    expect(page.get_by_role("heading", name="Review", level=1)).to_be_visible()
    expect(page.locator("#waiting-empty")).to_have_text(
        "Nothing is waiting for review. New held messages appear here by themselves."
    )
    expect(page).to_have_title("Review · peerchat")
    alex, sam = member("supporter1"), member("supporter2")

    # A held message comes to the page by itself, with the evidence marked.
    ack = alex.say(HELD)
    assert ack["status"] == "held" and ack["seq"] is None, ack
    card = kai.item(kai.waiting, HELD)
    expect(card).to_have_count(1)
    expect(card.locator(".review-text")).to_have_text(HELD)
    expect(card.locator(".review-text mark")).not_to_have_count(0)
    assert all(
        rule.startswith("method.")
        for rule in card.locator(".review-text mark").evaluate_all(
            "marks => marks.flatMap(mark => mark.dataset.rules.split(' '))"
        )
    )
    expect(card).to_contain_text("Held back")
    expect(card).to_contain_text("Method or means detail")
    expect(card.locator(".review-rules code").first).to_have_text(re.compile(r"^method\."))
    expect(card.get_by_role("heading", level=3)).to_have_text("Alex (supporter)")
    expect(card).to_contain_text(DEMO_ROOM + " · group room")
    expect(card.get_by_text("New", exact=True)).to_be_visible()
    expect(page.locator("#waiting-count")).to_have_text("(1)")
    expect(page).to_have_title("(1) Review · peerchat")
    expect(page.locator("#announce")).to_contain_text(
        f"A message is waiting for review, in {DEMO_ROOM}."
    )
    sam.hears_nothing_of(HELD)

    # A note for the team, then sharing it: the room gets it with the next seq.
    card.get_by_role("button", name="Add note").click()
    note_box = card.get_by_label("Note for moderators (the sender never sees it)")
    expect(note_box).to_be_focused()
    note_box.fill("placeholder note: asked in a group about coping")
    card.get_by_role("button", name="Save note").click()
    expect(card.locator(".review-notes")).to_contain_text("Kai (moderator)")
    expect(card.locator(".review-notes")).to_contain_text("placeholder note")
    card.get_by_role("button", name="Share with the room").click()
    shared = kai.item(kai.decided, HELD)
    expect(shared).to_contain_text("Shared with the room by Kai (moderator)")
    expect(kai.waiting).to_have_count(0)
    expect(page.locator("#waiting-heading")).to_be_focused()
    expect(page).to_have_title("Review · peerchat")
    message = sam.heard(HELD)
    assert message["sender"]["handle"] == "Alex" and isinstance(message["seq"], int)
    expect(shared).to_contain_text(f"(message {message['seq']} in the room)")

    # Encouragement is not shared; keeping it back keeps it from the room for good.
    ack = alex.say(BLOCKED)
    assert ack["status"] == "blocked", ack
    card = kai.item(kai.waiting, BLOCKED)
    expect(card).to_contain_text("Not shared")
    expect(card).to_contain_text("Encouraging harm")
    card.get_by_role("button", name="Keep it back").click()
    kept = kai.item(kai.decided, BLOCKED)
    expect(kept).to_contain_text("Kept back by Kai (moderator)")
    expect(kept.get_by_role("button", name="Share with the room")).to_have_count(0)
    expect(kai.decided).to_have_count(2)
    sam.hears_nothing_of(BLOCKED)

    # A report from a card becomes a test case, without identities.
    kept.get_by_role("button", name="Report: this was fine").click()
    expect(kept.locator(".review-item-status")).to_have_text(
        "Reported as fine. Thank you: it's now a test case for the filter."
    )
    shared.get_by_role("button", name="Report: wrong category").click()
    shared.get_by_label("It should have been caught as").select_option(label="Encouraging harm")
    shared.get_by_role("button", name="Send report").click()
    expect(shared.locator(".review-item-status")).to_have_text(
        "Reported as encouraging harm. Thank you: it's now a test case for the filter."
    )
    export = page.request.get(kai.base_url + "/api/moderation/cases.jsonl")
    assert export.ok
    cases = [json.loads(line) for line in export.text().splitlines()]
    assert [(case["text"], case["reported"]) for case in cases] == [
        (BLOCKED, "false_positive"),
        (HELD, "missed"),
    ]
    assert "Alex" not in export.text() and DEMO_ROOM not in export.text()
    expect(page.get_by_role("link", name="Export reported cases")).to_have_attribute(
        "href", "/api/moderation/cases.jsonl"
    )

    text = page.locator("#review").inner_text().lower()
    for word in ("violation", "banned", "offender"):
        assert word not in text, word
    kai.assert_clean()


def test_someone_else_deciding_first_is_explained(open_review, member, server):
    kai = open_review()
    page = kai.page
    network = {"quiet": False}

    def route(ws):
        server_side = ws.connect_to_server()

        def to_page(message):
            frame = json.loads(message)
            if network["quiet"] and frame.get("type") == "review_item":
                return  # this tab misses the news that someone else decided
            ws.send(message)

        server_side.on_message(to_page)

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    page.reload()
    kai.expect_ready()
    alex = member("supporter1")
    alex.say(HELD)
    card = kai.item(kai.waiting, HELD)
    expect(card).to_have_count(1)

    network["quiet"] = True
    _, post = moderator_api(server, "admin")
    item_id = int(card.get_attribute("data-id"))
    answer = post(f"/api/moderation/items/{item_id}/release", {})
    assert answer.status_code == 200, answer.text
    assert answer.json()["item"]["review"] == "released"

    card.get_by_role("button", name="Keep it back").click()
    decided = kai.item(kai.decided, HELD)
    expect(decided.locator(".review-item-status")).to_have_text(
        "Admin already decided: shared with the room."
    )
    expect(decided).to_contain_text("Shared with the room by Admin")
    expect(kai.waiting).to_have_count(0)
    kai.assert_clean(refused=1)


def test_someone_in_danger_comes_first_and_other_notices_stay_low_key(open_review, member):
    kai = open_review()
    page = kai.page
    expect(page.locator("#escalations-empty")).to_be_visible()
    alex = member("supporter1")

    # Imminent danger is an escalation, at the top (tests/browser/test_console_browser.py
    # follows one through); the filter's own record of the message stays low key.
    ack = alex.say(DANGER)
    assert ack["status"] == "delivered" and ack["escalate"] is True, ack
    escalation = kai.escalations.first
    expect(kai.escalations).to_have_count(1)
    expect(escalation.get_by_role("heading", level=3)).to_have_text(DEMO_ROOM)
    expect(escalation).to_contain_text("Needs a moderator")
    expect(escalation).to_contain_text("Imminent-danger wording · raised by Alex (supporter)")
    expect(escalation.locator(".escalation-excerpt")).to_contain_text(DANGER)
    expect(escalation.locator("time").first).to_have_attribute("datetime", re.compile(r"Z$"))
    expect(page.locator("#announce-now")).to_contain_text(
        f"Someone may be in danger, in {DEMO_ROOM}."
    )
    expect(page.locator("#announce-now")).to_have_attribute("aria-live", "assertive")
    expect(page.locator("#review-summary")).to_contain_text(
        "1 escalation needs a moderator to take it on"
    )
    expect(page).to_have_title("(1) Needs a moderator · peerchat")
    # The escalations come before the waiting list on the page.
    escalations_box = kai.section("Escalations").bounding_box()
    waiting_box = kai.section("Waiting for review").bounding_box()
    assert escalations_box["y"] < waiting_box["y"]

    alert = kai.item(kai.notices, DANGER)
    expect(alert).to_contain_text("May be in danger")
    expect(alert).to_contain_text("Shared as written")
    expect(alert).to_contain_text(DEMO_ROOM)
    expect(alert.get_by_role("heading", level=3)).to_have_text("Alex (supporter)")
    expect(alert.locator(".review-rules code").first).to_have_text(re.compile(r"^imminent\."))
    expect(alert.get_by_role("button", name="Share with the room")).to_have_count(0)

    ack = alex.say(CONTACT)
    assert ack["status"] == "masked", ack
    notice = kai.item(kai.notices, CONTACT)
    expect(notice).to_contain_text("Shared with contact details hidden")
    expect(notice.locator(".review-delivered")).to_have_text(
        "Others saw: call me on [contact details hidden]"
    )
    expect(notice.locator(".review-text mark")).to_have_text(["07700 900123"])
    expect(notice.get_by_role("button", name="Share with the room")).to_have_count(0)
    expect(kai.notices).to_have_count(2)

    # A reload shows the same picture: the escalation is still waiting for someone.
    page.reload()
    kai.expect_ready()
    expect(kai.escalations).to_have_count(1)
    expect(kai.notices).to_have_count(2)
    expect(page).to_have_title("(1) Needs a moderator · peerchat")
    kai.assert_clean()


def test_try_a_phrase_shows_the_evidence_and_can_be_reported(open_review):
    kai = open_review()
    page = kai.page
    result = page.locator("#try-result")

    kai.try_phrase(HELD)
    expect(kai.verdict).to_have_text(
        "It would be held back: only the sender sees it until a moderator looks at it."
    )
    expect(result.locator(".try-text")).to_have_text(HELD)
    expect(result.locator(".try-text mark")).not_to_have_count(0)
    expect(result).to_contain_text("Method or means detail")
    expect(result.locator(".review-rules code").first).to_have_text(re.compile(r"^method\."))
    expect(result).to_contain_text("Policy version 2026.")

    kai.try_phrase(DANGER)
    expect(kai.verdict).to_have_text("It would be shared as written.")
    expect(result.locator(".try-escalate")).to_contain_text(
        "Moderators would be alerted that someone may be in danger"
    )

    kai.try_phrase(CONTACT, room="Group room")
    expect(kai.verdict).to_have_text("It would be shared with the contact details hidden.")
    expect(result).to_contain_text("In a group room.")
    expect(result.locator(".review-delivered")).to_have_text(
        "Others would see: call me on [contact details hidden]"
    )

    # Text before the evidence that takes two UTF-16 units per character still lines up.
    kai.try_phrase("🌻🌻 " + CONTACT)
    expect(result.locator(".try-text mark")).to_have_text(["07700 900123"])

    kai.try_phrase(ALLOWED)
    expect(kai.verdict).to_have_text("It would be shared as written.")
    expect(result.locator("mark")).to_have_count(0)
    expect(result).to_contain_text("Nothing in it matched a category.")
    page.get_by_role("button", name="Report: this is fine").click()
    expect(page.locator("#try-report-status")).to_have_text(
        "Reported as fine. Thank you: it's now a test case for the filter."
    )

    kai.try_phrase(MADE_UP)
    expect(kai.verdict).to_have_text("It would be shared as written.")
    page.get_by_label("It should have been caught as").select_option(label="Method or means detail")
    page.get_by_label("Note for whoever updates the filter (optional)").fill("a made-up word")
    page.get_by_role("button", name="Report: should have been caught").click()
    expect(page.locator("#try-report-status")).to_have_text(
        "Reported as method or means detail. Thank you: it's now a test case for the filter."
    )
    export = page.request.get(kai.base_url + "/api/moderation/cases.jsonl")
    cases = [json.loads(line) for line in export.text().splitlines()]
    assert [(case["text"], case["label"], case["reported"]) for case in cases] == [
        (ALLOWED, "reported_ok", "false_positive"),
        (MADE_UP, "method", "missed"),
    ]

    page.get_by_label("Phrase", exact=True).fill("")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#try-error")).to_have_text("Type a phrase to check.")
    kai.assert_clean()


def test_a_policy_addition_takes_effect_and_can_be_removed(open_review):
    kai = open_review()
    page = kai.page
    policy = kai.section("Policy additions")
    expect(policy).to_contain_text("Changes take effect on every server within a few seconds.")
    expect(page.locator("#terms-empty")).to_have_text("No additions yet.")
    version = page.locator("#policy-version")
    expect(version).to_have_text(re.compile(r"^Policy version \S+"))
    before = version.inner_text()

    kai.try_phrase(MADE_UP)
    expect(kai.verdict).to_have_text("It would be shared as written.")

    page.get_by_label("List").select_option("means")
    page.get_by_label("Term", exact=True).fill("zorblex")
    page.get_by_label("Why (optional, for other moderators)").fill("a made-up test word")
    page.get_by_role("button", name="Add term").click()
    expect(page.locator("#term-status")).to_have_text(
        "Added “zorblex” to means. It takes effect within a few seconds."
    )
    group = policy.get_by_role("region", name="means")
    expect(group.locator(".term-word")).to_have_text(["zorblex"])
    expect(group).to_contain_text("Added by Kai (moderator)")
    expect(group).to_contain_text("a made-up test word")
    expect(version).not_to_have_text(before)
    expect(page.get_by_label("Term", exact=True)).to_have_value("")

    held = "It would be held back: only the sender sees it until a moderator looks at it."
    deadline = time.monotonic() + 10
    while True:
        kai.try_phrase(MADE_UP)
        expect(result_for(page, MADE_UP)).to_be_visible()
        if kai.verdict.inner_text() == held or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(kai.verdict).to_have_text(held)
    expect(page.locator("#try-result mark")).not_to_have_count(0)

    # Adding the same term again is refused kindly.
    page.get_by_label("List").select_option("means")
    page.get_by_label("Term", exact=True).fill("Zorblex")
    page.get_by_role("button", name="Add term").click()
    expect(page.locator("#term-error")).to_have_text("That term is already in this group.")

    policy.get_by_role("button", name="Remove “zorblex” from means").click()
    expect(page.locator("#term-status")).to_have_text("Removed “zorblex” from means.")
    expect(page.locator("#terms-empty")).to_have_text("No additions yet.")
    kai.try_phrase(MADE_UP)
    expect(kai.verdict).to_have_text("It would be shared as written.")
    kai.assert_clean(refused=1)


def result_for(page, text: str):
    return page.locator("#try-result .try-text", has_text=text)


def test_phone_width_and_who_may_open_the_page(open_review, browser, server):
    kai = open_review(viewport={"width": 360, "height": 740})
    page = kai.page
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for name in ("Escalations", "Waiting for review", "Try a phrase", "Policy additions"):
        expect(page.get_by_role("heading", name=re.compile("^" + name))).to_be_visible()
    expect(page.get_by_role("link", name="Review")).to_have_attribute("aria-current", "page")

    # A supporter is taken to their own page instead.
    context = browser.new_context(viewport=DESKTOP)
    try:
        other = context.new_page()
        other.goto(server.base_url() + "/accounts/login/?next=/moderation/")
        other.get_by_label("Username").fill("supporter1")
        other.get_by_label("Password").fill(DEMO_PASSWORD)
        other.get_by_role("button", name="Sign in").click()
        other.wait_for_url(re.compile(r"/staff/$"))
        answer = other.request.get(server.base_url() + "/api/moderation/queue")
        assert answer.status == 403
    finally:
        context.close()
    kai.assert_clean()
