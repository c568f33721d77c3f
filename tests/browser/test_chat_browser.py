"""The chat page as people use it: signing in, talking, losing the connection and coming back.

Each test runs a real server (`run_topology`, one daphne process) and real Chromium pages.
"""

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_ROOM, PHONE, RECONNECT_TIMEOUT_MS, supervisor_paused

pytestmark = pytest.mark.browser


def stored_bodies(server, room_name: str = DEMO_ROOM) -> list[str]:
    """What the server holds for the room, read through the HTTP API as a member would."""
    session = server.login("moderator")
    rooms = session.get(server.base_url() + "/api/v1/rooms", timeout=10).json()["rooms"]
    room_id = next(room["id"] for room in rooms if room["name"] == room_name)
    page = session.get(
        server.base_url() + f"/api/v1/rooms/{room_id}/messages?after=0&limit=200", timeout=10
    ).json()
    return [message["body"] for message in page["messages"]]


def test_two_people_chat_both_ways(open_chat, server):
    alex = open_chat("supporter1").open_room()
    sam = open_chat("supporter2").open_room()

    sam.composer.fill("hello from Sam")
    expect(alex.page.locator("#typing")).to_have_text("Sam is typing…")
    sam.composer.press("Enter")
    # Each waits for the other's message before answering, as people do (and so the order
    # the server numbers them in is the order asserted below).
    alex.expect_messages(["hello from Sam"])
    alex.send("hello from Alex")
    sam.expect_messages(["hello from Sam", "hello from Alex"])
    sam.send("how has your evening been?")

    texts = ["hello from Sam", "hello from Alex", "how has your evening been?"]
    alex.expect_messages(texts)
    sam.expect_messages(texts)
    expect(alex.senders).to_have_text(["Sam", "You", "Sam"])
    expect(sam.senders).to_have_text(["You", "Alex", "You"])
    # Own messages look different from other people's, on both sides.
    expect(alex.page.locator("#messages > li.message--mine .message-body")).to_have_text(
        ["hello from Alex"]
    )
    expect(sam.page.locator("#messages > li.message--mine .message-body")).to_have_text(
        ["hello from Sam", "how has your evening been?"]
    )
    # The typing note goes once Sam's message has arrived.
    expect(alex.page.locator("#typing")).to_have_text("")
    assert stored_bodies(server) == texts
    assert alex.console == [] and sam.console == []


def test_reconnects_and_resumes_after_the_server_dies(open_chat, server):
    alex = open_chat("supporter1").open_room()
    sam = open_chat("supporter2", viewport=PHONE).open_room()
    alex.send("before the restart")
    sam.send("me too")
    alex.expect_messages(["before the restart", "me too"])
    sam.expect_messages(["before the restart", "me too"])
    joins_before = len(alex.joins_sent())

    with supervisor_paused(server):
        server.kill(0)
        # Both pages say so, politely, and keep what is typed meanwhile.
        expect(alex.status).to_have_text("Reconnecting…")
        expect(sam.status).to_have_text("Reconnecting…")
        alex.page.context.set_offline(True)
        expect(alex.status).to_have_text("Offline — your messages will be sent when we reconnect")
        alex.send("typed while offline")
        sam.send("sent during the outage")
        expect(alex.pending).to_have_text(re.compile("typed while offline.*Sending…", re.S))
        expect(sam.pending).to_have_text(re.compile("sent during the outage.*Sending…", re.S))

    # The supervisor starts daphne again; Sam's page finds it by itself.
    sam.expect_connected(timeout=RECONNECT_TIMEOUT_MS)
    sam.expect_messages(
        ["before the restart", "me too", "sent during the outage"],
        timeout=RECONNECT_TIMEOUT_MS,
    )
    sam.send("sent while Alex was away")
    sam.expect_messages(
        ["before the restart", "me too", "sent during the outage", "sent while Alex was away"]
    )
    expect(alex.status).to_have_text("Offline — your messages will be sent when we reconnect")
    # Let the page's backoff grow, so that only the `online` event can bring it back at once.
    attempts = alex.sockets_opened
    deadline = time.monotonic() + 20
    while alex.sockets_opened == attempts and time.monotonic() < deadline:
        alex.page.wait_for_timeout(100)
    assert alex.sockets_opened > attempts, "the page stopped trying to reconnect"

    # Alex's network comes back: the page reconnects at once, catches up, then sends.
    alex.page.context.set_offline(False)
    alex.expect_connected(timeout=1_500)  # at once, not seconds later at the next backoff step
    caught_up = [
        "before the restart",
        "me too",
        "sent during the outage",
        "sent while Alex was away",
        "typed while offline",
    ]
    alex.expect_messages(caught_up)
    sam.send("welcome back")

    everything = [*caught_up, "welcome back"]
    alex.expect_messages(everything)
    sam.expect_messages(everything)
    expect(alex.senders).to_have_text(["You", "Sam", "Sam", "Sam", "You", "Sam"])
    assert stored_bodies(server) == everything
    # Alex's page asked for what it had missed, not for the whole room again.
    rejoins = alex.joins_sent()[joins_before:]
    assert rejoins and all(join["since"] == 2 for join in rejoins), rejoins


