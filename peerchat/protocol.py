"""Client frames of protocol v1: parsed and validated before anything touches the database.

docs/protocol.md is the contract; every error code raised here is listed there.
"""

import json
import uuid
from dataclasses import dataclass

from peerchat.errors import PeerchatError

PROTOCOL_VERSION = 1


class FrameError(PeerchatError):
    def __init__(self, code: str, detail: str, **context):
        super().__init__(detail)
        self.code = code
        self.context = context


# Close codes (docs/protocol.md, "Close codes").
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_SESSION_ENDED = 4403
CLOSE_TOO_MANY_CONNECTIONS = 4409
CLOSE_TOO_MANY_FRAMES = 4429


@dataclass(frozen=True)
class Auth:
    ticket: str


@dataclass(frozen=True)
class Join:
    room: int
    since: int


@dataclass(frozen=True)
class Send:
    room: int
    client_msg_id: uuid.UUID
    client_msg_id_text: str
    body: str


@dataclass(frozen=True)
class Leave:
    room: int


@dataclass(frozen=True)
class Typing:
    room: int


@dataclass(frozen=True)
class Escalate:
    room: int
    note: str


@dataclass(frozen=True)
class Observe:
    """A moderator opens a room read-only (moderation.oversight)."""

    room: int
    since: int


@dataclass(frozen=True)
class Whisper:
    """A private note to the room's supporters and the moderators present in it."""

    room: int
    body: str


@dataclass(frozen=True)
class Watch:
    topic: str


@dataclass(frozen=True)
class Unwatch:
    topic: str


# What a socket may watch, and which roles may watch it.
WATCH_TOPICS = {
    "queue": {"seeker"},
    "staff_queue": {"supporter", "moderator", "admin"},
    "moderation": {"moderator", "admin"},
    "escalations": {"moderator", "admin"},
}
NOTE_MAX_CHARS = 2000


@dataclass(frozen=True)
class Ping:
    nonce: str | int | None


def parse(text: str):
    """Return the frame object for `text`, or raise FrameError with a stable code."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_json", "A frame must be a JSON object.")
    frame_type = data.get("type")
    if frame_type is None:
        raise FrameError("missing_field", "The frame has no 'type'.", field="type")
    if not isinstance(frame_type, str):
        raise FrameError("invalid_field", "'type' must be a string.", field="type")
    parser = _PARSERS.get(frame_type)
    if parser is None:
        raise FrameError("unknown_type", "This server does not know that frame type.")
    return parser(data)


def _required(data: dict, field: str):
    if field not in data or data[field] is None:
        raise FrameError("missing_field", f"The frame needs '{field}'.", field=field)
    return data[field]


def _int(data: dict, field: str, *, default=None, minimum=0) -> int:
    value = _required(data, field) if default is None else data.get(field, default)
    if value is None:
        value = default
    # bool is an int in Python but not a number in JSON.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FrameError(
            "invalid_field", f"'{field}' must be a whole number from {minimum}.", field=field
        )
    if value > 2**63 - 1:
        raise FrameError("invalid_field", f"'{field}' is too large.", field=field)
    return value


def _room(data: dict) -> int:
    return _int(data, "room", minimum=1)


def _parse_auth(data: dict) -> Auth:
    ticket = _required(data, "ticket")
    if not isinstance(ticket, str) or len(ticket) > 512:
        raise FrameError("invalid_field", "'ticket' must be a string.", field="ticket")
    return Auth(ticket=ticket)


def _parse_join(data: dict) -> Join:
    return Join(room=_room(data), since=_int(data, "since", default=0))


def _parse_send(data: dict) -> Send:
    room = _room(data)
    raw_id = _required(data, "client_msg_id")
    if not isinstance(raw_id, str):
        raise FrameError(
            "invalid_field", "'client_msg_id' must be a UUID string.", field="client_msg_id"
        )
    try:
        client_msg_id = uuid.UUID(raw_id)
    except ValueError:
        raise FrameError(
            "invalid_field", "'client_msg_id' must be a UUID.", field="client_msg_id"
        ) from None
    body = _required(data, "body")
    if not isinstance(body, str):
        raise FrameError(
            "invalid_field", "'body' must be a string.", field="body", client_msg_id=raw_id
        )
    return Send(room=room, client_msg_id=client_msg_id, client_msg_id_text=raw_id, body=body)


def _parse_observe(data: dict) -> Observe:
    return Observe(room=_room(data), since=_int(data, "since", default=0))


def _parse_whisper(data: dict) -> Whisper:
    room = _room(data)
    body = _required(data, "body")
    if not isinstance(body, str):
        raise FrameError("invalid_field", "'body' must be a string.", field="body", room=room)
    return Whisper(room=room, body=body)


def _parse_leave(data: dict) -> Leave:
    return Leave(room=_room(data))


def _parse_typing(data: dict) -> Typing:
    return Typing(room=_room(data))


def _parse_escalate(data: dict) -> Escalate:
    room = _room(data)
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > NOTE_MAX_CHARS:
        raise FrameError(
            "invalid_field",
            f"'note' must be a string of up to {NOTE_MAX_CHARS} characters.",
            field="note",
            room=room,
        )
    return Escalate(room=room, note=note)


def _parse_ping(data: dict) -> Ping:
    nonce = data.get("nonce")
    if nonce is not None and (
        isinstance(nonce, bool) or not isinstance(nonce, str | int) or len(str(nonce)) > 64
    ):
        raise FrameError("invalid_field", "'nonce' must be a short string or number.")
    return Ping(nonce=nonce)


def _topic(data: dict) -> str:
    topic = _required(data, "topic")
    if topic not in WATCH_TOPICS:
        raise FrameError(
            "invalid_field",
            "'topic' must be one of: " + ", ".join(sorted(WATCH_TOPICS)) + ".",
            field="topic",
        )
    return topic


def _parse_watch(data: dict) -> Watch:
    return Watch(topic=_topic(data))


def _parse_unwatch(data: dict) -> Unwatch:
    return Unwatch(topic=_topic(data))


_PARSERS = {
    "auth": _parse_auth,
    "join": _parse_join,
    "send": _parse_send,
    "leave": _parse_leave,
    "typing": _parse_typing,
    "escalate": _parse_escalate,
    "ping": _parse_ping,
    "watch": _parse_watch,
    "unwatch": _parse_unwatch,
    "observe": _parse_observe,
    "whisper": _parse_whisper,
}
