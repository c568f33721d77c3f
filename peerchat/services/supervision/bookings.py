"""Supporters book, move and cancel places in supervisors' slots; supervisors record who came.

Never double-booked on either side, under concurrent requests: each write locks the
supporter's and the supervisor's account rows (in id order), then the slot row, and only then
counts free places and looks for overlaps (`common.clash`). Two requests for the last place,
or for two overlapping times, therefore run one after the other and the second is refused.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from peerchat import jobs
from peerchat.errors import Conflict, Forbidden, NotFound
from peerchat.models import Booking, Debrief, SupervisionSlot, User
from peerchat.selectors.supervision import PURPOSE_FITS, clash, live_bookings, when
from peerchat.services.supervision.common import debriefs_look_again, lock_people
from peerchat.services.supervision.notices import notice_send

REMINDER_JOB = "supervision.reminder"


def booking_create(
    *,
    supporter: User,
    slot_id: int,
    purpose: str = Booking.Purpose.SUPERVISION,
    debrief_id: int | None = None,
    automatic: bool = False,
    now: datetime | None = None,
) -> Booking:
    """Book `supporter` a place in a slot; refused if full, over, or clashing with their time."""
    now = now or timezone.now()
    with transaction.atomic():
        slot = _slot_for_booking(slot_id)
        people = lock_people(supporter.pk, slot.supervisor_id)
        supporter = people.get(supporter.pk) or supporter
        slot = (
            SupervisionSlot.objects.select_for_update().select_related("supervisor").get(pk=slot.pk)
        )
        debrief = _debrief_for(supporter, purpose, debrief_id)
        booking = _book_locked(
            supporter=supporter,
            slot=slot,
            purpose=purpose,
            debrief=debrief,
            automatic=automatic,
            now=now,
        )
        _tell_supervisor_booked(booking, now=now)
    return booking


def booking_move(
    *, booking_id: int, supporter: User, to_slot_id: int, now: datetime | None = None
) -> Booking:
    """Move a supporter's booking to another slot: the new place is held before the old goes."""
    now = now or timezone.now()
    with transaction.atomic():
        booking = (
            Booking.objects.filter(pk=booking_id, supporter=supporter)
            .select_related("slot")
            .first()
        )
        if booking is None:
            raise NotFound("There is no such booking.")
        target = _slot_for_booking(to_slot_id)
        lock_people(supporter.pk, booking.slot.supervisor_id, target.supervisor_id)
        ids = sorted({booking.slot_id, target.pk})
        slots = {
            s.pk: s
            for s in SupervisionSlot.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        booking = Booking.objects.select_for_update().get(pk=booking.pk)
        if booking.state != Booking.State.BOOKED:
            raise Conflict("This booking is no longer live.", code="booking_not_live")
        if booking.slot_id == target.pk:
            return booking
        old_slot = slots[booking.slot_id]
        if old_slot.starts_at <= now:
            raise Conflict("This time has started; it can't be moved now.", code="slot_started")
        new_slot = SupervisionSlot.objects.select_related("supervisor").get(pk=target.pk)
        moved = _book_locked(
            supporter=supporter,
            slot=new_slot,
            purpose=booking.purpose,
            debrief=booking.debrief,
            automatic=False,
            now=now,
            moving=booking,
        )
        booking_cancel_locked(booking, reason=Booking.CancelReason.MOVED, now=now)
        debriefs_look_again()
        if old_slot.supervisor_id != new_slot.supervisor_id:
            notice_send(
                recipient=old_slot.supervisor,
                kind="booking_moved",
                text=f"{supporter.handle} moved their {booking.get_purpose_display().lower()} "
                f"from your time on {when(old_slot.starts_at)} to another supervisor's.",
                link="/supervision/",
                now=now,
            )
        notice_send(
            recipient=new_slot.supervisor,
            kind="booking_moved",
            text=f"{supporter.handle} moved their {moved.get_purpose_display().lower()} "
            f"to your time on {when(new_slot.starts_at)}"
            + (
                f" (was {when(old_slot.starts_at)})."
                if old_slot.supervisor_id == new_slot.supervisor_id
                else "."
            ),
            link="/supervision/",
            now=now,
        )
    return moved


def booking_cancel(*, booking_id: int, by: User, now: datetime | None = None) -> Booking:
    """Cancel a booking: the supporter their own, or the slot's supervisor (or a moderator)."""
    now = now or timezone.now()
    with transaction.atomic():
        booking = Booking.objects.filter(pk=booking_id).select_related("slot", "supporter").first()
        if booking is None:
            raise NotFound("There is no such booking.")
        by_supporter = booking.supporter_id == by.pk
        by_staff = booking.slot.supervisor_id == by.pk or by.role in (
            User.Role.MODERATOR,
            User.Role.ADMIN,
        )
        if not by_supporter and not by_staff:
            raise NotFound("There is no such booking.")
        lock_people(booking.supporter_id, booking.slot.supervisor_id)
        booking = (
            Booking.objects.select_for_update()
            .select_related("slot__supervisor", "supporter")
            .get(pk=booking.pk)
        )
        if booking.state != Booking.State.BOOKED:
            return booking
        if booking.slot.starts_at <= now:
            raise Conflict("This time has started; it can't be cancelled now.", code="slot_started")
        reason = Booking.CancelReason.SUPPORTER if by_supporter else Booking.CancelReason.SUPERVISOR
        booking_cancel_locked(booking, reason=reason, now=now)
        debriefs_look_again()
        what = booking.get_purpose_display().lower()
        if by_supporter:
            notice_send(
                recipient=booking.slot.supervisor,
                kind="booking_cancelled",
                text=f"{booking.supporter.handle} cancelled their {what} on "
                f"{when(booking.slot.starts_at)}.",
                link="/supervision/",
                now=now,
            )
        else:
            notice_send(
                recipient=booking.supporter,
                kind="booking_cancelled",
                text=f"{by.handle} cancelled your {what} on {when(booking.slot.starts_at)}. "
                "Please pick another time on your schedule.",
                link="/staff/schedule/",
                now=now,
            )
    return booking


def booking_record(
    *, booking_id: int, by: User, attended: bool, now: datetime | None = None
) -> Booking:
    """Record whether the supporter came. A debrief attended is done; supervision resets its clock.

    A record can be corrected (attended ↔ missed). A debrief marked missed is due again and
    the worker books the next fitting time.
    """
    now = now or timezone.now()
    with transaction.atomic():
        booking = Booking.objects.select_for_update().filter(pk=booking_id).first()
        if booking is None:
            raise NotFound("There is no such booking.")
        slot = SupervisionSlot.objects.select_related("supervisor").get(pk=booking.slot_id)
        if slot.supervisor_id != by.pk and by.role not in (User.Role.MODERATOR, User.Role.ADMIN):
            raise Forbidden("Only the supervisor who ran this time, or a moderator, records it.")
        if slot.starts_at > now:
            raise Conflict("This time hasn't started yet.", code="slot_not_started")
        if booking.state == Booking.State.CANCELLED:
            raise Conflict("This booking was cancelled.", code="booking_not_live")
        booking.state = Booking.State.ATTENDED if attended else Booking.State.MISSED
        booking.recorded_at = now
        booking.recorded_by = by
        booking.save(update_fields=["state", "recorded_at", "recorded_by"])
        if booking.debrief_id:
            debrief = Debrief.objects.select_for_update().get(pk=booking.debrief_id)
            if attended and debrief.state != Debrief.State.DONE:
                debrief.state = Debrief.State.DONE
                debrief.completed_at = slot.starts_at
                debrief.save(update_fields=["state", "completed_at"])
            elif not attended and debrief.state == Debrief.State.DONE:
                debrief.state = Debrief.State.DUE
                debrief.completed_at = None
                debrief.save(update_fields=["state", "completed_at"])
            if not attended:
                debriefs_look_again()
    return booking


# Used inside other services' transactions (the locks are already held) ---------------------------


def booking_cancel_locked(booking: Booking, *, reason: str, now: datetime) -> None:
    booking.state = Booking.State.CANCELLED
    booking.cancelled_at = now
    booking.cancel_reason = reason
    booking.sequence += 1
    booking.save(update_fields=["state", "cancelled_at", "cancel_reason", "sequence"])
    for lead in settings.SUPERVISION["REMINDER_LEAD_MINUTES"]:
        jobs.cancel(_reminder_key(booking.pk, lead))


def _book_locked(
    *,
    supporter: User,
    slot: SupervisionSlot,
    purpose: str,
    debrief: Debrief | None,
    automatic: bool,
    now: datetime,
    moving: Booking | None = None,
) -> Booking:
    if supporter.role != User.Role.SUPPORTER or not supporter.is_active:
        raise Forbidden("Only supporters book supervision and debriefs.")
    if slot.state != SupervisionSlot.State.OPEN:
        raise Conflict("This time was cancelled.", code="slot_cancelled")
    if slot.starts_at <= now:
        raise Conflict("This time has already started.", code="slot_started")
    if slot.supervisor_id == supporter.pk:
        raise Conflict("You can't book a time you run yourself.", code="own_slot")
    if slot.purpose not in PURPOSE_FITS[purpose]:
        raise Conflict(
            f"This time is for {slot.get_purpose_display().lower()} only.",
            code="slot_wrong_purpose",
        )
    live = live_bookings().filter(slot=slot)
    if live.filter(supporter=supporter).exists():
        raise Conflict("You already have a place at this time.", code="already_booked")
    if live.count() >= slot.capacity:
        raise Conflict("This time is full. Pick another.", code="slot_full")
    if debrief is not None and moving is None and live_bookings().filter(debrief=debrief).exists():
        raise Conflict(
            "This debrief already has a time; move it instead.", code="debrief_already_booked"
        )
    busy = clash(
        user=supporter,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        ignore_booking=moving.pk if moving else None,
    )
    if busy:
        raise Conflict(f"That time overlaps {busy}.", code="booking_overlaps")
    booking = Booking(
        slot=slot,
        supporter=supporter,
        purpose=purpose,
        debrief=debrief,
        automatic=automatic,
        created_at=now,
    )
    booking.full_clean(validate_constraints=False)
    booking.save()
    _reminders_enqueue(booking, now=now)
    return booking


def _slot_for_booking(slot_id) -> SupervisionSlot:
    slot = SupervisionSlot.objects.filter(pk=slot_id).first()
    if slot is None:
        raise NotFound("There is no such supervision time.")
    return slot


def _debrief_for(supporter: User, purpose: str, debrief_id: int | None) -> Debrief | None:
    if purpose != Booking.Purpose.DEBRIEF:
        return None
    debriefs = Debrief.objects.filter(supporter=supporter, state=Debrief.State.DUE)
    debrief = debriefs.filter(pk=debrief_id).first() if debrief_id else debriefs.first()
    if debrief is None:
        raise Conflict("You have no debrief due.", code="no_debrief_due")
    return debrief


def _tell_supervisor_booked(booking: Booking, *, now: datetime) -> None:
    slot = booking.slot
    what = booking.get_purpose_display().lower()
    if booking.automatic:
        text = (
            f"A debrief for {booking.supporter.handle} (after an escalation, due by "
            f"{when(booking.debrief.due_by)}) was booked into your time on {when(slot.starts_at)}."
        )
        kind = "debrief_booked"
    else:
        text = f"{booking.supporter.handle} booked {what} in your time on {when(slot.starts_at)}."
        kind = "booking_made"
    notice_send(recipient=slot.supervisor, kind=kind, text=text, link="/supervision/", now=now)


def _reminder_key(booking_id: int, lead: int) -> str:
    return f"supervision.reminder:{booking_id}:{lead}"


def _reminders_enqueue(booking: Booking, *, now: datetime) -> None:
    """Remind the supporter (and, once per slot, the supervisor) before the time."""
    for lead in settings.SUPERVISION["REMINDER_LEAD_MINUTES"]:
        run_at = booking.slot.starts_at - timedelta(minutes=lead)
        if run_at <= now:
            continue
        jobs.enqueue(
            kind=REMINDER_JOB,
            key=_reminder_key(booking.pk, lead),
            payload={"booking": booking.pk},
            run_at=run_at,
        )
        jobs.enqueue(
            kind=REMINDER_JOB,
            key=f"supervision.slot-reminder:{booking.slot_id}:{lead}",
            payload={"slot": booking.slot_id},
            run_at=run_at,
        )


def bookings_release_for_deactivated(*, supporter: User, now: datetime | None = None) -> int:
    """Give up a closed account's future places; each slot's supervisor is told."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        for booking in (
            live_bookings()
            .filter(supporter=supporter, slot__starts_at__gt=now)
            .select_related("slot__supervisor")
        ):
            lock_people(booking.supporter_id, booking.slot.supervisor_id)
            booking_cancel_locked(booking, reason=Booking.CancelReason.DEACTIVATED, now=now)
            debriefs_look_again()
            notice_send(
                recipient=booking.slot.supervisor,
                kind="deactivated",
                text=f"{supporter.handle}'s account was closed, so their "
                f"{booking.get_purpose_display().lower()} on {when(booking.slot.starts_at)} "
                "is cancelled and the place is free again.",
                link="/supervision/",
                now=now,
            )
            count += 1
    return count