def test_page_basics(open_chat):
    alex = open_chat("supporter1").open_room()
    page = alex.page
    send_button = page.get_by_role("button", name="Send")

    # Labelled, empty, and nothing to send yet.
    composer = page.get_by_label(f"Message to {DEMO_ROOM}")
    expect(send_button).to_be_disabled()
    composer.fill("   ")
    expect(send_button).to_be_disabled()

    # Shift+Enter makes a new line; Enter sends.
    composer.fill("")
    composer.press_sequentially("line one")
    composer.press("Shift+Enter")
    composer.press_sequentially("line two")
    expect(composer).to_have_value("line one\nline two")
    expect(alex.bodies).to_have_count(0)
    composer.press("Enter")
    alex.expect_messages(["line one\nline two"])
    expect(composer).to_have_value("")
    expect(send_button).to_be_disabled()

    # Bodies are plain text: markup shows as typed and never becomes elements.
    alex.send("<b>html</b> & <img src=x>")
    alex.expect_messages(["line one\nline two", "<b>html</b> & <img src=x>"])
    expect(page.locator("#messages b, #messages img")).to_have_count(0)

    # Too long: a kind counter, and the message is not sent.
    composer.fill("x" * 2001)
    expect(page.locator("#composer-counter")).to_have_text(re.compile(r"^1 over the 2,000"))
    expect(send_button).to_be_disabled()
    composer.press("Enter")
    expect(alex.bodies).to_have_count(2)
    composer.fill("x" * 1990)
    expect(page.locator("#composer-counter")).to_have_text("10 characters left")
    expect(send_button).to_be_enabled()

    # New messages are announced politely; own ones say "You".
    expect(alex.log).to_have_attribute("aria-live", "polite")
    expect(alex.senders).to_have_text(["You", "You"])

    # Safety: quick exit and crisis resources on the chat page itself.
    quick_exit = page.get_by_role("link", name="Quick exit")
    expect(quick_exit).to_have_attribute("data-quick-exit", "")
    expect(quick_exit).to_have_attribute("href", re.compile(r"^https://"))
    crisis = page.get_by_role("complementary", name="If you need help right now")
    expect(crisis).to_be_visible()
    expect(crisis.get_by_role("link", name=re.compile("Samaritans"))).to_have_attribute(
        "href", "tel:116123"
    )
    expect(crisis.get_by_role("link")).to_have_count(4)

    assert alex.csp_violations() == []
    assert alex.console == []


def test_phone_layout_keeps_composer_and_help_on_screen(open_chat):
    alex = open_chat("supporter1", viewport=PHONE)
    page = alex.page
    # One room: it opens by itself, with a way back to the list.
    expect(page.get_by_role("heading", name=DEMO_ROOM, level=2)).to_be_visible()
    alex.expect_connected()
    alex.send("hello from a phone")
    alex.expect_messages(["hello from a phone"])
    for locator in (
        page.get_by_role("button", name="Send"),
        alex.composer,
        page.get_by_role("link", name="Quick exit"),
        page.get_by_role("link", name=re.compile("Samaritans")),
    ):
        expect(locator).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.get_by_role("button", name="Back to Conversations").click()
    expect(page.get_by_role("heading", name="Conversations", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=DEMO_ROOM, level=2)).to_be_hidden()
    page.get_by_role("link", name=re.compile(DEMO_ROOM)).click()
    alex.expect_messages(["hello from a phone"])
    assert alex.console == []


