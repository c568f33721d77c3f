"""The reusable chat client (peerchat/static/peerchat/client/): Connection and RoomPane.

Removed and muted messages, several panes on one page that stay independent, and no
Content-Security-Policy violations. Each test runs a real server and real Chromium pages.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_ROOM, PHONE, ChatPage

pytestmark = pytest.mark.browser

QUIET_ROOM = "Quiet room"
REMOVED = "Message removed by sender"


def create_room(server, name: str, members: list[tuple[dict, str]]) -> None:
    """A group room with these members: (how to find the user, e.g. {"username": ...}, role)."""
    server.manage(
        "shell",
        "-c",
        "from peerchat.models import Membership, Room, User; "
        "from peerchat.services.rooms import room_create; "
        f"members = {json.dumps(members)}; "
        f"room_create(kind=Room.Kind.GROUP, name={json.dumps(name)}, members=["
        "(User.objects.get(**who), Membership.Role(role)) for who, role in members])",
    )


def room_ids(server, username: str) -> dict[str, int]:
    session = server.login(username)
    rooms = session.get(server.base_url() + "/api/v1/rooms", timeout=10).json()["rooms"]
    return {room["name"]: room["id"] for room in rooms}


def stored_bodies(server, username: str, room_name: str) -> list[str]:
    session = server.login(username)
    room_id = room_ids(server, username)[room_name]
    page = session.get(
        server.base_url() + f"/api/v1/rooms/{room_id}/messages?after=0&limit=200", timeout=10
    ).json()
    return [message["body"] for message in page["messages"]]


def duplicate_ids(page) -> list[str]:
    return page.evaluate(
        """() => {
          const seen = new Set(), twice = new Set();
          for (const node of document.querySelectorAll("[id]")) {
            if (seen.has(node.id)) twice.add(node.id);
            seen.add(node.id);
          }
          return Array.from(twice);
        }"""
    )


def test_a_removed_message_keeps_its_place_without_its_words(browser, server, open_chat):
    """A seeker deletes their data: the supporter sees "Message removed by sender", live and
    after a reload, in the message's place."""
    context = browser.new_context(viewport=PHONE)
    try:
        seeker = ChatPage(context.new_page(), server.base_url())
        # Start as a seeker (no name, no email), then use the conversations page.
        seeker.page.goto(server.base_url() + "/api/v1/me")
        status = seeker.page.evaluate(
            """async () => {
              const token = document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/)[1];
              const response = await fetch("/api/v1/seekers", {
                method: "POST",
                credentials: "same-origin",
                headers: {"X-CSRFToken": token},
              });
              return response.status;
            }"""
        )
        assert status == 201
        seeker.page.goto(server.base_url() + "/chat/")
        handle = seeker.page.locator("#chat").get_attribute("data-handle")
        assert handle
        create_room(
            server,
            "Talking room",
            [({"username": "supporter1"}, "supporter"), ({"handle": handle}, "seeker")],
        )
        alex = open_chat("supporter1").open_room("Talking room")

        seeker.page.reload()
        expect(seeker.page.get_by_role("heading", name="Talking room", level=2)).to_be_visible()
        seeker.expect_connected()
        seeker.send("thank you for being here tonight")
        alex.expect_messages(["thank you for being here tonight"])
        alex.send("I'm glad you came. How are you doing right now?")
        seeker.expect_messages(
            ["thank you for being here tonight", "I'm glad you came. How are you doing right now?"]
        )

        # The seeker deletes their data (as the "My data" page does, through the API).
        answer = seeker.page.evaluate(
            """async () => {
              const token = document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/)[1];
              const response = await fetch("/api/v1/me/delete", {
                method: "POST",
                credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                body: JSON.stringify({confirm: "delete my data"}),
              });
              return response.status;
            }"""
        )
        assert answer == 200

        # Live: the message keeps its place, without words or the sender's name.
        texts = [REMOVED, "I'm glad you came. How are you doing right now?"]
        alex.expect_messages(texts)
        removed = alex.page.locator("#messages > li.message--removed")
        expect(removed).to_have_count(1)
        expect(removed.locator(".message-sender")).to_have_count(0)
        expect(alex.senders).to_have_text(["You"])
        # The seeker's own page closes itself.
        expect(seeker.page.get_by_role("heading", name="You've been signed out")).to_be_visible()

        # After a reload the replay says the same.
        alex.page.reload()
        alex.open_room("Talking room")
        alex.expect_messages(texts)
        expect(alex.page.locator("#messages > li.message--removed")).to_have_count(1)
        assert "thank you for being here tonight" not in alex.page.locator("#chat").inner_text()
        assert alex.csp_violations() == [] and seeker.csp_violations() == []
        assert alex.console == []
    finally:
        context.close()


