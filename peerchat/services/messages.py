"""Sending messages: numbered and stored in one transaction, broadcast after commit."""

import functools
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from moderation import filter as content_filter
from moderation import screening as screenings
from moderation.escalations import escalation_raise
from moderation.models import Escalation, Screening
from peerchat import events
from peerchat.db import hot_cursor
from peerchat.errors import BodyEmpty, BodyInvalid, BodyTooLong, Conflict, RoomNotFound
from peerchat.frames import message_frame
from peerchat.models import GroupMeeting, Membership, Message, Room, SupportSession, User
from peerchat.selectors import membership_get
from peerchat.services.groups import group_send_check

ALLOWED_CONTROL_CHARACTERS = {"\n", "\r", "\t"}
# What the seeker and the supporter read when they send to a chat a moderator paused.
SESSION_PAUSED_DETAIL = (
    "A moderator has paused this chat for a moment. You can still read it, and the numbers "
    "for urgent help are always here."
)


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool
    # The filter's record when it did anything but allow the message as typed.
    screening: Screening | None = None


def message_body_check(body: str) -> None:
    """Refuse bodies that are empty, too long, or carry control characters."""
    limit = settings.PEERCHAT["MESSAGE_MAX_CHARS"]
    if not body.strip():
        raise BodyEmpty("The message is empty.")
    if len(body) > limit:
        raise BodyTooLong(f"Messages can be up to {limit} characters; this one has {len(body)}.")
    if any(
        unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROL_CHARACTERS for ch in body
    ):
        raise BodyInvalid("The message contains control characters.")


def message_send(
    *,
    room_id: int,
    sender: User,
    client_msg_id: uuid.UUID,
    body: str,
    room: Room | None = None,
) -> SendResult:
    """Store a message from a room member, numbered with the room's next `seq`.

    Re-sending the same `client_msg_id` stores nothing and returns the message stored the
    first time (`created=False`), so clients can retry freely after any failure.

    `room` is the room a socket that joined it already holds (a room never changes kind);
    without it the membership is read first. Either way, membership, the sender's role and
    whether the room is open are checked inside the transaction, under the room's lock.
    """
    message_body_check(body)
    if room is None:
        room = membership_get(room_id=room_id, user=sender).room
    # Checked before anything is stored: a message becomes visible only as the filter allows.
    verdict = content_filter.check(body, room_kind=room.kind)
    try:
        with transaction.atomic():
            now = timezone.now()
            seq = room_seq_take(room_id, now=now) if verdict.delivered else None
            if not screenings.needs_record(verdict):
                # Most messages: the filter let them through as typed. Checked and stored by
                # one statement; only a refusal takes the path below, which says why.
                message = _message_insert_plain(
                    room=room, seq=seq, sender=sender, client_msg_id=client_msg_id, body=body,
                    now=now,
                )  # fmt: skip
                if message is not None:
                    message_publish(message)
                    return SendResult(message=message, created=True)
            # Under the room's lock: a member removed (or a seeker who deleted their data), a
            # chat ended or paused, a group closed a moment ago refuses this message rather
            # than letting it in after all.
            role = _member_role(room_id=room_id, sender=sender)
            _room_open_check(room=room, role=role, sender=sender)
            message = Message(
                room_id=room_id,
                seq=seq,
                sender=sender,
                sender_role=role,
                client_msg_id=client_msg_id,
                body=verdict.masked_text if verdict.masked_text is not None else body,
                status=screenings.message_status_for(verdict),
                content_warning=screenings.content_warning_for(verdict),
            )
            # The room and sender were just checked; validating them again would read both.
            message.full_clean(
                exclude=["room", "sender"], validate_unique=False, validate_constraints=False
            )
            message.save()
            screening = None
            if screenings.needs_record(verdict):
                screening = screenings.screening_record(
                    message=message, verdict=verdict, room=room, typed=body
                )
            if verdict.escalate:
                escalation_raise(
                    room_id=room_id, kind=Escalation.Kind.FILTER, by=sender, message=message
                )
            if seq is not None:
                message_publish(message)
    except IntegrityError:
        # A re-send: this client_msg_id is stored already (by an earlier frame, or by a
        # concurrent one an instant ago). The rollback gave the seq back.
        existing = _message_by_client_id(
            room_id=room_id, sender=sender, client_msg_id=client_msg_id
        )
        if existing is None:
            raise
        return _result(existing, created=False)
    return SendResult(message=message, created=True, screening=screening)