def test_reload_returns_to_the_chosen_room(open_chat, server):
    server.manage(
        "shell",
        "-c",
        "from peerchat.models import Membership, Room, User; "
        "from peerchat.services.rooms import room_create; "
        "room_create(kind=Room.Kind.GROUP, name='Quiet room', members=[("
        "User.objects.get(username='supporter1'), Membership.Role.SUPPORTER)])",
    )
    alex = open_chat("supporter1").open_room()
    alex.send("one")
    alex.send("two")
    alex.expect_messages(["one", "two"])
    # Reloading must not fall back to the busiest room, which the list shows first.
    alex.open_room("Quiet room")
    alex.send("just me in here")
    alex.expect_messages(["just me in here"])
    assert re.search(r"#room=\d+$", alex.page.url)

    alex.page.reload()
    expect(alex.page.get_by_role("heading", name="Quiet room", level=2)).to_be_visible()
    alex.expect_messages(["just me in here"])
    alex.open_room(DEMO_ROOM)
    alex.expect_messages(["one", "two"])


def test_unacknowledged_messages_survive_a_reload(open_chat, server):
    """Sent, but the tab reloads before the server answers: each message arrives exactly once.

    One message never reached the server (it must be sent after the reload); the other was
    stored but its ack and broadcast were lost (re-sending it must not store it twice).
    """
    alex = open_chat("supporter1")
    sam = open_chat("supporter2").open_room()
    network = {"faulty": True, "ids": {}}

    def route(ws):
        server_side = ws.connect_to_server()

        def to_server(message):
            frame = json.loads(message)
            if frame.get("type") == "send":
                network["ids"].setdefault(frame["body"], set()).add(frame["client_msg_id"])
                if network["faulty"] and frame["body"] == "never reached the server":
                    return
            server_side.send(message)

        def to_page(message):
            frame = json.loads(message)
            lost = network["ids"].get("answer got lost", set())
            if network["faulty"] and frame.get("client_msg_id") in lost:
                return  # neither the ack nor the broadcast reaches this tab
            ws.send(message)

        ws.on_message(to_server)
        server_side.on_message(to_page)

    alex.page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    alex.page.reload()
    alex.open_room()

    alex.send("never reached the server")
    alex.send("answer got lost")
    sam.expect_messages(["answer got lost"])
    expect(alex.pending).to_have_text(
        [
            re.compile("never reached the server.*Sending…", re.S),
            re.compile("answer got lost.*Sending…", re.S),
        ]
    )

    network["faulty"] = False
    alex.page.reload()
    everything = ["answer got lost", "never reached the server"]
    alex.expect_messages(everything)
    expect(alex.senders).to_have_text(["You", "You"])
    sam.expect_messages(everything)
    assert stored_bodies(server) == everything
    # Each message kept its id across the reload.
    assert all(len(ids) == 1 for ids in network["ids"].values()), network["ids"]


def test_missing_and_repeated_frames_are_repaired(open_chat):
    """A frame lost on the way is fetched again by seq; one that arrives twice shows once."""
    alex = open_chat("supporter1")
    sam = open_chat("supporter2").open_room()
    page = alex.page
    state = {"dropped": False}

    def route(ws):
        server_side = ws.connect_to_server()

        def to_page(message):
            frame = json.loads(message)
            is_message = frame.get("type") == "message"
            if is_message and frame.get("body") == "lost on the way" and not state["dropped"]:
                state["dropped"] = True
                return
            ws.send(message)
            if is_message and frame.get("body") == "arrives twice":
                ws.send(message)

        server_side.on_message(to_page)

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    page.reload()
    alex.open_room()
    joins_before = len(alex.joins_sent())

    texts = ["first", "lost on the way", "after the loss", "arrives twice", "last"]
    for text in texts:
        sam.send(text)
        sam.expect_messages(texts[: texts.index(text) + 1])
    alex.expect_messages(texts)
    assert state["dropped"]
    # The gap was filled by joining again from the last seq the page had.
    assert [join["since"] for join in alex.joins_sent()[joins_before:]] == [1]


def test_seeker_without_a_conversation(browser, server):
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        console = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto(server.base_url() + "/")
        page.get_by_role("button", name="Start without signing up").click()
        # Starting leads into the support page (tests/browser/test_support_browser.py); the
        # conversations page is still there for a seeker who has none yet.
        page.wait_for_url("**/support/")
        page.goto(server.base_url() + "/chat/")
        expect(page.get_by_text("There's no conversation here yet.")).to_be_visible()
        expect(page.locator("#connection-status")).to_have_text("Connected")
        expect(page.get_by_role("complementary", name="If you need help right now")).to_be_visible()
        expect(page.get_by_role("link", name="Quick exit")).to_be_visible()
        assert console == []
    finally:
        context.close()


