"""Sending messages: numbered and stored in one transaction, broadcast after commit."""

import unicodedata
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from moderation import filter as content_filter
from moderation import screening as screenings
from moderation.escalations import escalation_raise
from moderation.models import Escalation, Screening
from peerchat import events
from peerchat.errors import BodyEmpty, BodyInvalid, BodyTooLong, Conflict, RoomNotFound
from peerchat.frames import message_frame
from peerchat.models import Membership, Message, Room, SupportSession, User
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


def message_send(*, room_id: int, sender: User, client_msg_id: uuid.UUID, body: str) -> SendResult:
    """Store a message from a room member, numbered with the room's next `seq`.

    Re-sending the same `client_msg_id` stores nothing and returns the message stored the
    first time (`created=False`), so clients can retry freely after any failure.
    """
    message_body_check(body)
    membership = membership_get(room_id=room_id, user=sender)
    _room_open_check(membership=membership, sender=sender)
    existing = _message_by_client_id(room_id=room_id, sender=sender, client_msg_id=client_msg_id)
    if existing is not None:
        return _result(existing, created=False)
    # Checked before anything is stored: a message becomes visible only as the filter allows.
    verdict = content_filter.check(body, room_kind=membership.room.kind)
    try:
        with transaction.atomic():
            seq = room_seq_take(room_id) if verdict.delivered else None
            # Checked again under the room's lock: a member removed (or a seeker who deleted
            # their data) a moment ago must not get a message in after all.
            if not Membership.objects.filter(
                room_id=room_id, user=sender, user__is_active=True
            ).exists():
                raise RoomNotFound("There is no room with that id that you are a member of.")
            if seq is not None and membership.room.kind == Room.Kind.ONE_TO_ONE:
                # A moderator's pause takes the room's lock too: a chat paused a moment ago
                # refuses this message rather than letting it in after all.
                _room_open_check(membership=membership, sender=sender)
            message = Message(
                room_id=room_id,
                seq=seq,
                sender=sender,
                sender_role=membership.role,
                client_msg_id=client_msg_id,
                body=verdict.masked_text if verdict.masked_text is not None else body,
                status=screenings.message_status_for(verdict),
                content_warning=screenings.content_warning_for(verdict),
            )
            message.full_clean(validate_unique=False, validate_constraints=False)
            message.save()
            screening = None
            if screenings.needs_record(verdict):
                screening = screenings.screening_record(
                    message=message, verdict=verdict, room=membership.room, typed=body
                )
            if verdict.escalate:
                escalation_raise(
                    room_id=room_id, kind=Escalation.Kind.FILTER, by=sender, message=message
                )
            if seq is not None:
                message_publish(message)
    except IntegrityError:
        # The same client_msg_id was stored by a concurrent request an instant ago.
        existing = _message_by_client_id(
            room_id=room_id, sender=sender, client_msg_id=client_msg_id
        )
        if existing is None:
            raise
        return _result(existing, created=False)
    return SendResult(message=message, created=True, screening=screening)


def room_seq_take(room_id: int) -> int:
    """Take the room's next `seq` (call inside a transaction).

    The UPDATE takes the room's row lock (PostgreSQL) or the write lock (SQLite) until commit,
    so concurrent senders are numbered one after another, and a rollback takes the number back
    with it: seq stays gapless.
    """
    Room.objects.filter(pk=room_id).update(
        last_seq=F("last_seq") + 1, last_message_at=timezone.now()
    )
    return Room.objects.values_list("last_seq", flat=True).get(pk=room_id)


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


def _room_open_check(*, membership, sender: User) -> None:
    """Refuse messages to a support chat that has ended or that a moderator paused (moderators
    in the room may still write), or to a group that is not open."""
    room = membership.room
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
        if paused_at is not None and membership.role != Membership.Role.MODERATOR:
            raise Conflict(SESSION_PAUSED_DETAIL, code="session_paused")
    elif room.kind == Room.Kind.GROUP:
        group_send_check(room_id=room.pk, user=sender)


def _message_by_client_id(*, room_id: int, sender: User, client_msg_id: uuid.UUID):
    return (
        Message.objects.select_related("sender", "screening")
        .filter(room_id=room_id, sender=sender, client_msg_id=client_msg_id)
        .first()
    )
