"""The seeker's journey on a phone: start, agreement, waiting room, chat, feedback.

Each test runs a real server (`run_topology`, one daphne process, seeded with the demo
accounts) and a real Chromium page at phone size. The supporter's side is driven over HTTP
and a websocket, as the supporter's own page would: going on shift with
`POST /api/v1/staff/shift`, finding the chat in `GET /api/v1/staff/status`, talking on the
socket. Message texts are neutral placeholders.
"""

import json
import re
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.browser.conftest import CSP_WATCH, PHONE

pytestmark = pytest.mark.browser

SERVICE_ZONE = ZoneInfo("Europe/London")  # settings.TIME_ZONE's default
NEUTRAL_PAGE = "https://www.bbc.co.uk/weather"  # settings.QUICK_EXIT_URL's default
AGREE = "I agree — find me a supporter"
HTTP_TIMEOUT = 10


class Seeker:
    """One person's phone: a browser context of its own, on the support page."""

    def __init__(self, browser, server):
        self.server = server
        self.base_url = server.base_url()
        self.context = browser.new_context(viewport=PHONE)
        # The quick exit goes to an ordinary outside page; this test machine stays offline.
        self.context.route(
            re.compile(r"^https://www\.bbc\.co\.uk/"),
            lambda route: route.fulfill(
                status=200,
                content_type="text/html",
                body="<!doctype html><title>Weather</title><p>Sunny spells.</p>",
            ),
        )
        self.page: Page = self.context.new_page()
        self.page.add_init_script(CSP_WATCH)
        self.console: list[str] = []
        self.csp: list[str] = []
        self.request_posts: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.on("request", self._on_request)

    def _on_console(self, message) -> None:
        if message.type in {"error", "warning"}:
            self.console.append(f"{message.type}: {message.text}")

    def _on_request(self, request) -> None:
        if request.method == "POST" and request.url.endswith("/api/v1/support/requests"):
            self.request_posts.append(request.url)

    def close(self) -> None:
        self.context.close()

    # Steps --------------------------------------------------------------------------------------

    def start_from_home(self) -> None:
        self.page.goto(self.base_url + "/")
        self.page.get_by_role("button", name="Start without signing up").click()
        self.page.wait_for_url("**/support/")
        expect(self.heading("Before you start")).to_be_visible()

    def start_on_support_page(self) -> None:
        self.page.goto(self.base_url + "/support/")
        expect(self.heading("Talk to someone")).to_be_visible()
        self.page.get_by_role("button", name="Talk to someone").click()
        expect(self.heading("Before you start")).to_be_visible()

    def ask(self, safe_now: str | None = None) -> None:
        if safe_now:
            question = self.page.get_by_role("group", name="Are you safe right now?")
            question.get_by_label(safe_now, exact=True).check()
        self.page.get_by_role("button", name=AGREE).click()

    def send(self, text: str) -> None:
        composer = self.page.get_by_role("textbox", name=re.compile("^Message to "))
        composer.fill(text)
        composer.press("Enter")

    # What the person sees -----------------------------------------------------------------------

    def heading(self, name: str, level: int | None = None):
        return self.page.get_by_role("heading", name=name, exact=True, level=level)

    @property
    def urgent(self):
        return self.page.get_by_role("region", name="You don't have to wait to get help")

    @property
    def bodies(self):
        return self.page.locator("#support-pane .messages > li .message-body")

    def expect_messages(self, texts: list[str]) -> None:
        expect(self.bodies).to_have_text(texts)
        expect(self.page.locator("#support-pane .message--pending")).to_have_count(0)

    def check_csp(self) -> None:
        """Collect what the Content-Security-Policy refused on this document (call before
        every navigation: the list belongs to the document)."""
        self.csp.extend(self.page.evaluate("window.__cspViolations || []"))

    def assert_clean(self) -> None:
        self.check_csp()
        assert self.csp == [], self.csp
        assert self.console == [], self.console

    def support_state(self) -> dict:
        """The person's state as the server has it, with the page's own cookies."""
        response = self.page.request.get(self.base_url + "/api/v1/support/current")
        assert response.ok, response.status
        return response.json()


