"""Reads about supervision and debriefs: who supervises, what is due, free times, rosters, records.

Nothing here is shown to seekers. Evaluators get `supervision_totals` only: counts without
names, which the metrics pages put through disclosure control.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import formats, timezone

from peerchat.models import (
    Booking,
    Debrief,
    GateException,
    Shift,
    ShiftCheckIn,
    SlotPurpose,
    SlotSeries,
    StaffNotice,
    SupervisionSlot,
    SupportSession,
    User,
)
from peerchat.selectors.supporters import TrainingStatus, training_status

SUPERVISE_PERMISSION = "peerchat.supervise"
# Which slots each kind of booking may use.
PURPOSE_FITS = {
    Booking.Purpose.SUPERVISION: {SlotPurpose.ANY, SlotPurpose.SUPERVISION},
    Booking.Purpose.DEBRIEF: {SlotPurpose.ANY, SlotPurpose.DEBRIEF},
    Booking.Purpose.TALK: {SlotPurpose.ANY, SlotPurpose.DEBRIEF, SlotPurpose.SUPERVISION},
}
# A time offered automatically starts at least this far ahead, so there is time to read it.
MIN_NOTICE = timedelta(minutes=30)


def when(moment: datetime) -> str:
    """A time as staff read it, in the deployment's time zone: "Tuesday 3 November, 18:00"."""
    return formats.date_format(timezone.localtime(moment), "l j F, H:i")


# Who supervises ---------------------------------------------------------------------------------


