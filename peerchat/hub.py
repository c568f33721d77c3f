"""One fan-out point per process (per event loop) between the channel layer and its sockets.

Stock Channels gives every socket its own channel and adds each one to its groups, so a
broadcast to a room costs one channel-layer message and one JSON encoding per socket. Here each
process owns a single channel, joins a group only while it has at least one socket in it, and
writes the already-encoded text of each broadcast to its local sockets: one encoding per
broadcast and one channel-layer hop per process (DESIGN.md §12).

Members are objects with two coroutine methods:
- `hub_deliver(event)`: an event published to a group the member is subscribed to;
- `hub_resync()`: the channel layer was unreachable, so events may have been missed.
"""

import asyncio
import contextlib
import logging
import weakref

from django.conf import settings

from peerchat.fanout import get_fanout

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "peerchat-hub"


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.channel: str | None = None
        self._groups: dict[str, set] = {}
        self._adding: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []

    # Subscriptions ---------------------------------------------------------------------------

    async def subscribe(self, group: str, member) -> None:
        """Deliver `group`'s events to `member`; returns once the layer will route them here."""
        await self._ensure_running()
        members = self._groups.get(group)
        if members is not None:
            members.add(member)
            pending = self._adding.get(group)
            if pending is not None:
                await asyncio.shield(pending)
            return
        self._groups[group] = {member}
        added = asyncio.get_running_loop().create_future()
        self._adding[group] = added
        try:
            await self._group_add(group, self.channel)
        except BaseException as error:
            self._groups.pop(group, None)
            added.set_exception(error)
            added.exception()  # retrieved here so an unawaited future does not warn
            raise
        else:
            added.set_result(None)
        finally:
            self._adding.pop(group, None)

    async def unsubscribe(self, group: str, member) -> None:
        members = self._groups.get(group)
        if members is None:
            return
        members.discard(member)
        if members or group in self._adding:
            return
        del self._groups[group]
        channel = self.channel
        if not self._groups and not self._adding:
            self._stop()
        with contextlib.suppress(Exception):
            await self.layer.group_discard(group, channel)

    async def unsubscribe_all(self, member) -> None:
        for group in [g for g, members in self._groups.items() if member in members]:
            await self.unsubscribe(group, member)

    def members(self, group: str) -> set:
        return set(self._groups.get(group, ()))

    # Running -----------------------------------------------------------------------------------

    async def _ensure_running(self) -> None:
        if self.channel is not None:
            return
        self.channel = await self.layer.new_channel(CHANNEL_PREFIX)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop(self.channel)),
            loop.create_task(self._refresh_loop(self.channel)),
        ]

    def _stop(self) -> None:
        # A member may unsubscribe while the read loop is delivering to it: that loop ends by
        # itself once it sees its channel retired, instead of cancelling its own delivery.
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks = []
        self.channel = None

    async def _read_loop(self, channel: str) -> None:
        backoff = 0.1
        while self.channel == channel:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the layer is unreachable: recover
                logger.warning("hub receive failed: %s; recovering", type(error).__name__)
                # Receive again only once this channel is back in its groups: a Redis that
                # restarted empty would take the receive and route nothing to it, for good.
                while self.channel == channel:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    if await self._recover(channel):
                        break
                continue
            backoff = 0.1
            await self._dispatch(message)

    async def _dispatch(self, message: dict) -> None:
        for member in list(self._groups.get(message.get("group"), ())):
            try:
                await member.hub_deliver(message)
            except Exception:
                logger.exception("hub delivery to a socket failed")

    async def _recover(self, channel: str) -> bool:
        """Re-join every group (the layer may have restarted empty) and re-sync every socket.

        Returns False, having changed nothing, while the layer is still unreachable.
        """
        try:
            for group in list(self._groups):
                await self._group_add(group, channel)
        except Exception as error:  # noqa: BLE001 - still down: the read loop tries again
            logger.warning("hub re-subscribe failed: %s", type(error).__name__)
            return False
        members = {m for group_members in self._groups.values() for m in group_members}
        for member in members:
            try:
                await member.hub_resync()
            except Exception:
                logger.exception("hub re-sync of a socket failed")
        return True

    async def _group_add(self, group: str, channel: str) -> None:
        """Add `channel` to `group`, trying a second time if the first attempt fails.

        After Redis restarts, the first command on each connection that sat idle in the
        pool fails ("Connection closed by server") and the pool reconnects it, so only a
        second failure means the layer is really unreachable.
        """
        try:
            await self.layer.group_add(group, channel)
        except Exception:  # noqa: BLE001 - a stale pooled connection: retried once
            await self.layer.group_add(group, channel)

    async def _refresh_loop(self, channel: str) -> None:
        """Re-add this channel to its groups well before the layer's group expiry drops it."""
        interval = settings.PEERCHAT["HUB_GROUP_REFRESH_SECONDS"]
        while True:
            await asyncio.sleep(interval)
            for group in list(self._groups):
                try:
                    await self._group_add(group, channel)
                except Exception as error:  # noqa: BLE001 - the read loop handles outages
                    logger.warning("hub group refresh failed: %s", type(error).__name__)
                    break


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """Return the hub of the running event loop (one per daphne process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_fanout())
    return hub
