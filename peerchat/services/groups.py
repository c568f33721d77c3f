"""Scheduled peer-support groups: create, open and close, join and leave, mute, remove.

A group talks only while its facilitator (a peer or senior supporter) has it open. Seekers
accept the group agreement to join, up to the group's size; members can mute each other for
themselves; the facilitator or a moderator can take someone out of the group, which is
audited and keeps that person out of that meeting.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from moderation.models import AuditEntry
from peerchat import events
from peerchat.errors import Conflict, Forbidden, NotFound, PeerchatError
from peerchat.models import (
    AgreementAcceptance,
    GroupMeeting,
    Membership,
    Mute,
    Room,
    User,
)
from peerchat.selectors import membership_get
from peerchat.selectors.groups import (
    OPEN_EARLY,
    REMOVED_ACTION,
    group_agreement_current,
    group_can_open_now,
    group_frame,
    group_is_open,
    group_meeting_for_room,
    group_removed,
    group_seeker_count,
    muted_handles,
)
from peerchat.services.rooms import room_create, room_member_add, room_member_remove

__all__ = [
    "group_close",
    "group_frame",
    "group_join",
    "group_join_extras",
    "group_leave",
    "group_meeting_create",
    "group_member_remove",
    "group_open",
    "group_send_check",
    "member_mute",
    "member_unmute",
]

FACILITATOR_LEVELS = {User.SupporterLevel.PEER, User.SupporterLevel.SENIOR}
REASON_MAX_CHARS = 300

GROUP_CLOSED_DETAIL = "The group isn't open right now; it opens when the facilitator arrives."
ONE_TO_ONE_STILL_THERE = "You can still talk one-to-one with a supporter at any time."


# Creating, opening and closing ---------------------------------------------------------------


def group_meeting_create(
    *,
    title: str,
    description: str = "",
    starts_at: datetime,
    ends_at: datetime,
    max_members: int,
    facilitator: User,
) -> GroupMeeting:
    """Schedule a group in a new group room, with its facilitator as the room's supporter."""
    if not (
        facilitator.is_active
        and facilitator.role == User.Role.SUPPORTER
        and facilitator.supporter_level in FACILITATOR_LEVELS
    ):
        raise PeerchatError(
            "Groups are led by peer or senior supporters.", code="facilitator_not_eligible"
        )
    if ends_at <= starts_at:
        raise PeerchatError("A group must end after it starts.", code="invalid_field")
    if max_members < 1:
        raise PeerchatError("A group needs room for at least one person.", code="invalid_field")
    with transaction.atomic():
        room = room_create(
            kind=Room.Kind.GROUP,
            name=title,
            members=[(facilitator, Membership.Role.SUPPORTER)],
        )
        meeting = GroupMeeting(
            room=room,
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            max_members=max_members,
            facilitator=facilitator,
        )
        meeting.full_clean()
        meeting.save()
    return meeting


