"""Reads for structured support: a seeker's state, the queue and honest waits, sessions."""

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from peerchat.frames import utc
from peerchat.models import (
    Agreement,
    HandoverNote,
    QueueState,
    SafetyPlanShare,
    SupportRequest,
    SupportSession,
    User,
)
from peerchat.selectors.supporters import Candidate, next_shift_start, supporters_on_shift


def agreement_current(*, kind: str) -> Agreement | None:
    """The newest published agreement of `kind` (what a person is asked to accept now)."""
    return (
        Agreement.objects.filter(kind=kind, published_at__isnull=False).order_by("-version").first()
    )


def topic_codes() -> set[str]:
    return {code for code, _label in settings.SUPPORT["TOPICS"]}


def session_frame(session: SupportSession) -> dict:
    """The `session` frame: the state both people in a one-to-one chat see."""
    soft_limit = timedelta(minutes=settings.SUPPORT["SESSION_SOFT_LIMIT_MINUTES"])
    request = session.request
    shared = SafetyPlanShare.objects.filter(session=session, withdrawn_at__isnull=True).exists()
    return {
        "type": "session",
        "room": session.room_id,
        "state": session.state,
        "phase": session.phase,
        "started_at": utc(session.started_at),
        "soft_limit_at": utc(session.started_at + soft_limit),
        "ended_at": utc(session.ended_at) if session.ended_at else None,
        "end_reason": session.end_reason or None,
        "seeker": {"handle": session.seeker.handle if session.seeker else None},
        "supporter": {"handle": session.supporter.handle if session.supporter else None},
        "urgent": bool(request and request.urgent),
        "topic": request.topic if request else "",
        "continuity": request.continuity if request else "",
        "safety_plan_shared": shared,
        "seeker_seen_at": utc(session.seeker_seen_at),
        # A moderator paused the chat: nobody but moderators can send until it is resumed.
        "paused": session.paused_at is not None and session.state == SupportSession.State.ACTIVE,
    }


def session_for_room(*, room_id: int) -> SupportSession | None:
    return (
        SupportSession.objects.select_related("seeker", "supporter", "request")
        .filter(room_id=room_id)
        .first()
    )


# Waits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitModel:
    """What wait estimates are computed from: real recent data, nothing predicted."""

    on_shift: int
    free_places: int  # chats that supporters who can take one now could start
    minutes_per_place: float | None  # from how often chats ended recently
    median_wait_minutes: float | None  # from how long recent requests waited
    samples: int
    next_shift_at: datetime | None