def is_supervisor(user: User) -> bool:
    """Moderators and admins supervise; so do senior supporters given the permission."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.role in (User.Role.MODERATOR, User.Role.ADMIN):
        return True
    return (
        user.role == User.Role.SUPPORTER
        and user.supporter_level == User.SupporterLevel.SENIOR
        and user.has_perm(SUPERVISE_PERMISSION)
    )


def supervisors() -> list[User]:
    """Every active supervisor, by handle (the same people `is_supervisor` says yes to)."""
    app, codename = SUPERVISE_PERMISSION.split(".")
    granted = Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app)
    via_group = Q(
        groups__permissions__codename=codename, groups__permissions__content_type__app_label=app
    )
    permitted = Q(is_superuser=True) | granted | via_group
    senior = Q(role=User.Role.SUPPORTER, supporter_level=User.SupporterLevel.SENIOR)
    return list(
        User.objects.filter(is_active=True)
        .filter(Q(role__in=(User.Role.MODERATOR, User.Role.ADMIN)) | (senior & permitted))
        .distinct()
        .order_by("handle")
    )


def supervisors_for(supporter: User) -> list[User]:
    """Who is told about a supporter: their own supervisor, or every supervisor if none."""
    profile = getattr(supporter, "supporter_profile", None)
    own = profile.supervisor if profile is not None and profile.supervisor_id else None
    if own is not None and is_supervisor(own):
        return [own]
    return [u for u in supervisors() if u.pk != supporter.pk]


def supervisor_of(supporter: User) -> User | None:
    profile = getattr(supporter, "supporter_profile", None)
    return profile.supervisor if profile is not None and profile.supervisor_id else None


# Commitments and free times ---------------------------------------------------------------------


def live_bookings() -> QuerySet[Booking]:
    """Places held in slots that still happen."""
    return Booking.objects.filter(
        state=Booking.State.BOOKED, slot__state=SupervisionSlot.State.OPEN
    )


def _commitments(*, user: User, starts_at: datetime, ends_at: datetime):
    """What `user` is committed to that overlaps the two times: slots they run, places they
    hold in slots, and their scheduled shifts (three querysets, in that order)."""
    running = SupervisionSlot.objects.filter(
        supervisor=user,
        state=SupervisionSlot.State.OPEN,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    held = live_bookings().filter(
        supporter=user, slot__starts_at__lt=ends_at, slot__ends_at__gt=starts_at
    )
    shifts = Shift.objects.filter(supporter=user, starts_at__lt=ends_at, ends_at__gt=starts_at)
    return running, held, shifts


def clash(
    *,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    ignore_booking: int | None = None,
) -> str | None:
    """Describe what `user` is already committed to between the two times, or None."""
    running, held, shifts = _commitments(user=user, starts_at=starts_at, ends_at=ends_at)
    if slot := running.first():
        return f"a time you run on {when(slot.starts_at)}"
    if ignore_booking is not None:
        held = held.exclude(pk=ignore_booking)
    if booking := held.select_related("slot").first():
        return f"your {booking.get_purpose_display().lower()} on {when(booking.slot.starts_at)}"
    if shift := shifts.first():
        return f"your shift on {when(shift.starts_at)}"
    return None


def fitting_slots(
    *,
    supporter: User,
    purpose: str,
    now: datetime,
    before: datetime | None = None,
    limit: int = 5,
    min_notice: timedelta = MIN_NOTICE,
) -> list[SupervisionSlot]:
    """The earliest open times `supporter` could book for `purpose`, free of their commitments.

    Four queries however many times are looked at: the candidates, then the supporter's
    commitments across all of them at once.
    """
    candidates = (
        SupervisionSlot.objects.filter(
            state=SupervisionSlot.State.OPEN,
            starts_at__gt=now + min_notice,
            purpose__in=PURPOSE_FITS[purpose],
            supervisor__is_active=True,
        )
        .exclude(supervisor=supporter)
        .exclude(bookings__supporter=supporter, bookings__state=Booking.State.BOOKED)
        .annotate(taken=Count("bookings", filter=Q(bookings__state=Booking.State.BOOKED)))
        .filter(taken__lt=F("capacity"))
        .select_related("supervisor")
        .order_by("starts_at", "pk")
    )
    if before is not None:
        candidates = candidates.filter(starts_at__lt=before)
    candidates = list(candidates[: limit * 10])
    if not candidates:
        return []
    running, held, shifts = _commitments(
        user=supporter,
        starts_at=candidates[0].starts_at,
        ends_at=max(slot.ends_at for slot in candidates),
    )
    busy = [
        *running.values_list("starts_at", "ends_at"),
        *held.values_list("slot__starts_at", "slot__ends_at"),
        *shifts.values_list("starts_at", "ends_at"),
    ]
    free = [
        slot
        for slot in candidates
        if not any(start < slot.ends_at and end > slot.starts_at for start, end in busy)
    ]
    return free[:limit]


# What is due ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisionStatus:
    """Where a supporter is in their supervision cycle."""

    interval_weeks: int
    last_at: datetime | None
    due_at: datetime
    state: str  # "ok", "due_soon" (inside the warning window) or "overdue"
    next_booking: Booking | None

    @property
    def overdue(self) -> bool:
        return self.state == "overdue"


def supervision_status(*, user: User, now: datetime) -> SupervisionStatus:
    return supervision_statuses(users=[user], now=now)[user.pk]


def supervision_statuses(*, users: list[User], now: datetime) -> dict[int, SupervisionStatus]:
    """Each supporter's supervision cycle, by user id, in two queries however many there are.

    Due `INTERVAL_WEEKS_BY_LEVEL` weeks after the last attended supervision, or after joining.
    """
    ids = [u.pk for u in users]
    last = dict(
        Booking.objects.filter(
            supporter_id__in=ids,
            purpose=Booking.Purpose.SUPERVISION,
            state=Booking.State.ATTENDED,
        )
        .values("supporter_id")
        .annotate(last=Max("slot__starts_at"))
        .values_list("supporter_id", "last")
    )
    upcoming: dict[int, Booking] = {}
    for booking in (
        live_bookings()
        .filter(supporter_id__in=ids, purpose=Booking.Purpose.SUPERVISION, slot__starts_at__gt=now)
        .select_related("slot__supervisor")
        .order_by("slot__starts_at")
    ):
        upcoming.setdefault(booking.supporter_id, booking)
    warn = timedelta(days=settings.SUPERVISION["WARN_DAYS"])
    weeks_by_level = settings.SUPERVISION["INTERVAL_WEEKS_BY_LEVEL"]
    statuses = {}
    for user in users:
        weeks = int(weeks_by_level.get(user.supporter_level, 4))
        last_at = last.get(user.pk)
        due_at = (last_at or user.date_joined) + timedelta(weeks=weeks)
        if now >= due_at:
            state = "overdue"
        elif now >= due_at - warn:
            state = "due_soon"
        else:
            state = "ok"
        statuses[user.pk] = SupervisionStatus(weeks, last_at, due_at, state, upcoming.get(user.pk))
    return statuses


@dataclass
class GateStatus:
    """Whether a supporter may start a new shift, and what to warn them about in advance."""

    may_start: bool
    # What the gates were judged on, for pages that show them too.
    supervision: SupervisionStatus
    training: TrainingStatus
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (code, sentence)
    warnings: list[str] = field(default_factory=list)
    excepted: list[GateException] = field(default_factory=list)


def gate_status(*, user: User, now: datetime) -> GateStatus:
    """Overdue supervision or missing training blocks new shifts; a live exception lifts it."""
    supervision = supervision_status(user=user, now=now)
    training = training_status(user=user, today=timezone.localdate(now))
    status = GateStatus(may_start=True, supervision=supervision, training=training)
    exceptions = list(
        GateException.objects.filter(
            supporter=user, starts_at__lte=now, expires_at__gt=now, revoked_at__isnull=True
        ).select_related("granted_by")
    )
    excepted = {e.gate for e in exceptions}
    status.excepted = exceptions
    if supervision.overdue:
        if GateException.Gate.SUPERVISION in excepted:
            status.warnings.append(
                f"Your supervision was due on {when(supervision.due_at)}. A supervisor has "
                "let you take shifts for now: please book supervision."
            )
        else:
            status.blocks.append(
                (
                    "supervision_overdue",
                    f"Your supervision was due on {when(supervision.due_at)}, so you can't "
                    "start new shifts until you've had it. Book a time on your schedule, or "
                    "ask a supervisor.",
                )
            )
    elif supervision.state == "due_soon" and supervision.next_booking is None:
        status.warnings.append(
            f"Your supervision is due by {when(supervision.due_at)}. Book a time so your "
            "shifts can carry on."
        )
    if not training.ok:
        if GateException.Gate.TRAINING in excepted:
            status.warnings.append(
                "Training to renew: " + ", ".join(training.missing) + ". A supervisor has "
                "let you take shifts for now."
            )
        else:
            status.blocks.append(
                (
                    "training_required",
                    "Your training needs renewing before you can take chats: "
                    + ", ".join(training.missing)
                    + ".",
                )
            )
    for name, expires in training.expiring:
        status.warnings.append(
            f"{name} expires on {formats.date_format(expires, 'j F Y')}: renew it before then."
        )
    status.may_start = not status.blocks
    return status


def debriefs_due(*, user: User) -> list[Debrief]:
    return list(Debrief.objects.filter(supporter=user, state=Debrief.State.DUE).order_by("due_by"))


def checkin_due(*, user: User, now: datetime) -> Shift | None:
    """The supporter's most recent shift that ended lately without a check-in, if any.

    Not while a chat of theirs goes on after the shift: the question is for when they're done.
    """
    since = now - timedelta(days=settings.SUPERVISION["CHECKIN_WINDOW_DAYS"])
    if SupportSession.objects.filter(supporter=user, state=SupportSession.State.ACTIVE).exists():
        return None
    return (
        Shift.objects.filter(
            supporter=user,
            started_at__isnull=False,
            ended_at__isnull=False,
            ended_at__gte=since,
            checkin__isnull=True,
        )
        .exclude(supporter__supporter_profile__current_shift=F("pk"))
        .order_by("-ended_at")
        .first()
    )


def checkins_visible_to(*, viewer: User, since: datetime) -> list[ShiftCheckIn]:
    """Check-ins `viewer` may read: their own, and their supervisees' (never anyone else's)."""
    return list(
        ShiftCheckIn.objects.filter(created_at__gte=since)
        .filter(Q(supporter=viewer) | Q(supporter__supporter_profile__supervisor=viewer))
        .exclude(feeling=ShiftCheckIn.Feeling.SKIPPED)
        .select_related("supporter", "shift")
        .order_by("-created_at")
    )


def talk_offer(*, user: User, slot_id: int | None, now: datetime) -> SupervisionSlot | None:
    """The time offered after "I'd like to talk", while `user` can still book it."""
    if slot_id is None:
        return None
    return (
        SupervisionSlot.objects.filter(
            pk=slot_id, state=SupervisionSlot.State.OPEN, starts_at__gt=now
        )
        .exclude(bookings__supporter=user, bookings__state=Booking.State.BOOKED)
        .select_related("supervisor")
        .first()
    )


def notices_for(*, user: User, limit: int = 20) -> list[StaffNotice]:
    return list(StaffNotice.objects.filter(recipient=user).order_by("-created_at", "-pk")[:limit])


# Pages ------------------------------------------------------------------------------------------


def supporter_schedule(*, user: User, now: datetime) -> dict:
    """What the supporter's schedule page shows: shifts, supervision, debriefs, free times."""
    gate = gate_status(user=user, now=now)
    bookings = list(
        Booking.objects.filter(supporter=user, slot__ends_at__gt=now - timedelta(days=1))
        .filter(state=Booking.State.BOOKED, slot__state=SupervisionSlot.State.OPEN)
        .select_related("slot__supervisor", "debrief")
        .order_by("slot__starts_at")
    )
    debriefs = []
    for debrief in debriefs_due(user=user):
        booked = next((b for b in bookings if b.debrief_id == debrief.pk), None)
        others = fitting_slots(supporter=user, purpose=Booking.Purpose.DEBRIEF, now=now)
        debriefs.append(
            {
                "debrief": debrief,
                "booking": booked,
                "overdue": debrief.due_by < now,
                "in_time": booked is not None and booked.slot.starts_at <= debrief.due_by,
                # Unbooked: times to book; booked: times to move it to.
                "offers": [] if booked else others[:3],
                "moves": others if booked and booked.slot.starts_at > now else [],
            }
        )
    # Other bookings, each with the times it could move to (a few bookings at most).
    booking_rows = [
        {
            "booking": b,
            "moves": fitting_slots(
                supporter=user, purpose=b.purpose, now=now, limit=8, min_notice=timedelta(0)
            )
            if b.slot.starts_at > now
            else [],
        }
        for b in bookings
        if b.purpose != Booking.Purpose.DEBRIEF
    ]
    return {
        "shifts": list(
            Shift.objects.filter(supporter=user, ends_at__gt=now).order_by("starts_at")[:10]
        ),
        "supervision": gate.supervision,
        "gate": gate,
        "bookings": bookings,
        "booking_rows": booking_rows,
        "debriefs": debriefs,
        "open_slots": fitting_slots(
            supporter=user,
            purpose=Booking.Purpose.SUPERVISION,
            now=now,
            limit=12,
            min_notice=timedelta(0),
        ),
        "checkin_shift": checkin_due(user=user, now=now),
        "supervisor": supervisor_of(user),
        "notices": notices_for(user=user),
        "unread": StaffNotice.objects.filter(recipient=user, read_at__isnull=True).count(),
    }


