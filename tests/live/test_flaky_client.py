"""Clients on a flaky network: sockets lost mid-stream, again and again, on both processes.

Each loss is a dropped connection with no close handshake (`ChatClient.drop`), some of them
right after a send, before its ack: the client reconnects to the other process, re-joins with
`since` and re-sends what was not acknowledged, so messages reach the server out of the order
they were typed in relative to other people's. Afterwards every client must show every stored
message exactly once, in `seq` order, and each sender's messages must be stored once, in the
order they were typed.
"""

import asyncio
import random

import pytest

from tests.live.support import (
    assert_everyone_shows_what_is_stored,
    assert_sent_stored_once,
    connect_each,
    stored,
    until_all_delivered,
)

pytestmark = pytest.mark.live

ROOM = 1  # the demo group room
SENDERS = [("supporter1", 0), ("supporter2", 1), ("trainee1", 0)]
READERS = [("moderator", 1), ("supporter2", 0)]
PER_SENDER = 40
TOTAL = PER_SENDER * len(SENDERS)  # 120: within REPLAY_LIMIT, so a re-join replays it all
RATE_PER_SENDER = 6.0
# Each sender loses its socket right after sending these (before the ack can arrive).
DROP_AFTER_SENDING = {9, 25}
RANDOM_DROPS = 12


async def send_and_sometimes_drop(client, sent: list[str]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(1, PER_SENDER + 1):
        await asyncio.sleep(max(0.0, start + (i - 1) / RATE_PER_SENDER - loop.time()))
        sent.append(await client.send_message(f"msg {i} from {client.handle}"))
        if i in DROP_AFTER_SENDING:
            client.drop()


async def drop_at_random(clients, rng: random.Random, dropped: list[str]) -> None:
    for _ in range(RANDOM_DROPS):
        await asyncio.sleep(rng.uniform(0.2, 0.5))
        client = rng.choice(clients)
        if client.drop():
            dropped.append(client.name)


async def test_clients_that_keep_losing_their_sockets_show_everything_once_in_order(
    own_topology, connect
):
    topology = own_topology
    senders = await connect_each(connect, topology, SENDERS, room=ROOM, role="sender")
    readers = await connect_each(connect, topology, READERS, room=ROOM, role="reader")
    everyone = senders + readers
    sent: dict[str, list[str]] = {s.name: [] for s in senders}
    dropped: list[str] = []
    await asyncio.wait_for(
        asyncio.gather(
            *(send_and_sometimes_drop(s, sent[s.name]) for s in senders),
            drop_at_random(everyone, random.Random(20261207), dropped),
        ),
        60,
    )
    await until_all_delivered(senders, everyone, TOTAL)

    # The network really was flaky, for senders and readers, and unacknowledged sends were
    # sent again on a later socket.
    assert len(dropped) >= RANDOM_DROPS // 2
    for sender in senders:
        assert sender.reconnections >= len(DROP_AFTER_SENDING), sender.name
        assert sender.resent, f"{sender.name} never had to send anything again"
    assert sum(r.reconnections for r in readers) >= 1

    # Stored once each, numbered without gaps, each sender's in the order typed.
    db = stored(topology, ROOM)
    by_cid = assert_sent_stored_once(db, sent, senders, typed_order=True)
    assert len(by_cid) == TOTAL
    for sender in senders:
        cids = sent[sender.name]
        assert [by_cid[cid]["body"] for cid in cids] == [
            f"msg {i} from {sender.handle}" for i in range(1, PER_SENDER + 1)
        ]
        assert sender.errors == [], sender.name

    # Every client shows exactly what is stored, once, in order, whatever it lost on the way.
    assert_everyone_shows_what_is_stored(db, everyone)
    assert all(client.errors == [] for client in everyone)
