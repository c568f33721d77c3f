"""Messages cross daphne processes, and a re-send reaches the same message on any process."""

import asyncio
import uuid

import pytest

from tests.live.client import until
from tests.live.support import room_create, stored

pytestmark = pytest.mark.live

HANDLES = {
    "supporter1": ("Alex", "supporter"),
    "supporter2": ("Sam", "supporter"),
    "trainee1": ("Robin", "supporter"),
    "moderator": ("Kai (moderator)", "moderator"),
}


def shown(client) -> list[tuple]:
    """What a person sees in the room, in order."""
    return [
        (m["seq"], m["sender"]["handle"], m["sender"]["role"], m["body"], m["client_msg_id"])
        for m in client.messages
    ]


async def acked(client, cid: str, timeout: float = 10.0) -> dict:
    await until(
        lambda: client.check() and cid in client.acks,
        timeout=timeout,
        what=f"the ack of {cid} at {client.name}",
    )
    return client.acks[cid]


async def test_clients_on_both_processes_see_each_others_messages(topology, connect):
    room = room_create(topology, "Cross-process room", list(HANDLES))
    alex = await connect(topology, "supporter1", index=0, room=room)
    sam = await connect(topology, "supporter2", index=1, room=room)
    robin = await connect(topology, "trainee1", index=0, room=room)
    kai = await connect(topology, "moderator", index=1, room=room)
    everyone = [alex, sam, robin, kai]
    assert [c.handle for c in everyone] == ["Alex", "Sam", "Robin", "Kai (moderator)"]

    script = [
        (alex, "supporter1", "Hello from Alex on the first process"),
        (sam, "supporter2", "Hi Alex, Sam here on the second process"),
        (alex, "supporter1", "msg 3 from Alex"),
        (kai, "moderator", "msg 4 from Kai"),
        (sam, "supporter2", "msg 5 from Sam"),
        (robin, "trainee1", "msg 6 from Robin"),
    ]
    expected = []
    for seq, (sender, username, body) in enumerate(script, start=1):
        cid = await sender.send_message(body)
        ack = await acked(sender, cid)
        assert ack == {
            "type": "ack",
            "room": room,
            "client_msg_id": cid,
            "seq": seq,
            "status": "delivered",
            "sent_at": ack["sent_at"],
        }
        expected.append((seq, *HANDLES[username], body, cid))
        # Each message reaches both processes before the next is sent, so the order is fixed.
        await asyncio.gather(*(c.wait_for_seq(seq) for c in everyone))

    await asyncio.sleep(0.3)  # anything extra (a second copy) would arrive by now
    for client in everyone:
        assert shown(client) == expected, client.name
        assert client.anomalies == [], client.name
        assert client.errors == [], client.name
        # The sent_at a sender was acked with is the one everybody sees.
        for message in client.messages:
            owner = next(c for c in everyone if message["client_msg_id"] in c.acks)
            assert message["sent_at"] == owner.acks[message["client_msg_id"]]["sent_at"]


async def test_resend_to_the_other_process_returns_the_same_ack_and_stores_nothing(
    topology, connect
):
    room = room_create(topology, "Idempotency room", ["supporter1", "supporter2", "trainee1"])
    alex_first = await connect(topology, "supporter1", index=0, room=room)
    alex_other = await connect(topology, "supporter1", index=1, room=room, name="supporter1@1")
    sam = await connect(topology, "supporter2", index=1, room=room)
    robin = await connect(topology, "trainee1", index=0, room=room)

    cid = str(uuid.uuid4())
    first = await acked(alex_first, await alex_first.send_message("msg 1 from Alex", cid))
    assert first["seq"] == 1
    # The same message again, from the same person, through the other daphne process.
    again = await acked(alex_other, await alex_other.send_message("msg 1 from Alex", cid))
    assert again == first
    # And once more through the first process, after the other one answered.
    alex_first.acks.clear()
    assert await acked(alex_first, await alex_first.send_message("msg 1 from Alex", cid)) == first

    # Nothing was numbered for the re-sends: the next message is seq 2.
    next_cid = await sam.send_message("msg 2 from Sam")
    assert (await acked(sam, next_cid))["seq"] == 2
    everyone = [alex_first, alex_other, sam, robin]
    await asyncio.gather(*(c.wait_for_seq(2) for c in everyone))
    await asyncio.sleep(0.3)
    for client in everyone:
        assert shown(client) == [
            (1, "Alex", "supporter", "msg 1 from Alex", cid),
            (2, "Sam", "supporter", "msg 2 from Sam", next_cid),
        ], client.name
        assert client.anomalies == [] and client.errors == [], client.name

    db = stored(topology, room)
    assert db.last_seq == 2
    assert [(m["seq"], m["username"], m["client_msg_id"]) for m in db.messages] == [
        (1, "supporter1", cid),
        (2, "supporter2", next_cid),
    ]
