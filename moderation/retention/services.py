"""Safeguarding holds, and the retention purge the worker runs (DESIGN.md §3, §11).

The purge blanks text older than the retention period (`moderation.retention.kinds`) in short
batches, each its own transaction, and keeps every row, so `seq`s, times, kinds and the
filter's outcomes stay and the evaluators' figures are unchanged. Rooms under an active
safeguarding hold, and rooms whose escalation is not resolved yet, are left alone.

Safe to run twice at once (two workers, a lease that ran out, `manage.py retention_purge`
beside the worker): a batch locks its rooms and rows with SKIP LOCKED and blanks only text
that is still there, so nothing is counted twice and nothing waits on a lock. A hold placed
while a batch runs locks the room too, so it either comes before the batch (and the batch
leaves the room alone) or after it.
"""

import logging
import time
import traceback
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from moderation.escalations.selectors import ESCALATIONS_GROUP, escalation_get, escalation_item
from moderation.models import AuditEntry, Escalation, RetentionRun, SafeguardingHold
from moderation.oversight.selectors import staff_check
from moderation.retention.kinds import KINDS, MESSAGE_BODIES, Kind
from moderation.retention.selectors import escalated_rooms, held_rooms
from peerchat import events, jobs
from peerchat.errors import NotFound, PeerchatError, RoomNotFound
from peerchat.models import Message, Room, User
from peerchat.services.messages import messages_removed_publish

logger = logging.getLogger("moderation.retention")

PURGE_JOB = "retention.purge"
REASON_MAX_CHARS = 500
# Frames stay well under the socket's frame limit however many messages go at once.


# Safeguarding holds ----------------------------------------------------------------------------


