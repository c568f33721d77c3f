"""What moderators see of rooms: the active ones, who is present, whispers; and who may do what.

Nothing here returns message text: reading a transcript goes through the socket's `observe`,
which the services audit.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from moderation.escalations.selectors import escalation_status
from moderation.models import Escalation, RoomPresence, Whisper
from peerchat.errors import Conflict, Forbidden, RoomNotFound
from peerchat.frames import utc
from peerchat.models import GroupMeeting, Membership, Room, SupportSession, User

STAFF_ROLES = (User.Role.MODERATOR, User.Role.ADMIN)
# Whispers a staff member's `joined` frame carries (the newest, oldest first).
WHISPERS_IN_JOINED = 20
WHISPER_MAX_CHARS = 2000


def is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def staff_check(user: User) -> None:
    if not is_staff(user):
        raise Forbidden("This is for moderators.")


# Presence ---------------------------------------------------------------------------------------


def presence_fresh_since(now: datetime) -> datetime:
    """Presences last seen before this no longer count (their page stopped answering)."""
    return now - timedelta(seconds=settings.OVERSIGHT["PRESENCE_TIMEOUT_SECONDS"])


def presences_current(*, now: datetime | None = None):
    """Presences that count: not ended, and their page answered within the timeout."""
    now = now or timezone.now()
    return RoomPresence.objects.filter(
        ended_at__isnull=True, seen_at__gte=presence_fresh_since(now)
    )


def moderator_present(*, room_id: int, now: datetime | None = None) -> bool:
    """Whether the room shows its members the "a moderator is here" marker."""
    return presences_current(now=now).filter(room_id=room_id).exists()


def presence_frame(
    *, room_id: int, present: bool, joined: User | None = None, left: User | None = None
) -> dict:
    """The `presence` frame every socket that joined the room receives.

    It never says who is observing: only `joined` and `left` name a moderator, because the
    room sees them take part openly.
    """
    frame = {"type": "presence", "room": int(room_id), "moderator_present": present}
    if joined is not None:
        frame["joined"] = {"handle": joined.handle, "role": Membership.Role.MODERATOR.value}
    if left is not None:
        frame["left"] = {"handle": left.handle, "role": Membership.Role.MODERATOR.value}
    return frame


def _present_by_room(room_ids: list[int], now: datetime) -> dict[int, list[dict]]:
    present: dict[int, list[dict]] = {}
    for presence in (
        presences_current(now=now)
        .filter(room_id__in=room_ids)
        .select_related("moderator")
        .order_by("started_at", "pk")
    ):
        present.setdefault(presence.room_id, []).append(
            {"handle": presence.moderator.handle, "mode": presence.mode}
        )
    return present


# Which rooms may be observed ---------------------------------------------------------------------


def room_observable(*, room_id: int, user: User) -> Room:
    """Return the room if `user` may observe it now: staff, and the room is active.

    A one-to-one room is active while its chat is; a group room while it exists. Forbidden
    for anyone but moderators and admins; RoomNotFound for no such room; `session_ended` for a
    chat that has ended.
    """
    staff_check(user)
    room = Room.objects.select_related("support_session").filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound("There is no room with that id.")
    if room.kind == Room.Kind.ONE_TO_ONE:
        session = getattr(room, "support_session", None)
        if session is None:
            raise RoomNotFound("There is no room with that id.")
        if session.state != SupportSession.State.ACTIVE:
            raise Conflict("This chat has ended.", code="session_ended")
    return room


def room_label(room: Room) -> str:
    """The room's name as moderators see it (a chat is named after both people in it)."""
    session = getattr(room, "support_session", None) if room.kind == Room.Kind.ONE_TO_ONE else None
    if session is not None:
        seeker = session.seeker.handle if session.seeker_id else "someone"
        supporter = session.supporter.handle if session.supporter_id else "no supporter"
        return f"Chat: {seeker} with {supporter}"
    return str(room)


# The active rooms --------------------------------------------------------------------------------


def _escalations_by_room(room_ids: list[int]) -> dict[int, dict]:
    """Each room's unresolved escalation, as `escalation_status_for_room` gives it."""
    return {
        escalation.room_id: escalation_status(escalation)
        for escalation in Escalation.objects.select_related("acknowledged_by")
        .filter(room_id__in=room_ids)
        .exclude(state=Escalation.State.RESOLVED)
    }


def _time(moment: datetime | None) -> str | None:
    return utc(moment) if moment is not None else None


