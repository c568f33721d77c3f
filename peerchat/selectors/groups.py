"""Reads for scheduled peer-support groups: the groups page, a group's state, mutes."""

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from moderation.models import AuditEntry
from peerchat.frames import utc
from peerchat.models import Agreement, GroupMeeting, Membership, Mute, Room, User
from peerchat.selectors.support import agreement_current

# A facilitator may open the group this long before it starts, to settle in and say hello.
OPEN_EARLY = timedelta(minutes=15)
# How far ahead the groups page looks.
UPCOMING_WINDOW = timedelta(days=7)
# The audit action of a facilitator's removal; it also keeps the person out of that meeting.
REMOVED_ACTION = "group_member_removed"


def group_is_open(meeting: GroupMeeting, *, now: datetime | None = None) -> bool:
    """Whether members can talk: the facilitator opened it and its time has not run out.

    A group left open past its end counts as closed, so nothing depends on someone (or a
    timer) remembering to close it.
    """
    now = now or timezone.now()
    return meeting.opened_at is not None and now < meeting.ends_at


def group_can_open_now(meeting: GroupMeeting, *, now: datetime | None = None) -> bool:
    """Whether the time allows opening: from OPEN_EARLY before the start until the end."""
    now = now or timezone.now()
    return meeting.starts_at - OPEN_EARLY <= now < meeting.ends_at


def group_seeker_count(*, room_id: int) -> int:
    """The people who joined to be supported; facilitators and supporters do not count."""
    return Membership.objects.filter(room_id=room_id, role=Membership.Role.SEEKER).count()


def group_frame(meeting: GroupMeeting, *, members: int | None = None) -> dict:
    """Return the `group` frame: the group's state as every member's client shows it.

    `members` is the number of seekers in the room; it is counted when not given.
    """
    if members is None:
        members = group_seeker_count(room_id=meeting.room_id)
    return {
        "type": "group",
        "room": meeting.room_id,
        "open": group_is_open(meeting),
        "title": meeting.title,
        "starts_at": utc(meeting.starts_at),
        "ends_at": utc(meeting.ends_at),
        "facilitator": {"handle": meeting.facilitator.handle},
        "members": members,
        "max_members": meeting.max_members,
    }


def group_meeting_for_room(*, room_id: int) -> GroupMeeting | None:
    return GroupMeeting.objects.select_related("facilitator").filter(room_id=room_id).first()


def group_agreement_current() -> Agreement | None:
    """The newest published group agreement: the one a person accepts to join a group."""
    return agreement_current(kind=Room.Kind.GROUP)


def group_removed(*, room_id: int, user: User) -> bool:
    """Whether a facilitator or moderator took `user` out of this group's room."""
    return AuditEntry.objects.filter(action=REMOVED_ACTION, room_id=room_id, subject=user).exists()


def muted_handles(*, room_id: int, user: User) -> list[str]:
    """The handles `user` muted in the room, for themselves only, in alphabetical order."""
    return sorted(
        Mute.objects.filter(room_id=room_id, user=user).values_list("muted__handle", flat=True)
    )


def _sees_members(user: User, meeting: GroupMeeting, member_room_ids: set[int]) -> bool:
    """Members see who else is in their group; so do its facilitator and moderators."""
    return (
        meeting.room_id in member_room_ids
        or meeting.facilitator_id == user.pk
        or user.role == User.Role.MODERATOR
    )


def groups_upcoming(*, user: User, now: datetime) -> list[dict]:
    """List the groups that are open now or start within a week and have not ended.

    Each entry says how many spaces are left and what `user` may do there. The member list
    is only filled in for people who may see it (members, the facilitator, moderators).
    """
    meetings = list(
        GroupMeeting.objects.filter(ends_at__gt=now)
        .filter(Q(starts_at__lte=now + UPCOMING_WINDOW) | Q(opened_at__isnull=False))
        .select_related("facilitator")
        .annotate(seekers=Count("room__memberships", filter=Q(room__memberships__role="seeker")))
        .order_by("starts_at", "pk")
    )
    room_ids = [m.room_id for m in meetings]
    member_room_ids = set(
        Membership.objects.filter(user=user, room_id__in=room_ids).values_list("room_id", flat=True)
    )
    removed_room_ids = set(
        AuditEntry.objects.filter(
            action=REMOVED_ACTION, subject=user, room_id__in=room_ids
        ).values_list("room_id", flat=True)
    )
    visible = {m.room_id for m in meetings if _sees_members(user, m, member_room_ids)}
    members_by_room: dict[int, list[Membership]] = {}
    for membership in (
        Membership.objects.filter(room_id__in=visible)
        .select_related("user")
        .order_by("joined_at", "pk")
    ):
        members_by_room.setdefault(membership.room_id, []).append(membership)
    muted = set(
        Mute.objects.filter(user=user, room_id__in=visible).values_list("room_id", "muted_id")
    )

    listings = []
    for meeting in meetings:
        manages = meeting.facilitator_id == user.pk or user.role == User.Role.MODERATOR
        is_open = group_is_open(meeting, now=now)
        members = None
        if meeting.room_id in visible:
            members = [
                {
                    "handle": m.user.handle,
                    "role": m.role,
                    "you": m.user_id == user.pk,
                    "facilitator": m.user_id == meeting.facilitator_id,
                    "muted": (meeting.room_id, m.user_id) in muted,
                }
                for m in members_by_room.get(meeting.room_id, [])
            ]
        listings.append(
            {
                "id": meeting.pk,
                "room": meeting.room_id,
                "title": meeting.title,
                "description": meeting.description,
                "starts_at": meeting.starts_at,
                "ends_at": meeting.ends_at,
                "open": is_open,
                "facilitator": meeting.facilitator.handle,
                "members": meeting.seekers,
                "max_members": meeting.max_members,
                "spaces_left": max(meeting.max_members - meeting.seekers, 0),
                "is_member": meeting.room_id in member_room_ids,
                "is_facilitator": meeting.facilitator_id == user.pk,
                "removed": meeting.room_id in removed_room_ids,
                "can_manage": manages,
                "can_open_now": manages and group_can_open_now(meeting, now=now),
                "member_list": members,
            }
        )
    return listings
