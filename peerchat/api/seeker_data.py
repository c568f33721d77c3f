"""The seeker's own data in the JSON API: their safety plan, and downloading or deleting it all."""

import json

from django.contrib.auth import logout
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from peerchat.api.common import answers_errors, error_response, json_body, roles_only
from peerchat.api.common import signed_in_only as _signed_in_only
from peerchat.frames import utc
from peerchat.models import SafetyPlan
from peerchat.selectors.safety_plans import (
    safety_plan_for_seeker,
    safety_plan_shared_in_room,
    safety_plan_shared_rooms,
)
from peerchat.services.safety_plans import (
    safety_plan_save,
    safety_plan_share,
    safety_plan_withdraw,
)
from peerchat.services.seeker_data import seeker_data_delete, seeker_data_export

DELETE_CONFIRMATION = "delete my data"
EXPORT_FILENAME = "peerchat-my-data.json"

seekers_only = roles_only("seeker")


def plan_payload(plan: SafetyPlan | None) -> dict:
    """The plan's four fields ("" when not written) and when it last changed."""
    return {
        **{name: getattr(plan, name) if plan else "" for name in SafetyPlan.FIELDS},
        "updated_at": utc(plan.updated_at) if plan else None,
    }


@never_cache
@require_http_methods(["GET", "PUT"])
@seekers_only
@answers_errors
def safety_plan(request):
    """GET: the seeker's own plan. PUT: save the fields given (others keep their text)."""
    if request.method == "PUT":
        plan = safety_plan_save(seeker=request.user, **json_body(request))
    else:
        plan = safety_plan_for_seeker(seeker=request.user)
    return JsonResponse(
        {**plan_payload(plan), "shared_in_rooms": safety_plan_shared_rooms(seeker=request.user)}
    )


@require_POST
@seekers_only
@answers_errors
def safety_plan_share_view(request, room_id: int):
    safety_plan_share(seeker=request.user, room_id=room_id)
    return JsonResponse({"room": room_id, "shared": True})


@require_POST
@seekers_only
@answers_errors
def safety_plan_withdraw_view(request, room_id: int):
    safety_plan_withdraw(seeker=request.user, room_id=room_id)
    return JsonResponse({"room": room_id, "shared": False})


@never_cache
@require_GET
@_signed_in_only
@answers_errors
def safety_plan_in_session(request, room_id: int):
    """The supporter's read of a plan shared in their active chat; 404 in every other case."""
    plan = safety_plan_shared_in_room(room_id=room_id, viewer=request.user)
    return JsonResponse({"room": room_id, **plan_payload(plan)})


@never_cache
@require_GET
@seekers_only
@answers_errors
def export(request):
    """Everything held about the seeker, as a JSON file to keep."""
    data = seeker_data_export(seeker=request.user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}"'
    return response


@require_POST
@seekers_only
@answers_errors
def delete(request):
    """Delete the seeker's data (body `{"confirm": "delete my data"}`), then sign them out."""
    if json_body(request).get("confirm") != DELETE_CONFIRMATION:
        return error_response(
            400,
            "confirmation_required",
            f'To delete your data, send {{"confirm": "{DELETE_CONFIRMATION}"}}.',
        )
    seeker_delete_and_sign_out(request)
    return JsonResponse({"deleted": True})


def seeker_delete_and_sign_out(request) -> None:
    """Delete the signed-in seeker's data and sign this session out.

    Shared by the API and the "My data" page. The deletion closes every socket of the
    account (whatever signed it in), and no session of it can sign in again: the account is
    inactive and its password hash changed.
    """
    seeker_data_delete(seeker=request.user)
    logout(request)


urlpatterns = [
    path("api/v1/safety-plan", safety_plan, name="api-safety-plan"),
    path(
        "api/v1/support/sessions/<int:room_id>/safety-plan",
        safety_plan_in_session,
        name="api-session-safety-plan",
    ),
    path(
        "api/v1/support/sessions/<int:room_id>/safety-plan/share",
        safety_plan_share_view,
        name="api-safety-plan-share",
    ),
    path(
        "api/v1/support/sessions/<int:room_id>/safety-plan/withdraw",
        safety_plan_withdraw_view,
        name="api-safety-plan-withdraw",
    ),
    path("api/v1/me/export", export, name="api-my-data-export"),
    path("api/v1/me/delete", delete, name="api-my-data-delete"),
]
