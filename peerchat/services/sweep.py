"""The periodic sweep: lapsed grace periods, finished shifts, and matching that time allows."""

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from moderation.oversight.services import presence_sweep
from moderation.retention.services import purge_ensure
from peerchat.models import SupportRequest, SupportSession
from peerchat.services.groups import groups_close_finished
from peerchat.services.queue import matching_run, support_request_leave
from peerchat.services.sessions import session_end
from peerchat.services.shifts import shifts_close_finished
from peerchat.services.supervision.reminders import scan_ensure

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    requests_gone: int
    sessions_ended: int
    shifts_closed: int
    groups_closed: int
    matched: int
    presences_ended: int = 0


def support_sweep(*, now: datetime | None = None) -> SweepResult:
    """Do what the passing of time makes due. Safe to run on several processes at once.

    - a waiting seeker whose page has not answered for the queue grace period leaves the
      queue (so no supporter waits for someone who has gone);
    - a chat whose seeker has not been back for the session grace period ends;
    - supporters whose scheduled shift is over go off shift (their chats carry on);
    - groups left open past their end close;
    - a moderator whose page stopped answering no longer counts as present in a room;
    - matching runs, because continuity waits and pauses run out with time;
    - the worker's periodic jobs (supervision scan, retention purge) are scheduled.
    """
    now = now or timezone.now()
    support = settings.SUPPORT
    gone = 0
    for request in SupportRequest.objects.filter(
        state=SupportRequest.State.WAITING,
        seen_at__lt=now - timedelta(seconds=support["QUEUE_GRACE_SECONDS"]),
    ).select_related("seeker"):
        if request.seeker and support_request_leave(
            seeker=request.seeker, state=SupportRequest.State.GONE, now=now
        ):
            gone += 1
    ended = 0
    for session in SupportSession.objects.filter(
        state=SupportSession.State.ACTIVE,
        seeker_seen_at__lt=now - timedelta(seconds=support["SESSION_GRACE_SECONDS"]),
    ):
        session_end(session=session, by=None, reason=SupportSession.EndReason.SEEKER_GONE, now=now)
        ended += 1
    closed = shifts_close_finished(now=now)
    groups_closed = groups_close_finished(now=now)
    matched = 0
    if SupportRequest.objects.filter(state=SupportRequest.State.WAITING).exists():
        matched = len(matching_run(now=now))
    presences_ended = presence_sweep(now=now)
    # Supervision's periodic work (reminders, recurring slots) and the retention purge run in
    # the worker; the sweep only makes sure this period's job exists.
    scan_ensure(now=now)
    purge_ensure(now=now)
    result = SweepResult(gone, ended, closed, groups_closed, matched, presences_ended)
    if any(dataclasses.astuple(result)):
        logger.info("support sweep: %s", result)
    return result
