"""The queue: asking for support, leaving it, and matching seekers with supporters.

Every change to the queue, or to who can take chats, first locks the one `QueueState` row.
That serialises matching across all daphne processes: one seeker never goes to two
supporters, and no supporter goes over capacity, whatever arrives at once. Matching runs
inside the same transaction as the change that made it possible.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from peerchat import events
from peerchat.errors import Conflict, Forbidden, PeerchatError
from peerchat.models import (
    AgreementAcceptance,
    Membership,
    QueueState,
    Room,
    SupporterProfile,
    SupportRequest,
    SupportSession,
    User,
)
from peerchat.selectors import support as support_selectors
from peerchat.selectors.supporters import Candidate, supporters_on_shift
from peerchat.services.rooms import room_create

logger = logging.getLogger(__name__)

QUEUE_GROUP = "queue"
STAFF_QUEUE_GROUP = "staff.queue"


def queue_lock(now: datetime | None = None) -> tuple[QueueState, datetime]:
    """Lock the queue for the rest of the current transaction (call inside atomic()).

    Returns the lock's row and the time to record the change at: `now` if given, else the
    time the lock was obtained, so recorded times follow the order the lock imposes.
    """
    state = QueueState.objects.select_for_update().filter(pk=1).first()
    if state is None:
        QueueState.objects.get_or_create(pk=1)
        state = QueueState.objects.select_for_update().get(pk=1)
    return state, now or timezone.now()


def queue_changed(state: QueueState) -> None:
    """Bump the queue's version; after commit, every watcher gets fresh queue frames."""
    state.version += 1
    state.save(update_fields=["version"])
    transaction.on_commit(queue_publish)


def queue_publish() -> None:
    """Send the current queue to waiting seekers' and staff pages (after a commit)."""
    seekers, staff = support_selectors.queue_frames(now=timezone.now())
    events.publish_soon(
        QUEUE_GROUP, {"kind": "watch", "topic": "queue", "text": events.encode(seekers)}
    )
    events.publish_soon(
        STAFF_QUEUE_GROUP, {"kind": "watch", "topic": "staff_queue", "text": events.encode(staff)}
    )


def support_state_publish_on_commit(seeker_id: int) -> None:
    """After commit, tell every page the seeker has open where they are now."""

    def send():
        seeker = User.objects.filter(pk=seeker_id, is_active=True).first()
        if seeker is None:
            return
        frame = support_selectors.support_state(seeker=seeker, now=timezone.now())
        events.publish_soon(
            events.USERS_GROUP,
            {"kind": "control", "user": seeker_id, "action": "frame", "text": events.encode(frame)},
        )

    transaction.on_commit(send)


# Asking for support --------------------------------------------------------------------------


def support_request_create(
    *,
    seeker: User,
    agreement_version: int,
    safe_now: str = "",
    topic: str = "",
    ask_for_previous: bool = False,
    now: datetime | None = None,
) -> tuple[SupportRequest | None, bool]:
    """Accept the agreement and join the queue; return (request, created).

    Asking twice (a double click, a second tab) changes nothing: the seeker keeps their place
    and gets (existing request, False), or (None, False) when they are already in a chat.
    "No" or "not sure" to "are you safe right now?" makes the request urgent: the seeker's
    own answer, not a prediction.
    """
    if not seeker.is_seeker:
        raise Forbidden("Only people looking for support can join the queue.")
    if safe_now not in SupportRequest.SafeNow.values:
        raise PeerchatError("Choose yes, not sure or no (or leave it).", code="invalid_field")
    if topic and topic not in support_selectors.topic_codes():
        raise PeerchatError("That topic is not one of the choices.", code="invalid_field")
    agreement = support_selectors.agreement_current(kind=Room.Kind.ONE_TO_ONE)
    if agreement is None:
        raise Conflict("The service is not set up yet: there is no agreement to accept.")
    if agreement_version != agreement.version:
        raise Conflict(
            "The agreement changed while you were reading it. Please read the new version.",
            code="agreement_outdated",
        )
    with transaction.atomic():
        state, now = queue_lock(now)
        if SupportSession.objects.filter(seeker=seeker, state=SupportSession.State.ACTIVE).exists():
            return None, False
        existing = SupportRequest.objects.filter(
            seeker=seeker, state=SupportRequest.State.WAITING
        ).first()
        if existing is not None:
            return existing, False
        AgreementAcceptance.objects.get_or_create(user=seeker, agreement=agreement)
        preferred = (
            support_selectors.previous_supporter_user(seeker=seeker) if ask_for_previous else None
        )
        request = SupportRequest(
            seeker=seeker,
            agreement=agreement,
            safe_now=safe_now,
            urgent=safe_now in (SupportRequest.SafeNow.NO, SupportRequest.SafeNow.NOT_SURE),
            topic=topic,
            preferred_supporter=preferred,
            preferred_until=now + timedelta(minutes=settings.SUPPORT["CONTINUITY_WAIT_MINUTES"])
            if preferred
            else None,
        )
        request.full_clean()
        request.save()
        matching_run_locked(now=now)
        queue_changed(state)
        support_state_publish_on_commit(seeker.pk)
    request.refresh_from_db()
    return request, True


