"""Supervisors' availability: one-off and recurring slots (RFC 5545 RRULE with EXDATE).

A recurring series keeps its wall-clock time in its own time zone, so a weekly 18:00 in
Europe/London is 18:00 in October and in November alike (17:00 and 18:00 UTC). A local time
that a daylight-saving change skips cannot start a one-off slot; an occurrence of a series
that falls in the gap moves forward by the gap (RFC 5545 §3.3.5).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrulestr
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from peerchat.errors import BodyInvalid, Conflict, Forbidden, NotFound
from peerchat.models import Booking, SlotKind, SlotPurpose, SlotSeries, SupervisionSlot, User
from peerchat.selectors.supervision import clash, fitting_slots, is_supervisor, live_bookings, when
from peerchat.services.supervision.common import debriefs_look_again, lock_people
from peerchat.services.supervision.notices import notice_send

MIN_MINUTES = 15
MAX_MINUTES = 240
GROUP_MAX = 30
SERIES_MAX_OCCURRENCES = 104
SCAN_LIMIT = 5000
ALLOWED_FREQS = {DAILY, WEEKLY, MONTHLY}


@dataclass(frozen=True)
class SlotSpec:
    """What a supervisor asks for; `starts_local` is a wall-clock time in `time_zone`."""

    starts_local: datetime
    duration_minutes: int
    kind: str = SlotKind.ONE_TO_ONE
    capacity: int = 1
    purpose: str = SlotPurpose.ANY
    location: str = ""
    time_zone: str = ""
    # RFC 5545 RRULE value ("FREQ=WEEKLY;BYDAY=TU;COUNT=8"), empty for a one-off slot.
    rrule: str = ""
    # Local dates on which a recurring slot does not happen (EXDATE).
    except_dates: tuple = ()


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise BodyInvalid(f"'{name}' is not a time zone this service knows.") from None


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` as a UTC instant; refuse one a clock change skips."""
    aware = local.replace(tzinfo=tz)
    there_and_back = aware.astimezone(UTC).astimezone(tz)
    if there_and_back.replace(tzinfo=None) != aware.replace(tzinfo=None):
        raise BodyInvalid(
            f"{local:%H:%M} does not happen on {local:%A %-d %B} in {tz.key}: the clocks "
            "go forward then. Pick another time.",
            code="time_does_not_exist",
        )
    return aware.astimezone(UTC)


def slot_publish(*, supervisor: User, spec: SlotSpec, now: datetime | None = None) -> list:
    """Publish a slot, or a recurring series of them; return the slots made.

    Refused when it starts in the past, or when any occurrence overlaps something the
    supervisor is already committed to (another slot, a booking of their own, a shift).
    """
    now = now or timezone.now()
    if not is_supervisor(supervisor):
        raise Forbidden("Only supervisors publish supervision times.")
    _check_spec(spec)
    tz = zone(spec.time_zone)
    first = local_to_utc(spec.starts_local, tz)
    if first <= now:
        raise BodyInvalid("That time has already passed.", code="slot_in_past")
    duration = timedelta(minutes=spec.duration_minutes)
    # A series starting beyond the horizon still makes its first occurrence now.
    horizon = max(now + timedelta(days=settings.SUPERVISION["SERIES_HORIZON_DAYS"]), first)
    series = None
    if spec.rrule:
        starts = _occurrences(spec, tz, until=horizon)
        if not starts:
            raise BodyInvalid("That repeat rule gives no times.", code="invalid_rrule")
    else:
        starts = [first]
    with transaction.atomic():
        lock_people(supervisor.pk)
        for start in starts:
            if busy := clash(user=supervisor, starts_at=start, ends_at=start + duration):
                raise Conflict(f"The time at {when(start)} overlaps {busy}.", code="slot_overlaps")
        if spec.rrule:
            series = SlotSeries(
                supervisor=supervisor,
                first_starts_at=first,
                time_zone=tz.key,
                rrule=spec.rrule.upper(),
                duration_minutes=spec.duration_minutes,
                kind=spec.kind,
                capacity=spec.capacity,
                purpose=spec.purpose,
                location=spec.location,
                exdates=[
                    _iso(local_to_utc(_at(d, spec.starts_local), tz)) for d in spec.except_dates
                ],
                made_until=horizon,
            )
            series.full_clean()
            series.save()
        made = [
            _slot_create(supervisor=supervisor, spec=spec, starts_at=s, series=series)
            for s in starts
        ]
        debriefs_look_again()
    return made


