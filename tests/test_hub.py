"""The process hub across channel-layer failures, on a layer that fails when told to.

The live tests (tests/live/test_redis_outage.py) restart a real Redis; these pin down the
orderings that a real restart only hits by chance.
"""

import asyncio

from peerchat.hub import Hub


class FlakyLayer:
    """Just enough of a channel layer; `receive` raises the exceptions put in its queue."""

    def __init__(self):
        self.log: list[str] = []
        self.group_add_failures = 0
        self.queue: asyncio.Queue = asyncio.Queue()

    async def new_channel(self, prefix):
        return f"{prefix}.test!1"

    async def group_add(self, group, channel):
        if self.group_add_failures:
            self.group_add_failures -= 1
            self.log.append(f"group_add {group} failed")
            raise ConnectionError("Connection closed by server.")
        self.log.append(f"group_add {group}")

    async def group_discard(self, group, channel):
        self.log.append(f"group_discard {group}")

    async def receive(self, channel):
        self.log.append("receive")
        item = await self.queue.get()
        if isinstance(item, Exception):
            self.log.append("receive failed")
            raise item
        return item


class Member:
    def __init__(self):
        self.delivered: list[dict] = []
        self.resyncs = 0

    async def hub_deliver(self, event):
        self.delivered.append(event)

    async def hub_resync(self):
        self.resyncs += 1


async def wait_for(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_stale_pooled_connection_does_not_fail_a_subscription():
    layer = FlakyLayer()
    layer.group_add_failures = 1  # the first command after a Redis restart
    hub, member = Hub(layer), Member()
    await hub.subscribe("room.1", member)
    assert hub.members("room.1") == {member}
    assert [e for e in layer.log if e.startswith("group_add")] == [
        "group_add room.1 failed",
        "group_add room.1",
    ]
    await hub.unsubscribe_all(member)


async def test_after_a_failure_the_hub_receives_again_only_once_back_in_its_groups():
    layer = FlakyLayer()
    hub, member = Hub(layer), Member()
    await hub.subscribe("room.1", member)
    await wait_for(lambda: layer.log[-1] == "receive")
    layer.log.clear()
    # The receive fails and the layer stays unreachable for two re-subscribe attempts.
    layer.group_add_failures = 4
    layer.queue.put_nowait(ConnectionError("Connection closed by server."))
    await wait_for(lambda: member.resyncs == 1 and layer.log[-1] == "receive")
    assert layer.log == [
        "receive failed",
        *["group_add room.1 failed"] * 4,
        "group_add room.1",
        "receive",
    ]
    layer.queue.put_nowait({"group": "room.1", "kind": "frame", "room": 1, "seq": 1})
    await wait_for(lambda: member.delivered)
    assert member.delivered[0]["seq"] == 1
    await hub.unsubscribe_all(member)


async def test_an_idle_hub_on_redis_keeps_listening_without_errors(redis_url, caplog):
    """redis-py 8 reads time out after 5 s by default, as long as channels_redis blocks in
    BZPOPMIN: with the project's layer settings an idle hub must not fail and re-sync."""
    from channels_redis.core import RedisChannelLayer

    from config.channel_layers import redis_layer

    config = redis_layer(redis_url, prefix="peerchat-idle-test")["CONFIG"]
    layer = RedisChannelLayer(**config)
    hub, member = Hub(layer), Member()
    await hub.subscribe("room.1", member)
    await asyncio.sleep(RedisChannelLayer.brpop_timeout + 1.5)
    await layer.group_send("room.1", {"type": "x", "group": "room.1", "kind": "frame"})
    await wait_for(lambda: member.delivered)
    assert member.resyncs == 0
    assert "hub receive failed" not in caplog.text
    await hub.unsubscribe_all(member)
    await layer.flush()