def test_signed_out_elsewhere_stops_and_says_so(open_chat):
    alex = open_chat("supporter1").open_room()
    other_tab = alex.page.context.new_page()
    other_tab.goto(alex.base_url + "/")
    sockets = alex.sockets_opened
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.wait_for_url(alex.base_url + "/")

    expect(alex.page.get_by_role("heading", name="You've been signed out")).to_be_visible()
    expect(alex.page.get_by_role("link", name="Sign in again")).to_have_attribute(
        "href", "/accounts/login/?next=/chat/"
    )
    expect(alex.status).to_have_text("Signed out")
    expect(alex.page.get_by_text("Signed in as")).to_be_hidden()
    alex.page.wait_for_timeout(3000)
    assert alex.sockets_opened == sockets  # no reconnect loop


@pytest.mark.parametrize("server", [{"REPLAY_LIMIT": "3"}], indirect=True)
def test_long_absences_are_filled_in_from_the_api(open_chat):
    """More was missed than one replay holds: the page pages the rest in over HTTP."""
    alex = open_chat("supporter1")
    sam = open_chat("supporter2").open_room()
    network = {"up": True, "sockets": []}

    def route(ws):
        if not network["up"]:
            ws.close(code=4000)
            return
        network["sockets"].append(ws)
        ws.connect_to_server()

    alex.page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    alex.page.reload()
    alex.open_room()
    sam.send("one")
    sam.send("two")
    alex.expect_messages(["one", "two"])

    # Alex's connection drops and stays down while Sam sends five more.
    network["up"] = False
    for ws in network["sockets"]:
        ws.close(code=4000)
    expect(alex.status).to_have_text("Reconnecting…")
    later = ["three", "four", "five", "six", "seven"]
    for text in later:
        sam.send(text)
    sam.expect_messages(["one", "two", *later])
    with alex.page.expect_request(re.compile(r"/api/v1/rooms/\d+/messages\?after=2&")):
        network["up"] = True
        alex.expect_connected(timeout=RECONNECT_TIMEOUT_MS)
    alex.expect_messages(["one", "two", *later])

    # Opening the room afresh shows the newest three and offers the rest.
    alex.page.reload()
    alex.open_room()
    alex.expect_messages(["five", "six", "seven"])
    alex.page.get_by_role("button", name="Show earlier messages").click()
    alex.expect_messages(["one", "two", *later])
    expect(alex.page.get_by_role("button", name="Show earlier messages")).to_be_hidden()


def test_kind_words_for_held_and_refused_messages(open_chat):
    """What the filter and the server may answer, said kindly and never as a raw code."""
    alex = open_chat("supporter1")
    page = alex.page
    answers = {
        "a message a moderator should see first": lambda frame: {
            "type": "ack",
            "room": frame["room"],
            "client_msg_id": frame["client_msg_id"],
            "seq": None,
            "status": "held",
        },
        "a message the server finds too long": lambda frame: {
            "type": "error",
            "code": "body_too_long",
            "detail": "Messages can be up to 2000 characters.",
            "room": frame["room"],
            "client_msg_id": frame["client_msg_id"],
        },
    }

    def route(ws):
        server_side = ws.connect_to_server()

        def to_server(message):
            frame = json.loads(message)
            answer = answers.get(frame.get("body")) if frame.get("type") == "send" else None
            if answer:
                ws.send(json.dumps(answer(frame)))
            else:
                server_side.send(message)

        ws.on_message(to_server)

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    page.reload()
    alex.open_room()

    alex.send("a message a moderator should see first")
    expect(alex.pending).to_have_text(re.compile("Only you can see this for now"))
    alex.send("a message the server finds too long")
    refused = alex.pending.nth(1)
    expect(refused).to_contain_text("That message is a bit long — messages can be up to 2,000")
    refused.get_by_role("button", name="Edit and send again").click()
    expect(alex.composer).to_have_value("a message the server finds too long")
    expect(alex.pending).to_have_count(1)

    text = page.locator("#chat").inner_text()
    for word in ("body_too_long", "held", "violation", "banned", "error"):
        assert word not in text.lower(), word
