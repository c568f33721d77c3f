"""A room is invisible to everyone who is not in it: no frames, no history, no hint it exists."""

import asyncio
import uuid

import pytest

from tests.live.support import room_create, session_for, stored

pytestmark = pytest.mark.live


def without(frame: dict, *keys: str) -> dict:
    return {k: v for k, v in frame.items() if k not in keys}


async def answer(client, frame: dict) -> dict:
    """Send `frame` and return the server's answer to it (matched by room)."""
    mark = await client.send_frame(frame)
    return await client.wait_frame(
        lambda f: f.get("room") == frame["room"] and f["type"] in {"error", "joined", "left"},
        after=mark,
    )


async def test_a_non_member_cannot_join_send_read_or_detect_a_room(topology, connect):
    room_a = room_create(topology, "Isolation room A", ["supporter1", "supporter2", "trainee1"])
    room_b = room_create(topology, "Isolation room B", ["supporter1", "supporter2"])
    missing = room_b + 1_000_000
    # Room B's members are on both processes, so both processes route B's traffic; Robin,
    # who is only in room A, has a socket on each of them too.
    alex = await connect(topology, "supporter1", index=0, room=room_b)
    sam = await connect(topology, "supporter2", index=1, room=room_b)
    robins = [
        await connect(topology, "trainee1", index=index, room=room_a, name=f"trainee1@{index}")
        for index in (0, 1)
    ]

    # Every frame about room B gets the answer a room that does not exist gets.
    for robin in robins:
        for frame in (
            {"type": "join", "since": 0},
            {"type": "send", "client_msg_id": str(uuid.uuid4()), "body": "msg 1 from Robin"},
            {"type": "typing"},
            {"type": "leave"},
        ):
            to_b = await answer(robin, {**frame, "room": room_b})
            to_missing = await answer(robin, {**frame, "room": missing})
            assert without(to_b, "room") == without(to_missing, "room"), frame["type"]
            if frame["type"] in {"join", "send"}:
                assert to_b["type"] == "error" and to_b["code"] == "room_not_found", to_b
            if frame["type"] == "send":
                assert to_b["client_msg_id"] == frame["client_msg_id"]

    # Over HTTP too, on both processes: 404 with the same body, and B is not in the room list.
    session = await asyncio.to_thread(session_for, topology, "trainee1")
    for index in (0, 1):
        base = topology.base_url(index)
        to_b, to_missing = [
            await asyncio.to_thread(
                session.get, f"{base}/api/v1/rooms/{room}/messages?after=0", timeout=10
            )
            for room in (room_b, missing)
        ]
        assert (to_b.status_code, to_b.json()) == (to_missing.status_code, to_missing.json())
        assert to_b.status_code == 404 and to_b.json()["error"] == "room_not_found"
        rooms = await asyncio.to_thread(session.get, f"{base}/api/v1/rooms", timeout=10)
        listed = {r["id"] for r in rooms.json()["rooms"]}
        assert room_a in listed and room_b not in listed, listed

    # Room B's traffic from both processes reaches its members and only them.
    for i in range(1, 4):
        await alex.send_message(f"msg {2 * i - 1} in room B from Alex")
        await sam.send_message(f"msg {2 * i} in room B from Sam")
    await alex.send_frame({"type": "typing", "room": room_b})
    await asyncio.gather(alex.wait_for_seq(6), sam.wait_for_seq(6))
    await sam.wait_frame(lambda f: f["type"] == "typing" and f["room"] == room_b)
    # A marker in room A, seen by Robin on both processes, comes after everything of room B
    # that each process's hub delivered: had any of it reached Robin, it would be here.
    marker = await robins[0].send_message("msg 1 in room A from Robin")
    await asyncio.gather(*(r.wait_for_seq(1) for r in robins))
    await asyncio.sleep(0.3)

    for robin in robins:
        leaked = [
            f
            for f in robin.frames
            if f.get("room") in {room_b, missing} and f["type"] not in {"error", "left"}
        ]
        assert leaked == [], robin.name
        assert not any("room B" in str(f) for f in robin.frames), robin.name
        assert [(m["seq"], m["client_msg_id"]) for m in robin.messages] == [(1, marker)]
        assert robin.anomalies == [], robin.name
    for member in (alex, sam):
        assert [m["seq"] for m in member.messages] == [1, 2, 3, 4, 5, 6], member.name
        assert {m["body"] for m in member.messages} == {
            f"msg {n} in room B from {'Alex' if n % 2 else 'Sam'}" for n in range(1, 7)
        }, member.name
        assert member.anomalies == [], member.name

    # Nothing of Robin's reached room B's store, and nothing was numbered for the attempts.
    db_b = stored(topology, room_b)
    assert db_b.last_seq == 6
    assert {m["username"] for m in db_b.messages} == {"supporter1", "supporter2"}
    db_a = stored(topology, room_a)
    assert [(m["seq"], m["username"]) for m in db_a.messages] == [(1, "trainee1")]
