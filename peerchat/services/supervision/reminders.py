"""The worker's supervision jobs: reminders before booked times and the periodic scan.

The scan runs every `SUPERVISION["SCAN_MINUTES"]` (each daphne's sweep makes sure the job for
the current period exists; its key makes that idempotent across processes). It makes the
next occurrences of recurring slots, and warns supporters in advance of supervision falling
due and of required training expiring (each warning once, by its key).
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone

from peerchat import jobs
from peerchat.models import SlotSeries, SupervisionSlot, TrainingModule, User
from peerchat.selectors.supervision import live_bookings, supervision_statuses, when
from peerchat.selectors.supporters import training_status
from peerchat.services.supervision.notices import notice_send
from peerchat.services.supervision.slots import series_extend

SCAN_JOB = "supervision.scan"


def reminder_send(job) -> str:
    """Remind a supporter of their booking, or a supervisor of their slot, if it still happens."""
    now = timezone.now()
    if "booking" in job.payload:
        booking = (
            live_bookings()
            .filter(pk=job.payload["booking"], slot__starts_at__gt=now)
            .select_related("slot__supervisor", "supporter")
            .first()
        )
        if booking is None or not booking.supporter.is_active:
            return "no longer booked"
        slot = booking.slot
        where = f" ({slot.location})" if slot.location else ""
        notice_send(
            recipient=booking.supporter,
            kind="reminder",
            text=f"Reminder: your {booking.get_purpose_display().lower()} with "
            f"{slot.supervisor.handle} is on {when(slot.starts_at)}{where}.",
            link="/staff/schedule/",
            now=now,
        )
        return "reminded supporter"
    slot = (
        SupervisionSlot.objects.filter(
            pk=job.payload["slot"], state=SupervisionSlot.State.OPEN, starts_at__gt=now
        )
        .select_related("supervisor")
        .first()
    )
    if slot is None:
        return "slot no longer open"
    people = list(live_bookings().filter(slot=slot).values_list("supporter__handle", flat=True))
    if not people:
        return "nobody booked"
    notice_send(
        recipient=slot.supervisor,
        kind="reminder",
        text=f"Reminder: you're running {slot.get_kind_display().lower()} supervision on "
        f"{when(slot.starts_at)} with {', '.join(sorted(people))}.",
        link="/supervision/",
        now=now,
    )
    return "reminded supervisor"


def scan_period_start(now: datetime) -> datetime:
    minutes = max(1, settings.SUPERVISION["SCAN_MINUTES"])
    epoch = int(now.timestamp()) // (minutes * 60) * (minutes * 60)
    return datetime.fromtimestamp(epoch, tz=now.tzinfo or timezone.get_current_timezone())


def scan_ensure(*, now: datetime | None = None) -> None:
    """Make sure this period's scan job exists (cheap: one lookup by key when it does)."""
    start = scan_period_start(now or timezone.now())
    key = f"{SCAN_JOB}:{start:%Y%m%dT%H%M}"
    if not jobs.Job.objects.filter(key=key).exists():
        with transaction.atomic():
            jobs.enqueue(kind=SCAN_JOB, key=key, payload={}, run_at=start)


def supervision_scan(*, now: datetime | None = None) -> dict:
    """Do what the passing of time makes due for supervision; safe to run more than once."""
    now = now or timezone.now()
    made = sum(
        series_extend(series=series, now=now)
        for series in SlotSeries.objects.filter(ended_at__isnull=True).select_related("supervisor")
    )
    warned = 0
    warn_days = settings.SUPERVISION["WARN_DAYS"]
    has_modules = TrainingModule.objects.exists()
    today = timezone.localdate(now)
    supporters = list(User.objects.filter(role=User.Role.SUPPORTER, is_active=True))
    statuses = supervision_statuses(users=supporters, now=now)
    for user in supporters:
        status = statuses[user.pk]
        if status.state != "ok" and status.next_booking is None:
            stage = "overdue" if status.overdue else "soon"
            warned += _warn_once(
                user,
                key=f"supervision-due:{user.pk}:{status.due_at:%Y%m%d}:{stage}",
                kind="supervision_due",
                text=(
                    f"Your supervision was due on {when(status.due_at)}: you can't start new "
                    "shifts until you've had it. Book a time on your schedule."
                    if status.overdue
                    else f"Your supervision is due by {when(status.due_at)} (within {warn_days} "
                    "days). Book a time so your shifts can carry on."
                ),
            )
        if not has_modules:
            continue
        training = training_status(user=user, today=today)
        for name, expires in training.expiring:
            days_left = (expires - today).days
            for lead in sorted(settings.SUPERVISION["TRAINING_REMIND_DAYS"]):
                if days_left <= lead:
                    warned += _warn_once(
                        user,
                        key=f"training:{user.pk}:{name}:{expires:%Y%m%d}:{lead}",
                        kind="training_expiring",
                        text=(
                            f"{name} expires on {formats.date_format(expires, 'j F Y')}. Renew "
                            "it before then, or you won't be able to start shifts."
                        ),
                    )
                    break
    return {"occurrences_made": made, "warnings": warned}


def scan_run(job) -> str:
    result = supervision_scan()
    return f"made {result['occurrences_made']}, warned {result['warnings']}"


def _warn_once(user: User, *, key: str, kind: str, text: str) -> int:
    """Tell `user` once per key (the notice's `once_key` remembers having told them)."""
    with transaction.atomic():
        sent = notice_send(
            recipient=user, kind=kind, text=text, link="/staff/schedule/", once_key=key
        )
    return int(sent is not None)