def test_two_panes_on_one_page_stay_independent(open_chat, server):
    """Two RoomPanes on one Connection, side by side: each shows only its own room."""
    create_room(
        server,
        QUIET_ROOM,
        [
            ({"username": "supporter1"}, "supporter"),
            ({"username": "supporter2"}, "supporter"),
            ({"username": "moderator"}, "moderator"),
        ],
    )
    ids = room_ids(server, "supporter1")
    # The chat page keeps its own (now hidden) pane of the quiet room: panes of one tab share
    # the list of unsent messages, and each must still show only what is true for it.
    alex = open_chat("supporter1").open_room(QUIET_ROOM)
    sam = open_chat("supporter2").open_room(QUIET_ROOM)
    page = alex.page

    # What a page with several chats does: one connection, one pane per room, in a grid.
    page.evaluate(
        """(rooms) => {
          const chat = document.getElementById("chat");
          chat.hidden = true;
          const grid = document.createElement("div");
          grid.className = "pane-grid";
          document.querySelector("main").append(grid);
          const connection = new Peerchat.Connection({ handle: chat.dataset.handle });
          window.testPanes = rooms.map(
            ([id, name]) => new Peerchat.RoomPane(grid, { connection, room: id, name }),
          );
          connection.start();
        }""",
        [[ids[DEMO_ROOM], DEMO_ROOM], [ids[QUIET_ROOM], QUIET_ROOM]],
    )
    demo = page.get_by_role("region", name=DEMO_ROOM)
    quiet = page.get_by_role("region", name=QUIET_ROOM)
    empty = "No messages yet. Say hello whenever you're ready."
    for pane in (demo, quiet):
        expect(pane.get_by_text(empty)).to_be_visible()
        expect(pane.get_by_role("log")).to_have_attribute("aria-busy", "false")
    demo_input = demo.get_by_label(f"Message to {DEMO_ROOM}")
    quiet_input = quiet.get_by_label(f"Message to {QUIET_ROOM}")

    # Sam types and talks in the quiet room: only that pane hears of it.
    sam.composer.fill("only in the quiet room")
    expect(quiet.locator(".typing")).to_have_text("Sam is typing…")
    expect(demo.locator(".typing")).to_have_text("")
    sam.composer.press("Enter")
    expect(quiet.locator(".message-body")).to_have_text(["only in the quiet room"])
    expect(demo.locator(".message-body")).to_have_count(0)

    # Alex writes in each pane; each message goes to its own room only.
    demo_input.fill("only in the demo room")
    demo_input.press("Enter")
    quiet_input.fill("a reply in the quiet room")
    quiet_input.press("Enter")
    expect(demo.locator(".message-body")).to_have_text(["only in the demo room"])
    expect(demo.locator(".message-sender")).to_have_text(["You"])
    expect(quiet.locator(".message-body")).to_have_text(
        ["only in the quiet room", "a reply in the quiet room"]
    )
    expect(quiet.locator(".message-sender")).to_have_text(["Sam", "You"])
    expect(page.locator(".message--pending")).to_have_count(0)
    sam.expect_messages(["only in the quiet room", "a reply in the quiet room"])
    assert stored_bodies(server, "moderator", DEMO_ROOM) == ["only in the demo room"]
    assert stored_bodies(server, "moderator", QUIET_ROOM) == [
        "only in the quiet room",
        "a reply in the quiet room",
    ]

    # Closing one chat leaves the other as it was.
    page.evaluate("window.testPanes[1].setClosed('This chat has ended.')")
    expect(quiet.get_by_text("This chat has ended.")).to_be_visible()
    expect(quiet_input).to_be_hidden()
    expect(demo_input).to_be_visible()
    demo_input.fill("still open here")
    expect(demo.get_by_role("button", name="Send")).to_be_enabled()

    # One page, no id twice; on a phone the panes stack without sideways scrolling.
    assert duplicate_ids(page) == []
    page.set_viewport_size(PHONE)
    expect(demo_input).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert alex.csp_violations() == []
    assert alex.console == []


