"""The short, private wellbeing check-in after each shift.

Only the supporter and their own supervisor can read what was written. "I'd like to talk to
someone" offers the next free time and tells their supervisor (or, with none assigned, every
supervisor) that they would like to talk, without passing on the note.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from peerchat.errors import BodyInvalid, Conflict, NotFound
from peerchat.models import Booking, Shift, ShiftCheckIn, SupervisionSlot, User
from peerchat.selectors.supervision import fitting_slots, supervisors_for
from peerchat.services.supervision.notices import notice_send

NOTE_MAX_CHARS = 2000


def checkin_submit(
    *,
    supporter: User,
    shift_id: int,
    feeling: str,
    note: str = "",
    wants_to_talk: bool = False,
    now: datetime | None = None,
) -> tuple[ShiftCheckIn, SupervisionSlot | None]:
    """Record how the supporter is after a shift; return it and the time offered to talk, if any.

    `feeling` "skipped" records "not now", so the page stops asking about that shift.
    """
    now = now or timezone.now()
    shift = Shift.objects.filter(pk=shift_id, supporter=supporter).first()
    if shift is None:
        raise NotFound("There is no such shift.")
    if shift.started_at is None:
        raise Conflict("You didn't go on this shift.", code="shift_not_worked")
    if shift.ended_at is None:
        raise Conflict("This shift is still going; check in when it ends.", code="shift_not_over")
    if feeling not in ShiftCheckIn.Feeling.values:
        raise BodyInvalid("Pick how you are, or 'Not now'.")
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise BodyInvalid(f"Notes can be up to {NOTE_MAX_CHARS} characters.", code="body_too_long")
    skipped = feeling == ShiftCheckIn.Feeling.SKIPPED
    checkin = ShiftCheckIn(
        shift=shift,
        supporter=supporter,
        feeling=feeling,
        note="" if skipped else note,
        wants_to_talk=bool(wants_to_talk) and not skipped,
        created_at=now,
    )
    try:
        with transaction.atomic():
            checkin.save()
            if checkin.wants_to_talk:
                for supervisor in supervisors_for(supporter):
                    notice_send(
                        recipient=supervisor,
                        kind="wants_to_talk",
                        text=f"{supporter.handle} would like to talk to someone after their shift.",
                        link="/supervision/",
                        now=now,
                    )
    except IntegrityError:
        raise Conflict(
            "You've already checked in after this shift.", code="already_checked_in"
        ) from None
    offered = None
    if checkin.wants_to_talk:
        found = fitting_slots(supporter=supporter, purpose=Booking.Purpose.TALK, now=now, limit=1)
        offered = found[0] if found else None
    return checkin, offered