def supervisor_calendar(*, supervisor: User, now: datetime) -> dict:
    """What the supervisor's page shows: their times with who booked, and what needs recording."""
    slots = list(
        SupervisionSlot.objects.filter(supervisor=supervisor, ends_at__gt=now - timedelta(days=14))
        .exclude(state=SupervisionSlot.State.CANCELLED, starts_at__lt=now)
        .prefetch_related("bookings__supporter")
        .order_by("starts_at")
    )
    rows = []
    for slot in slots:
        people = [b for b in slot.bookings.all() if b.state != Booking.State.CANCELLED]
        rows.append(
            {
                "slot": slot,
                "bookings": people,
                "free": max(
                    0, slot.capacity - sum(b.state == Booking.State.BOOKED for b in people)
                ),
                "past": slot.starts_at <= now,
                "to_record": slot.starts_at <= now
                and any(b.state == Booking.State.BOOKED for b in people),
            }
        )
    checkins = checkins_visible_to(viewer=supervisor, since=now - timedelta(days=14))
    return {
        "upcoming": [r for r in rows if not r["past"]],
        "to_record": [r for r in rows if r["to_record"]],
        "series": list(
            SlotSeries.objects.filter(supervisor=supervisor, ended_at__isnull=True)
            .filter(slots__starts_at__gt=now, slots__state=SupervisionSlot.State.OPEN)
            .distinct()
            .order_by("first_starts_at")
        ),
        "roster": roster(now=now, viewer=supervisor),
        # Their supervisees' check-ins (their own belong on their own schedule).
        "checkins": [c for c in checkins if c.supporter_id != supervisor.pk],
        "notices": notices_for(user=supervisor),
        "unread": StaffNotice.objects.filter(recipient=supervisor, read_at__isnull=True).count(),
        "time_zone": settings.TIME_ZONE,
    }


