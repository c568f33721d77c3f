"""Escalations over HTTP: moderators' feed and decisions, and "I need urgent help" for members.

The socket's `escalate` frame does the same as `POST /api/v1/rooms/<id>/escalate`; the HTTP
route is there for a page whose socket is reconnecting at the moment help is asked for.
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

from moderation.escalations import selectors, services
from peerchat.api.common import (
    BadRequest,
    answers_errors,
    json_body,
    optional_text,
    roles_only,
    signed_in_only,
)

STAFF = ("moderator", "admin")


def _item(escalation_id: int) -> dict:
    return selectors.escalation_item(selectors.escalation_get(escalation_id=escalation_id))


@require_http_methods(["GET", "POST"])
@roles_only(*STAFF)
@answers_errors
def escalations(request):
    if request.method == "GET":
        return JsonResponse(selectors.escalations_frame())
    data = json_body(request)
    room = data.get("room")
    if not isinstance(room, int) or isinstance(room, bool) or room < 1:
        raise BadRequest("'room' must be a room id.")
    result = services.escalation_raise_by(
        room_id=room, user=request.user, note=optional_text(data, "note")
    )
    return JsonResponse(
        {"item": _item(result.escalation.pk), "created": result.created},
        status=201 if result.created else 200,
    )


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def acknowledge(request, escalation_id: int):
    services.escalation_acknowledge(escalation_id=escalation_id, moderator=request.user)
    return JsonResponse({"item": _item(escalation_id)})


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def resolve(request, escalation_id: int):
    data = json_body(request)
    services.escalation_resolve(
        escalation_id=escalation_id,
        moderator=request.user,
        outcome=optional_text(data, "outcome"),
        note=optional_text(data, "note"),
    )
    return JsonResponse({"item": _item(escalation_id)})


@require_http_methods(["GET"])
@roles_only(*STAFF)
@answers_errors
def context(request, escalation_id: int):
    return JsonResponse(
        selectors.escalation_context(escalation_id=escalation_id, viewer=request.user)
    )


@require_http_methods(["POST"])
@signed_in_only
@answers_errors
def room_escalate(request, room_id: int):
    data = json_body(request)
    result = services.escalation_raise_by(
        room_id=room_id, user=request.user, note=optional_text(data, "note")
    )
    return JsonResponse(
        {
            "room": room_id,
            "escalation": {"id": result.escalation.pk, "state": result.escalation.state},
            "new": result.created,
            **services.raiser_note(user=request.user),
        },
        status=201 if result.created else 200,
    )


urlpatterns = [
    path("api/moderation/escalations", escalations),
    path("api/moderation/escalations/<int:escalation_id>/acknowledge", acknowledge),
    path("api/moderation/escalations/<int:escalation_id>/resolve", resolve),
    path("api/moderation/escalations/<int:escalation_id>/context", context),
    path("api/v1/rooms/<int:room_id>/escalate", room_escalate),
]
