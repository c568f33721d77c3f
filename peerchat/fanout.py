"""Broadcasts between daphne processes over Redis PUBLISH/SUBSCRIBE.

The process hub (`peerchat.hub`) needs four things of what carries broadcasts: a name for
itself, joining and leaving a group, receiving, and sending to a group. channels_redis's core
layer does that with sorted sets, lists and Lua scripts: a `group_send` costs several round
trips, and every `receive` two or three more (BZPOPMIN and cleaning its backup key), all parsed
in Python on the event loop. The load harness measured the layer's receive and send as the
largest part of a message's cost after the database (bench/README.md, "Chat load").

Here a group is a Redis channel (`<CHANNEL_LAYER_PREFIX>:fanout:<group>`): sending is one
PUBLISH, and each process holds one subscriber connection on which Redis pushes every message
of the groups it joined. `group_add` returns only once Redis confirmed the subscription, so a
message published after it returns is received.

What PUBLISH/SUBSCRIBE does not do, the hub already does: when the subscriber connection
breaks (Redis restarted, or dropped a subscriber that fell too far behind), `receive` raises;
the hub then joins its groups again (`group_add` reconnects and re-subscribes them all) and
re-syncs every socket from the database. Messages published meanwhile are not replayed by
Redis; sockets fetch them by `seq`, as they do after any gap (DESIGN.md §6).

Publishing from code without an event loop of its own (the worker, `manage.py` commands) uses
`publish_sync`, a plain Redis client, instead of starting an event loop per event.
"""

import asyncio
import contextlib
import json
import logging
import uuid
import weakref

import redis
import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

# With no message for this long, the subscriber pings Redis: a connection that died without
# a word (a dropped network path) is noticed within about twice this.
IDLE_PING_SECONDS = 30.0


def _key(group: str) -> str:
    return f"{settings.CHANNEL_LAYER_PREFIX}:fanout:{group}"


def _encode(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class RedisFanout:
    """The channel-layer methods the hub and `events.publish` use, over PUBLISH/SUBSCRIBE.

    One per event loop (`get_fanout`): its connections belong to that loop.
    """

    def __init__(self, url: str, *, socket_timeout: float):
        # Commands (PUBLISH) time out like any other Redis command; the subscriber connection
        # waits for pushes as long as it takes, and pings when idle instead.
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=5
        )
        self.subscriber_client = redis.asyncio.Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=5, socket_keepalive=True
        )
        self.groups: set[str] = set()
        self.inbox: asyncio.Queue = asyncio.Queue()
        self._pubsub = None  # the live subscriber connection, None when there is none
        self._reader: asyncio.Task | None = None
        self._pending: dict[str, asyncio.Future] = {}

    # The channel-layer interface ---------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        return f"{prefix}.{uuid.uuid4().hex}"

    async def group_send(self, group: str, message: dict) -> None:
        await self.client.publish(_key(group), _encode(message))

    async def group_add(self, group: str, channel: str) -> None:
        """Subscribe to `group`; returns once Redis confirmed it. On a broken connection,
        connects again and re-subscribes every group first."""
        if self._pubsub is None:
            await self._connect()
        if group in self.groups:
            return
        await self._subscribe([group])
        self.groups.add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        self.groups.discard(group)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(_key(group))
        if not self.groups:
            await self._disconnect()

    async def receive(self, channel: str) -> dict:
        item = await self.inbox.get()
        if isinstance(item, Exception):
            raise item
        return item

    # The subscriber connection -----------------------------------------------------------------

    async def _connect(self) -> None:
        await self._disconnect()
        # The errors of connections gone before are answered by this one: keep the messages.
        kept = [item for item in _drain(self.inbox) if not isinstance(item, Exception)]
        for item in kept:
            self.inbox.put_nowait(item)
        # The connection is made by the first SUBSCRIBE, which also starts its reader.
        self._pubsub = self.subscriber_client.pubsub()
        try:
            if self.groups:
                await self._subscribe(sorted(self.groups))
        except BaseException:
            await self._disconnect()
            raise

    async def _subscribe(self, groups: list[str]) -> None:
        loop = asyncio.get_running_loop()
        waiting = []
        for group in groups:
            future = self._pending.get(_key(group))
            if future is None or future.done():
                future = self._pending[_key(group)] = loop.create_future()
            waiting.append(future)
        pubsub = self._pubsub
        try:
            await pubsub.subscribe(*(_key(g) for g in groups))
            if self._reader is None and self._pubsub is pubsub:
                self._reader = asyncio.get_running_loop().create_task(self._read(pubsub))
            await asyncio.wait_for(asyncio.gather(*waiting), timeout=10)
        except BaseException:
            for group in groups:
                future = self._pending.pop(_key(group), None)
                if future is not None and not future.done():
                    future.cancel()
            if self._pubsub is pubsub:  # the next group_add starts a new connection
                await self._disconnect()
            raise

    async def _disconnect(self) -> None:
        pubsub, reader = self._pubsub, self._reader
        self._pubsub = self._reader = None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _read(self, pubsub) -> None:
        try:
            while True:
                item = await pubsub.get_message(timeout=IDLE_PING_SECONDS)
                if item is None:
                    await pubsub.ping()  # the answer (or the error) comes back through here
                    continue
                kind = item["type"]
                if kind == "message":
                    self.inbox.put_nowait(json.loads(item["data"]))
                elif kind == "subscribe":
                    channel = item["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    future = self._pending.pop(channel, None)
                    if future is not None and not future.done():
                        future.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the connection broke: tell the hub
            if self._pubsub is pubsub:
                self._pubsub = self._reader = None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(error)
                        future.exception()  # retrieved: a subscriber that gave up must not warn
                self._pending.clear()
                self.inbox.put_nowait(error)
            with contextlib.suppress(Exception):
                await pubsub.aclose()


def _drain(queue: asyncio.Queue) -> list:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


_fanouts: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisFanout]" = (
    weakref.WeakKeyDictionary()
)


def get_fanout():
    """What carries broadcasts for the running event loop: Redis PUBLISH/SUBSCRIBE when
    REDIS_URL is set, else the (in-memory) channel layer, which reaches this process only."""
    if not settings.REDIS_URL:
        from channels.layers import get_channel_layer

        return get_channel_layer()
    loop = asyncio.get_running_loop()
    fanout = _fanouts.get(loop)
    if fanout is None:
        fanout = _fanouts[loop] = RedisFanout(
            settings.REDIS_URL, socket_timeout=settings.REDIS_SOCKET_TIMEOUT
        )
    return fanout


_sync_client: redis.Redis | None = None


def publish_sync(group: str, message: dict) -> None:
    """PUBLISH from code that has no event loop (the worker, commands)."""
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
            socket_connect_timeout=5,
        )
    _sync_client.publish(_key(group), _encode(message))
