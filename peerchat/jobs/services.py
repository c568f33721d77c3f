"""Enqueue, claim and run durable jobs (DESIGN.md §3, "Durable work").

A job is enqueued in the same transaction as the change that needs it, so it exists exactly
when that change commits. Workers claim due jobs in short transactions, run the handler
outside any transaction, and record the outcome only while they still hold the job's lease.

Guarantees:
- at least once: a job runs until its handler returns, it gives up, or it runs out of
  attempts. A worker that dies mid-job is presumed dead when its lease (`LEASE_SECONDS`)
  runs out and the job runs again, so handlers must be idempotent (or the receiver dedupes);
- no two workers run one job at the same time while its lease holds (PostgreSQL: row locks
  with SKIP LOCKED; SQLite: the IMMEDIATE transaction serialises claims);
- jobs that share a non-empty `ordering_key` run one at a time in id order: a job waits while
  an earlier one is pending (including waiting for a retry) or running. A dead or cancelled
  job no longer holds the others up (alerts must keep flowing), so order is guaranteed among
  the jobs that are delivered, not around one that was given up.
"""

import logging
import random
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from peerchat.jobs.models import ERROR_MAX_CHARS, RESULT_MAX_CHARS, Job
from peerchat.jobs.registry import GiveUp, Retry, handler_for

logger = logging.getLogger("peerchat.jobs")

ACTIVE_STATES = (Job.State.PENDING, Job.State.RUNNING)


def enqueue(
    *,
    kind: str,
    key: str,
    payload: dict,
    run_at: datetime | None = None,
    ordering_key: str = "",
    max_attempts: int | None = None,
) -> Job:
    """Add a job, or return the one already enqueued with this `key` (nothing new is added).

    Call it inside the transaction of the change that needs the job: the job is then saved
    if and only if that change commits.
    """
    if handler_for(kind) is None:
        raise ValueError(f"No handler is registered for job kind {kind!r}.")
    existing = Job.objects.filter(key=key).first()
    if existing is not None:
        return existing
    job = Job(
        kind=kind,
        key=key,
        ordering_key=ordering_key,
        payload=payload,
        run_at=run_at or timezone.now(),
        max_attempts=max_attempts or settings.WORKER["MAX_ATTEMPTS"],
    )
    job.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            job.save(force_insert=True)
    except IntegrityError:
        # Someone enqueued the same key at the same moment and committed first.
        return Job.objects.get(key=key)
    return job


def cancel(key: str) -> bool:
    """Cancel the job with this key if it has not started; return whether it was cancelled."""
    return bool(
        Job.objects.filter(key=key, state=Job.State.PENDING).update(
            state=Job.State.CANCELLED, finished_at=timezone.now(), locked_until=None
        )
    )


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next try after `attempts` failed ones.

    Capped exponential backoff with "equal jitter": the ceiling is
    `min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))` and the delay is drawn
    uniformly between half the ceiling and the ceiling, so workers that failed together do
    not all come back at the same moment, and no retry comes sooner than half the ceiling.
    With the defaults (5 s, 600 s, 15 attempts) the tries span roughly one to one and a half
    hours before a job is dead.
    """
    worker = settings.WORKER
    ceiling = min(
        worker["RETRY_MAX_SECONDS"], worker["RETRY_BASE_SECONDS"] * 2 ** max(0, attempts - 1)
    )
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def _claimable(now: datetime):
    earlier_unfinished = Job.objects.filter(
        ordering_key=OuterRef("ordering_key"),
        id__lt=OuterRef("id"),
        state__in=ACTIVE_STATES,
    )
    return Job.objects.filter(
        Q(state=Job.State.PENDING, run_at__lte=now)
        | Q(state=Job.State.RUNNING, locked_until__lt=now),
    ).filter(Q(ordering_key="") | ~Exists(earlier_unfinished))


def claim(*, worker_id: str) -> Job | None:
    """Take the next due job for `worker_id` (running, one more attempt, leased); None if none.

    Also takes back jobs whose worker's lease ran out: that worker is presumed dead.
    """
    if not _claimable(timezone.now()).exists():  # the idle poll takes no lock
        return None
    lease = timedelta(seconds=settings.WORKER["LEASE_SECONDS"])
    with transaction.atomic():
        while True:
            now = timezone.now()
            job = (
                _claimable(now)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("run_at", "id")
                .first()
            )
            if job is None:
                return None
            if job.state == Job.State.RUNNING:
                logger.warning(
                    "job %s (%s) attempt %s: lease of %s ran out; taking it back",
                    job.pk,
                    job.kind,
                    job.attempts,
                    job.locked_by,
                    extra=_log_fields(job, "job_lease_lost"),
                )
                if job.attempts >= job.max_attempts:
                    job.state = Job.State.DEAD
                    job.last_error = "worker lost during the last attempt"
                    job.finished_at = now
                    job.locked_until = None
                    job.save(update_fields=["state", "last_error", "finished_at", "locked_until"])
                    logger.error(
                        "job %s (%s) is a dead letter: %s",
                        job.pk,
                        job.kind,
                        job.last_error,
                        extra=_log_fields(job, "job_dead"),
                    )
                    continue
                job.last_error = "worker lost (lease ran out)"
            job.state = Job.State.RUNNING
            job.attempts += 1
            job.locked_by = worker_id
            job.locked_until = now + lease
            job.save(update_fields=["state", "attempts", "locked_by", "locked_until", "last_error"])
            return job


def _log_fields(job: Job, event: str) -> dict:
    """The structured fields of a job's log line (docs/operations.md, "Logs")."""
    return {"event": event, "job": job.pk, "job_kind": job.kind, "attempt": job.attempts}


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _record(job: Job, *, worker_id: str, **fields) -> bool:
    """Save the outcome only if this worker still holds this attempt's lease."""
    updated = Job.objects.filter(
        pk=job.pk, state=Job.State.RUNNING, locked_by=worker_id, attempts=job.attempts
    ).update(locked_until=None, **fields)
    if not updated:
        logger.warning(
            "job %s (%s) attempt %s: lease was taken over meanwhile; outcome dropped",
            job.pk,
            job.kind,
            job.attempts,
            extra=_log_fields(job, "job_outcome_dropped"),
        )
    return bool(updated)


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"


