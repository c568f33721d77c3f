"""A seeker's safety plan: theirs alone, shown to their supporter only while they choose.

A share belongs to one support session. It ends when the seeker withdraws it, and it stops
being readable the moment the session ends (the selector requires an active session), so
nothing has to remember to end it.
"""

import unicodedata
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from peerchat import events
from peerchat.errors import Conflict, Forbidden, NotFound, PeerchatError
from peerchat.models import SafetyPlan, SafetyPlanShare, SupportSession, User
from peerchat.models.safety import PLAN_FIELD_MAX_CHARS
from peerchat.selectors.safety_plans import safety_plan_shared_rooms

ALLOWED_CONTROL_CHARACTERS = {"\n", "\r", "\t"}

FIELD_LABELS = {
    "warning_signs": "Warning signs",
    "things_that_help": "Things that help",
    "people_and_places": "People and places",
    "professional_contacts": "Professional contacts",
}


def safety_plan_frame(*, room_id: int, shared: bool) -> dict:
    """The `safety_plan` state frame: whether the seeker's plan is shared in this chat now."""
    return {"type": "safety_plan", "room": int(room_id), "shared": shared}


def safety_plan_check(**fields) -> None:
    """Refuse unknown fields, text that is not a string, too long, or has control characters."""
    for name, value in fields.items():
        if name not in SafetyPlan.FIELDS:
            raise PeerchatError(f"'{name}' is not part of a safety plan.", code="invalid_field")
        label = FIELD_LABELS[name]
        if not isinstance(value, str):
            raise PeerchatError(f"{label} must be text.", code="invalid_field")
        if len(value) > PLAN_FIELD_MAX_CHARS:
            raise PeerchatError(
                f"{label} can be up to {PLAN_FIELD_MAX_CHARS} characters; this has {len(value)}.",
                code="too_long",
            )
        if any(
            unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROL_CHARACTERS
            for ch in value
        ):
            raise PeerchatError(f"{label} contains control characters.", code="invalid_field")


def safety_plan_save(*, seeker: User, **fields: str) -> SafetyPlan:
    """Create or update the seeker's plan; fields not given keep their text.

    Text is stored exactly as typed (it is escaped wherever it is shown). If the plan is
    shared in an active chat, the supporter's page is told to fetch it again.
    """
    _seeker_only(seeker)
    safety_plan_check(**fields)
    with transaction.atomic():
        plan, _ = SafetyPlan.objects.select_for_update().get_or_create(seeker=seeker)
        for name, value in fields.items():
            setattr(plan, name, value)
        plan.full_clean(validate_unique=False)
        plan.save()
        for room_id in safety_plan_shared_rooms(seeker=seeker):
            events.room_state_on_commit(room_id, safety_plan_frame(room_id=room_id, shared=True))
    return plan


def safety_plan_share(*, seeker: User, room_id: int) -> SafetyPlanShare:
    """Show the seeker's plan to the supporter of their active chat in `room_id`.

    Sharing again while shared changes nothing and returns the same share.
    """
    _seeker_only(seeker)
    with transaction.atomic():
        session = _own_session(seeker=seeker, room_id=room_id, active_only=True)
        plan = SafetyPlan.objects.filter(seeker=seeker).first()
        if plan is None or not any(getattr(plan, name).strip() for name in SafetyPlan.FIELDS):
            raise Conflict(
                "Your safety plan is empty. Write it first, then you can share it.",
                code="safety_plan_empty",
            )
        if session.supporter_id is None:
            raise Conflict("There is no supporter in this chat right now.", code="no_supporter")
        share = _live_share(plan=plan, session=session)
        if share is not None:
            return share
        try:
            with transaction.atomic():
                share = SafetyPlanShare.objects.create(plan=plan, session=session)
        except IntegrityError:
            # Shared by another request (a second tab) an instant ago: that share stands.
            share = _live_share(plan=plan, session=session)
            if share is None:
                raise
            return share
        events.room_state_on_commit(room_id, safety_plan_frame(room_id=room_id, shared=True))
    return share


def safety_plan_withdraw(*, seeker: User, room_id: int, now: datetime | None = None) -> bool:
    """Stop showing the plan in the chat in `room_id`; return whether it was shared.

    Withdrawing twice is harmless. It also works after the chat ended, so the record says so.
    """
    _seeker_only(seeker)
    now = now or timezone.now()
    with transaction.atomic():
        session = _own_session(seeker=seeker, room_id=room_id, active_only=False)
        withdrawn = SafetyPlanShare.objects.filter(
            plan__seeker=seeker, session=session, withdrawn_at__isnull=True
        ).update(withdrawn_at=now)
        if withdrawn and session.state == SupportSession.State.ACTIVE:
            events.room_state_on_commit(room_id, safety_plan_frame(room_id=room_id, shared=False))
    return bool(withdrawn)


def _seeker_only(user: User) -> None:
    if not user.is_seeker:
        raise Forbidden("Safety plans are for people looking for support.")


def _own_session(*, seeker: User, room_id: int, active_only: bool) -> SupportSession:
    """The seeker's own session in the room, locked for this transaction, or NotFound."""
    sessions = SupportSession.objects.select_for_update().filter(room_id=room_id, seeker=seeker)
    if active_only:
        sessions = sessions.filter(state=SupportSession.State.ACTIVE)
    session = sessions.first()
    if session is None:
        raise NotFound(
            "You are not in an active chat there."
            if active_only
            else "There is no chat of yours with that id."
        )
    return session


def _live_share(*, plan: SafetyPlan, session: SupportSession) -> SafetyPlanShare | None:
    return SafetyPlanShare.objects.filter(
        plan=plan, session=session, withdrawn_at__isnull=True
    ).first()