def rooms_active(*, now: datetime | None = None) -> dict:
    """Every active one-to-one chat and open group, as the moderators' page lists them.

    No message text and nothing from the seeker beyond their handle.
    """
    now = now or timezone.now()
    sessions = list(
        SupportSession.objects.filter(state=SupportSession.State.ACTIVE)
        .select_related("room", "seeker", "supporter", "request", "paused_by")
        .order_by("started_at", "pk")
    )
    meetings = list(
        GroupMeeting.objects.filter(opened_at__isnull=False, ends_at__gt=now)
        .select_related("room", "facilitator")
        .annotate(
            seekers=Count(
                "room__memberships", filter=Q(room__memberships__role=Membership.Role.SEEKER)
            )
        )
        .order_by("starts_at", "pk")
    )
    room_ids = [s.room_id for s in sessions] + [m.room_id for m in meetings]
    present = _present_by_room(room_ids, now)
    escalations = _escalations_by_room(room_ids)

    def oversight(room_id: int) -> dict:
        moderators = present.get(room_id, [])
        return {
            "escalation": escalations.get(room_id),
            "moderators": moderators,
            "moderator_present": bool(moderators),
        }

    return {
        "sessions": [
            {
                "room": s.room_id,
                "kind": Room.Kind.ONE_TO_ONE.value,
                "seeker": {"handle": s.seeker.handle if s.seeker else None},
                "supporter": {"handle": s.supporter.handle if s.supporter else None},
                "phase": s.phase,
                "started_at": utc(s.started_at),
                "last_message_at": _time(s.room.last_message_at),
                "last_seq": s.room.last_seq,
                "urgent": bool(s.request and s.request.urgent),
                "paused": s.paused_at is not None,
                "paused_by": s.paused_by.handle if s.paused_by else None,
                **oversight(s.room_id),
            }
            for s in sessions
        ],
        "groups": [
            {
                "room": m.room_id,
                "kind": Room.Kind.GROUP.value,
                "name": m.title,
                "members": m.seekers,
                "max_members": m.max_members,
                "facilitator": {"handle": m.facilitator.handle},
                "starts_at": utc(m.starts_at),
                "ends_at": utc(m.ends_at),
                "last_message_at": _time(m.room.last_message_at),
                "last_seq": m.room.last_seq,
                **oversight(m.room_id),
            }
            for m in meetings
        ],
    }


# Whispers ----------------------------------------------------------------------------------------


def whisper_frame(whisper: Whisper) -> dict:
    """The `whisper` frame (`author` must be loaded)."""
    return {
        "type": "whisper",
        "room": whisper.room_id,
        "id": whisper.pk,
        "from": {
            "handle": whisper.author.handle if whisper.author else None,
            "role": whisper.author_role,
        },
        "body": whisper.body,
        "sent_at": utc(whisper.created_at),
    }


def whispers_recent(*, room_id: int, limit: int = WHISPERS_IN_JOINED) -> list[dict]:
    """The room's newest `limit` whispers, oldest first."""
    whispers = list(
        # Whispers the retention purge emptied are not shown.
        Whisper.objects.filter(room_id=room_id)
        .exclude(body="")
        .select_related("author")
        .order_by("-created_at", "-pk")[:limit]
    )
    whispers.reverse()
    return [whisper_frame(w) for w in whispers]


def whispers_visible_to(*, user: User, role_in_room: str | None) -> bool:
    """Whispers are for moderators and the room's supporters; seekers never see them."""
    return is_staff(user) or (
        user.role == User.Role.SUPPORTER and role_in_room == Membership.Role.SUPPORTER
    )


def whisper_author_role(*, room_id: int, user: User, now: datetime | None = None) -> str:
    """The role `user` whispers with in the room, or the refusal that explains why not.

    Supporters of the room may whisper (and reply); moderators and admins who are present in
    it (observing or joined). Seekers and evaluators never.
    """
    if is_staff(user):
        if not Room.objects.filter(pk=room_id).exists():
            raise RoomNotFound("There is no room with that id.")
        present = (
            presences_current(now=now).filter(room_id=room_id, moderator=user).exists()
            or Membership.objects.filter(room_id=room_id, user=user).exists()
        )
        if not present:
            raise Conflict(
                "Observe or join this room first, so you see the replies.",
                code="not_observing",
            )
        return user.role
    if user.role != User.Role.SUPPORTER:
        raise Forbidden("Whispers are for the team looking after this room.")
    if not Membership.objects.filter(
        room_id=room_id, user=user, role=Membership.Role.SUPPORTER
    ).exists():
        raise RoomNotFound("There is no room with that id that you are a member of.")
    return user.role


def whisper_recipient_ids(
    *, room_id: int, author_id: int, now: datetime | None = None
) -> list[int]:
    """Who receives a whisper: the room's supporters, every moderator present, the author.

    Chosen one by one, never the room's group, so a seeker cannot receive it.
    """
    supporters = Membership.objects.filter(
        room_id=room_id,
        role=Membership.Role.SUPPORTER,
        user__role=User.Role.SUPPORTER,
        user__is_active=True,
    ).values_list("user_id", flat=True)
    moderators = (
        presences_current(now=now)
        .filter(room_id=room_id, moderator__role__in=STAFF_ROLES)
        .values_list("moderator_id", flat=True)
    )
    return sorted({*supporters, *moderators, author_id})