def series_extend(*, series: SlotSeries, now: datetime | None = None) -> int:
    """Make the occurrences of a series that have come within the horizon; return how many.

    An occurrence that would overlap something the supervisor took on meanwhile is skipped
    (recorded as an exception), never double-booked.
    """
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.SUPERVISION["SERIES_HORIZON_DAYS"])
    if series.ended_at is not None or series.made_until >= horizon:
        return 0
    spec = _spec_of(series)
    tz = zone(series.time_zone)
    duration = timedelta(minutes=series.duration_minutes)
    made = 0
    with transaction.atomic():
        lock_people(series.supervisor_id)
        series = SlotSeries.objects.select_for_update().get(pk=series.pk)
        for start in _occurrences(spec, tz, until=horizon, after=series.made_until):
            if clash(user=series.supervisor, starts_at=start, ends_at=start + duration):
                series.exdates = [*series.exdates, _iso(start)]
                continue
            _slot_create(supervisor=series.supervisor, spec=spec, starts_at=start, series=series)
            made += 1
        series.made_until = horizon
        series.save(update_fields=["made_until", "exdates"])
        if made:
            debriefs_look_again()
    return made


def slot_cancel(
    *,
    slot_id: int,
    by: User,
    reason: str = "",
    now: datetime | None = None,
) -> SupervisionSlot:
    """Cancel a slot (a supervisor "deleting" it): everyone booked is told and offered others.

    A debrief that was booked into it is booked again into the next fitting slot by the
    worker. The slot is kept, cancelled, so calendars and records stay true.
    """
    from peerchat.services.supervision.bookings import booking_cancel_locked

    now = now or timezone.now()
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        slot = SupervisionSlot.objects.filter(pk=slot_id).select_related("supervisor").first()
        if slot is None:
            raise NotFound("There is no such supervision time.")
        if slot.supervisor_id != by.pk and by.role not in (User.Role.MODERATOR, User.Role.ADMIN):
            raise Forbidden(
                "Only the supervisor who runs this time, or a moderator, may cancel it."
            )
        booked = list(live_bookings().filter(slot=slot).values_list("supporter_id", flat=True))
        lock_people(slot.supervisor_id, *booked)
        slot = SupervisionSlot.objects.select_for_update().get(pk=slot.pk)
        if slot.state == SupervisionSlot.State.CANCELLED:
            return slot
        if slot.ends_at <= now:
            raise Conflict("This time is over; record who came instead.", code="slot_over")
        slot.state = SupervisionSlot.State.CANCELLED
        slot.cancelled_at = now
        slot.cancel_reason = reason
        slot.sequence += 1
        slot.save(update_fields=["state", "cancelled_at", "cancel_reason", "sequence"])
        if slot.series_id:
            SlotSeries.objects.filter(pk=slot.series_id).update(
                exdates=[*slot.series.exdates, _iso(slot.starts_at)]
            )
        because = f" ({reason})" if reason else ""
        for booking in Booking.objects.filter(slot=slot, state=Booking.State.BOOKED).select_related(
            "supporter"
        ):
            booking_cancel_locked(booking, reason=Booking.CancelReason.SLOT_CANCELLED, now=now)
            if booking.debrief_id:
                text = (
                    f"{slot.supervisor.handle} can't make your debrief on {when(slot.starts_at)}"
                    f"{because}. We're booking you the next free time and will tell you when."
                )
            else:
                others = fitting_slots(
                    supporter=booking.supporter, purpose=booking.purpose, now=now
                )
                offer = (
                    " Other times: " + "; ".join(when(s.starts_at) for s in others[:3]) + "."
                    if others
                    else " There are no other times yet; your supervisor will offer some."
                )
                what = booking.get_purpose_display().lower()
                text = (
                    f"{slot.supervisor.handle} cancelled the {what}"
                    f" on {when(slot.starts_at)}{because}.{offer}"
                )
            notice_send(
                recipient=booking.supporter,
                kind="slot_cancelled",
                text=text,
                link="/staff/schedule/",
                now=now,
            )
        debriefs_look_again()
    return slot


def series_end(*, series_id: int, by: User, now: datetime | None = None) -> int:
    """Stop a recurring series: its future occurrences are cancelled (people booked are told)."""
    now = now or timezone.now()
    with transaction.atomic():
        series = SlotSeries.objects.select_for_update().filter(pk=series_id).first()
        if series is None:
            raise NotFound("There is no such series.")
        if series.supervisor_id != by.pk and by.role not in (User.Role.MODERATOR, User.Role.ADMIN):
            raise Forbidden("Only the supervisor who runs this series, or a moderator, may end it.")
        series.ended_at = series.ended_at or now
        series.save(update_fields=["ended_at"])
        future = list(
            SupervisionSlot.objects.filter(
                series=series, state=SupervisionSlot.State.OPEN, starts_at__gt=now
            ).values_list("pk", flat=True)
        )
        for slot_id in future:
            slot_cancel(slot_id=slot_id, by=by, reason="this regular time has ended", now=now)
    return len(future)