def execute(job: Job, *, worker_id: str) -> str:
    """Run a claimed job's handler (outside any transaction) and record what happened.

    Return the state the job was left in (`done`, `pending` for a retry, `dead`), or
    `lost` when the lease was taken over meanwhile and nothing was recorded.
    """
    handler = handler_for(job.kind)
    try:
        if handler is None:
            # Perhaps an older worker than the code that enqueued it: leave it for a newer one.
            raise Retry(f"no handler for kind {job.kind}")
        result = handler(job)
    except GiveUp as error:
        return _dead(job, worker_id=worker_id, reason=error.reason)
    except Retry as error:
        return _retry(job, worker_id=worker_id, reason=error.reason, delay=error.delay)
    except Exception as error:  # noqa: BLE001 - any failure of a handler is a reason to retry
        # The message may quote the payload or a URL with a token: keep the class and place.
        logger.warning(
            "job %s (%s) attempt %s raised %s at %s",
            job.pk,
            job.kind,
            job.attempts,
            type(error).__name__,
            _where(error),
            extra=_log_fields(job, "job_raised"),
        )
        return _retry(job, worker_id=worker_id, reason=type(error).__name__, delay=None)
    recorded = _record(
        job,
        worker_id=worker_id,
        state=Job.State.DONE,
        finished_at=timezone.now(),
        result=_short(result or "", RESULT_MAX_CHARS),
    )
    if recorded:
        logger.info(
            "job %s (%s) attempt %s done",
            job.pk,
            job.kind,
            job.attempts,
            extra=_log_fields(job, "job_done"),
        )
    return Job.State.DONE if recorded else "lost"


def _dead(job: Job, *, worker_id: str, reason: str) -> str:
    reason = _short(reason, ERROR_MAX_CHARS)
    if not _record(
        job,
        worker_id=worker_id,
        state=Job.State.DEAD,
        finished_at=timezone.now(),
        last_error=reason,
    ):
        return "lost"
    logger.error(
        "job %s (%s) is a dead letter after attempt %s: %s",
        job.pk,
        job.kind,
        job.attempts,
        reason,
        extra=_log_fields(job, "job_dead"),
    )
    return Job.State.DEAD


def _retry(job: Job, *, worker_id: str, reason: str, delay: float | None) -> str:
    if job.attempts >= job.max_attempts:
        return _dead(job, worker_id=worker_id, reason=f"{reason} (after {job.attempts} attempts)")
    if delay is None:
        delay = backoff_delay(job.attempts)
    delay = min(max(0.0, delay), settings.WORKER["RETRY_MAX_SECONDS"])
    if not _record(
        job,
        worker_id=worker_id,
        state=Job.State.PENDING,
        run_at=timezone.now() + timedelta(seconds=delay),
        last_error=_short(reason, ERROR_MAX_CHARS),
    ):
        return "lost"
    logger.warning(
        "job %s (%s) attempt %s failed: %s; next try in %.1f s",
        job.pk,
        job.kind,
        job.attempts,
        _short(reason, ERROR_MAX_CHARS),
        delay,
        extra=_log_fields(job, "job_retry"),
    )
    return Job.State.PENDING


def run_due(*, worker_id: str, limit: int = 50, stop: Callable[[], bool] | None = None) -> int:
    """Claim and run due jobs one at a time, at most `limit`; return how many ran.

    `stop` is asked before each claim, so a worker stopping finishes the job in hand and
    takes no more.
    """
    ran = 0
    while ran < limit and not (stop and stop()):
        job = claim(worker_id=worker_id)
        if job is None:
            break
        execute(job, worker_id=worker_id)
        ran += 1
    return ran