@pytest.fixture
def seeker(browser, server):
    people: list[Seeker] = []

    def open_() -> Seeker:
        person = Seeker(browser, server)
        people.append(person)
        return person

    yield open_
    for person in people:
        person.close()


# The supporter's side ---------------------------------------------------------------------------


class Supporter:
    """A supporter signed in over HTTP, as their own page would be."""

    def __init__(self, server, username: str = "supporter1"):
        self.server = server
        self.base_url = server.base_url()
        self.http: requests.Session = server.login(username)
        self.ws = None
        self._sockets = ExitStack()
        self.room: int | None = None
        self.frames: list[dict] = []

    def post(self, path: str, body: dict) -> requests.Response:
        return self.http.post(
            self.base_url + path,
            json=body,
            headers={"X-CSRFToken": self.http.cookies["csrftoken"]},
            timeout=HTTP_TIMEOUT,
        )

    def start_shift(self) -> None:
        response = self.post("/api/v1/staff/shift", {"action": "start"})
        assert response.status_code == 200, response.text
        assert response.json()["on_shift"] is True

    def chat_room(self) -> int:
        status = self.http.get(self.base_url + "/api/v1/staff/status", timeout=HTTP_TIMEOUT)
        sessions = status.json()["sessions"]
        assert len(sessions) == 1, sessions
        return sessions[0]["room"]

    def join(self) -> None:
        self.room = self.chat_room()
        self.ws = self._sockets.enter_context(
            connect(
                self.server.ws_url(),
                additional_headers=self.server.ws_headers(self.http),
                open_timeout=HTTP_TIMEOUT,
            )
        )
        assert self.next_frame("hello")["authenticated"] is True
        self.ws.send(json.dumps({"type": "join", "room": self.room, "since": 0}))
        self.next_frame("joined")

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

    def say(self, text: str) -> None:
        msg_id = str(uuid.uuid4())
        self.ws.send(
            json.dumps(
                {"type": "send", "room": self.room, "client_msg_id": msg_id, "body": text},
                ensure_ascii=False,
            )
        )
        ack = self.next_frame("ack", lambda frame: frame.get("client_msg_id") == msg_id)
        assert ack["status"] == "delivered", ack

    def hears(self, text: str) -> dict:
        return self.next_frame("message", lambda frame: frame.get("body") == text)

    def end_chat(self) -> None:
        response = self.post(f"/api/v1/support/sessions/{self.room}/end", {})
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "ended"

    def close(self) -> None:
        self._sockets.close()


@pytest.fixture
def supporter(server):
    people: list[Supporter] = []

    def open_(username: str = "supporter1") -> Supporter:
        person = Supporter(server, username)
        people.append(person)
        return person

    yield open_
    for person in people:
        person.close()


def schedule_next_shift(server, *, hours_from_now: int = 3) -> datetime:
    """Give Sam a shift that starts later, on the hour; return its start (service time)."""
    now = datetime.now(SERVICE_ZONE)
    starts = (now + timedelta(hours=hours_from_now)).replace(minute=0, second=0, microsecond=0)
    server.manage(
        "shell",
        "-c",
        "from datetime import datetime, timedelta; "
        "from peerchat.models import Shift, User; "
        f"starts = datetime.fromisoformat({starts.isoformat()!r}); "
        "Shift.objects.create(supporter=User.objects.get(username='supporter2'), "
        "starts_at=starts, ends_at=starts + timedelta(hours=4))",
    )
    return starts


def shift_words(starts: datetime) -> str:
    """How the page says that time: "at 9pm", "tomorrow at 1am" (service time)."""
    hour = starts.hour % 12 or 12
    clock = f"{hour}{'am' if starts.hour < 12 else 'pm'}"
    today = datetime.now(SERVICE_ZONE).date()
    return f"at {clock}" if starts.date() == today else f"tomorrow at {clock}"


