"""A one-to-one session's life: phases, transfer, ending, notes, feedback and presence."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from peerchat import events
from peerchat.errors import Conflict, Forbidden, NotFound, PeerchatError
from peerchat.models import (
    Feedback,
    HandoverNote,
    Membership,
    SupporterProfile,
    SupportRequest,
    SupportSession,
    User,
)
from peerchat.selectors.support import session_for_room, session_frame
from peerchat.selectors.supporters import supporters_on_shift
from peerchat.services.queue import (
    matching_run_locked,
    queue_changed,
    queue_lock,
    support_state_publish_on_commit,
)
from peerchat.services.rooms import room_member_add, room_member_remove

NOTE_MAX_CHARS = 2000


def session_get(*, room_id: int, user: User) -> SupportSession:
    """The session in `room_id` if `user` is its seeker or current supporter, else NotFound."""
    session = session_for_room(room_id=room_id)
    if session is None or user.pk not in (session.seeker_id, session.supporter_id):
        raise NotFound("There is no chat with that id that you are part of.")
    return session


def _locked(session: SupportSession) -> SupportSession:
    return (
        SupportSession.objects.select_for_update(of=("self",))
        .select_related("seeker", "supporter", "request")
        .get(pk=session.pk)
    )


def _publish_session(session: SupportSession) -> None:
    events.room_state_on_commit(session.room_id, session_frame(session))


def session_end(
    *, session: SupportSession, by: User | None, reason: str, now: datetime | None = None
) -> SupportSession:
    """End the chat (either side, or the sweep when the seeker did not come back).

    Ending twice is harmless. The supporter's place frees up for the next seeker at once,
    unless the chat was escalated: then they get a short pause first.
    """
    with transaction.atomic():
        lock, now = queue_lock(now)
        session = _locked(session)
        if session.state == SupportSession.State.ENDED:
            return session
        session.state = SupportSession.State.ENDED
        session.ended_at = now
        session.end_reason = reason
        session.save(update_fields=["state", "ended_at", "end_reason"])
        if session.escalated_at is not None and session.supporter_id:
            pause = timedelta(minutes=settings.SUPPORT["ESCALATION_PAUSE_MINUTES"])
            SupporterProfile.objects.filter(user_id=session.supporter_id).update(
                paused_until=now + pause
            )
        _publish_session(session)
        if session.seeker_id:
            support_state_publish_on_commit(session.seeker_id)
        matching_run_locked(now=now)
        queue_changed(lock)
    return session


def session_end_by(*, room_id: int, user: User) -> SupportSession:
    """End a chat on behalf of its seeker or its supporter."""
    session = session_get(room_id=room_id, user=user)
    reason = (
        SupportSession.EndReason.SEEKER_ENDED
        if user.pk == session.seeker_id
        else SupportSession.EndReason.SUPPORTER_ENDED
    )
    return session_end(session=session, by=user, reason=reason)


def session_phase_set(*, room_id: int, supporter: User, phase: str) -> SupportSession:
    """Mark where the conversation is (opening, talking, closing); the supporter's guide."""
    if phase not in SupportSession.Phase.values:
        raise PeerchatError("Phase must be opening, talking or closing.", code="invalid_field")
    session = session_get(room_id=room_id, user=supporter)
    if supporter.pk != session.supporter_id:
        raise Forbidden("Only the supporter sets the phase.")
    with transaction.atomic():
        session = _locked(session)
        if session.state != SupportSession.State.ACTIVE:
            raise Conflict("This chat has ended.", code="session_ended")
        if session.phase != phase:
            session.phase = phase
            session.save(update_fields=["phase"])
            _publish_session(session)
    return session


def session_mark_escalated(*, session: SupportSession, now: datetime | None = None) -> None:
    """Record that the chat needed an escalation (the escalation flow calls this)."""
    SupportSession.objects.filter(pk=session.pk, escalated_at__isnull=True).update(
        escalated_at=now or timezone.now()
    )


