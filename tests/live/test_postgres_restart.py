"""PostgreSQL crashes and comes back mid-stream: nothing acknowledged is lost, nothing doubled.

The topology runs on a PostgreSQL cluster of the test's own, stopped with `pg_ctl -m
immediate` (no checkpoint, every connection cut, as a crash) and started again on the same
port. While it is down, sends are answered `server_error` and the clients send them again
after a pause, as the real client does (protocol.md); the pooled connections that broke are
replaced without anyone restarting anything.
"""

import asyncio
import shutil
import time

import pytest

from tests.conftest import unavailable
from tests.live.client import until
from tests.live.support import (
    PostgresServer,
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
RATE_PER_SENDER = 6.0
CRASH_AT = 1.5  # seconds into the stream
DOWN_FOR = 3.0
PER_SENDER = int((CRASH_AT + DOWN_FOR + 3.0) * RATE_PER_SENDER)
TOTAL = PER_SENDER * len(SENDERS)
# The service must be taking messages again this soon after PostgreSQL is back
# (docs/operations.md, "PostgreSQL is unreachable").
RECOVERS_WITHIN_SECONDS = 10.0


@pytest.fixture
def private_postgres():
    if shutil.which("runuser") is None or not list(PostgresServer().bin.glob("initdb")):
        unavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    server = PostgresServer().init()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def crash_topology(tmp_path, private_postgres, redis_url):
    topology = start_topology(tmp_path, postgres_url=private_postgres.url, redis_url=redis_url)
    yield topology
    stop_topology(topology)


async def test_a_postgres_crash_mid_stream_loses_and_duplicates_nothing(
    crash_topology, private_postgres, connect
):
    topology = crash_topology
    senders = await connect_each(connect, topology, SENDERS, room=ROOM, role="sender")
    readers = await connect_each(connect, topology, READERS, room=ROOM, role="reader")
    everyone = senders + readers
    sent: dict[str, list[str]] = {s.name: [] for s in senders}
    tasks = [
        asyncio.create_task(send_steadily(s, sent[s.name], count=PER_SENDER, rate=RATE_PER_SENDER))
        for s in senders
    ]
    await asyncio.sleep(CRASH_AT)
    acked_before = {cid for s in senders for cid in s.acks}
    await asyncio.to_thread(private_postgres.crash)
    await asyncio.sleep(0.5)
    down = await asyncio.to_thread(healthz, topology, 0)
    await asyncio.sleep(DOWN_FOR - 0.5)
    await asyncio.to_thread(private_postgres.start)
    back_at = time.monotonic()
    acked_at_restart = sum(len(s.acks) for s in senders)
    await until(
        lambda: sum(len(s.acks) for s in senders) > acked_at_restart,
        timeout=RECOVERS_WITHIN_SECONDS,
        what="a message stored after PostgreSQL came back",
    )
    recovered_in = time.monotonic() - back_at
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    await until_all_delivered(senders, everyone, TOTAL)

    assert down[0] == 503, down
    assert recovered_in < RECOVERS_WITHIN_SECONDS
    # Sends during the outage were refused and sent again; nothing else went wrong.
    refused = [e for s in senders for e in s.errors]
    assert "server_error" in {e["code"] for e in refused}
    # Frames that queued while the database was away may come in a burst afterwards and be
    # refused for rate, which the client answers by sending them again later.
    assert {e["code"] for e in refused} <= {"server_error", "rate_limited"}
    assert all(r.errors == [] for r in readers)

    # Everything acknowledged before the crash survived it; everything sent is stored once,
    # numbered without gaps, and acked with its stored seq. (A message refused during the
    # outage and sent again may be numbered after one typed later: `seq` is the server's
    # order, the one every client shows.)
    db = stored(topology, ROOM)
    by_cid = assert_sent_stored_once(db, sent, senders, typed_order=False)
    assert acked_before <= set(by_cid)
    assert len(by_cid) == TOTAL
    assert_everyone_shows_what_is_stored(db, everyone)
    assert [(await asyncio.to_thread(healthz, topology, i))[0] for i in (0, 1)] == [200, 200]
