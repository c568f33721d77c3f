"""The seeker's side of support in the JSON API: intake, the queue, ending, feedback."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from peerchat.api.common import answers_errors, json_body, roles_only, signed_in_only
from peerchat.errors import PeerchatError
from peerchat.frames import utc
from peerchat.markup import staff_markup
from peerchat.models import Room
from peerchat.selectors import support as support_selectors
from peerchat.selectors.supporters import supporters_on_shift
from peerchat.services import queue as queue_services
from peerchat.services import sessions as session_services

seekers_only = roles_only("seeker")


def agreement_payload(agreement) -> dict:
    return {
        "kind": agreement.kind,
        "version": agreement.version,
        "title": agreement.title,
        "body": staff_markup(agreement.body),
        "confidentiality": staff_markup(agreement.confidentiality),
    }


@require_GET
@seekers_only
def intake(request):
    """What the start page shows: the agreement, topics, who is on, and the person's state."""
    now = timezone.now()
    agreement = support_selectors.agreement_current(kind=Room.Kind.ONE_TO_ONE)
    model = support_selectors.wait_model(now=now, pool=supporters_on_shift(now=now))
    return JsonResponse(
        {
            "agreement": agreement_payload(agreement) if agreement else None,
            "topics": [{"code": c, "label": label} for c, label in settings.SUPPORT["TOPICS"]],
            "safe_now_choices": [
                {"code": "yes", "label": "Yes"},
                {"code": "not_sure", "label": "Not sure"},
                {"code": "no", "label": "No"},
            ],
            "availability": {
                "on_shift": model.on_shift,
                "next_shift_at": utc(model.next_shift_at) if model.next_shift_at else None,
            },
            "grounding": settings.GROUNDING_IDEAS,
            "support": support_selectors.support_state(seeker=request.user, now=now),
        }
    )


@require_GET
@seekers_only
def current(request):
    """Where the seeker is now: not asked, waiting (position, wait), in a chat, or just ended."""
    return JsonResponse(support_selectors.support_state(seeker=request.user, now=timezone.now()))


@require_POST
@seekers_only
@answers_errors
def requests_create(request):
    """Accept the agreement and ask for a supporter. Asking again changes nothing."""
    data = json_body(request)
    version = data.get("agreement_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PeerchatError("Accept the agreement first.", code="agreement_required")
    _, created = queue_services.support_request_create(
        seeker=request.user,
        agreement_version=version,
        safe_now=data.get("safe_now") or "",
        topic=data.get("topic") or "",
        ask_for_previous=bool(data.get("ask_for_previous")),
    )
    state = support_selectors.support_state(seeker=request.user, now=timezone.now())
    return JsonResponse(state, status=201 if created else 200)


@require_POST
@seekers_only
def requests_leave(request):
    """ "I had to go": leave the queue without a message. Harmless when not waiting."""
    left = queue_services.support_request_leave(seeker=request.user)
    state = support_selectors.support_state(seeker=request.user, now=timezone.now())
    return JsonResponse({**state, "left": left})


@require_GET
@signed_in_only
@answers_errors
def session_detail(request, room_id: int):
    session = session_services.session_get(room_id=room_id, user=request.user)
    return JsonResponse(support_selectors.session_frame(session))


@require_POST
@signed_in_only
@answers_errors
def session_end(request, room_id: int):
    """End the chat (its seeker or its supporter). Ending twice is harmless."""
    session = session_services.session_end_by(room_id=room_id, user=request.user)
    return JsonResponse(support_selectors.session_frame(session))


@require_POST
@seekers_only
@answers_errors
def session_feedback(request, room_id: int):
    data = json_body(request)
    feedback = session_services.feedback_submit(
        room_id=room_id,
        seeker=request.user,
        listened=data.get("listened"),
        helpful=data.get("helpful"),
        would_return=data.get("would_return") or "",
        comment=data.get("comment") or "",
    )
    return JsonResponse({"saved": True, "session": feedback.session.room_id}, status=201)


urlpatterns = [
    path("api/v1/support/intake", intake, name="api-support-intake"),
    path("api/v1/support/current", current, name="api-support-current"),
    path("api/v1/support/requests", requests_create, name="api-support-requests"),
    path("api/v1/support/requests/leave", requests_leave, name="api-support-leave"),
    path("api/v1/support/sessions/<int:room_id>", session_detail, name="api-session"),
    path("api/v1/support/sessions/<int:room_id>/end", session_end, name="api-session-end"),
    path(
        "api/v1/support/sessions/<int:room_id>/feedback",
        session_feedback,
        name="api-session-feedback",
    ),
]
