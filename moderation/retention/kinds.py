"""Which text the retention purge blanks, and how each kind is found.

Two clocks (settings.RETENTION): `MESSAGE_BODY_DAYS` for the conversation itself (message
bodies, staff copies of message text, whispers), `NOTES_DAYS` for what people wrote about a
chat or a person afterwards (handover, review, escalation and check-in notes, reasons given for
removing a message, seekers' feedback comments). Every row stays; only its text is emptied, so
the evaluators' figures, counted from the rows, do not change.

Deliberately not purged here (docs/operations.md, "Data retention", says why): seekers' safety
plans (theirs to keep or delete), audit entries (append-only), filter cases reported for the
corpus (no link to a room or person), reasons for gate exceptions and safeguarding holds,
supervision slots' texts and staff notices (schedules, not people).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Model, Q, QuerySet

from moderation.models import (
    Escalation,
    EscalationTrigger,
    MessageRemoval,
    ReviewNote,
    Screening,
    Whisper,
)
from peerchat.models import Feedback, HandoverNote, Message, ShiftCheckIn

MESSAGES = "MESSAGE_BODY_DAYS"
NOTES = "NOTES_DAYS"


@dataclass(frozen=True)
class Kind:
    """One text field the purge empties."""

    key: str
    label: str
    clock: str  # MESSAGES or NOTES: which setting decides its age
    model: type[Model]
    text: str  # the field emptied
    written: str  # the field (or path) that says when the text was written
    room: str | None  # the path to its room, for holds; None: not tied to a room
    # What else is set when the text goes (messages: marked removed, by retention).
    also_set: Callable[[datetime], dict] = field(default=lambda now: {})
    # A condition that lets the database use a narrower index.
    where: Q = field(default_factory=Q)

    def candidates(self, cutoff: datetime) -> QuerySet:
        """Rows written before `cutoff` whose text is still there (holds not applied)."""
        return (
            self.model.objects.filter(self.where, **{f"{self.written}__lt": cutoff})
            .exclude(**{self.text: ""})
            .order_by(self.written, "pk")
        )

    def in_rooms(self, rooms: QuerySet) -> Q:
        return Q(**{f"{self.room}__in": rooms})


def _message_removed(now: datetime) -> dict:
    return {"removed_at": now, "removed_by": Message.RemovedBy.RETENTION}


MESSAGE_BODIES = Kind(
    "message_bodies",
    "Message bodies (held and undelivered ones too)",
    MESSAGES,
    Message,
    "body",
    "sent_at",
    "room_id",
    _message_removed,
    # Removed messages are empty already; the partial index covers the rest.
    Q(removed_at__isnull=True),
)

KINDS: tuple[Kind, ...] = (
    MESSAGE_BODIES,
    Kind(
        "screening_originals",
        "Staff copies of masked messages as typed",
        MESSAGES,
        Screening,
        "original_body",
        "message__sent_at",
        "room_id",
    ),
    Kind(
        "removal_originals",
        "Staff copies of messages a moderator removed",
        MESSAGES,
        MessageRemoval,
        "original_body",
        "message__sent_at",
        "message__room_id",
    ),
    Kind("whispers", "Whispers", MESSAGES, Whisper, "body", "created_at", "room_id"),
    Kind(
        "handover_notes",
        "Handover notes",
        NOTES,
        HandoverNote,
        "body",
        "created_at",
        "session__room_id",
    ),
    Kind(
        "review_notes",
        "Moderators' review notes",
        NOTES,
        ReviewNote,
        "body",
        "created_at",
        "screening__room_id",
    ),
    Kind(
        "escalation_notes",
        "Escalation resolution notes",
        NOTES,
        Escalation,
        "resolution_note",
        "resolved_at",
        "room_id",
    ),
    Kind(
        "escalation_trigger_notes",
        "Notes given when raising an escalation",
        NOTES,
        EscalationTrigger,
        "note",
        "created_at",
        "escalation__room_id",
    ),
    Kind(
        "removal_reasons",
        "Reasons given for removing a message",
        NOTES,
        MessageRemoval,
        "reason",
        "created_at",
        "message__room_id",
    ),
    Kind(
        "feedback_comments",
        "Seekers' feedback comments",
        NOTES,
        Feedback,
        "comment",
        "created_at",
        "session__room_id",
    ),
    Kind(
        "checkin_notes",
        "After-shift check-in notes",
        NOTES,
        ShiftCheckIn,
        "note",
        "created_at",
        None,
    ),
)
BY_KEY = {kind.key: kind for kind in KINDS}
