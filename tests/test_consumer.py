"""Protocol v1 over the real ASGI router, one frame type and one bad input at a time."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from peerchat import events
from peerchat.models import Message, Room
from peerchat.services.messages import message_send
from peerchat.services.rooms import room_member_remove
from peerchat.tickets import ws_ticket_issue
from tests.conftest import make_group_room, make_supporter
from tests.wsclient import open_socket, session_cookie_for, sockets_in_room

pytestmark = pytest.mark.django_db(transaction=True)


def send_frame(room_id, body="hello", client_msg_id=None):
    return {
        "type": "send",
        "room": room_id,
        "client_msg_id": client_msg_id or str(uuid.uuid4()),
        "body": body,
    }


@database_sync_to_async
def stored_messages(room_id=None):
    queryset = Message.objects.order_by("room_id", "seq")
    if room_id is not None:
        queryset = queryset.filter(room_id=room_id)
    return list(queryset.values_list("room_id", "seq", "body"))


# Connecting --------------------------------------------------------------------------------------


async def test_signed_in_socket_says_hello_with_handle_and_limits(supporter):
    socket = await open_socket(supporter)
    await socket.ping()
    await socket.close()


async def test_hello_names_the_user_by_handle_only(supporter):
    cookie = await database_sync_to_async(session_cookie_for)(supporter)
    communicator = WebsocketCommunicator(
        application,
        "/ws/v1/",
        headers=[(b"origin", b"http://testserver"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    assert (await communicator.connect())[0]
    hello = await communicator.receive_json_from()
    assert hello["handle"] == "Alex"
    assert hello["role"] == "supporter"
    assert hello["protocol"] == 1
    assert hello["limits"]["body_max_chars"] == 2000
    assert "alex" not in str(hello).replace("Alex", "")  # no username, no account id
    await communicator.disconnect()


async def test_foreign_origin_is_refused_at_the_handshake(supporter):
    cookie = await database_sync_to_async(session_cookie_for)(supporter)
    communicator = WebsocketCommunicator(
        application,
        "/ws/v1/",
        headers=[(b"origin", b"https://evil.example"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await communicator.connect()
    assert connected is False


async def test_missing_origin_is_refused(supporter):
    communicator = WebsocketCommunicator(application, "/ws/v1/")
    connected, _ = await communicator.connect()
    assert connected is False


async def test_frames_before_authentication_get_an_error_and_the_socket_stays(room):
    socket = await open_socket(None)
    await socket.send({"type": "join", "room": room.pk})
    error = await socket.recv_type("error")
    assert error["code"] == "not_authenticated"
    await socket.send(send_frame(room.pk))
    assert (await socket.recv_type("error"))["code"] == "not_authenticated"
    await socket.send({"type": "ping"})
    assert (await socket.recv_type("error"))["code"] == "not_authenticated"
    assert await stored_messages() == []
    await socket.close()


async def test_auth_frame_with_a_ticket_signs_the_socket_in(supporter, room):
    socket = await open_socket(None)
    await socket.send({"type": "auth", "ticket": "not-a-ticket"})
    assert (await socket.recv_type("error"))["code"] == "invalid_ticket"
    ticket = await database_sync_to_async(ws_ticket_issue)(user=supporter)
    await socket.send({"type": "auth", "ticket": ticket})
    hello = await socket.recv_type("hello")
    assert hello["authenticated"] is True
    assert hello["handle"] == "Alex"
    joined, _ = await socket.join(room.pk)
    assert joined["room"] == room.pk
    await socket.send({"type": "auth", "ticket": ticket})
    assert (await socket.recv_type("error"))["code"] == "already_authenticated"
    await socket.close()


async def test_ticket_dies_with_a_password_change(supporter):
    ticket = await database_sync_to_async(ws_ticket_issue)(user=supporter)

    @database_sync_to_async
    def change_password():
        supporter.set_password("another-long-password")
        supporter.save(update_fields=["password"])

    await change_password()
    socket = await open_socket(None)
    await socket.send({"type": "auth", "ticket": ticket})
    assert (await socket.recv_type("error"))["code"] == "invalid_ticket"
    await socket.close()


async def test_unauthenticated_socket_is_closed_with_4401_after_the_grace_period(settings):
    settings.PEERCHAT = {**settings.PEERCHAT, "WS_AUTH_TIMEOUT_SECONDS": 0.2}
    socket = await open_socket(None)
    error = await socket.recv_type("error", timeout=2)
    assert error["code"] == "not_authenticated"
    closing = await socket.communicator.receive_output(timeout=2)
    assert closing == {"type": "websocket.close", "code": 4401}


# join / replay -----------------------------------------------------------------------------------


async def test_join_replays_exactly_the_missed_messages_in_order(supporter, room):
    for n in range(1, 6):
        await database_sync_to_async(message_send)(
            room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body=f"m{n}"
        )
    socket = await open_socket(supporter)
    joined, replay = await socket.join(room.pk, since=2)
    assert joined["last_seq"] == 5
    assert joined["limited"] is False
    assert joined["kind"] == "group"
    assert [m["seq"] for m in replay] == [3, 4, 5]
    assert [m["body"] for m in replay] == ["m3", "m4", "m5"]
    assert replay[0]["sender"] == {"handle": "Alex", "role": "supporter"}
    assert await socket.nothing()
    await socket.close()


async def test_join_with_since_at_or_past_the_end_replays_nothing(supporter, room):
    await database_sync_to_async(message_send)(
        room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="only"
    )
    socket = await open_socket(supporter)
    joined, replay = await socket.join(room.pk, since=1)
    assert (joined["last_seq"], replay) == (1, [])
    joined, replay = await socket.join(room.pk, since=50)
    assert (joined["last_seq"], replay) == (1, [])
    await socket.close()


async def test_replay_is_bounded_and_says_limited(settings, supporter, room):
    settings.PEERCHAT = {**settings.PEERCHAT, "REPLAY_LIMIT": 3}
    for n in range(1, 8):
        await database_sync_to_async(message_send)(
            room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body=f"m{n}"
        )
    socket = await open_socket(supporter)
    joined, replay = await socket.join(room.pk, since=1)
    assert joined["limited"] is True
    assert joined["first_seq"] == 5
    assert [m["seq"] for m in replay] == [5, 6, 7]
    await socket.close()


# send / ack / message -------------------------------------------------------------------------


async def test_send_acks_the_sender_and_reaches_every_member_once(supporter, other_supporter, room):
    alex, sam = await sockets_in_room(room.pk, supporter, other_supporter)
    frame = send_frame(room.pk, "hello Sam")
    await alex.send(frame)
    ack, own = await alex.ack_and_message()
    assert ack["client_msg_id"] == frame["client_msg_id"]
    assert (ack["seq"], ack["status"], ack["room"]) == (1, "delivered", room.pk)
    received = await sam.recv_type("message")
    assert received == own
    assert received["body"] == "hello Sam"
    assert received["sender"] == {"handle": "Alex", "role": "supporter"}
    assert received["client_msg_id"] == frame["client_msg_id"]
    assert await alex.nothing() and await sam.nothing()
    assert await stored_messages() == [(room.pk, 1, "hello Sam")]
    await alex.close()
    await sam.close()


async def test_resending_the_same_client_msg_id_returns_the_same_ack_and_stores_nothing(
    supporter, other_supporter, room
):
    alex = await open_socket(supporter)
    sam = await open_socket(other_supporter)
    await sam.join(room.pk)
    frame = send_frame(room.pk, "once")
    await alex.send(frame)  # sending without joining is allowed for members
    first = await alex.recv_type("ack")
    assert (await sam.recv_type("message"))["seq"] == 1
    await alex.send(frame)
    second = await alex.recv_type("ack")
    assert second == first
    assert await sam.nothing()
    assert await stored_messages() == [(room.pk, 1, "once")]
    await alex.close()
    await sam.close()


async def test_seq_increases_without_gaps_across_senders(supporter, other_supporter, room):
    alex = await open_socket(supporter)
    sam = await open_socket(other_supporter)
    for n in range(6):
        sender = alex if n % 2 == 0 else sam
        await sender.send(send_frame(room.pk, f"n{n}"))
        assert (await sender.recv_type("ack"))["seq"] == n + 1
    assert [seq for _, seq, _ in await stored_messages()] == [1, 2, 3, 4, 5, 6]
    await alex.close()
    await sam.close()


async def test_leave_stops_delivery_of_that_room(supporter, other_supporter, room):
    alex = await open_socket(supporter)
    sam = await open_socket(other_supporter)
    await sam.join(room.pk)
    await sam.send({"type": "leave", "room": room.pk})
    assert await sam.recv() == {"type": "left", "room": room.pk, "reason": "left"}
    await alex.send(send_frame(room.pk))
    await alex.recv_type("ack")
    assert await sam.nothing()
    await alex.close()
    await sam.close()


async def test_typing_reaches_the_room_with_the_handle(supporter, other_supporter, room):
    alex, sam = await sockets_in_room(room.pk, supporter, other_supporter)
    await alex.send({"type": "typing", "room": room.pk})
    assert await sam.recv() == {"type": "typing", "room": room.pk, "handle": "Alex"}
    await alex.send({"type": "typing", "room": room.pk})  # within 3 s: not repeated
    assert (await alex.recv_type("typing"))["handle"] == "Alex"
    assert await sam.nothing()
    await alex.close()
    await sam.close()


async def test_typing_needs_a_joined_room(supporter, room):
    socket = await open_socket(supporter)
    await socket.send({"type": "typing", "room": room.pk})
    error = await socket.recv_type("error")
    assert (error["code"], error["room"]) == ("not_joined", room.pk)
    await socket.close()


# Rooms that are not yours -----------------------------------------------------------------------


async def test_a_member_of_room_a_learns_nothing_about_room_b(supporter, other_supporter, room):
    outsider_room = await database_sync_to_async(make_group_room)(other_supporter, name="Room B")
    alex = await open_socket(supporter)
    sam = await open_socket(other_supporter)
    await sam.join(outsider_room.pk)
    await alex.join(room.pk)

    await alex.send({"type": "join", "room": outsider_room.pk})
    not_mine = await alex.recv_type("error")
    await alex.send({"type": "join", "room": 999_999})
    nonexistent = await alex.recv_type("error")
    assert not_mine["code"] == nonexistent["code"] == "room_not_found"
    assert not_mine["detail"] == nonexistent["detail"]

    await alex.send(send_frame(outsider_room.pk, "let me in"))
    assert (await alex.recv_type("error"))["code"] == "room_not_found"
    await alex.send({"type": "typing", "room": outsider_room.pk})
    assert (await alex.recv_type("error"))["code"] == "not_joined"

    await sam.send(send_frame(outsider_room.pk, "private to B"))
    await sam.ack_and_message()
    assert await alex.nothing()
    assert await stored_messages() == [(outsider_room.pk, 1, "private to B")]
    await alex.close()
    await sam.close()


async def test_removed_member_stops_receiving_at_once(supporter, other_supporter, room):
    alex, sam = await sockets_in_room(room.pk, supporter, other_supporter)
    await database_sync_to_async(room_member_remove)(room=room, user=other_supporter)
    assert await sam.recv() == {"type": "left", "room": room.pk, "reason": "removed"}
    await alex.send(send_frame(room.pk, "after removal"))
    await alex.ack_and_message()
    assert await sam.nothing()
    await sam.send({"type": "join", "room": room.pk})
    assert (await sam.recv_type("error"))["code"] == "room_not_found"
    await alex.close()
    await sam.close()


# Bad input: a clear answer, nothing stored, the socket stays usable -------------------------------


BAD_FRAMES = [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    ('"just a string"', "invalid_json"),
    ("{}", "missing_field"),
    ('{"type": 7}', "invalid_field"),
    ('{"type": "shout"}', "unknown_type"),
    ('{"type": "join"}', "missing_field"),
    ('{"type": "join", "room": "1"}', "invalid_field"),
    ('{"type": "join", "room": true}', "invalid_field"),
    ('{"type": "join", "room": 0}', "invalid_field"),
    ('{"type": "join", "room": 1.5}', "invalid_field"),
    ('{"type": "join", "room": ROOM, "since": -1}', "invalid_field"),
    ('{"type": "join", "room": ROOM, "since": "3"}', "invalid_field"),
    ('{"type": "send", "room": ROOM, "body": "hi"}', "missing_field"),
    ('{"type": "send", "room": ROOM, "client_msg_id": "abc", "body": "hi"}', "invalid_field"),
    ('{"type": "send", "room": ROOM, "client_msg_id": 5, "body": "hi"}', "invalid_field"),
    ('{"type": "send", "room": ROOM, "client_msg_id": "UUID"}', "missing_field"),
    ('{"type": "send", "room": ROOM, "client_msg_id": "UUID", "body": 12}', "invalid_field"),
    ('{"type": "send", "room": ROOM, "client_msg_id": "UUID", "body": ""}', "body_empty"),
    ('{"type": "send", "room": ROOM, "client_msg_id": "UUID", "body": "  \\n "}', "body_empty"),
    (
        '{"type": "send", "room": ROOM, "client_msg_id": "UUID", "body": "a\\u0000"}',
        "invalid_field",
    ),
    ('{"type": "send", "room": 999999, "client_msg_id": "UUID", "body": "hi"}', "room_not_found"),
    ('{"type": "ping", "nonce": {"a": 1}}', "invalid_field"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_FRAMES)
async def test_bad_frames_get_a_stable_error_code(supporter, room, raw, code):
    socket = await open_socket(supporter)
    await socket.send(raw.replace("ROOM", str(room.pk)).replace("UUID", str(uuid.uuid4())))
    error = await socket.recv_type("error")
    assert error["code"] == code, error
    assert error["detail"]
    await socket.ping()
    assert await stored_messages() == []
    await socket.close()


async def test_over_long_body_is_refused_with_the_limit(supporter, room):
    socket = await open_socket(supporter)
    frame = send_frame(room.pk, "x" * 2001)
    await socket.send(frame)
    error = await socket.recv_type("error")
    assert error["code"] == "body_too_long"
    assert "2000" in error["detail"]
    assert error["client_msg_id"] == frame["client_msg_id"]
    await socket.send(send_frame(room.pk, "x" * 2000))
    assert (await socket.recv_type("ack"))["seq"] == 1
    await socket.close()


async def test_binary_frames_are_refused(supporter):
    socket = await open_socket(supporter)
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await socket.recv_type("error"))["code"] == "binary_frame"
    await socket.ping()
    await socket.close()


async def test_too_many_frames_are_refused_then_the_socket_is_closed(settings, supporter):
    settings.PEERCHAT = {
        **settings.PEERCHAT,
        "WS_RATE_PER_SECOND": 0.001,
        "WS_RATE_BURST": 3,
        "WS_RATE_CLOSE_AFTER": 4,
    }
    socket = await open_socket(supporter)
    for _ in range(3):
        await socket.ping()
    for _ in range(3):
        await socket.send({"type": "ping"})
        assert (await socket.recv_type("error"))["code"] == "rate_limited"
    await socket.send({"type": "ping"})
    assert await socket.communicator.receive_output() == {"type": "websocket.close", "code": 4429}


async def test_a_send_refused_for_rate_says_which_send_it_was(settings, supporter, room):
    """So the client knows which message to send again after the pause."""
    settings.PEERCHAT = {**settings.PEERCHAT, "WS_RATE_PER_SECOND": 0.001, "WS_RATE_BURST": 2}
    socket = await open_socket(supporter)
    await socket.ping()
    await socket.ping()
    frame = send_frame(room.pk, "refused for now")
    await socket.send(frame)
    error = await socket.recv_type("error")
    assert (error["code"], error["room"], error["client_msg_id"]) == (
        "rate_limited",
        room.pk,
        frame["client_msg_id"],
    )
    await socket.send({"type": "ping"})  # nothing to name
    assert "client_msg_id" not in await socket.recv_type("error")
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.close()


async def test_signing_out_closes_that_sessions_sockets(supporter):
    from django.test import Client

    client = Client()
    await database_sync_to_async(client.force_login)(supporter)
    socket = await open_socket(supporter, cookie=client.cookies["sessionid"].value)
    other_session = await open_socket(supporter)
    response = await database_sync_to_async(client.post)("/accounts/logout/")
    assert response.status_code == 302
    closing = await socket.communicator.receive_output(timeout=2)
    assert closing == {"type": "websocket.close", "code": 4403}
    await other_session.ping()  # the same person's other session is untouched
    await other_session.close()


# Fan-out and recovery -----------------------------------------------------------------------------


async def test_a_broadcast_is_encoded_once_and_crosses_the_layer_once(
    monkeypatch, supporter, other_supporter, room
):
    sockets = [await open_socket(supporter), await open_socket(other_supporter)]
    sockets.append(await open_socket(other_supporter))
    for socket in sockets:
        await socket.join(room.pk)
    encoded, group_sends = [], []
    real_encode = events.encode

    def counting_encode(frame):
        encoded.append(frame["type"])
        return real_encode(frame)

    layer = events.get_fanout()  # Redis PUBLISH/SUBSCRIBE with REDIS_URL, else the layer
    real_group_send = layer.group_send

    async def counting_group_send(group, message):
        group_sends.append(group)
        await real_group_send(group, message)

    monkeypatch.setattr(events, "encode", counting_encode)
    monkeypatch.setattr(layer, "group_send", counting_group_send)
    await sockets[0].send(send_frame(room.pk, "to everyone"))
    _, own = await sockets[0].ack_and_message()
    assert own["body"] == "to everyone"
    for socket in sockets[1:]:
        assert (await socket.recv_type("message"))["body"] == "to everyone"
    assert encoded.count("message") == 1
    assert group_sends == [f"room.{room.pk}"]
    for socket in sockets:
        await socket.close()


async def test_sockets_have_no_channel_of_their_own(monkeypatch, supporter, other_supporter, room):
    layer = events.get_fanout()
    calls = []
    for name in ("new_channel", "group_add", "group_discard"):
        real = getattr(layer, name)

        async def recording(*args, _name=name, _real=real):
            calls.append((_name, *args))
            return await _real(*args)

        monkeypatch.setattr(layer, name, recording)
    sockets = [await open_socket(supporter), *[await open_socket(other_supporter) for _ in "ab"]]
    for socket in sockets:
        await socket.join(room.pk)
    assert len([c for c in calls if c[0] == "new_channel"]) == 1
    adds = [c for c in calls if c[0] == "group_add"]
    channels = {c[2] for c in adds}
    assert len(channels) == 1 and next(iter(channels)).startswith("peerchat-hub.")
    assert sorted(c[1] for c in adds) == [f"room.{room.pk}", "users"]
    for socket in sockets:
        await socket.close()
    discards = sorted(c[1] for c in calls if c[0] == "group_discard")
    assert discards == sorted(c[1] for c in adds)


async def test_a_lost_broadcast_is_filled_in_from_the_database(
    monkeypatch, supporter, other_supporter, room
):
    sam = await open_socket(other_supporter)
    await sam.join(room.pk)
    # The broadcast of message 1 never arrives (e.g. the layer dropped it).
    monkeypatch.setattr(events, "publish_on_commit", lambda group, event: None)
    await database_sync_to_async(message_send)(
        room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="lost"
    )
    monkeypatch.undo()
    assert await sam.nothing()
    await database_sync_to_async(message_send)(
        room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="arrives"
    )
    first, second = await sam.recv_type("message"), await sam.recv_type("message")
    assert [(first["seq"], first["body"]), (second["seq"], second["body"])] == [
        (1, "lost"),
        (2, "arrives"),
    ]
    assert await sam.nothing()
    await sam.close()


async def test_duplicate_broadcasts_are_dropped(supporter, other_supporter, room):
    sam = await open_socket(other_supporter)
    await sam.join(room.pk)
    result = await database_sync_to_async(message_send)(
        room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="once"
    )
    assert (await sam.recv_type("message"))["seq"] == 1
    from peerchat.frames import message_frame

    text = events.encode(message_frame(result.message))
    await events.publish(
        events.room_group(room.pk), {"kind": "frame", "room": room.pk, "seq": 1, "text": text}
    )
    assert await sam.nothing()
    await sam.close()


async def test_after_a_channel_layer_outage_sockets_resync_by_seq(
    monkeypatch, supporter, other_supporter, room
):
    sam = await open_socket(other_supporter)
    await sam.join(room.pk)
    layer = events.get_fanout()
    real_receive = layer.receive
    outage = asyncio.Event()

    async def failing_once_receive(channel):
        if not outage.is_set():
            outage.set()
            raise ConnectionError("layer restarted")
        return await real_receive(channel)

    # Messages stored while the layer was down never reach it.
    monkeypatch.setattr(events, "publish_on_commit", lambda group, event: None)
    for body in ("during outage 1", "during outage 2"):
        await database_sync_to_async(message_send)(
            room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body=body
        )
    # The hub's pending receive is woken by a message, then its next receive fails.
    monkeypatch.setattr(layer, "receive", failing_once_receive)
    await events.publish(
        events.room_group(room.pk), {"kind": "frame", "room": room.pk, "text": "{}", "seq": None}
    )
    await sam.recv()  # the ephemeral frame that woke it
    bodies = [(await sam.recv_type("message", timeout=5))["body"] for _ in range(2)]
    assert bodies == ["during outage 1", "during outage 2"]
    assert outage.is_set()
    await sam.close()


async def test_a_room_can_be_rejoined_on_the_same_socket(supporter, room):
    socket = await open_socket(supporter)
    await socket.join(room.pk)
    await socket.send(send_frame(room.pk, "one"))
    await socket.ack_and_message()
    _, replay = await socket.join(room.pk, since=0)
    assert [m["body"] for m in replay] == ["one"]
    await socket.close()


async def test_member_of_two_rooms_gets_each_rooms_messages_tagged(supporter, other_supporter):
    room_a = await database_sync_to_async(make_group_room)(supporter, other_supporter, name="A")
    room_b = await database_sync_to_async(make_group_room)(supporter, other_supporter, name="B")
    alex = await open_socket(supporter)
    sam = await open_socket(other_supporter)
    await alex.join(room_a.pk)
    await alex.join(room_b.pk)
    await sam.send(send_frame(room_a.pk, "in A"))
    await sam.send(send_frame(room_b.pk, "in B"))
    got = {(m := await alex.recv_type("message"))["room"]: m["body"] for _ in range(2)}
    assert got == {room_a.pk: "in A", room_b.pk: "in B"}
    assert await database_sync_to_async(Room.objects.get)(pk=room_a.pk)
    await alex.close()
    await sam.close()


async def test_new_supporter_fixture_is_isolated(db):
    # guards the fixtures: a fresh supporter has no rooms
    user = await database_sync_to_async(make_supporter)()
    socket = await open_socket(user)
    await socket.send({"type": "join", "room": 1})
    assert (await socket.recv_type("error"))["code"] == "room_not_found"
    await socket.close()


async def test_a_resync_drops_rooms_the_user_was_removed_from_meanwhile(
    monkeypatch, supporter, other_supporter, room
):
    from peerchat.hub import get_hub

    sam = await open_socket(other_supporter)
    await sam.join(room.pk)
    # The removal's control event is lost (e.g. during a channel-layer outage).
    monkeypatch.setattr(events, "publish_on_commit", lambda group, event: None)
    await database_sync_to_async(room_member_remove)(room=room, user=other_supporter)
    monkeypatch.undo()
    assert await sam.nothing()
    [consumer] = get_hub().members(f"room.{room.pk}")
    await consumer.hub_resync()
    assert await sam.recv() == {"type": "left", "room": room.pk, "reason": "removed"}
    await database_sync_to_async(message_send)(
        room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="not for Sam"
    )
    assert await sam.nothing()
    await sam.close()


async def test_signing_in_while_the_layer_is_down_can_be_retried(monkeypatch, supporter):
    from peerchat.hub import Hub

    real_subscribe = Hub.subscribe
    failures = []

    async def subscribe_failing_once(self, group, member):
        if not failures:
            failures.append(group)
            raise ConnectionError("layer down")
        return await real_subscribe(self, group, member)

    monkeypatch.setattr(Hub, "subscribe", subscribe_failing_once)
    ticket = await database_sync_to_async(ws_ticket_issue)(user=supporter)
    socket = await open_socket(None)
    await socket.send({"type": "auth", "ticket": ticket})
    assert (await socket.recv_type("error"))["code"] == "server_error"
    await socket.send({"type": "join", "room": 1})
    assert (await socket.recv_type("error"))["code"] == "not_authenticated"
    await socket.send({"type": "auth", "ticket": ticket})
    assert (await socket.recv_type("hello"))["authenticated"] is True
    await socket.close()


async def test_an_unexpected_failure_is_a_server_error_the_client_can_match(
    monkeypatch, supporter, room
):
    import peerchat.consumers

    def broken_send(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(peerchat.consumers, "message_send", broken_send)
    socket = await open_socket(supporter)
    frame = send_frame(room.pk, "will be retried")
    await socket.send(frame)
    error = await socket.recv_type("error")
    assert (error["code"], error["room"], error["client_msg_id"]) == (
        "server_error",
        room.pk,
        frame["client_msg_id"],
    )
    assert "database" not in error["detail"]  # internals stay in the server's log
    await socket.ping()
    await socket.close()
