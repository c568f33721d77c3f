"""What moderators do in rooms, each step audited and announced after commit.

Presence changes of a room are serialised by locking the room's row, so exactly the change
that takes the room from "no moderator present" to "one present" (or back) sends the
`presence` frame; a repeated frame is harmless, a missing one would leave the marker wrong.
"""

import unicodedata
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from moderation.models import AuditEntry, MessageRemoval, RoomPresence, Whisper
from moderation.oversight.selectors import (
    WHISPER_MAX_CHARS,
    moderator_present,
    presence_frame,
    presence_fresh_since,
    room_observable,
    staff_check,
    whisper_author_role,
    whisper_frame,
    whisper_recipient_ids,
)
from peerchat import events
from peerchat.errors import (
    BodyEmpty,
    BodyInvalid,
    BodyTooLong,
    Conflict,
    NotFound,
    PeerchatError,
    RoomNotFound,
)
from peerchat.models import Membership, Message, Room, SupportSession, User
from peerchat.selectors.support import session_for_room, session_frame
from peerchat.services.messages import ALLOWED_CONTROL_CHARACTERS, messages_removed_publish
from peerchat.services.queue import support_state_publish_on_commit
from peerchat.services.rooms import room_member_add, room_member_remove
from peerchat.services.sessions import session_end

NOTE_MAX_CHARS = 2000
REASON_MAX_CHARS = 300
OBSERVING = RoomPresence.Mode.OBSERVING
JOINED = RoomPresence.Mode.JOINED


def _audit(*, actor: User, action: str, room_id: int, subject: User | None = None, **detail):
    AuditEntry.objects.create(
        actor=actor, action=action, room_id=room_id, subject=subject, detail=detail
    )


def _room_lock(room_id: int) -> None:
    """Hold the room's row until commit (SQLite: every transaction already writes in turn)."""
    if not Room.objects.select_for_update().filter(pk=room_id).exists():
        raise RoomNotFound("There is no room with that id.")


def _note_clean(note: str | None, *, limit: int = NOTE_MAX_CHARS) -> str:
    note = (note or "").strip()
    if len(note) > limit:
        raise PeerchatError(f"Keep it under {limit} characters.", code="invalid_field")
    return note


# Presence ---------------------------------------------------------------------------------------


def _presence_upsert(*, room_id: int, moderator: User, mode: str, now: datetime) -> None:
    """Start or refresh the moderator's current presence; joining openly outranks observing."""
    current = RoomPresence.objects.filter(
        room_id=room_id, moderator=moderator, ended_at__isnull=True
    ).first()
    if current is None:
        RoomPresence.objects.create(
            room_id=room_id, moderator=moderator, mode=mode, started_at=now, seen_at=now
        )
        return
    current.seen_at = now
    fields = ["seen_at"]
    if mode == JOINED and current.mode != JOINED:
        current.mode = JOINED
        fields.append("mode")
    current.save(update_fields=fields)


def presence_start(
    *, room_id: int, moderator: User, mode: str = OBSERVING, now: datetime | None = None
) -> bool:
    """Count the moderator as present in the room; True when the room had nobody present
    before (its members are then told `moderator_present: true`)."""
    now = now or timezone.now()
    with transaction.atomic():
        _room_lock(room_id)
        was_present = moderator_present(room_id=room_id, now=now)
        _presence_upsert(room_id=room_id, moderator=moderator, mode=mode, now=now)
        if not was_present:
            events.room_state_on_commit(room_id, presence_frame(room_id=room_id, present=True))
    return not was_present