def support_request_leave(
    *, seeker: User, state: str = SupportRequest.State.LEFT, now: datetime | None = None
) -> bool:
    """Leave the queue ("I had to go"); return whether the seeker was waiting."""
    with transaction.atomic():
        lock, now = queue_lock(now)
        updated = SupportRequest.objects.filter(
            seeker=seeker, state=SupportRequest.State.WAITING
        ).update(state=state, closed_at=now)
        if updated:
            queue_changed(lock)
            support_state_publish_on_commit(seeker.pk)
    return bool(updated)


# Matching ------------------------------------------------------------------------------------


def matching_run(*, now: datetime | None = None) -> list[SupportSession]:
    """Match whoever can be matched now (the sweep calls this; changes call the locked form)."""
    with transaction.atomic():
        state, now = queue_lock(now)
        sessions = matching_run_locked(now=now)
        if sessions:
            queue_changed(state)
    return sessions


def matching_run_locked(*, now: datetime) -> list[SupportSession]:
    """Match waiting seekers to supporters who can take them; the queue lock must be held.

    Urgent requests first, then by arrival. A seeker who asked for their previous supporter
    gets them if that supporter is on shift and has a place; while that supporter is on shift
    but busy the seeker waits for them, up to the continuity wait; if they are not on shift,
    the next available supporter takes the chat at once. Among supporters who can take a
    chat, the one with the lightest load, then the longest since their last chat, goes first.
    """
    waiting = support_selectors.waiting_requests()
    if not waiting:
        return []
    pool = supporters_on_shift(now=now)
    sessions = []
    for request in waiting:
        chosen, continuity = None, SupportRequest.Continuity.NOT_ASKED
        if request.preferred_supporter_id:
            preferred = pool.get(request.preferred_supporter_id)
            if preferred is not None and preferred.can_take(now):
                chosen, continuity = preferred, SupportRequest.Continuity.SAME
            elif preferred is None:
                chosen = _pick(pool, request, now)
                continuity = SupportRequest.Continuity.NOT_ON_SHIFT
            elif request.preferred_until and now < request.preferred_until:
                continue  # on shift but busy: wait for them a little longer
            else:
                chosen = _pick(pool, request, now)
                continuity = SupportRequest.Continuity.WAIT_EXPIRED
        else:
            chosen = _pick(pool, request, now)
        if chosen is None:
            continue
        sessions.append(_assign(request, chosen, continuity, now))
        chosen.active += 1
        chosen.last_assigned_at = now
    return sessions


def _pick(pool: dict[int, Candidate], request: SupportRequest, now: datetime):
    candidates = [c for c in pool.values() if c.can_take(now)]
    if request.urgent:
        # An urgent request goes to an experienced supporter when one can take it.
        experienced = [c for c in candidates if c.user.supporter_level != "trainee"]
        candidates = experienced or candidates
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: (
            c.active / c.capacity,
            c.last_assigned_at or datetime.min.replace(tzinfo=now.tzinfo),
            c.user.pk,
        ),
    )


def _assign(
    request: SupportRequest, chosen: Candidate, continuity: str, now: datetime
) -> SupportSession:
    seeker = User.objects.get(pk=request.seeker_id)
    supporter = chosen.user
    room = room_create(
        kind=Room.Kind.ONE_TO_ONE,
        members=[(seeker, Membership.Role.SEEKER), (supporter, Membership.Role.SUPPORTER)],
    )
    session = SupportSession.objects.create(
        room=room, request=request, seeker=seeker, supporter=supporter, seeker_seen_at=now
    )
    request.state = SupportRequest.State.MATCHED
    request.matched_at = now
    request.continuity = continuity
    request.save(update_fields=["state", "matched_at", "continuity"])
    SupporterProfile.objects.filter(user=supporter).update(last_assigned_at=now)
    logger.info(
        "matched request r%s to supporter u%s",
        request.pk,
        supporter.pk,
        extra={
            "event": "support_matched",
            "support_request": request.pk,
            "user": f"u{supporter.pk}",
            "room": session.room_id,
        },
    )
    session = SupportSession.objects.select_related("seeker", "supporter", "request").get(
        pk=session.pk
    )
    frame = support_selectors.session_frame(session)
    events.user_frame_on_commit(supporter.pk, {**frame, "type": "assigned"})
    support_state_publish_on_commit(seeker.pk)
    return session