def group_open(*, meeting: GroupMeeting, by: User) -> GroupMeeting:
    """Open the group so members can talk. Opening an open group changes nothing."""
    _check_manages(meeting, by)
    with transaction.atomic():
        locked = _locked(meeting)
        now = timezone.now()
        if group_is_open(locked, now=now):
            return locked
        if not group_can_open_now(locked, now=now):
            minutes = int(OPEN_EARLY.total_seconds() // 60)
            raise Conflict(
                f"This group can be opened from {minutes} minutes before it starts until it ends.",
                code="group_not_scheduled_now",
            )
        locked.opened_at = now
        locked.facilitator_seen_at = now
        locked.full_clean()
        locked.save(update_fields=["opened_at", "facilitator_seen_at"])
        _audit(by=by, action="group_opened", meeting=locked)
        events.room_state_on_commit(locked.room_id, group_frame(locked))
    return locked


def group_close(*, meeting: GroupMeeting, by: User) -> GroupMeeting:
    """Close the group: members stay, but only the facilitator can write until it reopens."""
    _check_manages(meeting, by)
    with transaction.atomic():
        locked = _locked(meeting)
        if locked.opened_at is None:
            return locked
        locked.opened_at = None
        locked.full_clean()
        locked.save(update_fields=["opened_at"])
        _audit(by=by, action="group_closed", meeting=locked)
        events.room_state_on_commit(locked.room_id, group_frame(locked))
    return locked


def facilitator_presence_touch(*, facilitator_id: int, now=None) -> None:
    """The facilitator has the service open: their open groups stay open."""
    facilitators_presence_touch([facilitator_id], now=now)


def facilitators_presence_touch(facilitator_ids: list[int], *, now=None) -> None:
    """These supporters have the service open (one process's beat, peerchat.presence)."""
    GroupMeeting.objects.filter(facilitator_id__in=facilitator_ids, opened_at__isnull=False).update(
        facilitator_seen_at=now or timezone.now()
    )


def groups_close_finished(*, now=None) -> int:
    """Close open groups that have ended or whose facilitator has gone (the sweep calls this).

    A group is open only while its facilitator is there: when every page of theirs has been
    closed for the grace period (`SUPPORT_SESSION_GRACE_SECONDS`), the group closes until
    they open it again. Each closure is audited and told to the room.
    """
    now = now or timezone.now()
    away_since = now - timedelta(seconds=settings.SUPPORT["SESSION_GRACE_SECONDS"])
    closed = 0
    due = GroupMeeting.objects.filter(opened_at__isnull=False).filter(
        Q(ends_at__lte=now) | Q(facilitator_seen_at__lt=away_since)
    )
    for meeting in due:
        with transaction.atomic():
            locked = _locked(meeting)
            if locked.opened_at is None:
                continue
            why = "ended" if locked.ends_at <= now else "facilitator_away"
            if why == "facilitator_away" and locked.facilitator_seen_at >= away_since:
                continue  # they came back a moment ago
            locked.opened_at = None
            locked.save(update_fields=["opened_at"])
            _audit(by=None, action="group_closed", meeting=locked, detail={"why": why})
            events.room_state_on_commit(locked.room_id, group_frame(locked))
            closed += 1
    return closed


# Joining and leaving ----------------------------------------------------------------------------


def group_join(*, meeting: GroupMeeting, user: User, agreement_version: int | None) -> Membership:
    """Add `user` to the group's room; a seeker accepts the current group agreement first.

    The meeting's row is locked while seekers are counted, so joins that arrive together
    are taken one at a time and the group never goes over `max_members`. Joining again
    (a double click, a second tab) returns the membership that is already there.
    """
    role = _room_role_for(user)
    with transaction.atomic():
        locked = _locked(meeting)
        existing = Membership.objects.filter(room_id=locked.room_id, user=user).first()
        if existing is not None:
            return existing
        if timezone.now() >= locked.ends_at:
            raise Conflict(
                "This group has finished. Have a look at the groups coming up.",
                code="group_ended",
            )
        if group_removed(room_id=locked.room_id, user=user):
            raise Forbidden(
                "The facilitator asked you to step out of this group, so you can't join it "
                f"again. {ONE_TO_ONE_STILL_THERE}",
                code="removed_from_group",
            )
        if role == Membership.Role.SEEKER:
            agreement = _agreement_accepted(user=user, version=agreement_version)
            if group_seeker_count(room_id=locked.room_id) >= locked.max_members:
                raise Conflict(
                    "This group is full just now. You could look at another group, or talk "
                    "one-to-one with a supporter.",
                    code="group_full",
                )
            _acceptance_record(user=user, agreement=agreement)
        membership = room_member_add(room=locked.room, user=user, role=role)
        events.room_state_on_commit(locked.room_id, group_frame(locked))
    return membership


def group_leave(*, meeting: GroupMeeting, user: User) -> bool:
    """Leave the group's room; returns whether `user` was in it (leaving twice is fine)."""
    if user.pk == meeting.facilitator_id:
        raise Conflict(
            "As the facilitator you stay with the group; you can close it instead.",
            code="facilitator_stays",
        )
    with transaction.atomic():
        locked = _locked(meeting)
        left = room_member_remove(room=locked.room, user=user)
        if left:
            events.room_state_on_commit(locked.room_id, group_frame(locked))
    return left


def group_member_remove(*, meeting: GroupMeeting, by: User, handle: str, reason: str) -> AuditEntry:
    """Take a member out of the group (facilitator or moderator), with an audit record.

    The person's open sockets stop receiving the room at once, and they cannot join this
    meeting again. Removing someone who was already removed returns the first record.
    """
    _check_manages(meeting, by)
    reason = (reason or "").strip()
    if not reason:
        raise PeerchatError(
            "Please give a short reason. Only moderators see it.", code="reason_required"
        )
    if len(reason) > REASON_MAX_CHARS:
        raise PeerchatError(
            f"Please keep the reason to {REASON_MAX_CHARS} characters.", code="invalid_field"
        )
    with transaction.atomic():
        locked = _locked(meeting)
        subject = User.objects.filter(handle=handle).first()
        if subject is not None and subject.pk == locked.facilitator_id:
            raise Conflict(
                "The facilitator can't be removed from their own group.",
                code="cannot_remove_facilitator",
            )
        if subject is None or not room_member_remove(room=locked.room, user=subject):
            earlier = (
                AuditEntry.objects.filter(
                    action=REMOVED_ACTION, room_id=locked.room_id, subject=subject
                ).first()
                if subject is not None
                else None
            )
            if earlier is not None:
                return earlier
            raise _member_not_found()
        entry = _audit(
            by=by,
            action=REMOVED_ACTION,
            meeting=locked,
            subject=subject,
            detail={"reason": reason},
        )
        events.room_state_on_commit(locked.room_id, group_frame(locked))
    return entry


# Muting ----------------------------------------------------------------------------------------


def member_mute(*, room: Room, user: User, handle: str) -> list[str]:
    """Mute another member of a group room for `user` only; return `user`'s muted handles."""
    membership_get(room_id=room.pk, user=user)
    if room.kind != Room.Kind.GROUP:
        raise PeerchatError("Muting is for group rooms.", code="not_a_group")
    target = (
        Membership.objects.select_related("user").filter(room=room, user__handle=handle).first()
    )
    if target is None:
        raise _member_not_found()
    if target.user_id == user.pk:
        raise PeerchatError("You can't mute yourself.", code="cannot_mute_yourself")
    with transaction.atomic():
        if not Mute.objects.filter(user=user, muted=target.user, room=room).exists():
            mute = Mute(user=user, muted=target.user, room=room)
            mute.full_clean(validate_unique=False, validate_constraints=False)
            try:
                with transaction.atomic():
                    mute.save()
            except IntegrityError:
                pass  # a second click or tab muted them an instant ago: the outcome is the same
        return _muted_changed(room=room, user=user)


def member_unmute(*, room: Room, user: User, handle: str) -> list[str]:
    """Undo `user`'s mute of `handle` in the room (fine if there was none)."""
    membership_get(room_id=room.pk, user=user)
    with transaction.atomic():
        Mute.objects.filter(user=user, room=room, muted__handle=handle).delete()
        return _muted_changed(room=room, user=user)


# What messages and the socket need -------------------------------------------------------------


def group_send_check(*, room_id: int, user: User) -> None:
    """Refuse a message to a closed group, unless it comes from the facilitator."""
    meeting = (
        GroupMeeting.objects.filter(room_id=room_id).only("facilitator", "opened_at", "ends_at")
    ).first()
    if meeting is None or meeting.facilitator_id == user.pk:
        return
    if not group_is_open(meeting):
        raise Conflict(GROUP_CLOSED_DETAIL, code="group_closed")


def group_join_extras(*, room_id: int, user: User) -> dict:
    """What the socket's `joined` frame adds for a group room; `{}` for any other room."""
    meeting = group_meeting_for_room(room_id=room_id)
    if meeting is None:
        return {}
    return {"group": group_frame(meeting), "muted": muted_handles(room_id=room_id, user=user)}


# Helpers ---------------------------------------------------------------------------------------


def _locked(meeting: GroupMeeting) -> GroupMeeting:
    """Re-read the meeting with its row locked until the transaction ends.

    On SQLite every transaction starts IMMEDIATE (config/settings.py), which serialises
    writers the same way.
    """
    return (
        GroupMeeting.objects.select_for_update(of=("self",))
        .select_related("room", "facilitator")
        .get(pk=meeting.pk)
    )


def _check_manages(meeting: GroupMeeting, by: User) -> None:
    if by.pk != meeting.facilitator_id and by.role != User.Role.MODERATOR:
        raise Forbidden(
            "Only this group's facilitator or a moderator can do that.", code="not_facilitator"
        )


def _room_role_for(user: User) -> str:
    roles = {
        User.Role.SEEKER: Membership.Role.SEEKER,
        User.Role.SUPPORTER: Membership.Role.SUPPORTER,
        User.Role.MODERATOR: Membership.Role.MODERATOR,
    }
    if user.role not in roles:
        raise Forbidden(
            "Groups are for people looking for support and for supporters.",
            code="forbidden",
        )
    return roles[user.role]


def _agreement_accepted(*, user: User, version: int | None):
    agreement = group_agreement_current()
    if agreement is None:
        raise Conflict(
            "Groups aren't available just now. Please try again later.",
            code="agreement_missing",
        )
    if version is None:
        raise PeerchatError(
            "Please read the group agreement and accept it to join.", code="agreement_required"
        )
    if version != agreement.version:
        raise Conflict(
            "The group agreement has been updated. Please read the new version, then join.",
            code="agreement_outdated",
        )
    return agreement


def _acceptance_record(*, user: User, agreement) -> None:
    if AgreementAcceptance.objects.filter(user=user, agreement=agreement).exists():
        return
    acceptance = AgreementAcceptance(user=user, agreement=agreement)
    acceptance.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            acceptance.save()
    except IntegrityError:
        pass  # recorded a moment ago by the same person joining another group


def _audit(
    *, by: User | None, action: str, meeting: GroupMeeting, subject: User | None = None, detail=None
) -> AuditEntry:
    entry = AuditEntry(
        actor=by,
        action=action,
        room=meeting.room,
        subject=subject,
        detail={"meeting": meeting.pk, **(detail or {})},
    )
    entry.full_clean()
    entry.save()
    return entry


def _muted_changed(*, room: Room, user: User) -> list[str]:
    handles = muted_handles(room_id=room.pk, user=user)
    events.user_frame_on_commit(user.pk, {"type": "muted", "room": room.pk, "handles": handles})
    return handles


def _member_not_found() -> NotFound:
    return NotFound("There's nobody with that name in this group.", code="member_not_found")