def presence_end(
    *,
    room_id: int,
    moderator: User,
    modes: tuple[str, ...] = (OBSERVING, JOINED),
    now: datetime | None = None,
) -> bool:
    """End the moderator's current presence in the room if its mode is one of `modes`.

    Returns whether one ended; when no moderator is left present, the members are told
    `moderator_present: false`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _room_lock(room_id)
        ended = RoomPresence.objects.filter(
            room_id=room_id, moderator=moderator, ended_at__isnull=True, mode__in=modes
        ).update(ended_at=now)
        if ended and not moderator_present(room_id=room_id, now=now):
            events.room_state_on_commit(room_id, presence_frame(room_id=room_id, present=False))
    return bool(ended)


def presence_touch(
    *,
    moderator: User,
    observing: list[int] = (),
    joined: list[int] = (),
    now: datetime | None = None,
) -> None:
    """A moderator's socket is still open on these rooms: keep their presence fresh.

    A presence that ended meanwhile (the sweep thought the page gone, or another tab of the
    same moderator left the room) starts again.
    """
    now = now or timezone.now()
    modes = {room_id: OBSERVING for room_id in observing} | {room_id: JOINED for room_id in joined}
    if not modes:
        return
    fresh = set(
        RoomPresence.objects.filter(
            moderator=moderator,
            room_id__in=modes,
            ended_at__isnull=True,
            seen_at__gte=presence_fresh_since(now),
        ).values_list("room_id", flat=True)
    )
    if fresh:
        RoomPresence.objects.filter(
            moderator=moderator, room_id__in=fresh, ended_at__isnull=True
        ).update(seen_at=now)
    for room_id, mode in modes.items():
        if room_id not in fresh:
            try:
                presence_start(room_id=room_id, moderator=moderator, mode=mode, now=now)
            except RoomNotFound:
                continue  # the room was deleted; the socket finds out on its next frame


def presence_sweep(*, now: datetime | None = None) -> int:
    """End presences whose page stopped answering; returns how many ended.

    A room left with nobody present is told `moderator_present: false`.
    """
    now = now or timezone.now()
    stale = RoomPresence.objects.filter(
        ended_at__isnull=True, seen_at__lt=presence_fresh_since(now)
    )
    ended = 0
    for room_id in sorted(set(stale.values_list("room_id", flat=True))):
        with transaction.atomic():
            try:
                _room_lock(room_id)
            except RoomNotFound:
                continue
            count = stale.filter(room_id=room_id).update(ended_at=now)
            if count and not moderator_present(room_id=room_id, now=now):
                events.room_state_on_commit(room_id, presence_frame(room_id=room_id, present=False))
            ended += count
    return ended


# Observing ---------------------------------------------------------------------------------------


def room_observe(*, room_id: int, moderator: User, since: int) -> Room:
    """Start observing a room read-only: the moderator is present, and the read is audited.

    Returns the room (for the socket's `joined`). Forbidden for anyone but moderators and
    admins; RoomNotFound or `session_ended` when the room is not active.
    """
    room = room_observable(room_id=room_id, user=moderator)
    with transaction.atomic():
        presence_start(room_id=room_id, moderator=moderator, mode=OBSERVING)
        _audit(
            actor=moderator,
            action="transcript_read",
            room_id=room_id,
            why="observe",
            since=since,
        )
    return room


def moderator_member_join(*, room_id: int, moderator: User, since: int) -> None:
    """A moderator who joined a room openly opens it on a socket: they are present there
    again (if their page had gone), and the transcript read is audited."""
    with transaction.atomic():
        presence_start(room_id=room_id, moderator=moderator, mode=JOINED)
        _audit(
            actor=moderator,
            action="transcript_read",
            room_id=room_id,
            why="member_join",
            since=since,
        )


# Joining openly ----------------------------------------------------------------------------------


def room_join_openly(*, room_id: int, moderator: User) -> Membership:
    """Make the moderator a member of the room, seen by everyone in it.

    The room is told who joined (`presence` with `joined`); the moderator then joins it on
    the socket like anyone else, and their messages pass the content filter like anyone's.
    Joining again only refreshes their presence.
    """
    room = room_observable(room_id=room_id, user=moderator)
    now = timezone.now()
    with transaction.atomic():
        _room_lock(room_id)
        existing = Membership.objects.filter(room=room, user=moderator).first()
        if existing is not None and existing.role == Membership.Role.MODERATOR:
            was_present = moderator_present(room_id=room_id, now=now)
            _presence_upsert(room_id=room_id, moderator=moderator, mode=JOINED, now=now)
            if not was_present:
                events.room_state_on_commit(room_id, presence_frame(room_id=room_id, present=True))
            return existing
        membership = room_member_add(room=room, user=moderator, role=Membership.Role.MODERATOR)
        _presence_upsert(room_id=room_id, moderator=moderator, mode=JOINED, now=now)
        events.room_state_on_commit(
            room_id, presence_frame(room_id=room_id, present=True, joined=moderator)
        )
        _audit(actor=moderator, action="room_joined", room_id=room_id)
    return membership


def room_leave_openly(*, room_id: int, moderator: User) -> bool:
    """Take the moderator out of a room they joined openly; returns whether they were in it.

    Their sockets stop receiving the room, and the room is told they left.
    """
    staff_check(moderator)
    now = timezone.now()
    with transaction.atomic():
        _room_lock(room_id)
        room = Room.objects.get(pk=room_id)
        if not Membership.objects.filter(
            room=room, user=moderator, role=Membership.Role.MODERATOR
        ).exists():
            return False
        room_member_remove(room=room, user=moderator)
        RoomPresence.objects.filter(
            room_id=room_id, moderator=moderator, ended_at__isnull=True
        ).update(ended_at=now)
        events.room_state_on_commit(
            room_id,
            presence_frame(
                room_id=room_id,
                present=moderator_present(room_id=room_id, now=now),
                left=moderator,
            ),
        )
        _audit(actor=moderator, action="room_left", room_id=room_id)
    return True


# Whispers ----------------------------------------------------------------------------------------


def whisper_send(*, room_id: int, author: User, body: str, now: datetime | None = None) -> Whisper:
    """Store a whisper and send it to the room's supporters, the moderators present and its
    author, each on their own sockets. Seekers never receive it."""
    if not isinstance(body, str):
        raise PeerchatError("'body' must be a string.", code="invalid_field")
    body = body.strip()
    if not body:
        raise BodyEmpty("The whisper is empty.")
    if len(body) > WHISPER_MAX_CHARS:
        raise BodyTooLong(
            f"Whispers can be up to {WHISPER_MAX_CHARS} characters; this one has {len(body)}."
        )
    if any(
        unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROL_CHARACTERS for ch in body
    ):
        raise BodyInvalid("The whisper contains control characters.")
    now = now or timezone.now()
    role = whisper_author_role(room_id=room_id, user=author, now=now)
    with transaction.atomic():
        whisper = Whisper.objects.create(
            room_id=room_id, author=author, author_role=role, body=body, created_at=now
        )
        frame = whisper_frame(whisper)
        for user_id in whisper_recipient_ids(room_id=room_id, author_id=author.pk, now=now):
            events.user_frame_on_commit(user_id, frame)
        _audit(actor=author, action="whisper_sent", room_id=room_id, whisper=whisper.pk)
    return whisper


# Removing a message ------------------------------------------------------------------------------


def message_remove(*, room_id: int, seq: int, moderator: User, reason: str) -> MessageRemoval:
    """Take a delivered message out of the room: everyone sees a neutral marker in its place.

    The text is kept, for staff only, in the MessageRemoval; the audit records the seq, never
    the text. Removing it again returns the first removal and changes nothing.
    """
    staff_check(moderator)
    reason = _note_clean(reason, limit=REASON_MAX_CHARS)
    if not reason:
        raise PeerchatError(
            "Please give a short reason. Only moderators see it.", code="reason_required"
        )
    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("sender")
            .filter(room_id=room_id, seq=seq)
            .first()
        )
        if message is None:
            raise NotFound(
                "There is no message with that number in this room.", code="message_not_found"
            )
        if message.removed_at is not None:
            if message.removed_by == Message.RemovedBy.MODERATOR:
                return MessageRemoval.objects.get(message=message)
            raise Conflict("Its sender has already removed this message.", code="message_removed")
        removal = MessageRemoval.objects.create(
            message=message,
            removed_by=moderator,
            reason=reason,
            original_body=message.body,
            created_at=now,
        )
        message.body = ""
        message.removed_at = now
        message.removed_by = Message.RemovedBy.MODERATOR
        message.save(update_fields=["body", "removed_at", "removed_by"])
        messages_removed_publish([(room_id, seq)], by=Message.RemovedBy.MODERATOR.value)
        _audit(
            actor=moderator,
            action="message_removed",
            room_id=room_id,
            subject=message.sender,
            seq=seq,
            removal=removal.pk,
        )
    return removal


# Pausing, resuming and ending a one-to-one chat --------------------------------------------------


def _session_of(*, room_id: int, moderator: User) -> SupportSession:
    staff_check(moderator)
    session = session_for_room(room_id=room_id)
    if session is None:
        raise NotFound("There is no one-to-one chat in that room.", code="session_not_found")
    return session


def _locked_active(session: SupportSession) -> SupportSession:
    # The room's lock first, as message_send takes it: a message is either in before the
    # pause or refused after it.
    list(Room.objects.select_for_update().filter(pk=session.room_id).values_list("pk", flat=True))
    session = (
        SupportSession.objects.select_for_update(of=("self",))
        .select_related("seeker", "supporter", "request")
        .get(pk=session.pk)
    )
    if session.state != SupportSession.State.ACTIVE:
        raise Conflict("This chat has ended.", code="session_ended")
    return session


def _session_changed(session: SupportSession) -> None:
    events.room_state_on_commit(session.room_id, session_frame(session))
    if session.seeker_id:
        support_state_publish_on_commit(session.seeker_id)


def session_pause(*, room_id: int, moderator: User, note: str = "") -> SupportSession:
    """Pause the chat for a moment: both can still read it, neither can send (moderators in
    the room can). Pausing a paused chat changes nothing."""
    note = _note_clean(note)
    session = _session_of(room_id=room_id, moderator=moderator)
    with transaction.atomic():
        session = _locked_active(session)
        if session.paused_at is None:
            session.paused_at = timezone.now()
            session.paused_by = moderator
            session.save(update_fields=["paused_at", "paused_by"])
            _session_changed(session)
            _audit(actor=moderator, action="session_paused", room_id=room_id, note=note)
    return session


def session_resume(*, room_id: int, moderator: User, note: str = "") -> SupportSession:
    """Let the chat go on. Resuming a chat that is not paused changes nothing."""
    note = _note_clean(note)
    session = _session_of(room_id=room_id, moderator=moderator)
    with transaction.atomic():
        session = _locked_active(session)
        if session.paused_at is not None:
            paused_for = (timezone.now() - session.paused_at).total_seconds()
            session.paused_at = None
            session.paused_by = None
            session.save(update_fields=["paused_at", "paused_by"])
            _session_changed(session)
            _audit(
                actor=moderator,
                action="session_resumed",
                room_id=room_id,
                note=note,
                paused_seconds=round(paused_for),
            )
    return session


def session_end_by_moderator(*, room_id: int, moderator: User, note: str = "") -> SupportSession:
    """End the chat (`moderator_ended`). Ending a chat that has ended changes nothing."""
    note = _note_clean(note)
    session = _session_of(room_id=room_id, moderator=moderator)
    if session.state != SupportSession.State.ACTIVE:
        return session
    with transaction.atomic():
        # session_end takes the queue lock before the session's row: no lock is taken here
        # first, so the order is the same as everywhere else.
        ended = session_end(
            session=session, by=moderator, reason=SupportSession.EndReason.MODERATOR_ENDED
        )
        # Someone else may have ended it a moment ago: then there is nothing to record.
        if ended.end_reason == SupportSession.EndReason.MODERATOR_ENDED:
            _audit(actor=moderator, action="session_ended", room_id=room_id, note=note)
    return ended
