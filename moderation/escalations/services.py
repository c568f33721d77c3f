"""The escalation state machine and what each step sets off.

`open → acknowledged → resolved`, each step with who and when. Every step is an
`EscalationEvent`, numbered per escalation, and each event, in the same transaction:
- goes to the configured hooks through the durable outbox (`moderation.hooks`), in order;
- reaches moderators' pages live after commit (`staff.escalations`), and the room's supporters.
Opening one also schedules the durable timers that widen it while nobody acknowledges it,
marks the supporter due a debrief and pauses their new matches, and shows the seeker crisis
resources.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Greatest
from django.utils import timezone

from moderation.escalations.selectors import (
    ESCALATIONS_GROUP,
    escalation_get,
    escalation_item,
    escalation_status,
    timer_due_at,
)
from moderation.hooks import hooks_enqueue
from moderation.models import AuditEntry, Escalation, EscalationEvent, EscalationTrigger
from peerchat import events, jobs
from peerchat.errors import Conflict, Forbidden, NotFound, PeerchatError
from peerchat.frames import utc
from peerchat.models import (
    Debrief,
    Membership,
    Message,
    Room,
    SupporterProfile,
    SupportSession,
    User,
)
from peerchat.selectors import membership_get
from peerchat.services.sessions import session_mark_escalated
from peerchat.services.supervision.debriefs import debrief_jobs_enqueue

STAFF_ROLES = ("moderator", "admin")
NOTE_MAX_CHARS = 2000
TIMER_JOB = "escalation_timer"

# What the person who asked for urgent help reads, with the crisis resources (DESIGN §2: no
# blame, no alarm, and the chat goes on).
NOTES = {
    "seeker_asked": (
        "Thank you for telling us. Someone from the team has been asked to help and will be "
        "with you as soon as they can. You can keep talking here. If you might be in danger "
        "right now, these are free and there any time."
    ),
    "seeker_told": (
        "Your supporter has asked someone else from the team to help too, so you have more "
        "support. You can keep talking here. If things feel like too much right now, these "
        "are free and there any time."
    ),
    "staff_asked": (
        "A moderator has been asked to help. Stay with the chat if you can; you'll see here "
        "when someone has taken it on."
    ),
}


@dataclass(frozen=True)
class RaiseResult:
    escalation: Escalation
    # False: an escalation of this room was already unresolved, and this trigger joined it.
    created: bool


def escalation_raise(
    *,
    room_id: int,
    kind: str,
    by: User | None,
    message: Message | None = None,
    note: str = "",
    now: datetime | None = None,
) -> RaiseResult:
    """Open an escalation for the room, or attach this trigger to the one still unresolved.

    Safe inside a caller's transaction (message_send calls it with the room locked). A room
    has at most one unresolved escalation: one conversation never sets off an alert storm.
    """
    if kind not in Escalation.Kind.values:
        raise PeerchatError("Unknown kind of escalation.", code="invalid_field")
    note = _note_clean(note, required=False)
    now = now or timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                # The room's row lock orders every raise in the room (and message_send holds
                # it already when wording raised this).
                room = Room.objects.select_for_update().get(pk=room_id)
                existing = (
                    Escalation.objects.select_for_update(of=("self",))
                    .filter(room=room)
                    .exclude(state=Escalation.State.RESOLVED)
                    .first()
                )
                if existing is not None:
                    _attach(existing, kind=kind, by=by, message=message, note=note, now=now)
                    return RaiseResult(existing, created=False)
                return RaiseResult(
                    _open(room, kind=kind, by=by, message=message, note=note, now=now),
                    created=True,
                )
        except IntegrityError:
            continue  # opened by a concurrent raise an instant ago (SQLite): attach to it
    raise Conflict("Try again in a moment.", code="try_again")


def escalation_raise_by(*, room_id: int, user: User, note: str = "") -> RaiseResult:
    """ "I need urgent help" from a member of the room, or a moderator raising one."""
    if user.role in STAFF_ROLES:
        if not Room.objects.filter(pk=room_id).exists():
            raise NotFound("There is no such room.", code="room_not_found")
        kind = Escalation.Kind.MODERATOR
    else:
        membership = membership_get(room_id=room_id, user=user)
        kind = (
            Escalation.Kind.SEEKER
            if membership.role == Membership.Role.SEEKER
            else Escalation.Kind.SUPPORTER
        )
    return escalation_raise(room_id=room_id, kind=kind, by=user, note=note)


def raiser_note(*, user: User) -> dict:
    """What the socket answers the person who raised it: a kind note, and for seekers, help."""
    if user.is_seeker:
        return {"note": NOTES["seeker_asked"], "resources": settings.CRISIS_RESOURCES}
    return {"note": NOTES["staff_asked"]}


def escalation_acknowledge(*, escalation_id: int, moderator: User, now=None) -> Escalation:
    """Claim an open escalation for `moderator`. Of two at once, one wins; the other is told."""
    _staff_only(moderator)
    now = now or timezone.now()
    with transaction.atomic():
        escalation = _locked(escalation_id)
        if escalation.state != Escalation.State.OPEN:
            raise _already(escalation, moderator)
        escalation.state = Escalation.State.ACKNOWLEDGED
        escalation.acknowledged_by = moderator
        escalation.acknowledged_at = now
        escalation.save(update_fields=["state", "acknowledged_by", "acknowledged_at"])
        _event(escalation, EscalationEvent.Type.ACKNOWLEDGED, actor=moderator, now=now)
        _audit(escalation, actor=moderator, action="escalation_acknowledged")
    return escalation


def escalation_resolve(
    *, escalation_id: int, moderator: User, outcome: str, note: str, now=None
) -> Escalation:
    """Close an acknowledged escalation with its outcome and a note (both required)."""
    _staff_only(moderator)
    if outcome not in Escalation.Outcome.values:
        raise PeerchatError(
            "Choose what happened: "
            + "; ".join(label for _code, label in Escalation.Outcome.choices)
            + ".",
            code="invalid_outcome",
        )
    note = _note_clean(note, required=True)
    now = now or timezone.now()
    with transaction.atomic():
        escalation = _locked(escalation_id)
        if escalation.state == Escalation.State.OPEN:
            raise Conflict(
                "Acknowledge it first, so the team can see who is handling it.",
                code="not_acknowledged",
            )
        if escalation.state == Escalation.State.RESOLVED:
            raise _already(escalation, moderator)
        escalation.state = Escalation.State.RESOLVED
        escalation.resolved_by = moderator
        escalation.resolved_at = now
        escalation.outcome = outcome
        escalation.resolution_note = note
        escalation.save(
            update_fields=["state", "resolved_by", "resolved_at", "outcome", "resolution_note"]
        )
        _event(
            escalation,
            EscalationEvent.Type.RESOLVED,
            actor=moderator,
            now=now,
            detail={"outcome": outcome},
        )
        _audit(escalation, actor=moderator, action="escalation_resolved", outcome=outcome)
    return escalation


def escalation_timer_fire(job) -> str:
    """The durable timer (a worker job): widen the escalation if still nobody has taken it.

    Stage 1 tells every moderator (the page rings again; the email hook writes to each);
    stage 2 the on-call contact. Running twice, or after an acknowledgement, does nothing.
    """
    escalation_id, stage = int(job.payload["escalation"]), int(job.payload["stage"])
    now = timezone.now()
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().filter(pk=escalation_id).first()
        if escalation is None or escalation.state != Escalation.State.OPEN:
            return "no longer open"
        if escalation.stage >= stage:
            return "already announced"
        escalation.stage = stage
        escalation.save(update_fields=["stage"])
        event_type = (
            EscalationEvent.Type.RENOTIFIED
            if stage == Escalation.Stage.ALL_MODERATORS
            else EscalationEvent.Type.ON_CALL
        )
        _event(escalation, event_type, actor=None, now=now, detail={"stage": stage})
        if stage < Escalation.Stage.ON_CALL:
            _schedule(escalation, stage + 1)
    return f"stage {stage}"


# Steps ----------------------------------------------------------------------------------------


def _open(room: Room, *, kind, by, message, note, now) -> Escalation:
    session = SupportSession.objects.filter(room=room).select_related("seeker").first()
    escalation = Escalation.objects.create(
        room=room,
        session=session,
        kind=kind,
        raised_by=by,
        opened_at=now,
        last_trigger_at=now,
    )
    EscalationTrigger.objects.create(
        escalation=escalation, kind=kind, by=by, message=message, note=note, created_at=now
    )
    _event(escalation, EscalationEvent.Type.OPENED, actor=by, now=now, detail={"kind": kind})
    if by is not None and by.role in STAFF_ROLES:
        _audit(escalation, actor=by, action="escalation_raised")
    _schedule(escalation, Escalation.Stage.ALL_MODERATORS)
    _supporters_after(escalation, room=room, session=session, by=by, now=now)
    if session is not None and session.seeker_id and (by is None or by.pk != session.seeker_id):
        events.user_frame_on_commit(
            session.seeker_id,
            {
                "type": "resources",
                "room": room.pk,
                "note": NOTES["seeker_told"],
                "resources": settings.CRISIS_RESOURCES,
            },
        )
    return escalation


def _attach(escalation: Escalation, *, kind, by, message, note, now) -> None:
    EscalationTrigger.objects.create(
        escalation=escalation, kind=kind, by=by, message=message, note=note, created_at=now
    )
    escalation.trigger_count += 1
    escalation.last_trigger_at = now
    escalation.save(update_fields=["trigger_count", "last_trigger_at"])
    _event(escalation, EscalationEvent.Type.TRIGGER_ADDED, actor=by, now=now, detail={"kind": kind})


def _supporters_after(escalation: Escalation, *, room: Room, session, by, now) -> None:
    """Everyone supporting in the room is due a debrief, and gets no new chats for a while.

    Their current chats go on; the pause starts again when an escalated chat ends.
    """
    supporter_ids = set(
        Membership.objects.filter(room=room, role=Membership.Role.SUPPORTER).values_list(
            "user_id", flat=True
        )
    )
    if session is not None:
        session_mark_escalated(session=session, now=now)
        if session.supporter_id:
            supporter_ids.add(session.supporter_id)
    if by is not None and by.role == User.Role.SUPPORTER:
        supporter_ids.add(by.pk)
    due_by = now + timedelta(hours=settings.ESCALATIONS["DEBRIEF_DUE_HOURS"])
    pause_until = now + timedelta(minutes=settings.SUPPORT["ESCALATION_PAUSE_MINUTES"])
    for supporter_id in sorted(supporter_ids):
        debrief, created = Debrief.objects.get_or_create(
            supporter_id=supporter_id, escalation=escalation, defaults={"due_by": due_by}
        )
        if created:
            # The worker books the earliest fitting time and watches the deadline.
            debrief_jobs_enqueue(debrief)
    SupporterProfile.objects.filter(user_id__in=supporter_ids, paused_until__isnull=True).update(
        paused_until=pause_until
    )
    SupporterProfile.objects.filter(user_id__in=supporter_ids, paused_until__isnull=False).update(
        paused_until=Greatest("paused_until", pause_until)
    )


def _event(escalation: Escalation, event_type: str, *, actor, now, detail=None) -> EscalationEvent:
    """Record the step, hand it to the hooks, and show it live once the transaction commits."""
    escalation.last_sequence += 1
    escalation.save(update_fields=["last_sequence"])
    event = EscalationEvent.objects.create(
        escalation=escalation,
        sequence=escalation.last_sequence,
        type=event_type,
        actor=actor,
        detail=detail or {},
        created_at=now,
    )
    hooks_enqueue(
        event_id=str(event.event_id),
        event_type=f"escalation.{event_type}",
        payload=hook_payload(escalation, event),
        ordering_key=f"escalation:{escalation.pk}",
    )
    item = escalation_item(escalation_get(escalation_id=escalation.pk))
    by = actor.handle if actor is not None and actor.role in STAFF_ROLES else None
    events.publish_on_commit(
        ESCALATIONS_GROUP,
        {
            "kind": "watch",
            "topic": "escalations",
            "text": events.encode(
                {"type": "escalation", "event": event_type, "by": by, "item": item}
            ),
        },
    )
    status = {
        "type": "escalation_status",
        "room": escalation.room_id,
        "escalation": escalation_status(escalation),
    }
    for user_id in Membership.objects.filter(
        room_id=escalation.room_id, role=Membership.Role.SUPPORTER
    ).values_list("user_id", flat=True):
        events.user_frame_on_commit(user_id, status)
    return event


def hook_payload(escalation: Escalation, event: EscalationEvent) -> dict:
    """What the hooks receive: ids, states and times; never message text or seekers' names."""
    return {
        "event_id": str(event.event_id),
        "type": f"escalation.{event.type}",
        "sequence": event.sequence,
        "created_at": utc(event.created_at),
        "escalation": {
            "id": escalation.pk,
            "room": escalation.room_id,
            "room_kind": escalation.room.kind,
            "kind": escalation.kind,
            "state": escalation.state,
            "stage": escalation.stage,
            "opened_at": utc(escalation.opened_at),
            "acknowledged_at": utc(escalation.acknowledged_at)
            if escalation.acknowledged_at
            else None,
            "acknowledged_by": escalation.acknowledged_by.handle
            if escalation.acknowledged_by_id
            else None,
            "resolved_at": utc(escalation.resolved_at) if escalation.resolved_at else None,
            "outcome": escalation.outcome or None,
            "triggers": escalation.trigger_count,
        },
        "console_url": f"{settings.SITE_URL}/moderation/#escalation-{escalation.pk}",
    }


