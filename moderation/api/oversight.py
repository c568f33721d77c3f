"""Moderators watching over rooms over HTTP: the active rooms, whispers, joining openly,
removing a message, and pausing, resuming or ending a one-to-one chat.

Observing a room (reading it live) is the socket's `observe` frame; every action here is
audited by its service. docs/api.md ("Moderator oversight") lists the routes.
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

from moderation.oversight import selectors, services
from peerchat.api.common import BadRequest, answers_errors, json_body, optional_text, roles_only
from peerchat.frames import utc
from peerchat.selectors.support import session_frame

STAFF = selectors.STAFF_ROLES
WHISPERS_PAGE_MAX = 200
WHISPERS_PAGE_DEFAULT = 50


@require_http_methods(["GET"])
@roles_only(*STAFF)
@answers_errors
def rooms(request):
    return JsonResponse(selectors.rooms_active())


@require_http_methods(["GET", "POST"])
@roles_only(*STAFF)
@answers_errors
def whispers(request, room_id: int):
    if request.method == "POST":
        data = json_body(request)
        whisper = services.whisper_send(
            room_id=room_id, author=request.user, body=optional_text(data, "body")
        )
        return JsonResponse({"whisper": selectors.whisper_frame(whisper)}, status=201)
    try:
        limit = int(request.GET.get("limit", WHISPERS_PAGE_DEFAULT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= WHISPERS_PAGE_MAX:
        raise BadRequest(f"'limit' must be from 1 to {WHISPERS_PAGE_MAX}.")
    return JsonResponse(
        {"room": room_id, "whispers": selectors.whispers_recent(room_id=room_id, limit=limit)}
    )


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def join(request, room_id: int):
    services.room_join_openly(room_id=room_id, moderator=request.user)
    return JsonResponse({"room": room_id, "member": True, "role": "moderator"})


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def leave(request, room_id: int):
    was_member = services.room_leave_openly(room_id=room_id, moderator=request.user)
    return JsonResponse({"room": room_id, "member": False, "left": was_member})


@require_http_methods(["POST"])
@roles_only(*STAFF)
@answers_errors
def message_remove(request, room_id: int, seq: int):
    data = json_body(request)
    removal = services.message_remove(
        room_id=room_id, seq=seq, moderator=request.user, reason=optional_text(data, "reason")
    )
    return JsonResponse(
        {
            "room": room_id,
            "seq": seq,
            "removed_by": "moderator",
            "removed_at": utc(removal.created_at),
        }
    )


def _session_control(service):
    @require_http_methods(["POST"])
    @roles_only(*STAFF)
    @answers_errors
    def view(request, room_id: int):
        data = json_body(request)
        session = service(room_id=room_id, moderator=request.user, note=optional_text(data, "note"))
        return JsonResponse({"session": session_frame(session)})

    return view


urlpatterns = [
    path("api/moderation/rooms", rooms),
    path("api/moderation/rooms/<int:room_id>/whispers", whispers),
    path("api/moderation/rooms/<int:room_id>/join", join),
    path("api/moderation/rooms/<int:room_id>/leave", leave),
    path("api/moderation/rooms/<int:room_id>/messages/<int:seq>/remove", message_remove),
    path("api/moderation/rooms/<int:room_id>/pause", _session_control(services.session_pause)),
    path("api/moderation/rooms/<int:room_id>/resume", _session_control(services.session_resume)),
    path(
        "api/moderation/rooms/<int:room_id>/end",
        _session_control(services.session_end_by_moderator),
    ),
]
