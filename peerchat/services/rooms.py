"""Creating rooms and changing who is in them."""

from django.db import transaction

from peerchat import events
from peerchat.models import Membership, Room, User


def room_create(*, kind: str, name: str = "", members: list[tuple[User, str]] = ()) -> Room:
    """Create a room with its first members, each as (user, role in the room)."""
    with transaction.atomic():
        room = Room(kind=kind, name=name)
        room.full_clean()
        room.save()
        for user, role in members:
            room_member_add(room=room, user=user, role=role)
    return room


def room_member_add(*, room: Room, user: User, role: str) -> Membership:
    """Make `user` a member of `room` with `role` (or update the role of an existing member)."""
    membership, _ = Membership.objects.update_or_create(
        room=room, user=user, defaults={"role": role}
    )
    return membership


def room_member_remove(*, room: Room, user: User) -> bool:
    """Remove `user` from `room`; their open sockets stop receiving it at once.

    Returns whether they were a member.
    """
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(room=room, user=user).delete()
        if deleted:
            events.publish_on_commit(
                events.USERS_GROUP,
                {
                    "kind": "control",
                    "user": user.pk,
                    "action": "membership_removed",
                    "room": room.pk,
                },
            )
    return bool(deleted)