# The journey ------------------------------------------------------------------------------------


def test_the_whole_journey_on_a_phone(seeker, supporter, server):
    # The demo supporters have shifts scheduled now that nobody has gone on yet.
    due_now = "A shift is due to start now, so a supporter should be here soon."
    person = seeker()
    page = person.page

    # Home → start: the agreement, with who can read the chat before any question.
    person.start_from_home()
    confidentiality = page.get_by_role("region", name="Your privacy")
    expect(confidentiality).to_contain_text("Who can read this chat")
    expect(confidentiality).to_contain_text("When information may be shared")
    order = page.evaluate(
        """() => {
          const privacy = document.getElementById("agreement-confidentiality");
          const question = document.getElementById("safe-now");
          const after = privacy.compareDocumentPosition(question);
          return Boolean(after & Node.DOCUMENT_POSITION_FOLLOWING);
        }"""
    )
    assert order, "the limits of confidentiality come before anything is asked"
    expect(page.get_by_role("group", name="Are you safe right now?")).to_contain_text(
        "You don't have to answer"
    )
    expect(page.locator("#availability")).to_have_text(
        f"Nobody is on shift right now. {due_now} You can still ask now and wait here."
    )
    expect(person.urgent).to_be_hidden()

    # "Not sure": the crisis resources come to the top at once, before anything is sent.
    safe_now = page.get_by_role("group", name="Are you safe right now?")
    safe_now.get_by_label("Not sure", exact=True).check()
    expect(person.urgent).to_be_visible(timeout=1_000)
    expect(person.urgent).to_be_in_viewport(timeout=2_000)
    expect(person.urgent.get_by_role("link", name=re.compile("Samaritans"))).to_have_attribute(
        "href", "tel:116123"
    )
    urgent_box = person.urgent.bounding_box()
    agreement_box = person.heading("Before you start").bounding_box()
    assert urgent_box["y"] < agreement_box["y"]
    assert person.request_posts == []

    page.get_by_label("What would you like to talk about?").select_option(label="How I'm feeling")
    person.ask()

    # The waiting room: position, an honest estimate, the resources, something to try.
    expect(person.heading("We're finding you a supporter", level=1)).to_be_visible()
    expect(page.locator("#queue-position")).to_have_text("You're next.")
    expect(page.locator("#queue-estimate")).to_have_text(f"Nobody is on shift right now. {due_now}")
    expect(page.locator("#queue-status")).to_have_attribute("aria-live", "polite")
    expect(person.urgent).to_be_visible()
    expect(
        page.get_by_role("region", name="While you wait").get_by_role("listitem")
    ).not_to_have_count(0)
    assert person.support_state()["request"]["urgent"] is True
    expect(page.locator("#connection-status")).to_have_text("Connected")
    person.check_csp()

    # Alex goes on shift: the page turns into the chat by itself.
    alex = supporter("supporter1")
    alex.start_shift()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    expect(person.urgent).to_be_hidden()
    for locator in (
        page.get_by_role("link", name="Quick exit"),
        page.get_by_role("textbox", name="Message to Alex"),
        page.get_by_role("button", name="Send"),
        page.get_by_role("link", name=re.compile("Samaritans")),
        page.get_by_role("button", name="End chat"),
    ):
        expect(locator).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Messages both ways.
    alex.join()
    alex.say("hello, this is a placeholder greeting")
    person.expect_messages(["hello, this is a placeholder greeting"])
    person.send("a placeholder reply from the seeker")
    alex.hears("a placeholder reply from the seeker")
    person.expect_messages(
        ["hello, this is a placeholder greeting", "a placeholder reply from the seeker"]
    )

    # The seeker ends the chat, after a gentle check.
    page.get_by_role("button", name="End chat").click()
    expect(page.get_by_text("Are you sure you want to end the chat?")).to_be_visible()
    page.get_by_role("button", name="Keep talking").click()
    expect(page.get_by_text("Are you sure you want to end the chat?")).to_be_hidden()
    page.get_by_role("button", name="End chat").click()
    page.get_by_role("button", name="Yes, end the chat").click()

    # Ended: the chat stays readable; feedback is offered.
    expect(person.heading("The chat has ended")).to_be_visible()
    expect(person.heading("The chat has ended")).to_be_focused()
    expect(page.locator("#ended-text")).to_have_text(
        "You ended the chat. You can still read it above."
    )
    person.expect_messages(
        ["hello, this is a placeholder greeting", "a placeholder reply from the seeker"]
    )
    expect(page.get_by_role("textbox", name="Message to Alex")).to_be_hidden()
    page.get_by_role("group", name="Did you feel listened to?").get_by_label("5").check()
    page.get_by_role("group", name="Was this helpful?").get_by_label("4").check()
    page.get_by_role("group", name="Would you come back?").get_by_label("Yes").check()
    page.get_by_label("Anything else you'd like to tell us?").fill("a placeholder comment")
    page.locator("#feedback-form").get_by_role("button", name="Send").click()

    expect(person.heading("Thank you")).to_be_visible()
    expect(page.get_by_role("button", name="Start a new chat")).to_be_visible()
    expect(page.get_by_role("link", name="My safety plan")).to_have_attribute(
        "href", "/safety-plan/"
    )
    assert person.support_state()["state"] == "none"  # feedback given
    assert person.request_posts and len(person.request_posts) == 1

    # Starting again brings the agreement back, now offering Alex again.
    page.get_by_role("button", name="Start a new chat").click()
    expect(person.heading("Before you start")).to_be_visible()
    expect(page.get_by_label("Talk to Alex again if they're available")).to_be_visible()
    person.assert_clean()