def _schedule(escalation: Escalation, stage: int) -> None:
    jobs.enqueue(
        kind=TIMER_JOB,
        key=f"escalation:{escalation.pk}:stage:{stage}",
        payload={"escalation": escalation.pk, "stage": int(stage)},
        run_at=timer_due_at(escalation, stage),
    )


# Helpers --------------------------------------------------------------------------------------


def _locked(escalation_id: int) -> Escalation:
    # No select_related: on PostgreSQL a row locked after waiting is re-read, but joined rows
    # are not, so who won a race is loaded afterwards from the fresh foreign key.
    escalation = Escalation.objects.select_for_update().filter(pk=escalation_id).first()
    if escalation is None:
        raise NotFound("There is no such escalation.", code="escalation_not_found")
    return escalation


def _already(escalation: Escalation, moderator: User) -> Conflict:
    if escalation.state == Escalation.State.RESOLVED:
        who = escalation.resolved_by
        when = escalation.resolved_at
        what, code = "resolved", "already_resolved"
    else:
        who = escalation.acknowledged_by
        when = escalation.acknowledged_at
        what, code = "taken this on", "already_acknowledged"
    if who is not None and who.pk == moderator.pk:
        name, verb = "You", "have"
    else:
        name, verb = (who.handle if who is not None else "Someone"), "has"
    at = f" at {timezone.localtime(when):%H:%M}" if when else ""
    return Conflict(f"{name} {verb} already {what}{at}.", code=code)


def _staff_only(user: User) -> None:
    if user.role not in STAFF_ROLES:
        raise Forbidden("Only moderators can do this.")


def _note_clean(note: str | None, *, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise PeerchatError("Write a short note on what happened.", code="note_required")
    if len(note) > NOTE_MAX_CHARS:
        raise PeerchatError(
            f"Keep the note under {NOTE_MAX_CHARS} characters.", code="note_too_long"
        )
    return note


def _audit(escalation: Escalation, *, actor: User, action: str, **detail) -> None:
    AuditEntry.objects.create(
        actor=actor,
        action=action,
        room_id=escalation.room_id,
        detail={"escalation": escalation.pk, **detail},
    )
