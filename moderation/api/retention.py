"""Safeguarding holds over HTTP, for the moderators' page (docs/api.md, "Safeguarding holds").

A hold keeps a room's messages and notes past the retention period until it is released;
placing and releasing are audited by the services.
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

from moderation.oversight.selectors import STAFF_ROLES
from moderation.retention import selectors, services
from peerchat.api.common import BadRequest, answers_errors, json_body, optional_text, roles_only


@require_http_methods(["GET", "POST"])
@roles_only(*STAFF_ROLES)
@answers_errors
def hold(request, room_id: int):
    if request.method == "GET":
        return JsonResponse(
            {"room": room_id, "hold": selectors.hold_dict(selectors.hold_active(room_id=room_id))}
        )
    data = json_body(request)
    escalation = data.get("escalation")
    if escalation is not None and (
        not isinstance(escalation, int) or isinstance(escalation, bool) or escalation < 1
    ):
        raise BadRequest("'escalation' must be an escalation id.")
    placed, created = services.hold_place(
        room_id=room_id,
        moderator=request.user,
        reason=optional_text(data, "reason"),
        escalation_id=escalation,
    )
    return JsonResponse(
        {"room": room_id, "hold": selectors.hold_dict(placed), "created": created},
        status=201 if created else 200,
    )


@require_http_methods(["POST"])
@roles_only(*STAFF_ROLES)
@answers_errors
def hold_release(request, room_id: int):
    data = json_body(request)
    released = services.hold_release(
        room_id=room_id, moderator=request.user, note=optional_text(data, "note")
    )
    return JsonResponse({"room": room_id, "hold": selectors.hold_dict(released)})


urlpatterns = [
    path("api/moderation/rooms/<int:room_id>/hold", hold),
    path("api/moderation/rooms/<int:room_id>/hold/release", hold_release),
]