def test_reload_mid_chat_comes_back_to_the_same_chat(seeker, supporter):
    alex = supporter("supporter1")
    alex.start_shift()
    person = seeker()
    page = person.page
    person.start_on_support_page()
    expect(page.locator("#availability")).to_have_text("1 supporter is on shift now.")
    person.ask()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    alex.join()
    alex.say("first placeholder line")
    person.send("second placeholder line")
    alex.hears("second placeholder line")
    person.expect_messages(["first placeholder line", "second placeholder line"])

    person.check_csp()
    page.reload()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    person.expect_messages(["first placeholder line", "second placeholder line"])
    expect(page.locator("#connection-status")).to_have_text("Connected")
    alex.say("third placeholder line")
    person.expect_messages(
        ["first placeholder line", "second placeholder line", "third placeholder line"]
    )

    # Alex ends it: the page says so kindly; skipping the feedback is fine, and sticks.
    alex.end_chat()
    expect(person.heading("The chat has ended")).to_be_visible()
    expect(page.locator("#ended-text")).to_have_text(
        "Alex has ended the chat. You can still read it above."
    )
    page.get_by_role("button", name="Skip").click()
    expect(person.heading("Take care")).to_be_visible()
    assert person.support_state()["state"] == "ended"  # nothing was sent
    person.check_csp()
    page.reload()
    expect(person.heading("Take care")).to_be_visible()
    person.expect_messages(
        ["first placeholder line", "second placeholder line", "third placeholder line"]
    )
    person.assert_clean()


def test_i_had_to_go_leaves_the_queue_quietly(seeker, server):
    # Only a later shift is scheduled: the waiting room says when it starts.
    server.manage("shell", "-c", "from peerchat.models import Shift; Shift.objects.all().delete()")
    starts = schedule_next_shift(server)
    person = seeker()
    page = person.page
    person.start_on_support_page()
    expect(page.locator("#availability")).to_have_text(
        f"Nobody is on shift right now. The next shift starts {shift_words(starts)}. "
        "You can ask now and wait here, or come back then."
    )
    person.ask(safe_now="Yes")
    expect(person.heading("We're finding you a supporter")).to_be_visible()
    expect(page.locator("#queue-estimate")).to_have_text(
        f"Nobody is on shift right now. The next shift starts {shift_words(starts)}."
    )
    assert person.support_state()["state"] == "waiting"

    page.get_by_role("button", name="I had to go").click()
    expect(person.heading("Take care", level=1)).to_be_visible()
    expect(person.heading("Take care", level=1)).to_be_focused()
    expect(page.locator("#left-text")).to_have_text(
        "You've left the queue. Nobody was sent a message."
    )
    assert person.support_state()["state"] == "none"

    # A way back, whenever they like.
    page.get_by_role("button", name="Ask for a supporter again").click()
    expect(person.heading("Before you start")).to_be_visible()
    person.assert_clean()


