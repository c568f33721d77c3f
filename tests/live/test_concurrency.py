"""Concurrent senders on both processes never get a duplicate or a skipped seq (PostgreSQL)."""

import asyncio

import pytest

from tests.live.client import until
from tests.live.support import page_messages, room_create, session_for, stored

pytestmark = pytest.mark.live

USERS = ["supporter1", "supporter2", "trainee1", "moderator"]
TABS_PER_USER_AND_PROCESS = 2
# Within the default per-socket burst (WS_RATE_BURST=30), and each user's four sockets within
# the per-user burst (WS_USER_RATE_BURST=120): the rate limits refuse nothing.
PER_SOCKET = 25


async def test_concurrent_senders_get_seqs_exactly_one_to_n(topology, connect):
    room = room_create(topology, "Concurrency room", USERS)
    clients = [
        await connect(topology, user, index=index, room=room, name=f"{user}@{index}#{tab}")
        for index in (0, 1)
        for user in USERS
        for tab in range(TABS_PER_USER_AND_PROCESS)
    ]
    total = len(clients) * PER_SOCKET
    go = asyncio.Event()

    async def burst(client) -> list[str]:
        await go.wait()
        # As fast as the socket takes them, without waiting for acks.
        return [await client.send_message(f"msg {i} from {client.name}") for i in range(PER_SOCKET)]

    tasks = [asyncio.create_task(burst(c)) for c in clients]
    go.set()
    sent = await asyncio.wait_for(asyncio.gather(*tasks), 20)

    def all_acked() -> bool:
        refused = [e for c in clients for e in c.errors]
        assert refused == [], f"{len(refused)} frames refused, e.g. {refused[0]}"
        return all(c.check() and not c.outbox for c in clients)

    await until(
        all_acked,
        timeout=30,
        what=lambda: f"acks ({sum(len(c.acks) for c in clients)} of {total})",
    )
    acks = {cid: c.acks[cid] for c, cids in zip(clients, sent, strict=True) for cid in cids}
    assert len(acks) == total
    assert sorted(a["seq"] for a in acks.values()) == list(range(1, total + 1))
    for client, cids in zip(clients, sent, strict=True):
        seqs = [client.acks[cid]["seq"] for cid in cids]
        assert seqs == sorted(seqs), f"{client.name}'s messages were numbered out of order"

    # PostgreSQL agrees, message by message, and so does the HTTP history.
    db = stored(topology, room)
    assert db.last_seq == total
    assert db.seqs == list(range(1, total + 1))
    assert {cid: m["seq"] for cid, m in db.by_client_msg_id().items()} == {
        cid: a["seq"] for cid, a in acks.items()
    }
    session = await asyncio.to_thread(session_for, topology, "supporter1")
    history = await asyncio.to_thread(page_messages, topology, session, room, 1)
    assert [(m["seq"], m["client_msg_id"]) for m in history] == [
        (m["seq"], m["client_msg_id"]) for m in db.messages
    ]

    # And every socket, on either process, shows exactly 1..N in order.
    await asyncio.gather(*(c.wait_for_seq(total) for c in clients))
    await asyncio.sleep(0.3)
    for client in clients:
        assert [m["seq"] for m in client.messages] == list(range(1, total + 1)), client.name
        assert [m["client_msg_id"] for m in client.messages] == [
            m["client_msg_id"] for m in db.messages
        ], client.name
        assert client.anomalies == [], client.name
