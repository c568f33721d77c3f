"""Broadcasts between processes over Redis PUBLISH/SUBSCRIBE (peerchat.fanout), on real Redis.

Two RedisFanout objects stand for two daphne processes. The live tests
(tests/live/test_redis_outage.py, test_failover.py) run the same path end to end.
"""

import asyncio
import uuid

import pytest
import redis

from peerchat.fanout import RedisFanout, publish_sync


@pytest.fixture
def redis_settings(settings, redis_url):
    settings.CHANNEL_LAYER_PREFIX = f"fanout-test-{uuid.uuid4().hex[:8]}"
    settings.REDIS_URL = redis_url
    return settings


async def receive(fanout, timeout=5.0):
    return await asyncio.wait_for(fanout.receive("unused"), timeout)


async def test_a_message_sent_once_the_subscription_returns_is_received(redis_settings):
    here, there = (RedisFanout(redis_settings.REDIS_URL, socket_timeout=5) for _ in range(2))
    for i in range(20):  # no sleep between subscribing and sending: the confirmation counts
        group = f"room.{i}"
        await here.group_add(group, "hub")
        await there.group_send(group, {"group": group, "seq": i})
        assert (await receive(here)) == {"group": group, "seq": i}
    await there.group_send("room.not-joined", {"group": "room.not-joined"})
    await there.group_send("room.3", {"group": "room.3", "seq": 99})
    assert (await receive(here))["seq"] == 99  # nothing of a group it did not join
    for i in range(20):
        await here.group_discard(f"room.{i}", "hub")
    await there.group_send("room.3", {"group": "room.3", "seq": 100})
    with pytest.raises(TimeoutError):
        await receive(here, timeout=0.3)


async def test_a_broken_subscriber_connection_raises_then_rejoins_every_group(redis_settings):
    here, there = (RedisFanout(redis_settings.REDIS_URL, socket_timeout=5) for _ in range(2))
    await here.group_add("room.1", "hub")
    await here.group_add("room.2", "hub")
    admin = redis.Redis.from_url(redis_settings.REDIS_URL)
    assert admin.client_kill_filter(_type="pubsub", skipme=True) >= 1
    with pytest.raises(redis.ConnectionError):
        await receive(here)
    await there.group_send("room.2", {"group": "room.2", "seq": 1})  # lost: nobody listens
    await here.group_add("room.1", "hub")  # what the hub does to recover: both come back
    await there.group_send("room.2", {"group": "room.2", "seq": 2})
    await there.group_send("room.1", {"group": "room.1", "seq": 3})
    assert [(await receive(here))["seq"] for _ in range(2)] == [2, 3]
    with pytest.raises(TimeoutError):
        await receive(here, timeout=0.3)  # and no stale failure is left behind


async def test_publishing_without_an_event_loop_reaches_subscribers(redis_settings):
    here = RedisFanout(redis_settings.REDIS_URL, socket_timeout=5)
    await here.group_add("users", "hub")
    await asyncio.to_thread(publish_sync, "users", {"group": "users", "action": "signed_out"})
    assert (await receive(here))["action"] == "signed_out"


async def test_joining_a_group_while_redis_is_unreachable_fails(settings):
    with socket_closed_port() as url:
        settings.REDIS_URL = url
        fanout = RedisFanout(url, socket_timeout=1)
        with pytest.raises(redis.ConnectionError):
            await fanout.group_add("room.1", "hub")
        assert fanout.groups == set()


class socket_closed_port:
    def __enter__(self):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def __exit__(self, *exc):
        return False
