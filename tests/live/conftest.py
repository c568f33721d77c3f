"""Fixtures for the live tests: the production topology (`manage.py run_topology`) for real.

Two daphne processes on two loopback ports, one fresh PostgreSQL database, one Redis. The
shared `topology` serves every test that does not break anything; tests that kill a process
or Redis start their own.
"""

import asyncio
import shutil

import pytest

from tests.conftest import unavailable
from tests.live.client import ChatClient
from tests.live.support import RedisServer, session_for, start_topology, stop_topology


@pytest.fixture(scope="session")
def topology(tmp_path_factory, postgres_url, redis_url):
    """Two daphne processes on PostgreSQL and the shared Redis, for tests that break nothing."""
    topology = start_topology(
        tmp_path_factory.mktemp("topology"), postgres_url=postgres_url, redis_url=redis_url
    )
    yield topology
    stop_topology(topology)


@pytest.fixture
def own_topology(tmp_path, postgres_url, redis_url):
    """Two daphne processes of the test's own, for a test that kills or disconnects things."""
    topology = start_topology(tmp_path, postgres_url=postgres_url, redis_url=redis_url)
    yield topology
    stop_topology(topology)


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """A redis-server of the module's own on a free port, which its tests kill and restart."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture
async def connect():
    """Open a `ChatClient` for a demo user on process `index`; every one is closed afterwards."""
    opened: list[ChatClient] = []

    async def open_client(topology, username, *, index, room, failover=True, name=None):
        session = await asyncio.to_thread(session_for, topology, username)
        client = ChatClient(
            topology,
            session,
            name=name or f"{username}@{index}",
            index=index,
            room=room,
            failover=failover,
        )
        opened.append(client)
        return await client.start()

    yield open_client
    await asyncio.gather(*(client.close() for client in opened))
