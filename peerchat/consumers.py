"""The one websocket endpoint, /ws/v1/: authenticate, parse, call a service, forward events.

Every frame is checked against the signed-in user and their room membership; business rules
live in services and selectors. Broadcasts arrive through the process hub (`peerchat.hub`),
already encoded, and are written to the socket in `seq` order: duplicates are dropped and gaps
are filled from the database, so a socket never shows a message twice or out of order.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from moderation.screening import MODERATION_GROUP, sender_note
from moderation.selectors import held_for_sender, review_queue_frame
from peerchat import events, protocol, selectors, sweeper
from peerchat.errors import PeerchatError
from peerchat.frames import ack_frame, error_frame, message_frame
from peerchat.hub import get_hub
from peerchat.selectors.support import queue_frames, session_for_room, session_frame
from peerchat.services.groups import facilitator_presence_touch, group_join_extras
from peerchat.services.messages import message_send
from peerchat.services.queue import QUEUE_GROUP, STAFF_QUEUE_GROUP
from peerchat.services.sessions import seeker_presence_touch
from peerchat.tickets import ws_ticket_user

logger = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 3.0
WATCH_GROUPS = {
    "queue": QUEUE_GROUP,
    "staff_queue": STAFF_QUEUE_GROUP,
    "moderation": MODERATION_GROUP,
}


@dataclass
class RoomState:
    """What this socket has been sent of one room."""

    last: int  # highest seq written to the socket
    target: int = 0  # highest seq known to exist
    catching_up: bool = True  # while True, broadcasts only raise `target`
    task: asyncio.Task | None = None
    typing_at: float = 0.0


class TokenBucket:
    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ChatConsumer(AsyncWebsocketConsumer):
    # No channel per socket: broadcasts reach this socket through the process hub.
    channel_layer_alias = "peerchat.no-per-socket-channel"

    async def connect(self):
        limits = settings.PEERCHAT
        self.user = None
        self.rooms: dict[int, RoomState] = {}
        self.hub = get_hub()
        self.bucket = TokenBucket(limits["WS_RATE_PER_SECOND"], limits["WS_RATE_BURST"])
        self.refused_for_rate = 0
        self.closed = False
        self.tasks: set[asyncio.Task] = set()
        self.watching: set[str] = set()
        sweeper.ensure_running()
        await self.accept()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self._authenticated(user)
        else:
            await self._send_frame(
                {
                    "type": "hello",
                    "protocol": protocol.PROTOCOL_VERSION,
                    "authenticated": False,
                    "auth_timeout": limits["WS_AUTH_TIMEOUT_SECONDS"],
                }
            )
            self._spawn(self._close_unless_authenticated(limits["WS_AUTH_TIMEOUT_SECONDS"]))

    async def disconnect(self, code):
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        for state in self.rooms.values():
            if state.task is not None:
                state.task.cancel()
        self.rooms.clear()
        await self.hub.unsubscribe_all(self)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed:
            return  # frames queued before we closed the socket get no answer
        if not self.bucket.take():
            self.refused_for_rate += 1
            if self.refused_for_rate >= settings.PEERCHAT["WS_RATE_CLOSE_AFTER"]:
                logger.info("closing socket of user %s: too many frames", self._user_ref())
                self.closed = True
                await self.close(code=protocol.CLOSE_TOO_MANY_FRAMES)
                return
            await self._send_error("rate_limited", "Too many frames; slow down a little.")
            return
        self.refused_for_rate = 0
        if text_data is None:
            await self._send_error("binary_frame", "Frames must be JSON text, not binary.")
            return
        frame = None
        try:
            frame = protocol.parse(text_data)
            if self.user is None and not isinstance(frame, protocol.Auth):
                raise protocol.FrameError(
                    "not_authenticated", "Sign in first: send an 'auth' frame with a ticket."
                )
            await self._handlers[type(frame)](self, frame)
        except protocol.FrameError as error:
            await self._send_error(error.code, error.detail, **error.context)
        except PeerchatError as error:
            await self._send_error(error.code, error.detail, **_context_of(frame))
        except Exception:
            logger.exception("frame from user %s failed", self._user_ref())
            await self._send_error(
                "server_error", "Something went wrong on our side; try again.", **_context_of(frame)
            )

    # Frames ------------------------------------------------------------------------------------

    async def _on_auth(self, frame: protocol.Auth):
        if self.user is not None:
            raise protocol.FrameError("already_authenticated", "This socket is signed in.")
        user = await database_sync_to_async(ws_ticket_user)(ticket=frame.ticket)
        if user is None:
            raise protocol.FrameError("invalid_ticket", "That ticket is not valid or expired.")
        await self._authenticated(user)

    async def _on_join(self, frame: protocol.Join):
        membership = await database_sync_to_async(selectors.membership_get)(
            room_id=frame.room, user=self.user
        )
        previous = self.rooms.get(frame.room)
        if previous is not None and previous.task is not None:
            previous.task.cancel()
        state = self.rooms[frame.room] = RoomState(last=frame.since)
        # Subscribe before reading the replay, so nothing committed in between is missed:
        # broadcasts that arrive meanwhile only raise `target` and are filled in afterwards.
        await self.hub.subscribe(events.room_group(frame.room), self)
        replay = await database_sync_to_async(selectors.replay_for_join)(
            room_id=frame.room, since=frame.since, limit=settings.PEERCHAT["REPLAY_LIMIT"]
        )
        extras = await database_sync_to_async(_join_extras)(room=membership.room, user=self.user)
        await self._send_frame(
            {
                "type": "joined",
                "room": frame.room,
                "kind": membership.room.kind,
                "name": extras.pop("name"),
                "role": membership.role,
                "since": frame.since,
                "last_seq": replay.last_seq,
                "limited": replay.limited,
                "first_seq": replay.first_seq,
                "replayed": len(replay.messages),
                **extras,
            }
        )
        for message in replay.messages:
            await self.send(text_data=events.encode(message_frame(message)))
        state.last = replay.last_seq
        self._caught_up_or_continue(frame.room, state)

    async def _on_send(self, frame: protocol.Send):
        result = await database_sync_to_async(message_send)(
            room_id=frame.room,
            sender=self.user,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
        )
        await self._send_frame(
            ack_frame(
                result.message,
                client_msg_id=frame.client_msg_id_text,
                extra=sender_note(result.message, result.screening),
            )
        )

    async def _on_leave(self, frame: protocol.Leave):
        await self._drop_room(frame.room)
        await self._send_frame({"type": "left", "room": frame.room, "reason": "left"})

    async def _on_typing(self, frame: protocol.Typing):
        state = self.rooms.get(frame.room)
        if state is None:
            raise protocol.FrameError("not_joined", "Join the room first.", room=frame.room)
        now = time.monotonic()
        if now - state.typing_at < TYPING_INTERVAL_SECONDS:
            return  # throttled before the membership query, so repeats cost nothing
        await database_sync_to_async(selectors.membership_get)(room_id=frame.room, user=self.user)
        state.typing_at = now
        frame_text = events.encode(
            {"type": "typing", "room": frame.room, "handle": self.user.handle}
        )
        await events.publish(
            events.room_group(frame.room), {"kind": "frame", "room": frame.room, "text": frame_text}
        )

    async def _on_ping(self, frame: protocol.Ping):
        await self._send_frame({"type": "pong", "nonce": frame.nonce})

    async def _on_watch(self, frame: protocol.Watch):
        if self.user.role not in protocol.WATCH_TOPICS[frame.topic]:
            raise protocol.FrameError("forbidden", "That is not available to your account.")
        # Subscribe before reading the snapshot, so no change in between is missed.
        await self.hub.subscribe(WATCH_GROUPS[frame.topic], self)
        self.watching.add(frame.topic)
        await self._send_frame({"type": "watching", "topic": frame.topic})
        if frame.topic == "moderation":
            await self._send_frame(await database_sync_to_async(review_queue_frame)())
            return
        seekers, staff = await database_sync_to_async(queue_frames)(now=timezone.now())
        await self._send_frame(seekers if frame.topic == "queue" else staff)

    async def _on_unwatch(self, frame: protocol.Unwatch):
        if frame.topic in self.watching:
            self.watching.discard(frame.topic)
            await self.hub.unsubscribe(WATCH_GROUPS[frame.topic], self)
        await self._send_frame({"type": "unwatched", "topic": frame.topic})

    _handlers = {
        protocol.Auth: _on_auth,
        protocol.Join: _on_join,
        protocol.Send: _on_send,
        protocol.Leave: _on_leave,
        protocol.Typing: _on_typing,
        protocol.Ping: _on_ping,
        protocol.Watch: _on_watch,
        protocol.Unwatch: _on_unwatch,
    }

    # Hub members -------------------------------------------------------------------------------

    async def hub_deliver(self, event: dict):
        if self.closed:
            return
        if event.get("kind") == "control":
            await self._on_control(event)
            return
        if event.get("kind") == "watch":
            if event.get("topic") in self.watching:
                await self.send(text_data=event["text"])
            return
        state = self.rooms.get(event.get("room"))
        if state is None:
            return
        if event.get("kind") == "state":
            await self.send(text_data=event["text"])
            return
        seq = event.get("seq")
        if seq is None:  # ephemeral (typing): only to sockets that are up to date
            if not state.catching_up:
                await self.send(text_data=event["text"])
            return
        if seq <= state.last:
            return  # already sent (replay, catch-up, or a duplicate broadcast)
        if state.catching_up or seq > state.last + 1:
            state.target = max(state.target, seq)
            if not state.catching_up:
                state.catching_up = True
                state.task = self._spawn(self._catch_up(event["room"], state))
            return
        state.last = seq
        await self.send(text_data=event["text"])

    async def hub_resync(self):
        """The channel layer was unreachable: fetch what may have been missed, by seq.

        Control events may have been lost too, so membership is checked again here.
        """
        for room_id, state in list(self.rooms.items()):
            try:
                membership = await database_sync_to_async(selectors.membership_get)(
                    room_id=room_id, user=self.user
                )
            except PeerchatError:
                await self._drop_room(room_id)
                await self._send_frame({"type": "left", "room": room_id, "reason": "removed"})
                continue
            last_seq = membership.room.last_seq
            state.target = max(state.target, last_seq)
            if not state.catching_up and state.target > state.last:
                state.catching_up = True
                state.task = self._spawn(self._catch_up(room_id, state))

    async def _on_control(self, event: dict):
        if self.user is None or event.get("user") != self.user.pk:
            return
        action = event.get("action")
        if action == "frame":
            await self.send(text_data=event["text"])
        elif action == "membership_removed":
            if event.get("room") in self.rooms:
                await self._drop_room(event["room"])
                await self._send_frame({"type": "left", "room": event["room"], "reason": "removed"})
        elif action == "account_closed":
            self.closed = True
            await self.close(code=protocol.CLOSE_SESSION_ENDED)
        elif action == "signed_out":
            session = self.scope.get("session")
            if session is not None and session.session_key == event.get("session_key"):
                self.closed = True
                await self.close(code=protocol.CLOSE_SESSION_ENDED)

    # Helpers -----------------------------------------------------------------------------------

    async def _authenticated(self, user):
        # Subscribe first: if the channel layer is down the socket stays signed out and the
        # client can simply try again.
        await self.hub.subscribe(events.USERS_GROUP, self)
        self.user = user
        if user.is_seeker or user.role == user.Role.SUPPORTER:
            self._spawn(self._keep_presence(user))
        await self._send_frame(
            {
                "type": "hello",
                "protocol": protocol.PROTOCOL_VERSION,
                "authenticated": True,
                "handle": user.handle,
                "role": user.role,
                "limits": {
                    "body_max_chars": settings.PEERCHAT["MESSAGE_MAX_CHARS"],
                    "frame_max_bytes": settings.PEERCHAT["WS_MAX_FRAME_BYTES"],
                    "replay": settings.PEERCHAT["REPLAY_LIMIT"],
                },
            }
        )

    async def _keep_presence(self, user):
        """While a page is open, a seeker keeps their place in the queue and their chat, and
        a facilitator keeps their open groups open."""
        interval = settings.SUPPORT["PRESENCE_INTERVAL_SECONDS"]
        touch = (
            partial(seeker_presence_touch, seeker_id=user.pk)
            if user.is_seeker
            else partial(facilitator_presence_touch, facilitator_id=user.pk)
        )
        while not self.closed:
            try:
                await database_sync_to_async(touch)()
            except Exception:  # the next beat tries again
                logger.warning("presence of %s not recorded", self._user_ref(), exc_info=True)
            await asyncio.sleep(interval)

    async def _close_unless_authenticated(self, seconds: float):
        await asyncio.sleep(seconds)
        if self.user is None and not self.closed:
            await self._send_error("not_authenticated", "No sign-in arrived in time; closing.")
            self.closed = True
            await self.close(code=protocol.CLOSE_NOT_AUTHENTICATED)

    def _caught_up_or_continue(self, room_id: int, state: RoomState):
        if state.target > state.last:
            state.task = self._spawn(self._catch_up(room_id, state))
        else:
            state.catching_up = False

    async def _catch_up(self, room_id: int, state: RoomState):
        page = settings.PEERCHAT["PAGE_LIMIT"]
        try:
            while state.last < state.target and self.rooms.get(room_id) is state:
                messages = await database_sync_to_async(selectors.messages_after)(
                    room_id=room_id, after=state.last, limit=page
                )
                if not messages:
                    break
                for message in messages:
                    if self.rooms.get(room_id) is not state or self.closed:
                        return
                    await self.send(text_data=events.encode(message_frame(message)))
                    state.last = message.seq
        finally:
            state.catching_up = False
            state.task = None

    async def _drop_room(self, room_id: int):
        state = self.rooms.pop(room_id, None)
        if state is not None:
            if state.task is not None:
                state.task.cancel()
            await self.hub.unsubscribe(events.room_group(room_id), self)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _send_frame(self, frame: dict):
        await self.send(text_data=events.encode(frame))

    async def _send_error(self, code: str, detail: str, **context):
        await self._send_frame(error_frame(code, detail, **context))

    def _user_ref(self) -> str:
        # Logs carry a pseudonymous reference, never handles or message text.
        return f"u{self.user.pk}" if self.user is not None else "anonymous"


def _join_extras(*, room, user) -> dict:
    """The room's name for this user, and what `joined` adds for a support chat (its
    session) or a group (its state and this user's mutes)."""
    extras = {"name": selectors.room_name_for(room=room, user=user)}
    held = held_for_sender(room_id=room.pk, user=user)
    if held:
        extras["held"] = held
    if room.kind == room.Kind.ONE_TO_ONE:
        session = session_for_room(room_id=room.pk)
        if session is not None:
            extras["session"] = session_frame(session)
        return extras
    return {**extras, **group_join_extras(room_id=room.pk, user=user)}


def _context_of(frame) -> dict:
    """Fields that let a client match an error to the frame it sent."""
    context = {}
    if hasattr(frame, "room"):
        context["room"] = frame.room
    if hasattr(frame, "client_msg_id_text"):
        context["client_msg_id"] = frame.client_msg_id_text
    return context


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: refuse the handshake (HTTP 403) instead of a server error."""

    channel_layer_alias = ChatConsumer.channel_layer_alias

    async def connect(self):
        await self.close()
