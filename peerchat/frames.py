"""The server's frames, built in one place for the socket, the replay and the HTTP API."""

from datetime import UTC, datetime

from peerchat.models import Message


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_frame(message: Message) -> dict:
    """Return the `message` frame of a visible message (`sender` must be loaded).

    A removed message (its sender deleted their data, a moderator took it out, or the
    retention purge cleared it) keeps its place and `seq` with an empty `body`,
    `"removed": true` and `removed_by` (`sender`, `moderator` or `retention`); other messages
    carry neither key, so their frames are unchanged. A message
    the filter put behind a reveal carries `content_warning`.
    """
    frame = {
        "type": "message",
        "room": message.room_id,
        "seq": message.seq,
        "sender": {"handle": message.sender.handle, "role": message.sender_role},
        "body": message.body,
        "sent_at": utc(message.sent_at),
        "client_msg_id": str(message.client_msg_id),
        "status": message.status,
    }
    if message.content_warning:
        frame["content_warning"] = message.content_warning
    if message.removed_at is not None:
        frame["body"] = ""
        frame["removed"] = True
        # Rows removed before `removed_by` existed were all removed by their sender.
        frame["removed_by"] = message.removed_by or Message.RemovedBy.SENDER
        frame.pop("content_warning", None)
    return frame


def ack_frame(message: Message, *, client_msg_id: str, extra: dict | None = None) -> dict:
    """Return the sender's `ack`; a re-send of the same message gets the same one.

    `extra` is what the content filter adds for the sender alone: a kind `note`, crisis
    `resources`, `escalate` (moderation.screening.sender_note).
    """
    return {
        "type": "ack",
        "room": message.room_id,
        "client_msg_id": client_msg_id,
        "seq": message.seq,
        "status": message.status,
        "sent_at": utc(message.sent_at),
        **(extra or {}),
    }


def error_frame(code: str, detail: str, **context) -> dict:
    return {"type": "error", "code": code, "detail": detail, **context}
