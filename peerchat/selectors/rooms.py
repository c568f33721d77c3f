"""Reads of rooms and their messages, always behind a membership check."""

from dataclasses import dataclass

from django.db.models import F

from peerchat.errors import RoomNotFound
from peerchat.models import Membership, Message, Room, User


def membership_get(*, room_id: int, user: User) -> Membership:
    """Return the user's membership of the room, or raise RoomNotFound (exists or not)."""
    membership = (
        Membership.objects.select_related("room")
        .filter(room_id=room_id, user=user, user__is_active=True)
        .first()
    )
    if membership is None:
        raise RoomNotFound("There is no room with that id that you are a member of.")
    return membership


def room_name_for(*, room: Room, user: User) -> str:
    """The room's name as `user` sees it: a support chat is named after the other person."""
    if room.kind == Room.Kind.ONE_TO_ONE:
        session = getattr(room, "support_session", None)
        if session is not None:
            other = session.supporter if user.pk == session.seeker_id else session.seeker
            if other is not None:
                return f"Chat with {other.handle}"
            return "Chat"
    return str(room)


def rooms_for_user(*, user: User) -> list[dict]:
    """List the user's rooms, newest activity first, as the API and chat page show them."""
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("room", "room__support_session__seeker", "room__support_session__supporter")
        .order_by(F("room__last_message_at").desc(nulls_last=True), "-room__created_at")
    )
    return [
        {
            "id": m.room_id,
            "kind": m.room.kind,
            "name": room_name_for(room=m.room, user=user),
            "role": m.role,
            "last_seq": m.room.last_seq,
        }
        for m in memberships
    ]


def messages_after(*, room_id: int, after: int, limit: int) -> list[Message]:
    """Return up to `limit` visible messages with `seq > after`, in order."""
    return list(
        Message.objects.filter(room_id=room_id, seq__gt=after)
        .select_related("sender")
        .order_by("seq")[:limit]
    )


@dataclass(frozen=True)
class Replay:
    last_seq: int
    messages: list[Message]
    limited: bool

    @property
    def first_seq(self) -> int | None:
        return self.messages[0].seq if self.messages else None


def replay_for_join(*, room_id: int, since: int, limit: int) -> Replay:
    """Return what a client that has seen up to `since` is missing, at most `limit` of it.

    When more than `limit` messages are missing, the newest `limit` are returned (what a person
    opening the room wants to see first) and `limited` is set: the client fetches the older
    ones over HTTP (`GET /api/v1/rooms/<id>/messages?after=<since>`).
    """
    last_seq = Room.objects.values_list("last_seq", flat=True).get(pk=room_id)
    if since >= last_seq:
        return Replay(last_seq=last_seq, messages=[], limited=False)
    start = max(since, last_seq - limit)
    messages = list(
        Message.objects.filter(room_id=room_id, seq__gt=start, seq__lte=last_seq)
        .select_related("sender")
        .order_by("seq")
    )
    return Replay(last_seq=last_seq, messages=messages, limited=start > since)
