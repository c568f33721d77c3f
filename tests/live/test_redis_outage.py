"""Redis, the channel layer, dies and comes back mid-stream: every client still shows it all.

These tests run the topology against a redis-server of their own, which they kill (SIGKILL:
every key, group and queued event is lost) and start again, empty, on the same port.
"""

import asyncio
import time

import pytest

from tests.live.support import (
    assert_everyone_shows_what_is_stored,
    assert_sent_stored_once,
    connect_each,
    healthz,
    send_steadily,
    start_topology,
    stop_topology,
    stored,
    until_all_delivered,
)

pytestmark = pytest.mark.live

ROOM = 1  # the demo group room
SENDERS = [("supporter1", 0), ("supporter2", 1)]
READERS = [("trainee1", 0), ("moderator", 1)]
RATE_PER_SENDER = 8.0  # messages per second, under the default WS_RATE_PER_SECOND=10
KILL_AT = 1.0  # seconds into the stream
# Longer than events.publish's retries (about 4.3 s), so some broadcasts are given up for
# good and only the database has them; the later ones are published to a Redis that has
# forgotten every group.
OUTAGE = 5.0
# Go on long enough after Redis is back for the hubs' reconnect backoff (up to 6.3 s after
# the first failure) and for live traffic after their recovery.
SEND_FOR = KILL_AT + OUTAGE + 4.0
PER_SENDER = int(SEND_FOR * RATE_PER_SENDER)
TOTAL = PER_SENDER * len(SENDERS)


@pytest.fixture(scope="module")
def outage_topology(tmp_path_factory, postgres_url, private_redis):
    topology = start_topology(
        tmp_path_factory.mktemp("outage"), postgres_url=postgres_url, redis_url=private_redis.url
    )
    yield topology
    stop_topology(topology)


def all_healthy(topology) -> bool:
    return all(healthz(topology, i)[0] == 200 for i in range(len(topology.ports)))


async def wait_all_healthy(topology, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(all_healthy, topology):
        assert time.monotonic() < deadline, "the processes did not report healthy again"
        await asyncio.sleep(0.2)


async def test_healthz_names_the_channel_layer_while_redis_is_down(outage_topology, private_redis):
    topology = outage_topology
    await wait_all_healthy(topology)
    private_redis.kill()
    try:
        for index in range(len(topology.ports)):
            status, body = await asyncio.to_thread(healthz, topology, index)
            assert status == 503, body
            assert body["status"] == "failing" and body["database"] == "ok", body
            assert body["channel_layer"].startswith("failing"), body
    finally:
        private_redis.start()
    await wait_all_healthy(topology)
    for index in range(len(topology.ports)):
        assert await asyncio.to_thread(healthz, topology, index) == (
            200,
            {"status": "ok", "database": "ok", "channel_layer": "ok"},
        )


async def test_a_process_idle_through_a_redis_restart_takes_new_sockets_at_once(
    outage_topology, private_redis, connect
):
    """After Redis restarts, the first command on each pooled connection that sat idle
    through the restart fails ("Connection closed by server"). Without a retry in the hub,
    the first socket to connect to each process was dropped before its hello."""
    topology = outage_topology
    await wait_all_healthy(topology)
    # A socket on each process uses the channel layer, then leaves: each hub stops, and its
    # Redis connections stay in the pool.
    first = [
        await connect(topology, "supporter1", index=i, room=ROOM, failover=False, name=f"A@{i}")
        for i in (0, 1)
    ]
    base = first[0].joins[0]["last_seq"]
    await first[0].send_message("msg from Alex before the restart")
    await asyncio.gather(*(c.wait_for_seq(base + 1) for c in first))
    for client in first:
        await client.close()
    await asyncio.sleep(0.5)

    # Redis restarts while nothing on either process touches the channel layer.
    private_redis.kill()
    private_redis.start()

    # The next person to open the chat on each process gets in at once, on that process...
    later = [
        await connect(topology, user, index=i, room=ROOM, failover=False, name=f"{user}@{i}")
        for user, i in (("supporter2", 0), ("trainee1", 1))
    ]
    # ...and the two processes route the room's messages to each other again.
    for sender in later:
        await sender.send_message(f"msg from {sender.handle} after the restart")
    await asyncio.gather(*(c.wait_for_seq(base + 3) for c in later))
    for client in later:
        assert [m["seq"] for m in client.messages] == list(range(1, base + 4)), client.name
        assert {m["body"] for m in client.messages[-2:]} == {
            "msg from Sam after the restart",
            "msg from Robin after the restart",
        }, client.name
        assert client.reconnections == 0 and client.errors == [], client.name
        assert client.anomalies == [], client.name


async def test_a_redis_restart_mid_stream_loses_and_duplicates_nothing(
    outage_topology, private_redis, connect
):
    topology = outage_topology
    await wait_all_healthy(topology)
    senders = await connect_each(connect, topology, SENDERS, room=ROOM, role="sender")
    readers = await connect_each(connect, topology, READERS, room=ROOM, role="reader")
    everyone = senders + readers
    # Whatever an earlier test in this module left in the room is the starting point.
    base = senders[0].joins[0]["last_seq"]
    sent: dict[str, list[str]] = {s.name: [] for s in senders}
    tasks = [
        asyncio.create_task(send_steadily(s, sent[s.name], count=PER_SENDER, rate=RATE_PER_SENDER))
        for s in senders
    ]
    try:
        await asyncio.sleep(KILL_AT)
        private_redis.kill()
        await asyncio.sleep(OUTAGE)
    finally:
        if not private_redis.running:
            private_redis.start()  # empty: no groups, no queued events
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    await until_all_delivered(senders, everyone, base + TOTAL)

    # The sockets never went down: only the channel layer did.
    assert [c.reconnections for c in everyone] == [0] * len(everyone)
    db = stored(topology, ROOM)
    assert db.last_seq == base + TOTAL
    assert len(db.seqs) == base + TOTAL
    assert_sent_stored_once(db, sent, senders, typed_order=False)
    assert_everyone_shows_what_is_stored(db, everyone)
    assert all(client.errors == [] for client in everyone)
