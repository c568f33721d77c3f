"""The one websocket endpoint, /ws/v1/: authenticate, parse, call a service, forward events.

Every frame is checked against the signed-in user and their room membership; business rules
live in services and selectors. Broadcasts arrive through the process hub (`peerchat.hub`),
already encoded, and are written to the socket in `seq` order: duplicates are dropped and gaps
are filled from the database, so a socket never shows a message twice or out of order.
"""

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from config.logs import user_ref
from moderation.escalations import ESCALATIONS_GROUP, escalations_frame
from moderation.escalations.selectors import escalation_status_for_room
from moderation.escalations.services import escalation_raise_by, raiser_note
from moderation.oversight.selectors import (
    is_staff,
    moderator_present,
    room_label,
    room_observable,
    whispers_recent,
    whispers_visible_to,
)
from moderation.oversight.services import (
    moderator_member_join,
    presence_end,
    presence_touch,
    room_observe,
    whisper_send,
)
from moderation.screening import MODERATION_GROUP, sender_note
from moderation.selectors import held_for_sender, review_queue_frame
from peerchat import events, limits, presence, protocol, selectors, sweeper
from peerchat.db import database_sync_to_async
from peerchat.errors import PeerchatError
from peerchat.frames import ack_frame, error_frame, message_frame
from peerchat.hub import get_hub
from peerchat.models import Membership
from peerchat.selectors.support import queue_frames, session_for_room, session_frame
from peerchat.selectors.two_factor import session_two_factor_pending, two_factor_required
from peerchat.services.groups import group_join_extras
from peerchat.services.messages import message_send
from peerchat.services.queue import QUEUE_GROUP, STAFF_QUEUE_GROUP
from peerchat.tickets import ws_ticket_user

logger = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 3.0
# The role a moderator observing a room has there (in `joined`): not a member, read-only.
OBSERVER = "observer"
READ_ONLY_DETAIL = "You are observing this room; join it to take part."
WATCH_GROUPS = {
    "queue": QUEUE_GROUP,
    "staff_queue": STAFF_QUEUE_GROUP,
    "moderation": MODERATION_GROUP,
    "escalations": ESCALATIONS_GROUP,
}