def roster(*, now: datetime, viewer: User | None = None) -> list[dict]:
    """Every active supporter with what is due or overdue, most urgent first.

    Each row has its live exceptions, and `grantable`: the gates shut for that supporter that
    `viewer` could grant an exception to (never to themselves).
    """
    supporters = list(
        User.objects.filter(role=User.Role.SUPPORTER, is_active=True)
        .select_related("supporter_profile__supervisor")
        .order_by("handle")
    )
    ids = [u.pk for u in supporters]
    live: dict[int, list[GateException]] = {}
    for exception in GateException.objects.filter(
        supporter_id__in=ids, starts_at__lte=now, expires_at__gt=now, revoked_at__isnull=True
    ).select_related("granted_by"):
        live.setdefault(exception.supporter_id, []).append(exception)
    debriefs: dict[int, list[Debrief]] = {}
    for debrief in Debrief.objects.filter(supporter_id__in=ids, state=Debrief.State.DUE):
        debriefs.setdefault(debrief.supporter_id, []).append(debrief)
    booked_debriefs = set(
        live_bookings()
        .filter(debrief__in=[d for ds in debriefs.values() for d in ds])
        .values_list("debrief_id", flat=True)
    )
    statuses = supervision_statuses(users=supporters, now=now)
    rows = []
    for user in supporters:
        supervision = statuses[user.pk]
        training = training_status(user=user, today=timezone.localdate(now))
        due = debriefs.get(user.pk, [])
        row = {
            "user": user,
            "supervision": supervision,
            "training": training,
            "debriefs": [
                {"debrief": d, "overdue": d.due_by < now, "booked": d.pk in booked_debriefs}
                for d in due
            ],
            "live_exceptions": live.get(user.pk, []),
            "supervisor": supervisor_of(user),
        }
        excepted = {e.gate for e in row["live_exceptions"]}
        shut = []
        if supervision.overdue:
            shut.append(GateException.Gate.SUPERVISION)
        if not training.ok:
            shut.append(GateException.Gate.TRAINING)
        row["grantable"] = [
            (gate, GateException.Gate(gate).label)
            for gate in shut
            if gate not in excepted and viewer is not None and viewer.pk != user.pk
        ]
        overdue = supervision.overdue or not training.ok or any(d.due_by < now for d in due)
        soon = supervision.state == "due_soon" or bool(due) or bool(training.expiring)
        row["urgency"] = "overdue" if overdue else "due" if soon else "ok"
        rows.append(row)
    order = {"overdue": 0, "due": 1, "ok": 2}
    rows.sort(key=lambda r: (order[r["urgency"]], r["supervision"].due_at))
    return rows


