"""Groups in the JSON API: the list, the agreement, join and leave, open and close, mute, remove."""

from django.http import JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from peerchat.api.common import BadRequest, answers_errors, json_body, roles_only
from peerchat.errors import Conflict, NotFound
from peerchat.frames import utc
from peerchat.markup import staff_markup
from peerchat.models import GroupMeeting, User
from peerchat.selectors.groups import group_agreement_current, group_frame, groups_upcoming
from peerchat.services.groups import (
    group_close,
    group_join,
    group_leave,
    group_member_remove,
    group_open,
    member_mute,
    member_unmute,
)

# Who may use groups at all; each action checks the rest (facilitator, membership).
GROUP_ROLES = (User.Role.SEEKER, User.Role.SUPPORTER, User.Role.MODERATOR)


def agreement_json(agreement) -> dict:
    return {
        "id": agreement.pk,
        "version": agreement.version,
        "title": agreement.title,
        "body": staff_markup(agreement.body),
        "confidentiality": staff_markup(agreement.confidentiality),
    }


def chat_url(room_id: int) -> str:
    """The chat page opened on this room (chat.js reads `#room=ID`)."""
    return f"{reverse('chat')}#room={int(room_id)}"


def listing_json(listing: dict) -> dict:
    return {
        **listing,
        "starts_at": utc(listing["starts_at"]),
        "ends_at": utc(listing["ends_at"]),
        "chat_url": chat_url(listing["room"]) if listing["is_member"] else None,
    }


def _meeting(group_id: int) -> GroupMeeting:
    meeting = GroupMeeting.objects.select_related("room", "facilitator").filter(pk=group_id).first()
    if meeting is None:
        raise NotFound("There is no group with that id.", code="group_not_found")
    return meeting


def _text_field(data: dict, name: str, *, max_chars: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{name}' is required.", code="invalid_field")
    if len(value) > max_chars:
        raise BadRequest(f"'{name}' can be up to {max_chars} characters.", code="invalid_field")
    return value.strip()


@require_GET
@roles_only(*GROUP_ROLES)
def groups(request):
    """Groups open now or starting within a week, with spaces left and what I may do."""
    listings = groups_upcoming(user=request.user, now=timezone.now())
    return JsonResponse({"groups": [listing_json(listing) for listing in listings]})


@require_GET
@roles_only(*GROUP_ROLES)
@answers_errors
def agreement(request):
    """The current group agreement, which a seeker accepts (by version) to join."""
    current = group_agreement_current()
    if current is None:
        raise Conflict("Groups aren't available just now.", code="agreement_missing")
    return JsonResponse(agreement_json(current))


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def join(request, group_id: int):
    version = json_body(request).get("agreement_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise BadRequest("'agreement_version' must be a whole number.", code="invalid_field")
    meeting = _meeting(group_id)
    membership = group_join(meeting=meeting, user=request.user, agreement_version=version)
    return JsonResponse(
        {
            "room": meeting.room_id,
            "role": membership.role,
            "chat_url": chat_url(meeting.room_id),
            "group": group_frame(meeting),
        }
    )


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def leave(request, group_id: int):
    meeting = _meeting(group_id)
    was_member = group_leave(meeting=meeting, user=request.user)
    return JsonResponse({"room": meeting.room_id, "left": was_member})


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def open_group(request, group_id: int):
    meeting = group_open(meeting=_meeting(group_id), by=request.user)
    return JsonResponse({"group": group_frame(meeting)})


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def close_group(request, group_id: int):
    meeting = group_close(meeting=_meeting(group_id), by=request.user)
    return JsonResponse({"group": group_frame(meeting)})


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def mute(request, group_id: int):
    handle = _text_field(json_body(request), "handle", max_chars=48)
    meeting = _meeting(group_id)
    handles = member_mute(room=meeting.room, user=request.user, handle=handle)
    return JsonResponse({"room": meeting.room_id, "muted": handles})


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def unmute(request, group_id: int):
    handle = _text_field(json_body(request), "handle", max_chars=48)
    meeting = _meeting(group_id)
    handles = member_unmute(room=meeting.room, user=request.user, handle=handle)
    return JsonResponse({"room": meeting.room_id, "muted": handles})


@require_POST
@roles_only(*GROUP_ROLES)
@answers_errors
def remove(request, group_id: int):
    data = json_body(request)
    handle = _text_field(data, "handle", max_chars=48)
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadRequest("'reason' must be text.", code="invalid_field")
    meeting = _meeting(group_id)
    group_member_remove(meeting=meeting, by=request.user, handle=handle, reason=reason or "")
    return JsonResponse({"room": meeting.room_id, "removed": handle})


urlpatterns = [
    path("api/v1/groups", groups, name="api-groups"),
    path("api/v1/groups/agreement", agreement, name="api-group-agreement"),
    path("api/v1/groups/<int:group_id>/join", join, name="api-group-join"),
    path("api/v1/groups/<int:group_id>/leave", leave, name="api-group-leave"),
    path("api/v1/groups/<int:group_id>/open", open_group, name="api-group-open"),
    path("api/v1/groups/<int:group_id>/close", close_group, name="api-group-close"),
    path("api/v1/groups/<int:group_id>/mute", mute, name="api-group-mute"),
    path("api/v1/groups/<int:group_id>/unmute", unmute, name="api-group-unmute"),
    path("api/v1/groups/<int:group_id>/remove", remove, name="api-group-remove"),
]