@dataclass
class RoomState:
    """What this socket has been sent of one room."""

    last: int  # highest seq written to the socket
    target: int = 0  # highest seq known to exist
    catching_up: bool = True  # while True, broadcasts only raise `target`
    task: asyncio.Task | None = None
    typing_at: float = 0.0
    role: str = ""  # the user's role in the room, or OBSERVER
    observing: bool = False  # a moderator reading it without being a member
    room: object = None  # the Room (its kind never changes), so a send needs no lookup

    @property
    def keeps_presence(self) -> bool:
        """Whether this socket makes its moderator count as present in the room."""
        return self.observing or self.role == Membership.Role.MODERATOR


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
        config = settings.PEERCHAT
        self.user = None
        self.rooms: dict[int, RoomState] = {}
        self.hub = get_hub()
        self.presence = presence.get_beat()
        self.present_as: tuple[str, int] | None = None
        self.bucket = TokenBucket(config["WS_RATE_PER_SECOND"], config["WS_RATE_BURST"])
        self.refused_for_rate = 0
        # This socket's entry in its user's count of open sockets (peerchat.limits).
        self.connection_id = uuid.uuid4().hex
        self.counted_for: int | None = None
        self.closed = False
        self.tasks: set[asyncio.Task] = set()
        self.watching: set[str] = set()
        sweeper.ensure_running()
        await self.accept()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            if two_factor_required(user) and await database_sync_to_async(
                session_two_factor_pending
            )(user=user, session=self.scope.get("session")):
                # Staff who gave their password but not yet their code: not signed in here.
                await self._send_error(
                    "two_factor_required", "Finish signing in with your two-factor code first."
                )
                self.closed = True
                await self.close(code=protocol.CLOSE_NOT_AUTHENTICATED)
                return
            await self._authenticated(user)
        else:
            await self._send_frame(
                {
                    "type": "hello",
                    "protocol": protocol.PROTOCOL_VERSION,
                    "authenticated": False,
                    "auth_timeout": config["WS_AUTH_TIMEOUT_SECONDS"],
                }
            )
            self._spawn(self._close_unless_authenticated(config["WS_AUTH_TIMEOUT_SECONDS"]))

    async def dispatch(self, message):
        """Channels' dispatch without its `aclose_old_connections()` before every frame.

        That is a hop to the database thread and back for each frame, a tenth of a busy
        process's time (bench/README.md, "Chat load"); every database call here goes
        through `peerchat.db.database_sync_to_async`, which closes old connections before
        and after the call.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code):
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        for state in self.rooms.values():
            if state.task is not None:
                state.task.cancel()
        if self.present_as is not None:
            self.presence.remove(*self.present_as)
            self.present_as = None
        present_in = {room_id: s for room_id, s in self.rooms.items() if s.keeps_presence}
        self.rooms.clear()
        await self.hub.unsubscribe_all(self)
        await self._presence_leave(present_in)
        if self.counted_for is not None:
            await limits.connection_close(
                user_id=self.counted_for, connection_id=self.connection_id
            )

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed:
            return  # frames queued before we closed the socket get no answer
        if not await self._frame_allowed():
            self.refused_for_rate += 1
            if self.refused_for_rate >= settings.PEERCHAT["WS_RATE_CLOSE_AFTER"]:
                logger.info(
                    "closing socket of user %s: too many frames",
                    self._user_ref(),
                    extra={"event": "socket_rate_closed", "user": self._user_ref()},
                )
                self.closed = True
                await self.close(code=protocol.CLOSE_TOO_MANY_FRAMES)
                return
            await self._send_error(
                "rate_limited",
                "Too many frames; slow down a little.",
                **_refused_context(text_data),
            )
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
            logger.exception(
                "frame from user %s failed",
                self._user_ref(),
                extra={
                    "event": "frame_failed",
                    "user": self._user_ref(),
                    "frame": type(frame).__name__.lower() if frame is not None else None,
                    "room": _context_of(frame).get("room"),
                },
            )
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
        await self._open_room(frame.room, frame.since, room=membership.room, role=membership.role)
        if membership.role == Membership.Role.MODERATOR:
            # A moderator who joined openly is present again, and read the transcript: audited.
            # After `joined`, so their own `presence` frame never comes before it.
            await database_sync_to_async(moderator_member_join)(
                room_id=frame.room, moderator=self.user, since=frame.since
            )

    async def _on_observe(self, frame: protocol.Observe):
        """A moderator reads a room without being a member: `join` without a Membership."""
        room = await database_sync_to_async(room_observe)(
            room_id=frame.room, moderator=self.user, since=frame.since
        )
        await self._open_room(frame.room, frame.since, room=room, role=OBSERVER, observing=True)

    async def _open_room(
        self, room_id: int, since: int, *, room, role: str, observing: bool = False
    ) -> None:
        """Send `joined`, the replay after `since`, then live messages in `seq` order."""
        previous = self.rooms.get(room_id)
        if previous is not None and previous.task is not None:
            previous.task.cancel()
        state = self.rooms[room_id] = RoomState(
            last=since, role=role, observing=observing, room=room
        )
        # Subscribe before reading the replay, so nothing committed in between is missed:
        # broadcasts that arrive meanwhile only raise `target` and are filled in afterwards.
        await self.hub.subscribe(events.room_group(room_id), self)
        replay = await database_sync_to_async(selectors.replay_for_join)(
            room_id=room_id, since=since, limit=settings.PEERCHAT["REPLAY_LIMIT"]
        )
        extras = await database_sync_to_async(_join_extras)(
            room=room, user=self.user, role=role, observing=observing
        )
        await self._send_frame(
            {
                "type": "joined",
                "room": room_id,
                "kind": room.kind,
                "name": extras.pop("name"),
                "role": role,
                "since": since,
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
        self._caught_up_or_continue(room_id, state)

    async def _on_send(self, frame: protocol.Send):
        self._writable_check(frame.room, client_msg_id=frame.client_msg_id_text)
        state = self.rooms.get(frame.room)
        result = await _message_sender()(
            room_id=frame.room,
            sender=self.user,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
            room=state.room if state is not None else None,
        )
        await self._send_frame(
            ack_frame(
                result.message,
                client_msg_id=frame.client_msg_id_text,
                extra=sender_note(result.message, result.screening),
            )
        )

    async def _on_leave(self, frame: protocol.Leave):
        state = self.rooms.get(frame.room)
        await self._drop_room(frame.room)
        await self._send_frame({"type": "left", "room": frame.room, "reason": "left"})
        if state is not None and state.keeps_presence:
            await self._presence_leave({frame.room: state})

    async def _on_typing(self, frame: protocol.Typing):
        state = self.rooms.get(frame.room)
        if state is None:
            raise protocol.FrameError("not_joined", "Join the room first.", room=frame.room)
        self._writable_check(frame.room)
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

    async def _on_escalate(self, frame: protocol.Escalate):
        result = await database_sync_to_async(escalation_raise_by)(
            room_id=frame.room, user=self.user, note=frame.note
        )
        await self._send_frame(
            {
                "type": "escalated",
                "room": frame.room,
                "escalation": {"id": result.escalation.pk, "state": result.escalation.state},
                "new": result.created,
                **raiser_note(user=self.user),
            }
        )

    async def _on_whisper(self, frame: protocol.Whisper):
        # The whisper itself reaches every socket of its author, this one included.
        whisper = await database_sync_to_async(whisper_send)(
            room_id=frame.room, author=self.user, body=frame.body
        )
        await self._send_frame({"type": "whisper_sent", "room": frame.room, "id": whisper.pk})

    async def _on_ping(self, frame: protocol.Ping):
        await self._send_frame({"type": "pong", "nonce": frame.nonce})

    async def _on_watch(self, frame: protocol.Watch):
        if self.user.role not in protocol.WATCH_TOPICS[frame.topic]:
            raise protocol.FrameError("forbidden", "That is not available to your account.")
        # Subscribe before reading the snapshot, so no change in between is missed.
        await self.hub.subscribe(WATCH_GROUPS[frame.topic], self)
        self.watching.add(frame.topic)
        await self._send_frame({"type": "watching", "topic": frame.topic})
        await self._send_frame(await database_sync_to_async(_watch_snapshot)(frame.topic))

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
        protocol.Escalate: _on_escalate,
        protocol.Ping: _on_ping,
        protocol.Watch: _on_watch,
        protocol.Unwatch: _on_unwatch,
        protocol.Observe: _on_observe,
        protocol.Whisper: _on_whisper,
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

        Control events may have been lost too, so membership is checked again here (for a room
        this socket observes: that the user is still staff and the room still active), and
        every watched topic is sent afresh (an escalation opened during the outage shows at once).
        """
        for topic in sorted(self.watching):
            try:
                await self._send_frame(await database_sync_to_async(_watch_snapshot)(topic))
            except Exception:  # the next re-sync tries again
                logger.warning(
                    "re-sync of topic %s failed",
                    topic,
                    exc_info=True,
                    extra={"event": "resync_failed", "user": self._user_ref(), "topic": topic},
                )
        for room_id, state in list(self.rooms.items()):
            try:
                last_seq = await database_sync_to_async(_room_last_seq_for)(
                    room_id=room_id, user=self.user, observing=state.observing
                )
            except PeerchatError:
                await self._drop_room(room_id)
                await self._send_frame({"type": "left", "room": room_id, "reason": "removed"})
                if state.keeps_presence:
                    await self._presence_leave({room_id: state})
                continue
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
            state = self.rooms.get(event.get("room"))
            # Observing never depended on membership.
            if state is not None and not state.observing:
                await self._drop_room(event["room"])
                await self._send_frame({"type": "left", "room": event["room"], "reason": "removed"})
        elif action in ("account_closed", "two_factor_reset"):
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
        if not await limits.connection_open(user_id=user.pk, connection_id=self.connection_id):
            logger.info("closing socket of user u%s: too many sockets open", user.pk)
            await self._send_error(
                "too_many_connections",
                "This account has too many chat windows open. Close some, then try again.",
            )
            self.closed = True
            await self.close(code=protocol.CLOSE_TOO_MANY_CONNECTIONS)
            return
        if self.closed:  # the client went away meanwhile: disconnect() found nothing counted
            await limits.connection_close(user_id=user.pk, connection_id=self.connection_id)
            return
        self.counted_for = user.pk
        self._spawn(self._keep_counted(user.pk))
        self.user = user
        if user.is_seeker or user.role == user.Role.SUPPORTER:
            kind = presence.SEEKER if user.is_seeker else presence.FACILITATOR
            self.present_as = (kind, user.pk)
            self.presence.add(kind, user.pk)
            self._spawn(self._open_page(kind, user.pk))
        elif is_staff(user):
            self._spawn(self._keep_oversight_presence(user))
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

    async def _frame_allowed(self) -> bool:
        """Whether a frame fits this socket's bucket and then its user's (all processes)."""
        if not self.bucket.take():
            return False
        if self.user is None:
            return True
        return await limits.user_frame_allowed(user_id=self.user.pk)

    async def _keep_counted(self, user_id: int):
        """Keep this socket in its user's count; if this process dies the entry lapses."""
        while not self.closed:
            await asyncio.sleep(limits.CONNECTION_REFRESH_SECONDS)
            await limits.connection_refresh(user_id=user_id, connection_id=self.connection_id)

    async def _open_page(self, kind: str, user_id: int):
        """A seeker's open page keeps their place in the queue and their chat, a supporter's
        the groups they facilitate: recorded now, then by the process's beat."""
        try:
            await self.presence.touch_now(kind, user_id)
        except Exception:  # the beat records it at the next interval
            logger.warning(
                "presence of %s not recorded",
                self._user_ref(),
                exc_info=True,
                extra={"event": "presence_failed", "user": self._user_ref()},
            )

    async def _keep_oversight_presence(self, user):
        """While a moderator's socket observes a room, or joined it as a moderator, they count
        as present there (the room shows its discreet marker)."""
        interval = settings.OVERSIGHT["PRESENCE_INTERVAL_SECONDS"]
        while not self.closed:
            await asyncio.sleep(interval)
            observing = [r for r, state in self.rooms.items() if state.observing]
            joined = [
                r for r, state in self.rooms.items() if state.keeps_presence and not state.observing
            ]
            if not observing and not joined:
                continue
            try:
                await database_sync_to_async(presence_touch)(
                    moderator=user, observing=observing, joined=joined
                )
            except Exception:  # the next beat tries again
                logger.warning(
                    "presence of %s not recorded",
                    self._user_ref(),
                    exc_info=True,
                    extra={"event": "presence_failed", "user": self._user_ref()},
                )

    async def _presence_leave(self, states: dict[int, RoomState]):
        """This socket no longer keeps its moderator present in these rooms."""
        for room_id, state in states.items():
            # Leaving a room observed on this socket does not undo joining it openly.
            modes = ("observing",) if state.observing else ("observing", "joined")
            try:
                await database_sync_to_async(presence_end)(
                    room_id=room_id, moderator=self.user, modes=modes
                )
            except Exception:  # the sweep ends it once it is stale
                logger.warning(
                    "presence of %s not ended",
                    self._user_ref(),
                    exc_info=True,
                    extra={"event": "presence_failed", "user": self._user_ref(), "room": room_id},
                )

    def _writable_check(self, room_id: int, **context):
        """Refuse to write (send, typing) to a room this socket only observes."""
        state = self.rooms.get(room_id)
        if state is not None and state.observing:
            raise protocol.FrameError("read_only", READ_ONLY_DETAIL, room=room_id, **context)

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
        return user_ref(self.user)