# Records ----------------------------------------------------------------------------------------


def _hours_expression(since: datetime, until: datetime, now: datetime):
    """Time on shift inside [since, until): from going on to going off (or now), clipped."""
    return ExpressionWrapper(
        Least(Coalesce(F("ended_at"), Value(now)), Value(until))
        - Greatest(F("started_at"), Value(since)),
        output_field=DurationField(),
    )


def _shifts_worked(since: datetime, until: datetime):
    return Shift.objects.filter(started_at__isnull=False, started_at__lt=until).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=since)
    )


def supporter_records(*, since: datetime, until: datetime, now: datetime) -> list[dict]:
    """Per supporter, for supervisors: hours on shift, supervision and debrief attendance.

    Computed by aggregate queries in the database, never by loading shifts into Python.
    """
    hours = dict(
        _shifts_worked(since, until)
        .values("supporter_id")
        .annotate(total=Sum(_hours_expression(since, until, now)))
        .values_list("supporter_id", "total")
    )
    attendance = {
        row["supporter_id"]: row
        for row in Booking.objects.filter(slot__starts_at__gte=since, slot__starts_at__lt=until)
        .values("supporter_id")
        .annotate(
            supervision_attended=Count(
                "pk", filter=Q(purpose=Booking.Purpose.SUPERVISION, state=Booking.State.ATTENDED)
            ),
            supervision_missed=Count(
                "pk", filter=Q(purpose=Booking.Purpose.SUPERVISION, state=Booking.State.MISSED)
            ),
        )
    }
    debriefs = {
        row["supporter_id"]: row
        for row in Debrief.objects.filter(due_by__gte=since, due_by__lt=until)
        .values("supporter_id")
        .annotate(**_debrief_counts(now))
    }
    supporters = list(User.objects.filter(role=User.Role.SUPPORTER).order_by("handle"))
    statuses = supervision_statuses(users=[u for u in supporters if u.is_active], now=now)
    rows = []
    for user in supporters:
        a = attendance.get(user.pk, {})
        d = debriefs.get(user.pk, {})
        total = hours.get(user.pk) or timedelta(0)
        rows.append(
            {
                "user": user,
                "hours": round(total.total_seconds() / 3600, 1),
                "supervision_attended": a.get("supervision_attended", 0),
                "supervision_missed": a.get("supervision_missed", 0),
                "supervision": statuses.get(user.pk),
                "debriefs": d.get("debriefs", 0),
                "debriefs_on_time": d.get("on_time", 0),
                "debriefs_late": d.get("late", 0),
                "debriefs_overdue": d.get("overdue", 0),
            }
        )
    return rows