def _text(value: str | None, *, what: str, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise PeerchatError(f"Please give {what}. Only staff see it.", code="reason_required")
    if len(value) > REASON_MAX_CHARS:
        raise PeerchatError(f"Keep it under {REASON_MAX_CHARS} characters.", code="invalid_field")
    return value


def _room_lock(room_id: int) -> None:
    # The purge's batches lock the rooms they blank text in: a hold comes before or after one.
    if not Room.objects.select_for_update().filter(pk=room_id).exists():
        raise RoomNotFound("There is no room with that id.")


def hold_place(
    *,
    room_id: int,
    moderator: User,
    reason: str,
    escalation_id: int | None = None,
    now: datetime | None = None,
) -> tuple[SafeguardingHold, bool]:
    """Keep the room's messages and notes past retention until the hold is released.

    Returns the hold and whether it is new: placing one on a room already under a hold
    returns that hold and changes nothing. Audited (`safeguarding_hold_placed`, without the
    reason: the audit log keeps no free text).
    """
    staff_check(moderator)
    reason = _text(reason, what="a reason for keeping this chat's record", required=True)
    now = now or timezone.now()
    with transaction.atomic():
        _room_lock(room_id)
        current = SafeguardingHold.objects.filter(room_id=room_id, released_at__isnull=True).first()
        if current is not None:
            return current, False
        if (
            escalation_id is not None
            and not Escalation.objects.filter(pk=escalation_id, room_id=room_id).exists()
        ):
            raise NotFound("There is no such escalation in that room.", code="escalation_not_found")
        hold = SafeguardingHold(
            room_id=room_id,
            escalation_id=escalation_id,
            placed_by=moderator,
            placed_at=now,
            reason=reason,
        )
        hold.full_clean(validate_constraints=False)
        hold.save(force_insert=True)
        AuditEntry.objects.create(
            actor=moderator,
            action="safeguarding_hold_placed",
            room_id=room_id,
            detail={"hold": hold.pk, "escalation": escalation_id},
        )
        _escalations_publish(room_id=room_id, event="hold_placed", by=moderator, now=now)
    return hold, True


def hold_release(
    *, room_id: int, moderator: User, note: str = "", now: datetime | None = None
) -> SafeguardingHold:
    """End the room's active hold: the next purge blanks what is past retention there.

    Audited (`safeguarding_hold_released`). Releasing a room with no active hold is refused.
    """
    staff_check(moderator)
    note = _text(note, what="a note", required=False)
    now = now or timezone.now()
    with transaction.atomic():
        _room_lock(room_id)
        hold = SafeguardingHold.objects.filter(room_id=room_id, released_at__isnull=True).first()
        if hold is None:
            raise NotFound("This room is not under a safeguarding hold.", code="hold_not_found")
        hold.released_at = now
        hold.released_by = moderator
        hold.release_note = note
        hold.save(update_fields=["released_at", "released_by", "release_note"])
        AuditEntry.objects.create(
            actor=moderator,
            action="safeguarding_hold_released",
            room_id=room_id,
            detail={"hold": hold.pk},
        )
        _escalations_publish(room_id=room_id, event="hold_released", by=moderator, now=now)
    return hold


def _escalations_publish(*, room_id: int, event: str, by: User, now: datetime) -> None:
    """Show the room's escalations on the moderators' pages with the hold as it is now."""
    recent = now - timedelta(hours=settings.ESCALATIONS["RECENT_HOURS"])
    for escalation_id in Escalation.objects.filter(
        Q(room_id=room_id), ~Q(state=Escalation.State.RESOLVED) | Q(resolved_at__gte=recent)
    ).values_list("pk", flat=True):
        item = escalation_item(escalation_get(escalation_id=escalation_id))
        events.publish_on_commit(
            ESCALATIONS_GROUP,
            {
                "kind": "watch",
                "topic": "escalations",
                "text": events.encode(
                    {"type": "escalation", "event": event, "by": by.handle, "item": item}
                ),
            },
        )


# The purge ------------------------------------------------------------------------------------


def retention_purge(
    *,
    now: datetime | None = None,
    worker: str = "",
    job=None,
    budget_seconds: float | None = None,
) -> RetentionRun:
    """Blank every kind of text past its retention period; record the run and return it.

    Stops after `budget_seconds` (default: half the worker's lease, so a job never outlives
    its lease) with `complete` False: the job handler then enqueues a follow-up. A failure is
    recorded on the run (state `failed`, the error's class and place) and raised again.
    """
    now = now or timezone.now()
    config = settings.RETENTION
    budget = settings.WORKER["LEASE_SECONDS"] / 2 if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    run = RetentionRun.objects.create(
        started_at=now,
        worker=worker[:100],
        job=job,
        message_body_days=config["MESSAGE_BODY_DAYS"],
        notes_days=config["NOTES_DAYS"],
    )
    complete = True
    try:
        for kind in KINDS:
            cutoff = _cutoff(kind, now=now)
            if cutoff is None:
                continue
            purged, finished = _purge_kind(kind, cutoff=cutoff, now=now, deadline=deadline)
            if purged:
                run.purged[kind.key] = purged
            if not finished:
                complete = False
                break
        _kept_back(run, now=now)
    except Exception as error:
        frame = (traceback.extract_tb(error.__traceback__) or [None])[-1]
        where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
        run.state = RetentionRun.State.FAILED
        run.error = f"{type(error).__name__}{where}"[:200]
        run.finished_at = timezone.now()
        run.save()
        logger.error("retention purge %s failed: %s", run.pk, run.error)
        raise
    run.state = RetentionRun.State.DONE
    run.complete = complete
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "retention purge %s: %s item(s) blanked, %s kept back by holds or open escalations%s",
        run.pk,
        run.purged_total,
        run.held_back_total,
        "" if complete else " (more to do: continued by another job)",
    )
    return run


def _cutoff(kind: Kind, *, now: datetime) -> datetime | None:
    days = settings.RETENTION[kind.clock]
    return now - timedelta(days=days) if days and days > 0 else None


def _pending(kind: Kind, cutoff: datetime):
    rows = kind.candidates(cutoff)
    if kind.room:
        rows = rows.exclude(kind.in_rooms(held_rooms())).exclude(kind.in_rooms(escalated_rooms()))
    return rows


def _purge_kind(
    kind: Kind, *, cutoff: datetime, now: datetime, deadline: float
) -> tuple[int, bool]:
    """Blank `kind` in batches, oldest first; return (how many, whether it got to the end)."""
    batch = max(1, settings.RETENTION["BATCH_SIZE"])
    purged = 0
    after: tuple | None = None  # keyset cursor: (written, pk) of the last row looked at
    while True:
        rows = _pending(kind, cutoff)
        if after is not None:
            rows = rows.filter(
                Q(**{f"{kind.written}__gt": after[0]})
                | Q(**{kind.written: after[0], "pk__gt": after[1]})
            )
        page = list(rows.values_list(kind.written, "pk")[:batch])
        if not page:
            return purged, True
        after = page[-1]
        purged += _purge_batch(kind, ids=[pk for _written, pk in page], cutoff=cutoff, now=now)
        # Checked after a batch, so every run gets somewhere however short its budget.
        if time.monotonic() >= deadline:
            return purged, False