def room_seq_take(room_id: int, *, now: datetime | None = None) -> int:
    """Take the room's next `seq` (call inside a transaction).

    The UPDATE takes the room's row lock (PostgreSQL) or the write lock (SQLite) until commit,
    so concurrent senders are numbered one after another, and a rollback takes the number back
    with it: seq stays gapless. One statement: the new number comes back with RETURNING.
    """
    quote = connection.ops.quote_name
    with hot_cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Room._meta.db_table)} "  # noqa: S608 - names from the model
            f"SET {quote('last_seq')} = {quote('last_seq')} + 1, "
            f"{quote('last_message_at')} = %s WHERE {quote('id')} = %s "
            f"RETURNING {quote('last_seq')}",
            [connection.ops.adapt_datetimefield_value(now or timezone.now()), room_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise RoomNotFound("There is no room with that id that you are a member of.")
    return row[0]


# A `message_removed` frame names at most this many seqs (an erasure or a purge may remove
# thousands in one room).
REMOVED_SEQS_PER_FRAME = 500


def messages_removed_publish(seqs: Iterable[tuple[int, int]], *, by: str) -> None:
    """After commit, tell each room's open pages which of its messages were removed.

    `seqs` are (room id, seq) pairs; `by` is the Message.RemovedBy value clients show.
    """
    by_room: dict[int, list[int]] = {}
    for room_id, seq in seqs:
        by_room.setdefault(room_id, []).append(seq)
    for room_id, room_seqs in by_room.items():
        for start in range(0, len(room_seqs), REMOVED_SEQS_PER_FRAME):
            events.room_state_on_commit(
                room_id,
                {
                    "type": "message_removed",
                    "room": room_id,
                    "seqs": room_seqs[start : start + REMOVED_SEQS_PER_FRAME],
                    "by": by,
                },
            )


def message_publish(message: Message) -> None:
    """Broadcast a visible message to its room once the transaction commits."""
    events.publish_on_commit(
        events.room_group(message.room_id),
        {
            "kind": "frame",
            "room": message.room_id,
            "seq": message.seq,
            "text": events.encode(message_frame(message)),
        },
    )


def _result(message: Message, *, created: bool) -> SendResult:
    return SendResult(
        message=message, created=created, screening=getattr(message, "screening", None)
    )


def _member_role(*, room_id: int, sender: User) -> str:
    role = (
        Membership.objects.filter(room_id=room_id, user=sender, user__is_active=True)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise RoomNotFound("There is no room with that id that you are a member of.")
    return role


def _message_insert_plain(
    *, room: Room, seq: int, sender: User, client_msg_id: uuid.UUID, body: str, now: datetime
) -> Message | None:
    """Store a message the filter allowed as typed, if its sender may write to the room now;
    None, having stored nothing, if not.

    The same rules as `_member_role` and `_room_open_check`, in the INSERT's own WHERE clause:
    one statement, run after `room_seq_take` took the room's lock, so it reads what any
    removal, ending, pause or closing committed before it. The ORM would build three queries
    and validate the model for this, which was the largest part of a message's CPU time.
    """
    sent_at = connection.ops.adapt_datetimefield_value(now)
    client_msg_id_field = Message._meta.get_field("client_msg_id")
    params = [
        room.pk,
        seq,
        sender.pk,
        client_msg_id_field.get_db_prep_value(client_msg_id, connection),
        body,
        Message.Status.DELIVERED,
        "",
        sent_at,
        "",
        room.pk,
        sender.pk,
        *_open_check_params(room=room, sender=sender, sent_at=sent_at),
    ]
    with hot_cursor() as cursor:
        cursor.execute(_insert_plain_sql(connection.vendor, room.kind), params)
        row = cursor.fetchone()
    if row is None:
        return None
    message = Message(
        id=row[0],
        room_id=room.pk,
        seq=seq,
        sender=sender,
        sender_role=row[1],
        client_msg_id=client_msg_id,
        body=body,
        status=Message.Status.DELIVERED,
        sent_at=now,
    )
    message._state.adding = False
    message._state.db = connection.alias
    return message


@functools.cache
def _insert_plain_sql(vendor: str, room_kind: str) -> str:
    """The statement of `_message_insert_plain`, written once per database and room kind."""
    quote = connection.ops.quote_name
    field = Message._meta.get_field
    columns = ", ".join(
        quote(field(name).column)
        for name in (
            "room", "seq", "sender", "sender_role", "client_msg_id", "body", "status",
            "content_warning", "sent_at", "removed_by",
        )
    )  # fmt: skip
    return (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) "  # noqa: S608 - model names
        f"SELECT %s, %s, %s, m.{quote('role')}, %s, %s, %s, %s, %s, %s "
        f"FROM {quote(Membership._meta.db_table)} m "
        f"JOIN {quote(User._meta.db_table)} u ON u.{quote('id')} = m.{quote('user_id')} "
        f"WHERE m.{quote('room_id')} = %s AND m.{quote('user_id')} = %s "
        f"AND u.{quote('is_active')} {_open_check_sql(room_kind)} "
        f"RETURNING {quote('id')}, {quote('sender_role')}"
    )


def _open_check_sql(room_kind: str) -> str:
    """`_room_open_check` as SQL for `_message_insert_plain` (`m` is the sender's Membership);
    its parameters come from `_open_check_params`."""
    quote = connection.ops.quote_name
    if room_kind == Room.Kind.ONE_TO_ONE:
        return (
            f"AND NOT EXISTS (SELECT 1 FROM {quote(SupportSession._meta.db_table)} s "  # noqa: S608
            f"WHERE s.{quote('room_id')} = %s AND (s.{quote('state')} = %s "
            f"OR (s.{quote('paused_at')} IS NOT NULL AND m.{quote('role')} <> %s)))"
        )
    if room_kind == Room.Kind.GROUP:
        # Closed unless opened and not yet over; the facilitator may always write.
        return (
            f"AND NOT EXISTS (SELECT 1 FROM {quote(GroupMeeting._meta.db_table)} g "  # noqa: S608
            f"WHERE g.{quote('room_id')} = %s "
            f"AND (g.{quote('facilitator_id')} IS NULL OR g.{quote('facilitator_id')} <> %s) "
            f"AND (g.{quote('opened_at')} IS NULL OR g.{quote('ends_at')} <= %s))"
        )
    return ""


def _open_check_params(*, room: Room, sender: User, sent_at) -> list:
    if room.kind == Room.Kind.ONE_TO_ONE:
        return [room.pk, SupportSession.State.ENDED, Membership.Role.MODERATOR]
    if room.kind == Room.Kind.GROUP:
        return [room.pk, sender.pk, sent_at]
    return []


def _room_open_check(*, room: Room, role: str, sender: User) -> None:
    """Refuse messages to a support chat that has ended or that a moderator paused (moderators
    in the room may still write), or to a group that is not open."""
    if room.kind == Room.Kind.ONE_TO_ONE:
        state, paused_at = (
            SupportSession.objects.filter(room_id=room.pk).values_list("state", "paused_at").first()
        ) or (None, None)
        if state == SupportSession.State.ENDED:
            raise Conflict(
                "This chat has ended, so messages can't be sent here any more. "
                "You can start a new chat whenever you like.",
                code="session_ended",
            )
        if paused_at is not None and role != Membership.Role.MODERATOR:
            raise Conflict(SESSION_PAUSED_DETAIL, code="session_paused")
    elif room.kind == Room.Kind.GROUP:
        group_send_check(room_id=room.pk, user=sender)


def _message_by_client_id(*, room_id: int, sender: User, client_msg_id: uuid.UUID):
    return (
        Message.objects.select_related("sender", "screening")
        .filter(room_id=room_id, sender=sender, client_msg_id=client_msg_id)
        .first()
    )