def _debrief_counts(now: datetime) -> dict:
    held = Q(state=Debrief.State.DONE)
    return {
        "debriefs": Count("pk", filter=~Q(state=Debrief.State.CANCELLED)),
        "on_time": Count("pk", filter=held & Q(completed_at__lte=F("due_by"))),
        "late": Count("pk", filter=held & Q(completed_at__gt=F("due_by"))),
        "overdue": Count("pk", filter=Q(state=Debrief.State.DUE, due_by__lt=now)),
    }


def supervision_totals(*, since: datetime, until: datetime, now: datetime) -> dict:
    """The scheme's figures without names or ids, for evaluators (before disclosure control)."""
    hours = _shifts_worked(since, until).aggregate(total=Sum(_hours_expression(since, until, now)))
    supervision = Booking.objects.filter(
        purpose=Booking.Purpose.SUPERVISION, slot__starts_at__gte=since, slot__starts_at__lt=until
    ).aggregate(
        attended=Count("pk", filter=Q(state=Booking.State.ATTENDED)),
        missed=Count("pk", filter=Q(state=Booking.State.MISSED)),
    )
    debriefs = Debrief.objects.filter(due_by__gte=since, due_by__lt=until).aggregate(
        **_debrief_counts(now)
    )
    return {
        "supporter_hours": round((hours["total"] or timedelta(0)).total_seconds() / 3600, 1),
        "supervision_attended": supervision["attended"],
        "supervision_missed": supervision["missed"],
        "debriefs_due": debriefs["debriefs"],
        "debriefs_on_time": debriefs["on_time"],
        "debriefs_late": debriefs["late"],
        "debriefs_overdue": debriefs["overdue"],
    }
