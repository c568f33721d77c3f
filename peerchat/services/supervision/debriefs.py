"""Debriefs after an escalation: booked into the earliest fitting slot, deadlines watched.

When an escalation makes a supporter due a debrief (moderation.escalations), two jobs are
enqueued in that same transaction: one books the earliest fitting time before the deadline
and tells the supervisor and the supporter; one, at the deadline, flags a debrief that has
not been held to the supervisors. Supervisors only: the seeker never sees any of it.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from peerchat import jobs
from peerchat.errors import Conflict
from peerchat.models import Booking, Debrief
from peerchat.selectors.supervision import fitting_slots, live_bookings, supervisors_for, when
from peerchat.services.supervision.bookings import booking_create
from peerchat.services.supervision.notices import notice_send

OFFER_JOB = "supervision.debrief_offer"
DEADLINE_JOB = "supervision.debrief_deadline"


def debrief_jobs_enqueue(debrief: Debrief) -> None:
    """Call in the transaction that made `debrief`: book it a time, and watch its deadline."""
    jobs.enqueue(kind=OFFER_JOB, key=f"{OFFER_JOB}:{debrief.pk}", payload={"debrief": debrief.pk})
    jobs.enqueue(
        kind=DEADLINE_JOB,
        key=f"{DEADLINE_JOB}:{debrief.pk}",
        payload={"debrief": debrief.pk},
        run_at=debrief.due_by,
    )


def debrief_book_earliest(*, debrief_id: int, now: datetime | None = None) -> Booking | None:
    """Book a due debrief into the earliest fitting time before its deadline, if it has none.

    Fitting: open, for debriefs (or either), a free place, not run by the supporter, and clear
    of the supporter's shifts and other bookings. With nothing before the deadline the
    supervisors are told once, so they can offer a time; the supporter is told we're on it.
    """
    now = now or timezone.now()
    debrief = Debrief.objects.select_related("supporter").filter(pk=debrief_id).first()
    if debrief is None or debrief.state != Debrief.State.DUE or not debrief.supporter.is_active:
        return None
    if live_bookings().filter(debrief=debrief).exists():
        return None
    for slot in fitting_slots(
        supporter=debrief.supporter,
        purpose=Booking.Purpose.DEBRIEF,
        now=now,
        before=debrief.due_by,
        limit=5,
    ):
        try:
            booking = booking_create(
                supporter=debrief.supporter,
                slot_id=slot.pk,
                purpose=Booking.Purpose.DEBRIEF,
                debrief_id=debrief.pk,
                automatic=True,
                now=now,
            )
        except Conflict as refused:
            if refused.code == "debrief_already_booked":
                return None  # another worker booked it a moment ago
            continue  # taken a moment ago by someone else: try the next time
        notice_send(
            recipient=debrief.supporter,
            kind="debrief_booked",
            text=(
                f"We've booked your debrief with {slot.supervisor.handle} on "
                f"{when(slot.starts_at)}. If that doesn't suit you, pick another time on your "
                "schedule."
            ),
            link="/staff/schedule/",
            now=now,
        )
        return booking
    _tell_no_time(debrief, now=now)
    return None


def debriefs_book_all(*, now: datetime | None = None) -> int:
    """Look again for a time for every due debrief that has none (new or freed times)."""
    now = now or timezone.now()
    booked = live_bookings().filter(debrief__isnull=False).values("debrief_id")
    waiting = Debrief.objects.filter(state=Debrief.State.DUE, due_by__gt=now).exclude(pk__in=booked)
    return sum(
        debrief_book_earliest(debrief_id=pk, now=now) is not None
        for pk in waiting.values_list("pk", flat=True)
    )


def debrief_deadline_check(*, debrief_id: int, now: datetime | None = None) -> bool:
    """At the deadline: flag a debrief not yet held to the supervisors (once). Returns flagged."""
    now = now or timezone.now()
    with transaction.atomic():
        debrief = (
            Debrief.objects.select_for_update(of=("self",))
            .select_related("supporter")
            .filter(pk=debrief_id)
            .first()
        )
        if debrief is None or debrief.state != Debrief.State.DUE or debrief.flagged_at:
            return False
        if debrief.due_by > now:
            return False
        debrief.flagged_at = now
        debrief.save(update_fields=["flagged_at"])
        booked = (
            live_bookings()
            .filter(debrief=debrief, slot__starts_at__gt=now)
            .select_related("slot")
            .first()
        )
        later = (
            f" It is booked for {when(booked.slot.starts_at)}."
            if booked
            else " It has no time yet."
        )
        for supervisor in supervisors_for(debrief.supporter):
            notice_send(
                recipient=supervisor,
                kind="debrief_missed",
                text=(
                    f"{debrief.supporter.handle}'s debrief after an escalation was due by "
                    f"{when(debrief.due_by)} and hasn't been held.{later}"
                ),
                link="/supervision/",
                now=now,
            )
    return True


def _tell_no_time(debrief: Debrief, *, now: datetime) -> None:
    """Once per debrief: the worker looks again whenever times are added or freed."""
    with transaction.atomic():
        if not Debrief.objects.filter(pk=debrief.pk, no_time_told_at__isnull=True).update(
            no_time_told_at=now
        ):
            return
        for supervisor in supervisors_for(debrief.supporter):
            notice_send(
                recipient=supervisor,
                kind="debrief_unbooked",
                text=(
                    f"{debrief.supporter.handle} is due a debrief after an escalation by "
                    f"{when(debrief.due_by)}, and no supervision time before then is free. "
                    "Please offer one."
                ),
                link="/supervision/",
                now=now,
            )
        notice_send(
            recipient=debrief.supporter,
            kind="debrief_unbooked",
            text=(
                f"You're due a debrief by {when(debrief.due_by)}. There's no free time yet; "
                "your supervisors have been asked to offer one, and we'll book it for you."
            ),
            link="/staff/schedule/",
            now=now,
            email=False,
        )


# The worker's handlers -------------------------------------------------------------------------


def offer_run(job) -> str:
    booking = debrief_book_earliest(debrief_id=job.payload["debrief"])
    return f"booked slot {booking.slot_id}" if booking else "no booking made"


def offer_all_run(job) -> str:
    return f"booked {debriefs_book_all()}"


def deadline_run(job) -> str:
    return "flagged" if debrief_deadline_check(debrief_id=job.payload["debrief"]) else "not due"