def _purge_batch(kind: Kind, *, ids: list[int], cutoff: datetime, now: datetime) -> int:
    """Blank one batch in one short transaction. Rows or rooms locked by someone else right
    now are skipped: the next run takes them."""
    with transaction.atomic():
        rows = _pending(kind, cutoff).filter(pk__in=ids)
        if kind.room:
            room_ids = sorted(
                set(kind.model.objects.filter(pk__in=ids).values_list(kind.room, flat=True))
            )
            locked = list(
                Room.objects.select_for_update(skip_locked=True)
                .filter(pk__in=room_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            # Read again under the rooms' locks: a hold placed a moment ago is seen here.
            rows = rows.filter(**{f"{kind.room}__in": locked})
        taken = list(
            rows.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)
        )
        if not taken:
            return 0
        if kind is MESSAGE_BODIES:
            seqs = list(
                Message.objects.filter(pk__in=taken, seq__isnull=False)
                .order_by("room_id", "seq")
                .values_list("room_id", "seq")
            )
        count = (
            kind.model.objects.filter(pk__in=taken)
            .exclude(**{kind.text: ""})
            .update(**{kind.text: ""}, **kind.also_set(now))
        )
        if kind is MESSAGE_BODIES:
            messages_removed_publish(seqs, by=Message.RemovedBy.RETENTION.value)
    return count


def _kept_back(run: RetentionRun, *, now: datetime) -> None:
    """Count what is past retention but kept, by kind, and name the holds that kept it."""
    held_room_ids: set[int] = set()
    escalation_room_ids: set[int] = set()
    for kind in KINDS:
        cutoff = _cutoff(kind, now=now)
        if cutoff is None or not kind.room:
            continue
        kept = kind.candidates(cutoff).filter(
            kind.in_rooms(held_rooms()) | kind.in_rooms(escalated_rooms())
        )
        rooms = set(kept.order_by().values_list(kind.room, flat=True).distinct())
        if not rooms:
            continue
        run.held_back[kind.key] = kept.count()
        held = set(held_rooms().filter(room_id__in=rooms).values_list("room_id", flat=True))
        held_room_ids |= held
        escalation_room_ids |= set(
            escalated_rooms().filter(room_id__in=rooms - held).values_list("room_id", flat=True)
        )
    run.holds = sorted(
        SafeguardingHold.objects.filter(
            released_at__isnull=True, room_id__in=held_room_ids
        ).values_list("pk", flat=True)
    )
    run.escalation_rooms = len(escalation_room_ids)


# Scheduling: a job per period, ensured by every process's sweep ------------------------------


def purge_period_start(now: datetime) -> datetime:
    seconds = max(1, settings.RETENTION["PURGE_EVERY_MINUTES"]) * 60
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


def purge_ensure(*, now: datetime | None = None) -> None:
    """Make sure this period's purge job exists (one lookup by key when it does).

    Nothing is scheduled while both retention periods are 0 (everything kept for ever).
    """
    config = settings.RETENTION
    if not (config["MESSAGE_BODY_DAYS"] or config["NOTES_DAYS"]):
        return
    start = purge_period_start(now or timezone.now())
    key = f"{PURGE_JOB}:{start:%Y%m%dT%H%M}"
    if not jobs.Job.objects.filter(key=key).exists():
        with transaction.atomic():
            jobs.enqueue(kind=PURGE_JOB, key=key, payload={}, run_at=start)


def purge_run(job) -> str:
    """The worker's handler: one run, and a follow-up job when it ran out of time."""
    run = retention_purge(worker=job.locked_by, job=job)
    if not run.complete:
        with transaction.atomic():
            jobs.enqueue(
                kind=PURGE_JOB, key=f"{PURGE_JOB}:more:{run.pk}:{uuid.uuid4().hex[:8]}", payload={}
            )
    return f"run {run.pk}: blanked {run.purged_total}, kept back {run.held_back_total}" + (
        "" if run.complete else ", continuing"
    )
