"""The supporter's side in the JSON API: shifts, their chats, transfers and notes."""

from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from peerchat.api.common import answers_errors, error_response, json_body, roles_only
from peerchat.selectors import staff as staff_selectors
from peerchat.selectors import support as support_selectors
from peerchat.services import sessions as session_services
from peerchat.services import shifts as shift_services

supporters_only = roles_only("supporter")


@require_GET
@supporters_only
def status(request):
    return JsonResponse(staff_selectors.staff_status(user=request.user, now=timezone.now()))


@require_POST
@supporters_only
@answers_errors
def shift(request):
    """Go on shift (`{"action": "start"}`) or off it (`{"action": "end"}`)."""
    action = json_body(request).get("action")
    if action == "start":
        shift_services.shift_start(supporter=request.user)
    elif action == "end":
        shift_services.shift_end(supporter=request.user)
    else:
        return error_response(400, "invalid_field", "'action' must be 'start' or 'end'.")
    return JsonResponse(staff_selectors.staff_status(user=request.user, now=timezone.now()))


@require_POST
@supporters_only
@answers_errors
def session_phase(request, room_id: int):
    session = session_services.session_phase_set(
        room_id=room_id, supporter=request.user, phase=json_body(request).get("phase")
    )
    return JsonResponse(support_selectors.session_frame(session))


@require_GET
@supporters_only
def transfer_targets(request):
    return JsonResponse(
        {"supporters": staff_selectors.transfer_targets(user=request.user, now=timezone.now())}
    )


@require_POST
@supporters_only
@answers_errors
def session_transfer(request, room_id: int):
    data = json_body(request)
    session = session_services.session_transfer(
        room_id=room_id,
        supporter=request.user,
        to_handle=str(data.get("to") or ""),
        note=str(data.get("note") or ""),
    )
    return JsonResponse(support_selectors.session_frame(session))


@require_POST
@supporters_only
@answers_errors
def session_handover(request, room_id: int):
    note = session_services.handover_note_write(
        room_id=room_id, author=request.user, body=str(json_body(request).get("body") or "")
    )
    return JsonResponse({"saved": True, "room": note.session.room_id}, status=201)


@require_GET
@supporters_only
@answers_errors
def session_notes(request, room_id: int):
    """Staff-only notes from this seeker's earlier chats, for continuity."""
    session = session_services.session_get(room_id=room_id, user=request.user)
    return JsonResponse({"notes": support_selectors.handover_notes_for_seeker(session=session)})


urlpatterns = [
    path("api/v1/staff/status", status, name="api-staff-status"),
    path("api/v1/staff/shift", shift, name="api-staff-shift"),
    path("api/v1/staff/transfer-targets", transfer_targets, name="api-staff-transfer-targets"),
    path("api/v1/support/sessions/<int:room_id>/phase", session_phase, name="api-session-phase"),
    path(
        "api/v1/support/sessions/<int:room_id>/transfer",
        session_transfer,
        name="api-session-transfer",
    ),
    path(
        "api/v1/support/sessions/<int:room_id>/handover",
        session_handover,
        name="api-session-handover",
    ),
    path("api/v1/support/sessions/<int:room_id>/notes", session_notes, name="api-session-notes"),
]