# Helpers ----------------------------------------------------------------------------------------


def _check_spec(spec: SlotSpec) -> None:
    if spec.kind not in SlotKind.values:
        raise BodyInvalid("A slot is one-to-one or a group.")
    if spec.purpose not in SlotPurpose.values:
        raise BodyInvalid("A slot is for supervision, debriefs, or either.")
    if not MIN_MINUTES <= spec.duration_minutes <= MAX_MINUTES:
        raise BodyInvalid(f"A slot lasts {MIN_MINUTES} to {MAX_MINUTES} minutes.")
    if spec.kind == SlotKind.ONE_TO_ONE and spec.capacity != 1:
        raise BodyInvalid("A one-to-one slot has one place.")
    if spec.kind == SlotKind.GROUP and not 2 <= spec.capacity <= GROUP_MAX:
        raise BodyInvalid(f"A group has 2 to {GROUP_MAX} places.")
    if len(spec.location) > 200:
        raise BodyInvalid("Keep the place to 200 characters.")


def _occurrences(
    spec: SlotSpec, tz: ZoneInfo, *, until: datetime, after: datetime | None = None
) -> list[datetime]:
    """The UTC starts of a rule's occurrences up to `until` (after `after`), less exceptions."""
    start = spec.starts_local.replace(tzinfo=tz)
    try:
        rule = rrulestr(spec.rrule, dtstart=start)
    except (ValueError, TypeError):
        raise BodyInvalid(
            "That repeat rule is not one this service understands.", code="invalid_rrule"
        ) from None
    if getattr(rule, "_freq", None) not in ALLOWED_FREQS:
        raise BodyInvalid("Slots repeat daily, weekly or monthly.", code="invalid_rrule")
    skipped = set(spec.except_dates)
    starts = []
    for n, occurrence in enumerate(rule):
        # At most this many made at once (the scan makes more as the horizon moves); the
        # scan limit guards against a rule that steps through time without ever matching.
        if len(starts) >= SERIES_MAX_OCCURRENCES or n >= SCAN_LIMIT:
            break
        # dateutil keeps the wall clock and the zone; normalise through UTC so a time in a
        # spring-forward gap lands where the clock says it is.
        instant = occurrence.astimezone(UTC)
        if instant > until:
            break
        if after is not None and instant <= after:
            continue
        if occurrence.date() in skipped:
            continue
        starts.append(instant)
    return starts


def _spec_of(series: SlotSeries) -> SlotSpec:
    tz = zone(series.time_zone)
    skipped = tuple(datetime.fromisoformat(x).astimezone(tz).date() for x in series.exdates or [])
    return SlotSpec(
        starts_local=series.first_starts_at.astimezone(tz).replace(tzinfo=None),
        duration_minutes=series.duration_minutes,
        kind=series.kind,
        capacity=series.capacity,
        purpose=series.purpose,
        location=series.location,
        time_zone=series.time_zone,
        rrule=series.rrule,
        except_dates=skipped,
    )


def _slot_create(*, supervisor, spec: SlotSpec, starts_at: datetime, series) -> SupervisionSlot:
    slot = SupervisionSlot(
        supervisor=supervisor,
        series=series,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=spec.duration_minutes),
        kind=spec.kind,
        capacity=spec.capacity,
        purpose=spec.purpose,
        location=spec.location,
    )
    slot.full_clean(validate_constraints=False)
    slot.save()
    return slot


def _at(day, local: datetime) -> datetime:
    return datetime.combine(day, local.time())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def slots_cancel_for_deactivated(
    *, supervisor: User, by: User | None, now: datetime | None = None
) -> int:
    """Cancel the future times a closed account ran; the people booked are told and re-offered."""
    now = now or timezone.now()
    SlotSeries.objects.filter(supervisor=supervisor, ended_at__isnull=True).update(ended_at=now)
    future = list(
        SupervisionSlot.objects.filter(
            supervisor=supervisor, state=SupervisionSlot.State.OPEN, starts_at__gt=now
        ).values_list("pk", flat=True)
    )
    for slot_id in future:
        slot_cancel(
            slot_id=slot_id,
            by=by or supervisor,
            reason="the supervisor is no longer available",
            now=now,
        )
    return len(future)
