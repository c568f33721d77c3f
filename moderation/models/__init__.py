"""Moderation records: the audit log, the content filter's, escalations and oversight."""

from moderation.models.audit import AppendOnly, AuditEntry
from moderation.models.escalations import Escalation, EscalationEvent, EscalationTrigger
from moderation.models.filter import (
    FilterCase,
    PolicyState,
    PolicyTerm,
    PolicyTermQuerySet,
    ReviewNote,
    Screening,
)
from moderation.models.oversight import MessageRemoval, RoomPresence, Whisper
from moderation.models.retention import RetentionRun, SafeguardingHold

__all__ = [
    "AppendOnly",
    "AuditEntry",
    "Escalation",
    "EscalationEvent",
    "EscalationTrigger",
    "FilterCase",
    "MessageRemoval",
    "PolicyState",
    "PolicyTerm",
    "PolicyTermQuerySet",
    "RetentionRun",
    "ReviewNote",
    "RoomPresence",
    "SafeguardingHold",
    "Screening",
    "Whisper",
]
