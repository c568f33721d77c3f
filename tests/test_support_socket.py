"""Support over the socket: queue watching, matches arriving live, session state, refusals."""

import uuid

import pytest
from channels.db import database_sync_to_async

from peerchat.models import SupportSession
from peerchat.services.queue import support_request_leave
from peerchat.services.sessions import (
    session_end_by,
    session_phase_set,
    session_transfer,
)
from peerchat.services.shifts import shift_end, shift_start
from peerchat.services.users import seeker_create
from tests.factories import ask, on_shift_supporter
from tests.wsclient import open_socket

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


async def recv_until(socket, frame_type: str, limit: int = 10) -> dict:
    """Read frames until one of `frame_type` arrives (others may come first)."""
    for _ in range(limit):
        frame = await socket.recv()
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type} frame")


async def test_waiting_seekers_see_their_place_change_live():
    first, _first_request, _ = await db(ask)()
    second, second_request, _ = await db(ask)()
    socket = await open_socket(second)
    await socket.send({"type": "watch", "topic": "queue"})
    assert await socket.recv() == {"type": "watching", "topic": "queue"}
    snapshot = await socket.recv_type("queue")
    mine = next(e for e in snapshot["entries"] if e["id"] == second_request.public_id)
    assert mine["position"] == 2
    assert mine["estimate"]["kind"] == "nobody_on_shift"

    await db(support_request_leave)(seeker=first)
    update = await recv_until(socket, "queue")
    assert update["version"] > snapshot["version"]
    assert [(e["id"], e["position"]) for e in update["entries"]] == [(second_request.public_id, 1)]
    # The seeker's own state follows too (every tab they have open gets it).
    await socket.close()


async def test_a_match_reaches_the_seeker_and_the_supporter_at_once():
    supporter = await db(on_shift_supporter)(handle="Robin")
    await db(shift_end)(supporter=supporter)
    seeker = await db(seeker_create)()
    seeker_socket = await open_socket(seeker)
    supporter_socket = await open_socket(supporter)
    await db(ask)(seeker)
    waiting = await recv_until(seeker_socket, "support")
    assert waiting["state"] == "waiting"

    await db(shift_start)(supporter=supporter)
    matched = await recv_until(seeker_socket, "support")
    assert matched["state"] == "active"
    assert matched["session"]["supporter"] == {"handle": "Robin"}
    assigned = await recv_until(supporter_socket, "assigned")
    assert assigned["room"] == matched["session"]["room"]
    assert assigned["seeker"] == {"handle": seeker.handle}

    joined, _ = await seeker_socket.join(assigned["room"])
    assert joined["session"]["state"] == "active"
    await seeker_socket.close()
    await supporter_socket.close()


async def test_staff_queue_is_counts_only_and_not_for_seekers():
    supporter = await db(on_shift_supporter)(level="trainee")
    await db(ask)(safe_now="no", topic="feelings")
    await db(ask)(topic="feelings")
    staff_socket = await open_socket(supporter)
    await staff_socket.send({"type": "watch", "topic": "staff_queue"})
    await staff_socket.recv_type("watching")
    frame = await staff_socket.recv_type("staff_queue")
    assert (frame["waiting"], frame["urgent"], frame["on_shift"]) == (1, 0, 1)
    assert frame["topics"] == {"feelings": 1}
    assert "entries" not in frame

    seeker_socket = await open_socket(await db(seeker_create)())
    await seeker_socket.send({"type": "watch", "topic": "staff_queue"})
    refused = await seeker_socket.recv_type("error")
    assert refused["code"] == "forbidden"
    await seeker_socket.send({"type": "watch", "topic": "everything"})
    assert (await seeker_socket.recv_type("error"))["code"] == "invalid_field"
    await staff_socket.close()
    await seeker_socket.close()


async def test_session_changes_reach_both_and_sends_stop_when_it_ends():
    supporter = await db(on_shift_supporter)()
    seeker, _, _ = await db(ask)()
    session = await db(SupportSession.objects.get)(seeker=seeker)
    seeker_socket = await open_socket(seeker)
    supporter_socket = await open_socket(supporter)
    await seeker_socket.join(session.room_id)
    await supporter_socket.join(session.room_id)

    await db(session_phase_set)(room_id=session.room_id, supporter=supporter, phase="closing")
    for socket in (seeker_socket, supporter_socket):
        frame = await recv_until(socket, "session")
        assert frame["phase"] == "closing"

    await db(session_end_by)(room_id=session.room_id, user=seeker)
    ended = await recv_until(supporter_socket, "session")
    assert (ended["state"], ended["end_reason"]) == ("ended", "seeker_ended")

    client_msg_id = str(uuid.uuid4())
    await seeker_socket.send(
        {"type": "send", "room": session.room_id, "client_msg_id": client_msg_id, "body": "hi"}
    )
    refused = await recv_until(seeker_socket, "error")
    assert refused["code"] == "session_ended"
    assert refused["client_msg_id"] == client_msg_id
    await seeker_socket.close()
    await supporter_socket.close()


async def test_a_transfer_moves_the_chat_between_supporters_live():
    robin = await db(on_shift_supporter)(handle="Robin")
    seeker, _, _ = await db(ask)()
    session = await db(SupportSession.objects.get)(seeker=seeker)
    sam = await db(on_shift_supporter)(level="senior", handle="Sam")
    seeker_socket = await open_socket(seeker)
    robin_socket = await open_socket(robin)
    sam_socket = await open_socket(sam)
    await seeker_socket.join(session.room_id)
    await robin_socket.join(session.room_id)

    await db(session_transfer)(
        room_id=session.room_id, supporter=robin, to_handle="Sam", note="Over to Sam."
    )
    told = await recv_until(seeker_socket, "session")
    assert told["supporter"] == {"handle": "Sam"}
    assert told["transferred_from"] == {"handle": "Robin"}
    assert "note" not in told and "Over to Sam." not in str(told)
    left = await recv_until(robin_socket, "left")
    assert (left["room"], left["reason"]) == (session.room_id, "removed")
    assigned = await recv_until(sam_socket, "assigned")
    assert assigned["room"] == session.room_id
    for socket in (seeker_socket, robin_socket, sam_socket):
        await socket.close()


async def test_seeker_sockets_keep_their_presence_fresh(settings):
    settings.SUPPORT = {**settings.SUPPORT, "PRESENCE_INTERVAL_SECONDS": 0.05}
    await db(on_shift_supporter)()
    seeker, _, _ = await db(ask)()
    session = await db(SupportSession.objects.get)(seeker=seeker)
    socket = await open_socket(seeker)
    await socket.nothing(0.3)
    refreshed = await db(SupportSession.objects.get)(pk=session.pk)
    assert refreshed.seeker_seen_at > session.seeker_seen_at
    await socket.close()