_senders: dict[int, object] = {}


def _send_message(**kwargs):
    return message_send(**kwargs)  # looked up when called, so tests can replace it


def _message_sender():
    """`message_send`, run off the event loop: on the process's database thread, or with
    WS_SEND_THREADS > 1 on one of that many threads, so that sends from different sockets
    wait on the database together. One socket's frames are handled one at a time, so its
    own sends still reach the database in the order it sent them. Made once per setting:
    making the wrapper for every frame was a measurable part of a frame's cost."""
    threads = settings.PEERCHAT["WS_SEND_THREADS"]
    sender = _senders.get(threads)
    if sender is None:
        if threads <= 1:
            sender = database_sync_to_async(_send_message)
        else:
            executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
            sender = database_sync_to_async(
                _send_message, thread_sensitive=False, executor=executor
            )
        _senders[threads] = sender
    return sender


def _join_extras(*, room, user, role: str = "", observing: bool = False) -> dict:
    """The room's name for this user, and what `joined` adds for a support chat (its
    session) or a group (its state and this user's mutes); whether a moderator is present;
    for staff, the room's recent whispers."""
    if observing:
        extras = {"name": room_label(room), "observing": True}
    else:
        extras = {"name": selectors.room_name_for(room=room, user=user)}
        held = held_for_sender(room_id=room.pk, user=user)
        if held:
            extras["held"] = held
    extras["moderator_present"] = moderator_present(room_id=room.pk)
    if whispers_visible_to(user=user, role_in_room=role):
        extras["whispers"] = whispers_recent(room_id=room.pk)
    if user.role != user.Role.SEEKER:
        status = escalation_status_for_room(room_id=room.pk)
        if status is not None:
            extras["escalation"] = status
    if room.kind == room.Kind.ONE_TO_ONE:
        session = session_for_room(room_id=room.pk)
        if session is not None:
            extras["session"] = session_frame(session)
        return extras
    return {**extras, **group_join_extras(room_id=room.pk, user=user)}


def _room_last_seq_for(*, room_id: int, user, observing: bool) -> int:
    """The room's newest `seq`, if `user` may still have it open; else a PeerchatError."""
    if observing:
        return room_observable(room_id=room_id, user=user).last_seq
    return selectors.membership_get(room_id=room_id, user=user).room.last_seq


def _watch_snapshot(topic: str) -> dict:
    """The frame that shows a watcher the whole of `topic` as it is now."""
    if topic == "moderation":
        return review_queue_frame()
    if topic == "escalations":
        return escalations_frame()
    seekers, staff = queue_frames(now=timezone.now())
    return seekers if topic == "queue" else staff


def _refused_context(text_data) -> dict:
    """The `room` and `client_msg_id` of a frame refused for rate, when it reads as a frame
    that has them, so the client can tell which send to try again; else nothing. (The frame
    is only read, never acted on.)"""
    if text_data is None:
        return {}
    try:
        return _context_of(protocol.parse(text_data))
    except protocol.FrameError:
        return {}


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