def wait_model(*, now: datetime, pool: dict[int, Candidate] | None = None) -> WaitModel:
    if pool is None:
        pool = supporters_on_shift(now=now)
    window = timedelta(minutes=settings.SUPPORT["ESTIMATE_WINDOW_MINUTES"])
    minimum = settings.SUPPORT["ESTIMATE_MIN_SAMPLES"]
    since = now - window
    ended = SupportSession.objects.filter(ended_at__gte=since, ended_at__lte=now).count()
    minutes_per_place = None
    if ended >= minimum:
        # Places free up as chats end: the recent rate of endings is the rate the queue moves.
        first_end = (
            SupportSession.objects.filter(ended_at__gte=since)
            .order_by("started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        span = (now - max(since, first_end or since)).total_seconds() / 60
        minutes_per_place = max(span, 1.0) / ended
    waits = [
        (matched - created).total_seconds() / 60
        for created, matched in SupportRequest.objects.filter(
            matched_at__gte=since, matched_at__lte=now
        ).values_list("created_at", "matched_at")
    ]
    median_wait = statistics.median(waits) if len(waits) >= minimum else None
    return WaitModel(
        on_shift=len(pool),
        free_places=sum(c.free for c in pool.values() if c.can_take(now)),
        minutes_per_place=minutes_per_place,
        median_wait_minutes=median_wait,
        samples=max(ended, len(waits)),
        next_shift_at=next_shift_start(now=now) if not pool else None,
    )


def wait_estimate(*, position: int, model: WaitModel) -> dict:
    """An honest estimate for the person at `position` (1 = next), as a range in minutes.

    `kind` says what it rests on: `nobody_on_shift`, `soon` (a place is free), `minutes`
    (recent data), or `unknown` (not enough recent data to say).
    """
    if model.on_shift == 0:
        return {
            "kind": "nobody_on_shift",
            "next_shift_at": utc(model.next_shift_at) if model.next_shift_at else None,
        }
    if model.free_places >= position:
        return {"kind": "soon"}
    places_ahead = position - model.free_places
    if model.minutes_per_place is not None:
        minutes = places_ahead * model.minutes_per_place
        basis = "recent_chats"
    elif model.median_wait_minutes is not None:
        minutes = model.median_wait_minutes * places_ahead
        basis = "recent_waits"
    else:
        return {"kind": "unknown", "samples": model.samples}
    return {
        "kind": "minutes",
        "low": max(1, math.floor(minutes * 0.6)),
        "high": max(2, math.ceil(minutes * 1.5)),
        "basis": basis,
        "samples": model.samples,
    }


def waiting_requests() -> list[SupportRequest]:
    """The queue in matching order: urgent first, then by arrival."""
    return list(
        SupportRequest.objects.filter(state=SupportRequest.State.WAITING).order_by(
            "-urgent", "created_at", "pk"
        )
    )


def queue_frames(*, now: datetime) -> tuple[dict, dict]:
    """The `queue` frame (for waiting seekers) and `staff_queue` frame (for staff).

    Seekers' frame carries only random request ids with positions and estimates: each page
    finds its own. Staff see counts, never who is waiting.
    """
    version = QueueState.objects.values_list("version", flat=True).first() or 0
    queue = waiting_requests()
    pool = supporters_on_shift(now=now)
    model = wait_model(now=now, pool=pool)
    entries = [
        {"id": r.public_id, "position": i, "estimate": wait_estimate(position=i, model=model)}
        for i, r in enumerate(queue, start=1)
    ]
    seekers = {"type": "queue", "version": version, "waiting": len(queue), "entries": entries}
    topics: dict[str, int] = {}
    for request in queue:
        topics[request.topic or "none"] = topics.get(request.topic or "none", 0) + 1
    staff = {
        "type": "staff_queue",
        "version": version,
        "waiting": len(queue),
        "urgent": sum(1 for r in queue if r.urgent),
        "oldest_wait_seconds": int((now - queue[0].created_at).total_seconds()) if queue else 0,
        "oldest_urgent_wait_seconds": next(
            (int((now - r.created_at).total_seconds()) for r in queue if r.urgent), 0
        ),
        "topics": topics,
        "on_shift": model.on_shift,
        "free_places": model.free_places,
    }
    return seekers, staff


# A seeker's state ---------------------------------------------------------------------------


def support_state(*, seeker: User, now: datetime) -> dict:
    """Everything the seeker's page needs to show where they are: the `support` frame."""
    session = (
        SupportSession.objects.select_related("seeker", "supporter", "request")
        .filter(seeker=seeker)
        .order_by("-started_at")
        .first()
    )
    request = (
        SupportRequest.objects.filter(seeker=seeker, state=SupportRequest.State.WAITING)
        .select_related("preferred_supporter")
        .first()
    )
    frame = {
        "type": "support",
        "state": "none",
        "request": None,
        "session": None,
        "previous_supporter": _previous_supporter(seeker=seeker),
    }
    if session is not None and session.state == SupportSession.State.ACTIVE:
        frame["state"] = "active"
        frame["session"] = session_frame(session)
    elif request is not None:
        queue = waiting_requests()
        position = next(i for i, r in enumerate(queue, start=1) if r.pk == request.pk)
        pool = supporters_on_shift(now=now)
        frame["state"] = "waiting"
        frame["request"] = {
            "id": request.public_id,
            "created_at": utc(request.created_at),
            "urgent": request.urgent,
            "topic": request.topic,
            "position": position,
            "waiting": len(queue),
            "estimate": wait_estimate(position=position, model=wait_model(now=now, pool=pool)),
            "asked_for": request.preferred_supporter.handle
            if request.preferred_supporter
            else None,
            "asked_for_until": utc(request.preferred_until) if request.preferred_until else None,
        }
    elif (
        session is not None
        and session.ended_at is not None
        and now - session.ended_at < timedelta(hours=6)
        and not hasattr(session, "feedback")
    ):
        frame["state"] = "ended"
        frame["session"] = session_frame(session)
    return frame


def _previous_session(*, seeker: User) -> SupportSession | None:
    """The seeker's last finished chat whose supporter they may ask for again."""
    return (
        SupportSession.objects.filter(
            seeker=seeker, state=SupportSession.State.ENDED, supporter__is_active=True
        )
        .exclude(end_reason=SupportSession.EndReason.SEEKER_GONE)
        .select_related("supporter")
        .order_by("-ended_at")
        .first()
    )


def _previous_supporter(*, seeker: User) -> dict | None:
    supporter = previous_supporter_user(seeker=seeker)
    return {"handle": supporter.handle} if supporter is not None else None


def previous_supporter_user(*, seeker: User) -> User | None:
    """The supporter of the seeker's last finished chat, whom they may ask for again."""
    last = _previous_session(seeker=seeker)
    return last.supporter if last is not None else None


# Staff ---------------------------------------------------------------------------------------


def sessions_for_supporter(*, supporter: User) -> list[SupportSession]:
    """The supporter's active chats, oldest first."""
    return list(
        SupportSession.objects.select_related("seeker", "supporter", "request")
        .filter(supporter=supporter, state=SupportSession.State.ACTIVE)
        .order_by("started_at")
    )


def sessions_awaiting_note(*, supporter: User) -> list[SupportSession]:
    """Chats this supporter ended or saw end in the last day with no close note from them."""
    return list(
        SupportSession.objects.select_related("seeker", "supporter", "request")
        .filter(
            supporter=supporter,
            state=SupportSession.State.ENDED,
            ended_at__isnull=False,
        )
        .exclude(handover_notes__kind="close", handover_notes__author=supporter)
        .order_by("-ended_at")[:10]
    )


def handover_notes_for_seeker(*, session: SupportSession, limit: int = 5) -> list[dict]:
    """Staff-only notes from this seeker's earlier chats, newest first (continuity)."""
    if session.seeker_id is None:
        return []
    notes = (
        HandoverNote.objects.filter(session__seeker_id=session.seeker_id)
        .exclude(session=session, kind="close")
        .select_related("author", "to_supporter", "session")
        .order_by("-created_at")[:limit]
    )
    return [
        {
            "kind": n.kind,
            "author": n.author.handle if n.author else None,
            "to": n.to_supporter.handle if n.to_supporter else None,
            "body": n.body,
            "created_at": utc(n.created_at),
            "this_chat": n.session_id == session.pk,
        }
        for n in notes
    ]
