"""What staff see of escalations: the live feed's items and the room's recent context."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q
from django.utils import timezone

from moderation.models import AuditEntry, Escalation, EscalationTrigger, SafeguardingHold
from moderation.retention.selectors import hold_dict
from peerchat.errors import NotFound
from peerchat.frames import message_frame, utc
from peerchat.models import Message, Room, User

# Every socket of a moderator or admin watching the `escalations` topic.
ESCALATIONS_GROUP = "staff.escalations"
EXCERPT_CHARS = 300


def _handle(user: User | None) -> str | None:
    return user.handle if user is not None else None


def timer_due_at(escalation: Escalation, stage: int) -> datetime:
    """When the escalation is announced to `stage` if nobody acknowledged it by then."""
    config = settings.ESCALATIONS
    after = (
        config["RENOTIFY_AFTER_SECONDS"]
        if stage == Escalation.Stage.ALL_MODERATORS
        else config["ON_CALL_AFTER_SECONDS"]
    )
    return escalation.opened_at + timedelta(seconds=after)


def _room_name(room: Room) -> str:
    session = getattr(room, "support_session", None) if room.kind == Room.Kind.ONE_TO_ONE else None
    if session is not None:
        seeker = session.seeker.handle if session.seeker_id else "someone"
        supporter = session.supporter.handle if session.supporter_id else "no supporter"
        return f"Chat: {seeker} with {supporter}"
    return str(room)


def _trigger_dict(trigger: EscalationTrigger) -> dict:
    message = trigger.message
    entry = {
        "kind": trigger.kind,
        "by": {"handle": _handle(trigger.by), "role": trigger.by.role if trigger.by else None},
        "at": utc(trigger.created_at),
        "note": trigger.note,
        "message": None,
    }
    if message is not None:
        body = "" if message.removed_at else message.body
        entry["message"] = {"seq": message.seq, "excerpt": body[:EXCERPT_CHARS]}
    return entry


def _active_hold(room: Room) -> SafeguardingHold | None:
    holds = getattr(room, "active_holds", None)  # prefetched by the feed's queryset
    if holds is None:
        holds = list(
            room.safeguarding_holds.filter(released_at__isnull=True).select_related("placed_by")
        )
    return holds[0] if holds else None


def escalation_item(escalation: Escalation) -> dict:
    """One escalation as the moderators' page shows it (no transcript: that read is audited)."""
    room = escalation.room
    session = escalation.session
    triggers = list(
        escalation.triggers.select_related("by", "message").order_by("created_at", "pk")
    )
    state_open = escalation.state == Escalation.State.OPEN
    next_stage = escalation.stage + 1 if escalation.stage < Escalation.Stage.ON_CALL else None
    return {
        "id": escalation.pk,
        "room": room.pk,
        "room_kind": room.kind,
        "room_name": _room_name(room),
        "kind": escalation.kind,
        "kind_label": escalation.get_kind_display(),
        "state": escalation.state,
        "stage": escalation.stage,
        "stage_label": escalation.get_stage_display(),
        "raised_by": {
            "handle": _handle(escalation.raised_by),
            "role": escalation.raised_by.role if escalation.raised_by else None,
        },
        "opened_at": utc(escalation.opened_at),
        # When it will be announced more widely if nobody takes it on (null: it won't be).
        "next_notice_at": utc(timer_due_at(escalation, next_stage))
        if state_open and next_stage is not None
        else None,
        "acknowledged_by": _handle(escalation.acknowledged_by),
        "acknowledged_at": utc(escalation.acknowledged_at) if escalation.acknowledged_at else None,
        "resolved_by": _handle(escalation.resolved_by),
        "resolved_at": utc(escalation.resolved_at) if escalation.resolved_at else None,
        "outcome": escalation.outcome or None,
        "outcome_label": escalation.get_outcome_display() if escalation.outcome else None,
        "resolution_note": escalation.resolution_note,
        "trigger_count": escalation.trigger_count,
        "last_trigger_at": utc(escalation.last_trigger_at),
        "triggers": [_trigger_dict(t) for t in triggers[-5:]],
        "session": {
            "state": session.state,
            "seeker": _handle(session.seeker),
            "supporter": _handle(session.supporter),
            "paused": session.paused_at is not None,
        }
        if session is not None
        else None,
        # The room's safeguarding hold, if one keeps its record past retention.
        "hold": hold_dict(_active_hold(room)),
    }


def escalation_status(escalation: Escalation) -> dict:
    """What the room's supporters see: whether someone has taken the escalation on."""
    return {
        "id": escalation.pk,
        "state": escalation.state,
        "acknowledged_by": _handle(escalation.acknowledged_by),
        "opened_at": utc(escalation.opened_at),
    }


def escalation_status_for_room(*, room_id: int) -> dict | None:
    """The room's unresolved escalation as its supporters see it, if there is one."""
    escalation = (
        Escalation.objects.select_related("acknowledged_by")
        .filter(room_id=room_id)
        .exclude(state=Escalation.State.RESOLVED)
        .first()
    )
    return escalation_status(escalation) if escalation is not None else None


def _feed_queryset():
    return Escalation.objects.select_related(
        "room",
        "room__support_session__seeker",
        "room__support_session__supporter",
        "session__seeker",
        "session__supporter",
        "raised_by",
        "acknowledged_by",
        "resolved_by",
    ).prefetch_related(
        Prefetch(
            "room__safeguarding_holds",
            queryset=SafeguardingHold.objects.filter(released_at__isnull=True).select_related(
                "placed_by"
            ),
            to_attr="active_holds",
        )
    )


def escalation_get(*, escalation_id: int) -> Escalation:
    escalation = _feed_queryset().filter(pk=escalation_id).first()
    if escalation is None:
        raise NotFound("There is no such escalation.", code="escalation_not_found")
    return escalation


def escalations_frame(*, now: datetime | None = None) -> dict:
    """The `escalations` snapshot: every unresolved escalation, then recently resolved ones."""
    now = now or timezone.now()
    recent = now - timedelta(hours=settings.ESCALATIONS["RECENT_HOURS"])
    escalations = _feed_queryset().filter(
        ~Q(state=Escalation.State.RESOLVED) | Q(resolved_at__gte=recent)
    )[:100]
    return {
        "type": "escalations",
        "items": [escalation_item(e) for e in escalations],
        "outcomes": [{"code": code, "label": label} for code, label in Escalation.Outcome.choices],
    }


def escalation_context(*, escalation_id: int, viewer: User) -> dict:
    """The room's recent messages for a moderator, recorded as a transcript read."""
    escalation = escalation_get(escalation_id=escalation_id)
    limit = settings.ESCALATIONS["CONTEXT_MESSAGES"]
    messages = list(
        Message.objects.filter(room_id=escalation.room_id, seq__isnull=False)
        .select_related("sender")
        .order_by("-seq")[:limit]
    )
    messages.reverse()
    AuditEntry.objects.create(
        actor=viewer,
        action="transcript_read",
        room_id=escalation.room_id,
        detail={
            "why": "escalation_context",
            "escalation": escalation.pk,
            "seqs": [messages[0].seq, messages[-1].seq] if messages else [],
        },
    )
    return {
        "escalation": escalation.pk,
        "room": escalation.room_id,
        "last_seq": escalation.room.last_seq,
        "messages": [message_frame(m) for m in messages],
    }