def session_transfer(
    *, room_id: int, supporter: User, to_handle: str, note: str, now: datetime | None = None
) -> SupportSession:
    """Hand the chat over to another supporter who can take it now, with a handover note.

    The note is staff-only. The seeker is told who they are now talking with; the first
    supporter leaves the room.
    """
    note = (note or "").strip()
    if not note:
        raise PeerchatError(
            "Write a short handover note for the next supporter.", code="note_required"
        )
    if len(note) > NOTE_MAX_CHARS:
        raise PeerchatError(
            f"Keep the note under {NOTE_MAX_CHARS} characters.", code="note_too_long"
        )
    session = session_get(room_id=room_id, user=supporter)
    if supporter.pk != session.supporter_id:
        raise Forbidden("Only the supporter of this chat can hand it over.")
    with transaction.atomic():
        lock, now = queue_lock(now)
        session = _locked(session)
        if session.state != SupportSession.State.ACTIVE:
            raise Conflict("This chat has ended.", code="session_ended")
        if session.supporter_id != supporter.pk:
            raise Conflict("This chat was already handed over.", code="already_transferred")
        target = supporters_on_shift(now=now)
        candidate = next(
            (
                c
                for c in target.values()
                if c.user.handle == to_handle and c.user.pk != supporter.pk
            ),
            None,
        )
        if candidate is None or not candidate.can_take(now):
            raise Conflict(
                f"{to_handle} can't take a chat right now. Choose someone else who is on shift "
                "with a free place.",
                code="supporter_unavailable",
            )
        new = candidate.user
        HandoverNote.objects.create(
            session=session,
            author=supporter,
            kind=HandoverNote.Kind.TRANSFER,
            to_supporter=new,
            body=note,
        )
        room_member_add(room=session.room, user=new, role=Membership.Role.SUPPORTER)
        room_member_remove(room=session.room, user=supporter)
        session.supporter = new
        session.phase = SupportSession.Phase.OPENING
        session.save(update_fields=["supporter", "phase"])
        SupporterProfile.objects.filter(user=new).update(last_assigned_at=now)
        frame = {**session_frame(session), "transferred_from": {"handle": supporter.handle}}
        events.room_state_on_commit(session.room_id, frame)
        events.user_frame_on_commit(new.pk, {**frame, "type": "assigned"})
        if session.seeker_id:
            support_state_publish_on_commit(session.seeker_id)
        matching_run_locked(now=now)  # the first supporter has a free place again
        queue_changed(lock)
    return session


def handover_note_write(*, room_id: int, author: User, body: str) -> HandoverNote:
    """Write (or rewrite) the supporter's private note on a chat that has ended."""
    body = (body or "").strip()
    if not body:
        raise PeerchatError("The note is empty.", code="note_required")
    if len(body) > NOTE_MAX_CHARS:
        raise PeerchatError(
            f"Keep the note under {NOTE_MAX_CHARS} characters.", code="note_too_long"
        )
    session = SupportSession.objects.filter(room_id=room_id, supporter=author).first()
    if session is None:
        raise NotFound("There is no chat with that id that you supported.")
    if session.state != SupportSession.State.ENDED:
        raise Conflict("Write the note once the chat has ended.", code="session_active")
    note, _ = HandoverNote.objects.update_or_create(
        session=session, author=author, kind=HandoverNote.Kind.CLOSE, defaults={"body": body}
    )
    return note


def feedback_submit(
    *,
    room_id: int,
    seeker: User,
    listened: int | None = None,
    helpful: int | None = None,
    would_return: str = "",
    comment: str = "",
) -> Feedback:
    """Store the seeker's optional feedback on an ended chat (sending again updates it)."""
    session = SupportSession.objects.filter(room_id=room_id, seeker=seeker).first()
    if session is None:
        raise NotFound("There is no chat with that id that you were part of.")
    if session.state != SupportSession.State.ENDED:
        raise Conflict("Feedback can be given once the chat has ended.", code="session_active")
    for name, value in (("listened", listened), ("helpful", helpful)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5
        ):
            raise PeerchatError(f"'{name}' must be from 1 to 5.", code="invalid_field")
    if would_return not in Feedback.Return.values:
        raise PeerchatError("'would_return' must be yes, maybe or no.", code="invalid_field")
    comment = (comment or "").strip()
    if len(comment) > NOTE_MAX_CHARS:
        raise PeerchatError(f"Keep it under {NOTE_MAX_CHARS} characters.", code="invalid_field")
    feedback, _ = Feedback.objects.update_or_create(
        session=session,
        defaults={
            "listened": listened,
            "helpful": helpful,
            "would_return": would_return,
            "comment": comment,
        },
    )
    support_state_publish_on_commit(seeker.pk)
    return feedback


def seeker_presence_touch(*, seeker_id: int, now: datetime | None = None) -> None:
    """The seeker's page is still open: keep their place in the queue and their chat."""
    seekers_presence_touch([seeker_id], now=now)


def seekers_presence_touch(seeker_ids: list[int], *, now: datetime | None = None) -> None:
    """These seekers' pages are still open (one process's beat, peerchat.presence)."""
    now = now or timezone.now()
    SupportRequest.objects.filter(
        seeker_id__in=seeker_ids, state=SupportRequest.State.WAITING
    ).update(seen_at=now)
    SupportSession.objects.filter(
        seeker_id__in=seeker_ids, state=SupportSession.State.ACTIVE
    ).update(seeker_seen_at=now)