def test_muted_people_are_hidden_until_asked_and_the_csp_holds(open_chat, server):
    """Messages from someone muted sit behind a "show" button; nothing the client does (building
    panes, styling, paging) trips the strict CSP, on a desktop or a phone."""
    demo_id = room_ids(server, "supporter1")[DEMO_ROOM]
    alex = open_chat("supporter1", viewport=PHONE)
    sam = open_chat("supporter2").open_room()
    page = alex.page

    def route(ws):
        server_side = ws.connect_to_server()

        def to_page(message):
            ws.send(message)
            frame = json.loads(message)
            if frame.get("type") == "joined" and frame.get("room") == demo_id:
                # As the server says it after a mute in a group (`muted` frame).
                ws.send(json.dumps({"type": "muted", "room": demo_id, "handles": ["Sam"]}))

        server_side.on_message(to_page)

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    page.reload()
    alex.open_room()

    sam.composer.fill("something Alex chose not to see")
    sam.page.wait_for_timeout(500)
    expect(page.locator("#typing")).to_have_text("")  # no typing note from someone muted
    sam.composer.press("Enter")
    alex.send("my own words stay visible")
    hidden = page.locator("#messages > li.message--muted")
    expect(hidden).to_have_count(1)
    expect(hidden).to_have_text(re.compile("Message from someone you muted"))
    assert "something Alex chose not to see" not in page.locator("#chat").inner_text()
    expect(alex.bodies.nth(1)).to_have_text("my own words stay visible")

    hidden.get_by_role("button", name="show").click()
    alex.expect_messages(["something Alex chose not to see", "my own words stay visible"])
    expect(alex.senders).to_have_text(["Sam", "You"])
    expect(page.locator("#messages > li").first).to_be_focused()

    # The page, its panes and its styles come from this site only: nothing was refused.
    assert page.evaluate("typeof Peerchat.Connection + ' ' + typeof Peerchat.RoomPane") == (
        "function function"
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(alex.composer).to_be_visible()
    assert alex.csp_violations() == []
    assert sam.csp_violations() == []
    assert alex.console == [] and sam.console == []


def test_a_message_to_a_closed_group_waits_until_it_opens(open_chat, server):
    """`group_closed`: the text is kept, said kindly, and sent (same id) once the group opens."""
    demo_id = room_ids(server, "supporter1")[DEMO_ROOM]
    alex = open_chat("supporter1")
    page = alex.page
    network = {"closed": True, "ids": set(), "sends": 0, "sockets": []}

    def route(ws):
        server_side = ws.connect_to_server()
        network["sockets"].append(ws)

        def to_server(message):
            frame = json.loads(message)
            if frame.get("type") == "send" and frame.get("body") == "is anyone here yet?":
                network["ids"].add(frame["client_msg_id"])
                network["sends"] += 1
                if network["closed"]:
                    refusal = {
                        "type": "error",
                        "code": "group_closed",
                        "detail": "The group isn't open right now.",
                        "room": frame["room"],
                        "client_msg_id": frame["client_msg_id"],
                    }
                    ws.send(json.dumps(refusal))
                    return
            server_side.send(message)

        ws.on_message(to_server)

    page.route_web_socket(re.compile(r"/ws/v1/$"), route)
    page.reload()
    alex.open_room()

    alex.send("is anyone here yet?")
    expect(alex.pending).to_contain_text("The group isn't open right now")
    expect(alex.pending.get_by_role("button", name="Don't send")).to_be_visible()
    page.wait_for_timeout(9_000)  # past the re-send interval: a waiting message is not re-sent
    assert network["sends"] == 1
    expect(alex.pending).to_have_count(1)

    # The facilitator opens the group.
    network["closed"] = False
    opened = {"type": "group", "room": demo_id, "open": True, "title": DEMO_ROOM}
    network["sockets"][-1].send(json.dumps(opened))
    alex.expect_messages(["is anyone here yet?"])
    assert len(network["ids"]) == 1  # the same client_msg_id throughout
    assert stored_bodies(server, "moderator", DEMO_ROOM) == ["is anyone here yet?"]
    assert "group_closed" not in page.locator("#chat").inner_text()
    assert alex.console == []
