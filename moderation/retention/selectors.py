"""Reads for retention: which rooms are kept back, holds as staff see them, the purge's health."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from moderation.models import Escalation, RetentionRun, SafeguardingHold
from peerchat.frames import utc


def held_rooms() -> QuerySet:
    """Ids of rooms under an active safeguarding hold."""
    return SafeguardingHold.objects.filter(released_at__isnull=True).values("room_id")


def escalated_rooms() -> QuerySet:
    """Ids of rooms with an escalation still open or acknowledged: a moderator may be working
    on it, so nothing in the room is purged until it is resolved."""
    return Escalation.objects.exclude(state=Escalation.State.RESOLVED).values("room_id")


def hold_active(*, room_id: int) -> SafeguardingHold | None:
    return (
        SafeguardingHold.objects.select_related("placed_by")
        .filter(room_id=room_id, released_at__isnull=True)
        .first()
    )


def hold_dict(hold: SafeguardingHold | None) -> dict | None:
    """A hold as the moderators' page shows it (None: no active hold)."""
    if hold is None:
        return None
    return {
        "id": hold.pk,
        "placed_by": hold.placed_by.handle if hold.placed_by_id else None,
        "placed_at": utc(hold.placed_at),
        "reason": hold.reason,
        "active": hold.released_at is None,
    }


@dataclass(frozen=True)
class PurgeStatus:
    """What the admin sees of the purge: the last run, the last good one, and whether it is late."""

    enabled: bool
    every: timedelta
    last_run: RetentionRun | None
    last_success: RetentionRun | None
    needs_attention: bool
    warning: str


def purge_status(*, now: datetime | None = None) -> PurgeStatus:
    """The purge's health: overdue when no run finished well within twice its interval."""
    now = now or timezone.now()
    config = settings.RETENTION
    enabled = bool(config["MESSAGE_BODY_DAYS"] or config["NOTES_DAYS"])
    every = timedelta(minutes=max(1, config["PURGE_EVERY_MINUTES"]))
    last_run = RetentionRun.objects.first()
    last_success = (
        RetentionRun.objects.filter(state=RetentionRun.State.DONE)
        .order_by("-finished_at", "-pk")
        .first()
    )
    warning = ""
    if enabled:
        if last_success is None:
            warning = "The retention purge has never finished a run."
        elif last_success.finished_at < now - 2 * every:
            warning = (
                f"The retention purge last finished a run at "
                f"{timezone.localtime(last_success.finished_at):%Y-%m-%d %H:%M}, more than "
                f"twice its interval ({_span(every)}) ago. Check that the worker is running "
                '(docs/operations.md, "Data retention").'
            )
        if last_run is not None and last_run.state == RetentionRun.State.FAILED:
            warning = (warning + " " if warning else "") + (
                f"The latest run failed: {last_run.error or 'see the worker log'}."
            )
    return PurgeStatus(
        enabled=enabled,
        every=every,
        last_run=last_run,
        last_success=last_success,
        needs_attention=bool(warning),
        warning=warning,
    )


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return "1 hour" if hours == 1 else f"{hours} hours"
