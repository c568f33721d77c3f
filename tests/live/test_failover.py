"""A daphne process SIGKILLed mid-stream: no message is lost, duplicated or reordered."""

import asyncio
import time
from datetime import datetime

import pytest

from tests.live.client import until
from tests.live.support import (
    assert_everyone_shows_what_is_stored,
    assert_sent_stored_once,
    connect_each,
    page_messages,
    send_steadily,
    session_for,
    stored,
    until_all_delivered,
)

pytestmark = pytest.mark.live

ROOM = 1  # the demo group room
SENDERS = [("supporter1", 0), ("supporter2", 1), ("trainee1", 0), ("moderator", 1)]
READERS = [("supporter2", 0), ("trainee1", 1)]
PER_SENDER = 50
TOTAL = PER_SENDER * len(SENDERS)  # 200: within REPLAY_LIMIT, so a late join replays it all
RATE_PER_SENDER = 8.0  # messages per second, under the default WS_RATE_PER_SECOND=10
KILL_AFTER = 80  # messages sent in all
KILLED = 1


async def test_killing_a_process_mid_stream_loses_and_duplicates_nothing(own_topology, connect):
    topology = own_topology
    senders = await connect_each(connect, topology, SENDERS, room=ROOM, role="sender")
    readers = await connect_each(connect, topology, READERS, room=ROOM, role="reader")
    everyone = senders + readers
    doomed = [c for c in everyone if c.index == KILLED]
    sent: dict[str, list[str]] = {s.name: [] for s in senders}
    tasks = [
        asyncio.create_task(send_steadily(s, sent[s.name], count=PER_SENDER, rate=RATE_PER_SENDER))
        for s in senders
    ]
    await until(
        lambda: sum(map(len, sent.values())) >= KILL_AFTER, timeout=30, what="sends before kill"
    )
    killed_pid = topology.kill(KILLED)
    killed_at = time.time()
    # The ack of each doomed sender's latest stored message dies with the socket: the client
    # must re-send it through the other process and get the very same ack back.
    lost = {
        s.name: (cid, s.forget_ack(cid))
        for s in senders
        if s in doomed
        for cid in [max(s.acks, key=lambda c: s.acks[c]["seq"])]
    }

    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    await until_all_delivered(senders, everyone, TOTAL)

    # The clients of the dead process moved to the other one; nobody else reconnected.
    for client in everyone:
        if client in doomed:
            assert client.reconnections >= 1 and client.sockets[1]["index"] != KILLED
        else:
            assert client.reconnections == 0, client.name
    for name, (cid, ack) in lost.items():
        sender = next(s for s in senders if s.name == name)
        # Stored by the process that was killed, re-sent to the other, answered identically.
        assert datetime.fromisoformat(ack["sent_at"]).timestamp() < killed_at
        assert cid in sender.resent and sender.sockets[1]["index"] != KILLED
        assert sender.acks[cid] == ack, f"{name} re-sent {cid} and got a different ack"

    # PostgreSQL holds exactly the messages sent, once each, numbered 1..N without gaps.
    db = stored(topology, ROOM)
    assert db.last_seq == TOTAL
    by_cid = assert_sent_stored_once(db, sent, senders, typed_order=True)
    assert len(by_cid) == TOTAL
    for sender in senders:
        cids = sent[sender.name]
        assert [by_cid[cid]["body"] for cid in cids] == [
            f"msg {i} from {sender.handle}" for i in range(1, PER_SENDER + 1)
        ]
        assert {by_cid[cid]["handle"] for cid in cids} == {sender.handle}
        assert sender.errors == [], sender.name

    # Every client shows exactly those messages, in order, once.
    expected = assert_everyone_shows_what_is_stored(db, everyone)
    assert all(client.errors == [] for client in everyone)
    session = await asyncio.to_thread(session_for, topology, "supporter1")
    history = await asyncio.to_thread(page_messages, topology, session, ROOM, 1 - KILLED)
    assert [(m["seq"], m["client_msg_id"]) for m in history] == [e[:2] for e in expected]

    # The supervisor started the killed process again on its port, and it serves the room.
    port = topology.ports[KILLED]
    await until(lambda: topology.pid(port) != killed_pid, timeout=20, what="the restart")
    await asyncio.to_thread(topology.wait_healthy, port, 30)
    late = await connect(
        topology, "moderator", index=KILLED, room=ROOM, failover=False, name="late reader"
    )
    await late.wait_for_seq(TOTAL)
    assert late.joins[0]["limited"] is False
    assert [(m["seq"], m["client_msg_id"]) for m in late.messages] == [e[:2] for e in expected]
