"""Reads of safety plans: the seeker's own, and the one a seeker chose to share in a chat."""

from django.db.models import F

from peerchat.errors import NotFound
from peerchat.models import SafetyPlan, SafetyPlanShare, SupportSession, User


def safety_plan_for_seeker(*, seeker: User) -> SafetyPlan | None:
    """Return the seeker's own plan, or None when they have not written one."""
    return SafetyPlan.objects.filter(seeker=seeker).first()


def safety_plan_shared_rooms(*, seeker: User) -> list[int]:
    """Return the rooms of the seeker's active chats where their plan is shared now."""
    return list(
        SafetyPlanShare.objects.filter(
            plan__seeker=seeker,
            withdrawn_at__isnull=True,
            session__state=SupportSession.State.ACTIVE,
        )
        .order_by("session__room_id")
        .values_list("session__room_id", flat=True)
    )


def safety_plan_shared_in_room(*, room_id: int, viewer: User) -> SafetyPlan:
    """Return the plan shared with `viewer` in the room's chat, or raise NotFound.

    Only the chat's current supporter sees it, only while the chat is active and only while
    the seeker has it shared. Every other case (no such room, someone else's chat, a
    moderator, no plan, never shared, withdrawn, chat over) is the same NotFound, so the
    answer never hints whether a plan exists.
    """
    share = (
        SafetyPlanShare.objects.select_related("plan")
        .filter(
            session__room_id=room_id,
            session__state=SupportSession.State.ACTIVE,
            session__supporter=viewer,
            session__supporter__is_active=True,
            # A plan is shared from the seeker of that very chat, nobody else's.
            plan__seeker=F("session__seeker"),
            withdrawn_at__isnull=True,
        )
        .first()
    )
    if share is None:
        raise NotFound("There is no shared safety plan here.")
    return share.plan


def safety_plan_sharing(*, seeker: User) -> list[dict]:
    """Return the seeker's active chats that have a supporter, and whether the plan is shared.

    What the safety plan page offers: share with (or stop sharing with) that supporter.
    """
    sessions = (
        SupportSession.objects.filter(
            seeker=seeker, state=SupportSession.State.ACTIVE, supporter__isnull=False
        )
        .select_related("supporter")
        .order_by("started_at")
    )
    shared = set(safety_plan_shared_rooms(seeker=seeker))
    return [
        {
            "room": session.room_id,
            "supporter": session.supporter.handle,
            "shared": session.room_id in shared,
        }
        for session in sessions
    ]
