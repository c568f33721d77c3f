"""The supporter's page on a night shift: going on shift, new chats that cannot be missed,
several chats side by side, phases, safety plans, handing over, ending with a handover note,
and the phone layout.

Each test runs its own server (`run_topology`, one daphne process, the demo accounts: Alex a
peer, Sam a senior, Robin a trainee, each with a shift covering now). Seekers are driven the
way their page drives the server: over HTTP (`requests`) and the socket (`websockets`).
Message texts are neutral placeholders.
"""

import json
import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser.conftest import DESKTOP, PHONE, WatchedTab

pytestmark = pytest.mark.browser

HTTP_TIMEOUT = 10
NOTE_LABEL = (
    "Short note for the team: what helped, anything the next supporter should know. Staff only."
)


def eventually(check, timeout: float = 10.0):
    """Call `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition never became true"
            return result
        time.sleep(0.1)


class Seeker:
    """Someone asking for support, over HTTP and the socket as their own page would."""

    def __init__(self, server):
        self.server = server
        self.base = server.base_url()
        self.http = requests.Session()
        self.http.get(self.base + "/api/v1/me", timeout=HTTP_TIMEOUT).raise_for_status()
        answer = self._post("/api/v1/seekers")
        assert answer.status_code == 201, answer.text
        self.handle = answer.json()["handle"]
        self.room: int | None = None

    def _headers(self) -> dict:
        return {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base + "/"}

    def _post(self, path: str, data: dict | None = None) -> requests.Response:
        return self.http.post(
            self.base + path, json=data or {}, headers=self._headers(), timeout=HTTP_TIMEOUT
        )

    def _get(self, path: str) -> dict:
        response = self.http.get(self.base + path, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def ask(self, *, safe_now: str = "", topic: str = "") -> dict:
        version = self._get("/api/v1/support/intake")["agreement"]["version"]
        answer = self._post(
            "/api/v1/support/requests",
            {"agreement_version": version, "safe_now": safe_now, "topic": topic},
        )
        assert answer.status_code == 201, answer.text
        return self._remember(answer.json())

    def current(self) -> dict:
        return self._remember(self._get("/api/v1/support/current"))

    def _remember(self, state: dict) -> dict:
        if state.get("session"):
            self.room = state["session"]["room"]
        return state

    def wait_for_chat(self) -> int:
        eventually(lambda: self.current()["state"] == "active")
        return self.room

    def session(self) -> dict:
        return self._get(f"/api/v1/support/sessions/{self.room}")

    def send(self, text: str) -> None:
        """Send one message on a socket of the seeker's own and wait for its ack."""
        self.wait_for_chat()
        headers = {"Cookie": f"sessionid={self.http.cookies['sessionid']}"}
        with connect(self.server.ws_url(), origin=self.base, additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=10))["authenticated"] is True
            client_msg_id = str(uuid.uuid4())
            frame = {"type": "send", "room": self.room, "client_msg_id": client_msg_id}
            ws.send(json.dumps({**frame, "body": text}, ensure_ascii=False))
            while True:
                answer = json.loads(ws.recv(timeout=10))
                if answer["type"] == "ack" and answer["client_msg_id"] == client_msg_id:
                    assert answer["status"] == "delivered", answer
                    return

    def messages(self) -> list[tuple[str, str]]:
        page = self._get(f"/api/v1/rooms/{self.room}/messages?after=0&limit=200")
        return [(m["sender"]["handle"], m["body"]) for m in page["messages"]]

    def end(self) -> None:
        assert self._post(f"/api/v1/support/sessions/{self.room}/end").status_code == 200

    def write_plan(self, **fields: str) -> None:
        response = self.http.put(
            self.base + "/api/v1/safety-plan",
            json=fields,
            headers=self._headers(),
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text

    def share_plan(self) -> None:
        response = self._post(f"/api/v1/support/sessions/{self.room}/safety-plan/share")
        assert response.status_code == 200, response.text

    def withdraw_plan(self) -> None:
        response = self._post(f"/api/v1/support/sessions/{self.room}/safety-plan/withdraw")
        assert response.status_code == 200, response.text


class SupporterAPI:
    """A supporter signed in over HTTP only (another supporter on shift, or a check)."""

    def __init__(self, server, username: str):
        self.base = server.base_url()
        self.http = server.login(username)

    def _headers(self) -> dict:
        return {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base + "/"}

    def start_shift(self) -> dict:
        response = self.http.post(
            self.base + "/api/v1/staff/shift",
            json={"action": "start"},
            headers=self._headers(),
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def status(self) -> dict:
        return self.http.get(self.base + "/api/v1/staff/status", timeout=HTTP_TIMEOUT).json()

    def notes(self, room: int) -> list[dict]:
        url = self.base + f"/api/v1/support/sessions/{room}/notes"
        return self.http.get(url, timeout=HTTP_TIMEOUT).json()["notes"]


class StaffPage(WatchedTab):
    """One supporter's browser tab on /staff/, with what its console said."""

    def sign_in(self, username: str) -> "StaffPage":
        """Sign in with the real form, without ?next=: a supporter lands on their page."""
        self.sign_in_with_form(username, landing="**/staff/")
        expect(self.connection).to_have_text("Connected")
        expect(self.shift_state).not_to_have_text("Checking your shift…")
        return self

    def start_shift(self) -> None:
        self.page.get_by_role("button", name="Start shift").click()
        expect(self.shift_state).to_have_text(
            "You're on shift. New chats come to you as places free up."
        )

    # What the supporter sees ----------------------------------------------------------------

    @property
    def connection(self):
        return self.page.locator("#connection-status")

    @property
    def shift_state(self):
        return self.page.locator("#shift-state")

    @property
    def capacity(self):
        return self.page.locator("#shift-capacity")

    @property
    def panes(self):
        return self.page.locator("#pane-grid > .pane")

    def pane(self, handle: str):
        return self.page.get_by_role("region", name=handle, exact=True)

    def composer(self, handle: str):
        return self.pane(handle).get_by_role("textbox", name=f"Message to {handle}")

    def bodies(self, handle: str):
        return self.pane(handle).locator(".messages > li .message-body")

    def send(self, handle: str, text: str) -> None:
        self.composer(handle).fill(text)
        self.composer(handle).press("Enter")
        expect(self.pane(handle).locator(".message--pending")).to_have_count(0)

    def queue(self, part: str):
        return self.page.locator(f"#queue-{part}")

    def switch_button(self, handle: str):
        return self.page.get_by_role("navigation", name="Switch between your chats").get_by_role(
            "button", name=re.compile("^" + re.escape(handle))
        )

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations")

    def assert_clean(self, *, refused: int = 0) -> None:
        """No CSP violations and a quiet console, but for `refused` answers of 409 (the
        browser logs every refused request, even one the page expected and explained)."""
        assert self.csp_violations() == []
        conflict = "the server responded with a status of 409 (Conflict)"
        assert [line for line in self.console if conflict not in line] == []
        assert len(self.console) == refused, self.console


@pytest.fixture
def open_staff(browser, server):
    """A fresh browser context (its own cookies) signed in on /staff/ as `username`."""
    contexts = []

    def open_(username: str, *, viewport: dict = DESKTOP) -> StaffPage:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        return StaffPage(context.new_page(), server.base_url()).sign_in(username)

    yield open_
    for context in contexts:
        context.close()


def test_a_new_chat_arrives_by_itself_and_both_sides_talk(open_staff, server):
    alex = open_staff("supporter1")
    page = alex.page
    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.get_by_role("heading", name="Your shift", level=1)).to_be_visible()
    expect(alex.shift_state).to_have_text("You're off shift. No new chats will come to you.")
    expect(alex.capacity).to_have_text("0 of 2 chats")
    expect(page.locator("#chats-empty")).to_have_text("Start your shift to take chats.")

    alex.start_shift()
    shift_times = re.compile(r"^Shift: \d\d?:\d\d( ?[AaPp]\.?[Mm]\.?)? to ")
    expect(page.locator("#shift-times")).to_have_text(shift_times)
    expect(page.locator("#chats-empty")).to_contain_text("appears here by itself")
    expect(alex.queue("on-shift")).to_have_text("1")
    expect(alex.queue("free")).to_have_text("2")
    expect(alex.queue("waiting")).to_have_text("0")

    # A seeker who is not sure they are safe asks: the chat comes to Alex with no reload.
    seeker = Seeker(server)
    seeker.ask(safe_now="not_sure", topic="feelings")
    pane = alex.pane(seeker.handle)
    expect(pane).to_be_visible()
    expect(page.locator("#announce-now")).to_have_attribute("aria-live", "assertive")
    expect(page.locator("#announce-now")).to_contain_text(f"New chat with {seeker.handle}")
    expect(page).to_have_title("(1) New chat · Your shift · peerchat")
    expect(pane.get_by_text("New chat", exact=True)).to_be_visible()
    expect(pane).to_contain_text(
        "Urgent: they said they're not sure they're safe, or not safe, right now"
    )
    expect(pane).to_contain_text("Topic: How I'm feeling")
    expect(pane.get_by_role("radio", name="Opening")).to_be_checked()
    expect(pane.locator("summary")).to_have_text("Earlier notes: none")
    banner = page.locator("#new-chats")
    expect(banner).to_contain_text(f"New chat with {seeker.handle}")
    expect(alex.capacity).to_have_text("1 of 2 chats")
    expect(alex.queue("free")).to_have_text("1")

    # Going to it from the banner counts as having seen it.
    banner.get_by_role("button", name=f"Go to your new chat with {seeker.handle}").click()
    expect(alex.composer(seeker.handle)).to_be_focused()
    expect(banner).to_be_hidden()
    expect(pane.get_by_text("New chat", exact=True)).to_be_hidden()
    expect(page).to_have_title("Your shift · peerchat")

    # Messages both ways.
    seeker.send("hello, I found this page tonight")
    expect(alex.bodies(seeker.handle)).to_have_text(["hello, I found this page tonight"])
    alex.send(seeker.handle, "Hi, I'm Alex. I'm glad you reached out.")
    expect(alex.bodies(seeker.handle)).to_have_text(
        ["hello, I found this page tonight", "Hi, I'm Alex. I'm glad you reached out."]
    )
    assert seeker.messages() == [
        (seeker.handle, "hello, I found this page tonight"),
        ("Alex", "Hi, I'm Alex. I'm glad you reached out."),
    ]
    alex.assert_clean()

    # Signed out elsewhere (the session ends): a calm view with a way back in.
    page.request.post(
        server.base_url() + "/accounts/logout/",
        headers={
            "X-CSRFToken": next(
                c["value"] for c in page.context.cookies() if c["name"] == "csrftoken"
            ),
            "Referer": server.base_url() + "/staff/",
        },
    )
    expect(page.get_by_role("heading", name="You're signed out")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_have_attribute(
        "href", "/accounts/login/?next=/staff/"
    )
    expect(pane).to_be_hidden()
    expect(page.locator("#shift-panel")).to_be_hidden()
    assert alex.csp_violations() == []


def test_a_peer_holds_two_chats_side_by_side_and_the_third_seeker_waits(open_staff, server):
    alex = open_staff("supporter1")
    page = alex.page
    alex.start_shift()
    seekers = [Seeker(server) for _ in range(3)]
    for seeker in seekers:
        seeker.ask()

    expect(alex.panes).to_have_count(2)
    first, second = (alex.pane(s.handle) for s in seekers[:2])
    expect(first).to_be_visible()
    expect(second).to_be_visible()
    a, b = first.bounding_box(), second.bounding_box()
    assert abs(a["y"] - b["y"]) < 2 and b["x"] >= a["x"] + a["width"], (a, b)
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    expect(page).to_have_title("(2) New chat · Your shift · peerchat")
    expect(alex.capacity).to_have_text("2 of 2 chats: full, so new chats wait for a free place")
    # The queue overview: counts only, never who.
    expect(alex.queue("waiting")).to_have_text("1")
    expect(alex.queue("urgent")).to_have_text("0")
    expect(alex.queue("free")).to_have_text("0")
    expect(alex.queue("oldest")).to_have_text(re.compile(r"under a minute|\d+ minutes?"))
    expect(page.locator("#queue-panel")).not_to_contain_text(seekers[2].handle)
    assert seekers[2].current()["state"] == "waiting"
    # Switching by keyboard: a button per chat.
    expect(alex.switch_button(seekers[0].handle)).to_be_visible()
    alex.switch_button(seekers[1].handle).focus()
    page.keyboard.press("Enter")
    expect(alex.composer(seekers[1].handle)).to_be_focused()

    # A place frees up (the first seeker ends): the waiting seeker's chat comes by itself,
    # and the ended chat stays readable with its note form.
    seekers[0].end()
    expect(alex.pane(seekers[2].handle)).to_be_visible()
    expect(alex.queue("waiting")).to_have_text("0")
    expect(first).to_contain_text(f"{seekers[0].handle} ended the chat.")
    expect(first.get_by_label(NOTE_LABEL)).to_be_visible()
    expect(alex.switch_button(seekers[0].handle)).to_contain_text("Ended: note due")
    expect(alex.panes).to_have_count(3)
    alex.assert_clean()


@pytest.mark.parametrize("server", [{"SUPPORT_SESSION_SOFT_LIMIT_MINUTES": "0"}], indirect=True)
def test_phase_time_note_and_the_shared_safety_plan(open_staff, server):
    alex = open_staff("supporter1")
    page = alex.page
    alex.start_shift()
    seeker = Seeker(server)
    seeker.ask(topic="school_work")
    seeker.wait_for_chat()
    pane = alex.pane(seeker.handle)
    expect(pane).to_contain_text("Topic: School, college or work")
    expect(pane.get_by_text("Urgent", exact=True)).to_be_hidden()

    # The soft time limit (0 minutes here) has passed: a gentle suggestion, nothing cut off.
    expect(pane.locator(".pane-soft-limit")).to_have_text(
        "1 minute in — a good time to start closing gently"
    )
    expect(alex.composer(seeker.handle)).to_be_editable()

    # Phase: a segmented control; a click, then the arrow keys.
    pane.get_by_role("radio", name="Talking").check()
    eventually(lambda: seeker.session()["phase"] == "talking")
    pane.get_by_role("radio", name="Talking").press("ArrowRight")
    expect(pane.get_by_role("radio", name="Closing")).to_be_checked()
    eventually(lambda: seeker.session()["phase"] == "closing")

    # The seeker shares their safety plan: a button to view it; edits come through.
    seeker.write_plan(warning_signs="Not sleeping", things_that_help="A walk; a cold drink")
    seeker.share_plan()
    view = pane.get_by_role("button", name="Safety plan shared: view")
    expect(view).to_be_visible()
    expect(page.locator("#announce")).to_have_text(
        f"{seeker.handle} shared their safety plan with you."
    )
    view.click()
    plan = pane.get_by_role("region", name=f"Safety plan from {seeker.handle}")
    expect(plan).to_contain_text("Things that help")
    expect(plan).to_contain_text("A walk; a cold drink")
    expect(pane.get_by_role("button", name="Hide safety plan")).to_have_attribute(
        "aria-expanded", "true"
    )
    seeker.write_plan(things_that_help="Music <b>loud</b>")
    expect(plan).to_contain_text("Music <b>loud</b>")
    expect(plan.locator("b")).to_have_count(0)
    # Withdrawn: gone from the page.
    seeker.withdraw_plan()
    expect(plan).to_be_hidden()
    expect(pane.get_by_role("button", name=re.compile("safety plan", re.I))).to_be_hidden()
    expect(pane).not_to_contain_text("A walk; a cold drink")
    alex.assert_clean()


def test_hand_over_to_another_supporter_with_a_note(open_staff, server):
    alex = open_staff("supporter1")
    page = alex.page
    alex.start_shift()
    seeker = Seeker(server)
    seeker.ask(safe_now="yes", topic="feelings")
    room = seeker.wait_for_chat()
    pane = alex.pane(seeker.handle)
    expect(pane).to_be_visible()
    seeker.send("it has been a long week")
    expect(alex.bodies(seeker.handle)).to_have_text(["it has been a long week"])

    # Sam goes on shift (over the API) and has his page open.
    SupporterAPI(server, "supporter2").start_shift()
    sam = open_staff("supporter2")
    expect(sam.shift_state).to_have_text(
        "You're on shift. New chats come to you as places free up."
    )

    pane.get_by_role("button", name="Hand over").click()
    dialog = page.get_by_role("dialog", name=f"Hand over your chat with {seeker.handle}")
    expect(dialog).to_be_visible()
    sam_choice = dialog.get_by_role("radio", name=re.compile(r"^Sam"))
    expect(sam_choice).to_be_checked()
    expect(dialog).to_contain_text("Sam (senior, 3 free places)")
    # The note is required, and said so kindly.
    dialog.get_by_role("button", name="Hand over").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Write a short note for Sam")
    note = "Talked about a long week; breathing slowly helped. Gentle with questions."
    dialog.get_by_label("Handover note (staff only)").fill(note)
    dialog.get_by_role("button", name="Hand over").click()

    expect(dialog).to_be_hidden()
    expect(pane).to_have_count(0)
    expect(page.locator("#page-notice")).to_have_text(
        f"Your chat with {seeker.handle} was handed over to Sam. Thank you."
    )
    expect(page.locator("#page-notice")).to_be_focused()
    expect(alex.capacity).to_have_text("0 of 2 chats")

    # Sam's page: the chat arrives by itself, with Alex's note open and the history.
    sam_pane = sam.pane(seeker.handle)
    expect(sam_pane).to_be_visible()
    expect(sam.page.locator("#announce-now")).to_contain_text(f"New chat with {seeker.handle}")
    expect(sam_pane).to_contain_text("Handed over to you by Alex")
    expect(sam_pane.locator("summary")).to_have_text("Earlier notes (1)")
    expect(sam_pane.locator(".note-body")).to_have_text([note])
    expect(sam_pane.locator(".note-body")).to_be_visible()
    expect(sam.bodies(seeker.handle)).to_have_text(["it has been a long week"])
    assert seeker.session()["supporter"]["handle"] == "Sam"
    sam_api = SupporterAPI(server, "supporter2")
    assert [s["room"] for s in sam_api.status()["sessions"]] == [room]
    assert sam_api.notes(room)[0]["kind"] == "transfer"
    alex.assert_clean()
    sam.assert_clean()


def test_end_a_chat_write_the_note_and_end_the_shift(open_staff, server):
    alex = open_staff("supporter1")
    page = alex.page
    api = SupporterAPI(server, "supporter1")
    alex.start_shift()
    first, second = Seeker(server), Seeker(server)
    first.ask()
    second.ask()
    expect(alex.panes).to_have_count(2)

    # Alex ends the first chat: confirm, then the note in the composer's place.
    pane = alex.pane(first.handle)
    pane.get_by_role("button", name="End chat").click()
    dialog = page.get_by_role("dialog", name=f"End your chat with {first.handle}?")
    expect(dialog.get_by_role("button", name="Keep talking")).to_be_focused()
    dialog.get_by_role("button", name="End chat").click()
    note = pane.get_by_label(NOTE_LABEL)
    expect(note).to_be_focused()
    expect(pane).to_contain_text("You ended the chat. You can still read it here.")
    expect(alex.composer(first.handle)).to_be_hidden()
    expect(pane.get_by_role("button", name="Hand over")).to_be_hidden()
    assert first.current()["state"] == "ended"
    expect(alex.capacity).to_have_text("1 of 2 chats")

    pane.get_by_role("button", name="Save note").click()
    expect(pane.get_by_role("alert")).to_have_text(
        "Write a few words first: even one line helps the next supporter."
    )
    note.fill("Listened; grounding helped. They may come back tomorrow.")
    pane.get_by_role("button", name="Save note").click()
    expect(pane).to_contain_text(f"Note saved. Thank you for looking after {first.handle}.")
    eventually(lambda: api.status()["notes_due"] == [])
    pane.get_by_role("button", name="Close this chat").click()
    expect(pane).to_have_count(0)

    # The second seeker ends their chat; Alex reloads before writing the note.
    second.end()
    second_pane = alex.pane(second.handle)
    expect(second_pane).to_contain_text(f"{second.handle} ended the chat.")
    expect(page.locator("#announce")).to_have_text(
        f"Your chat with {second.handle} has ended. A short handover note is due."
    )
    page.reload()
    due = page.get_by_role("region", name="Handover notes to write")
    expect(due).to_contain_text(second.handle)
    due.get_by_role("button", name=f"Write note for your chat with {second.handle}").click()
    note = alex.pane(second.handle).get_by_label(NOTE_LABEL)
    expect(note).to_be_focused()
    note.fill("Short chat; they had to go. Nothing worrying said.")
    alex.pane(second.handle).get_by_role("button", name="Save note").click()
    expect(due).to_be_hidden()
    eventually(lambda: api.status()["notes_due"] == [])

    # Ending the shift with a chat still open: confirm; the chat carries on.
    third = Seeker(server)
    third.ask()
    expect(alex.pane(third.handle)).to_be_visible()
    page.get_by_role("button", name="End shift").click()
    dialog = page.get_by_role("dialog", name="End your shift?")
    expect(dialog).to_contain_text("Your chat carries on: you can finish it as usual.")
    expect(dialog.get_by_role("button", name="Stay on shift")).to_be_focused()
    dialog.get_by_role("button", name="End shift").click()
    expect(alex.shift_state).to_have_text("You're off shift. No new chats will come to you.")
    expect(page.get_by_role("button", name="Start shift")).to_be_visible()
    expect(alex.queue("on-shift")).to_have_text("0")
    alex.send(third.handle, "I'm still here with you.")
    assert third.messages() == [("Alex", "I'm still here with you.")]
    alex.assert_clean()


TRAINING_SQL = """
from datetime import timedelta
from django.utils import timezone
from peerchat.models import TrainingRecord
today = timezone.localdate()
records = TrainingRecord.objects.filter(supporter__username="trainee1")
records.filter(module__code="safeguarding").update(completed_on=today - timedelta(days={days}))
records.filter(module__code="harm_minimisation").update(completed_on=today - timedelta(days=350))
"""


def test_a_trainee_takes_one_chat_and_training_gates_the_shift(open_staff, server):
    # Safeguarding lapsed: starting the shift is refused, kindly, with the module named.
    server.manage("shell", "-c", TRAINING_SQL.replace("{days}", "400"))
    robin = open_staff("trainee1")
    page = robin.page
    expect(page.locator("#shift-training")).to_contain_text(
        "this training needs renewing: Safeguarding and sharing information"
    )
    page.get_by_role("button", name="Start shift").click()
    expect(page.locator("#shift-error")).to_have_text(
        "Your training needs renewing before you can take chats: "
        "Safeguarding and sharing information."
    )
    expect(robin.shift_state).to_have_text("You're off shift. No new chats will come to you.")

    # Renewed: the shift starts, with a gentle reminder of what runs out soon.
    server.manage("shell", "-c", TRAINING_SQL.replace("{days}", "30"))
    page.reload()
    expect(page.locator("#shift-training")).to_be_hidden()
    expect(page.locator("#shift-reminder")).to_contain_text(
        "A gentle reminder: Harm minimisation and coping talk runs out on"
    )
    robin.start_shift()
    expect(page.locator("#shift-error")).to_have_text("")

    first, second = Seeker(server), Seeker(server)
    first.ask()
    second.ask()
    expect(robin.pane(first.handle)).to_be_visible()
    expect(robin.queue("waiting")).to_have_text("1")
    expect(robin.panes).to_have_count(1)
    expect(robin.capacity).to_have_text("1 of 1 chat: full, so new chats wait for a free place")
    assert second.current()["state"] == "waiting"
    robin.assert_clean(refused=1)  # the refused start, explained on the page


def test_phone_layout_one_chat_at_a_time_with_a_switcher(open_staff, server):
    alex = open_staff("supporter1", viewport=PHONE)
    page = alex.page
    alex.start_shift()
    first = Seeker(server)
    first.ask()
    expect(alex.pane(first.handle)).to_be_visible()
    expect(page.locator("#chat-switcher")).to_be_hidden()  # one chat: nothing to switch
    alex.composer(first.handle).click()  # Alex is in this chat now
    expect(page).to_have_title("Your shift · peerchat")

    # A second chat comes while Alex talks in the first: it waits behind the switcher, loudly.
    second = Seeker(server)
    second.ask()
    expect(alex.switch_button(second.handle)).to_contain_text("New chat")
    expect(alex.pane(second.handle)).to_be_hidden()
    expect(alex.pane(first.handle)).to_be_visible()
    expect(alex.switch_button(first.handle)).to_have_attribute("aria-current", "true")
    expect(page.locator("#announce-now")).to_contain_text(f"New chat with {second.handle}")
    second.send("is anyone there?")
    expect(alex.switch_button(second.handle)).to_contain_text("1 unread message")
    expect(page).to_have_title("(2) New chat · Your shift · peerchat")

    alex.switch_button(second.handle).click()
    expect(alex.pane(second.handle)).to_be_visible()
    expect(alex.pane(first.handle)).to_be_hidden()
    expect(alex.switch_button(second.handle)).to_have_attribute("aria-current", "true")
    expect(alex.switch_button(second.handle)).not_to_contain_text("unread")
    expect(alex.bodies(second.handle)).to_have_text(["is anyone there?"])
    expect(page).to_have_title("Your shift · peerchat")
    alex.send(second.handle, "Yes, I'm here. Take your time.")

    # Everything fits the phone's width, and a whole chat fits its height.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    alex.pane(second.handle).scroll_into_view_if_needed()
    for locator in (
        alex.pane(second.handle).get_by_role("heading", name=second.handle),
        alex.composer(second.handle),
        alex.pane(second.handle).get_by_role("button", name="Send"),
    ):
        expect(locator).to_be_in_viewport()

    alex.switch_button(first.handle).click()
    expect(alex.pane(first.handle)).to_be_visible()
    expect(alex.pane(second.handle)).to_be_hidden()
    alex.assert_clean()
