"""Events to clients: encoded once, published after commit, fanned out once per process.

A service that changes something clients must see calls `publish_on_commit()` inside its
transaction. Nothing is sent unless the transaction commits. The event reaches every daphne
process that has a socket in the group through one channel-layer hop (see `peerchat.hub`).
"""

import asyncio
import contextvars
import json
import logging
import time
from functools import partial

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from peerchat.fanout import get_fanout, publish_sync

logger = logging.getLogger(__name__)

FANOUT_TYPE = "peerchat.fanout"
PUBLISH_ATTEMPTS = 5

# The event loop serving the current connection. asgiref copies context variables into the
# threads that run ORM code, so a service running there can hand its events back to the loop
# without blocking the database thread on a channel-layer round trip.
serving_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "peerchat_serving_loop", default=None
)
_in_flight: set[asyncio.Task] = set()


def room_group(room_id: int) -> str:
    return f"room.{int(room_id)}"


# Control events for one user (signed out, removed from a room) share one group that every
# process joins: they are rare, and a group per connected user would make every channel-layer
# operation of the in-memory layer scan thousands of groups. Each socket picks out its own
# user's events by the `user` field.
USERS_GROUP = "users"


def encode(frame: dict) -> str:
    """Encode a server frame as compact JSON text, the one encoding per broadcast."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def publish_on_commit(group: str, event: dict) -> None:
    """Publish `event` to `group` once the current transaction commits (never if it rolls back).

    `event` holds `kind` ("frame" or "control"), and for frames the encoded `text`, the
    `room` and, for numbered messages, the `seq`.
    """
    transaction.on_commit(partial(publish_soon, group, event))


def room_state_on_commit(room_id: int, frame: dict) -> None:
    """After commit, send `frame` (a room's changed state: session, group, removed messages)
    to every socket that has joined the room, whether or not it is catching up."""
    publish_on_commit(
        room_group(room_id), {"kind": "state", "room": int(room_id), "text": encode(frame)}
    )


def user_frame_on_commit(user_id: int, frame: dict) -> None:
    """After commit, send `frame` to every signed-in socket of one user, on every process."""
    publish_on_commit(
        USERS_GROUP,
        {"kind": "control", "user": int(user_id), "action": "frame", "text": encode(frame)},
    )


def publish_soon(group: str, event: dict) -> None:
    """Publish now from synchronous code (an on-commit callback), without waiting for it."""
    loop = serving_loop.get()
    if loop is None or loop.is_closed():
        if settings.REDIS_URL:
            _publish_sync(group, event)
        else:
            async_to_sync(publish)(group, event)
        return
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        _start_publish(group, event)
    else:
        loop.call_soon_threadsafe(_start_publish, group, event)


def _start_publish(group: str, event: dict) -> None:
    task = asyncio.get_running_loop().create_task(publish(group, event))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)


async def publish(group: str, event: dict) -> None:
    """Send one fan-out message to `group`, retrying while the channel layer is unreachable.

    If every attempt fails the event is lost from the live path only: the message is in the
    database, and receivers fetch it by `seq` (the next message shows them the gap, and every
    process re-syncs its sockets when its own channel-layer connection recovers).
    """
    message = {"type": FANOUT_TYPE, "group": group, **event}
    layer = get_fanout()
    delay = 0.05
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            await layer.group_send(group, message)
            return
        except Exception as error:  # noqa: BLE001 - any layer failure is retried the same way
            _failed(group, attempt, error)
            if attempt < PUBLISH_ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 4
    _gave_up(group)


def _publish_sync(group: str, event: dict) -> None:
    """`publish` for code with no event loop of its own (the worker, commands), on Redis."""
    message = {"type": FANOUT_TYPE, "group": group, **event}
    delay = 0.05
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            publish_sync(group, message)
            return
        except Exception as error:  # noqa: BLE001 - retried the same way as `publish`
            _failed(group, attempt, error)
            if attempt < PUBLISH_ATTEMPTS:
                time.sleep(delay)
                delay *= 4
    _gave_up(group)


def _failed(group: str, attempt: int, error: Exception) -> None:
    logger.warning(
        "publish to %s failed (attempt %d of %d): %s",
        group,
        attempt,
        PUBLISH_ATTEMPTS,
        type(error).__name__,
        extra={"event": "publish_failed", "group": group, "attempt": attempt},
    )


def _gave_up(group: str) -> None:
    logger.error(
        "publish to %s gave up; receivers will recover it by seq",
        group,
        extra={"event": "publish_gave_up", "group": group},
    )