def test_quick_exit_replaces_the_page_and_back_does_not_return(seeker, supporter):
    alex = supporter("supporter1")
    alex.start_shift()
    person = seeker()
    page = person.page
    person.start_on_support_page()
    # An in-page link must not leave an entry behind either.
    page.get_by_role("link", name="Help now").click()
    expect(page.get_by_role("heading", name="If you need help right now")).to_be_focused()
    person.ask()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    person.check_csp()

    with person.context.expect_page() as popup:
        page.get_by_role("link", name="Quick exit").click()
    page.wait_for_url(NEUTRAL_PAGE)
    assert popup.value.url == NEUTRAL_PAGE  # a fresh tab with no history, too
    page.go_back()
    page.wait_for_timeout(500)
    assert "/support/" not in page.url, page.url
    assert person.console == []


def test_double_click_on_agree_makes_one_request(seeker):
    person = seeker()
    page = person.page
    person.start_on_support_page()
    page.get_by_role("button", name=AGREE).dblclick()
    expect(person.heading("We're finding you a supporter")).to_be_visible()
    page.wait_for_timeout(500)
    assert len(person.request_posts) == 1, person.request_posts
    person.assert_clean()


def test_signed_out_elsewhere_shows_a_calm_way_back(seeker):
    person = seeker()
    page = person.page
    person.start_on_support_page()
    person.ask()
    expect(person.heading("We're finding you a supporter")).to_be_visible()
    other = person.context.new_page()
    other.goto(person.base_url + "/")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url(person.base_url + "/")

    expect(person.heading("You're signed out")).to_be_visible()
    expect(page.get_by_role("link", name="Start again")).to_have_attribute("href", "/support/")
    expect(page.get_by_role("complementary", name="If you need help right now")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_be_hidden()
    person.assert_clean()


def test_same_supporter_again_a_handover_and_sharing_the_safety_plan(seeker, supporter):
    alex = supporter("supporter1")
    alex.start_shift()
    person = seeker()
    page = person.page
    person.start_on_support_page()
    person.ask()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    page.get_by_role("button", name="End chat").click()
    page.get_by_role("button", name="Yes, end the chat").click()
    expect(person.heading("The chat has ended")).to_be_visible()
    page.locator("#feedback-form").get_by_role("button", name="Send").click()
    page.get_by_role("button", name="Start a new chat").click()

    # Asking for Alex again, who is free: the page says so.
    page.get_by_label("Talk to Alex again if they're available").check()
    person.ask()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    expect(page.locator("#chat-info")).to_have_text("You're talking with Alex again.")

    # Sharing an empty plan: a kind word and the way to write one.
    page.get_by_role("button", name="Share my safety plan").click()
    expect(page.locator("#plan-status")).to_contain_text("Your safety plan is empty for now.")
    expect(page.locator("#plan-status").get_by_role("link")).to_have_attribute(
        "href", "/safety-plan/"
    )
    token = next(c["value"] for c in person.context.cookies() if c["name"] == "csrftoken")
    written = page.request.put(
        person.base_url + "/api/v1/safety-plan",
        data={"things_that_help": "a placeholder list of things that help"},
        headers={"X-CSRFToken": token},
    )
    assert written.ok, written.status
    page.get_by_role("button", name="Share my safety plan").click()
    expect(page.locator("#plan-state")).to_have_text("Alex can see your safety plan.")
    expect(page.get_by_role("button", name="Stop sharing my safety plan")).to_be_visible()

    # Alex hands over to Sam: the seeker is told who carries on; the shared plan goes to Sam.
    sam = supporter("supporter2")
    sam.start_shift()
    alex.room = alex.chat_room()
    handed = alex.post(
        f"/api/v1/support/sessions/{alex.room}/transfer",
        {"to": "Sam", "note": "a placeholder handover note"},
    )
    assert handed.status_code == 200, handed.text
    expect(person.heading("Chat with Sam", level=1)).to_be_visible()
    expect(page.locator("#chat-info")).to_have_text(
        "Alex has handed over to Sam, who will carry on with you."
    )
    expect(page.locator("#plan-state")).to_have_text("Sam can see your safety plan.")
    page.get_by_role("button", name="Stop sharing my safety plan").click()
    expect(page.get_by_role("button", name="Share my safety plan")).to_be_visible()
    expect(page.locator("#plan-state")).to_be_hidden()
    # The browser logs the expected 409 of the empty plan; nothing else went wrong.
    person.console = [line for line in person.console if "409 (Conflict)" not in line]
    person.assert_clean()


@pytest.mark.parametrize(
    "server",
    [
        {
            "SUPPORT_PRESENCE_INTERVAL_SECONDS": "1",
            "SUPPORT_SESSION_GRACE_SECONDS": "4",
            "SUPPORT_SWEEP_INTERVAL_SECONDS": "1",
        }
    ],
    indirect=True,
)
def test_a_chat_closed_after_losing_the_connection_is_explained(seeker, supporter):
    alex = supporter("supporter1")
    alex.start_shift()
    person = seeker()
    page = person.page
    network = {"up": True, "sockets": []}

    def route(ws):
        if not network["up"]:
            ws.close(code=4000)
            return
        network["sockets"].append(ws)
        ws.connect_to_server()

    person.start_on_support_page()
    person.ask()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    person.check_csp()
    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    page.reload()
    expect(person.heading("Chat with Alex", level=1)).to_be_visible()
    expect(page.locator("#connection-status")).to_have_text("Connected")

    # The phone loses its connection for longer than the grace period.
    network["up"] = False
    for ws in network["sockets"]:
        ws.close(code=4000)
    expect(page.locator("#connection-status")).to_have_text("Reconnecting…")
    alex.room = alex.chat_room()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = alex.http.get(
            person.base_url + f"/api/v1/support/sessions/{alex.room}", timeout=HTTP_TIMEOUT
        ).json()
        if state["state"] == "ended":
            break
        time.sleep(0.5)
    assert state["end_reason"] == "seeker_gone", state

    network["up"] = True
    expect(person.heading("The chat has ended")).to_be_visible(timeout=30_000)
    expect(page.locator("#ended-text")).to_have_text(
        "The chat closed because we lost connection with you for a while. "
        "You can start a new chat any time."
    )
    person.assert_clean()


def test_a_changed_agreement_is_shown_again_before_asking(seeker, server):
    person = seeker()
    page = person.page
    person.start_on_support_page()
    server.manage(
        "shell",
        "-c",
        "from django.utils import timezone; from peerchat.models import Agreement; "
        "a = Agreement.objects.filter(kind='one_to_one').order_by('-version').first(); "
        "Agreement.objects.create(kind='one_to_one', version=a.version + 1, title=a.title, "
        "body=a.body + '<p>A placeholder new paragraph.</p>', "
        "confidentiality=a.confidentiality, published_at=timezone.now())",
    )
    person.ask()
    expect(page.locator("#agreement-changed")).to_be_visible()
    expect(person.heading("Before you start")).to_be_focused()
    expect(page.locator("#agreement-body")).to_contain_text("A placeholder new paragraph.")
    assert person.support_state()["state"] == "none"
    person.ask()
    expect(person.heading("We're finding you a supporter")).to_be_visible()
    # The browser logs the 409 of the outdated agreement; nothing else went wrong.
    person.console = [line for line in person.console if "409 (Conflict)" not in line]
    person.assert_clean()
