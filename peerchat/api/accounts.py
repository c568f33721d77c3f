"""Accounts and rooms in the JSON API: who am I, start as a seeker, rooms, messages, tickets."""

from django.conf import settings
from django.contrib.auth import login
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from peerchat import selectors, throttles
from peerchat.api.common import answers_errors
from peerchat.api.common import error_response as _error
from peerchat.api.common import signed_in_only as _signed_in_only
from peerchat.errors import RoomNotFound
from peerchat.frames import message_frame
from peerchat.services.users import seeker_create
from peerchat.tickets import ws_ticket_issue


def _me(user) -> dict:
    return {"handle": user.handle, "role": user.role}


@require_GET
@ensure_csrf_cookie
def me(request):
    """Who am I? Also sets the CSRF cookie that POSTs need."""
    if not request.user.is_authenticated:
        return JsonResponse({"authenticated": False})
    return JsonResponse({"authenticated": True, **_me(request.user)})


@require_POST
def seekers(request):
    """Start as a seeker: no name, no email; a friendly handle and a session cookie."""
    if request.user.is_authenticated:
        if request.user.is_seeker:
            return JsonResponse(_me(request.user), status=200)
        return _error(409, "already_signed_in", "You are signed in with a staff account.")
    wait = throttles.seeker_start_wait(request)
    if wait:
        response = _error(429, "too_many_requests", throttles.seeker_start_refusal(wait))
        response["Retry-After"] = str(wait)
        return response
    user = seeker_create()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse(_me(user), status=201)


@require_GET
@_signed_in_only
def rooms(request):
    return JsonResponse({"rooms": selectors.rooms_for_user(user=request.user)})


@require_GET
@_signed_in_only
def room_messages(request, room_id: int):
    """Page through a room's messages: `?after=SEQ&limit=N`, oldest first."""
    try:
        after = int(request.GET.get("after", 0))
        limit = int(request.GET.get("limit", settings.PEERCHAT["PAGE_LIMIT"]))
    except ValueError:
        return _error(400, "invalid_field", "'after' and 'limit' must be whole numbers.")
    if after < 0 or not 1 <= limit <= settings.PEERCHAT["PAGE_LIMIT"]:
        return _error(
            400,
            "invalid_field",
            f"'after' must be 0 or more and 'limit' from 1 to {settings.PEERCHAT['PAGE_LIMIT']}.",
        )
    try:
        selectors.membership_get(room_id=room_id, user=request.user)
    except RoomNotFound as error:
        return _error(404, error.code, error.detail)
    messages = selectors.messages_after(room_id=room_id, after=after, limit=limit + 1)
    has_more = len(messages) > limit
    messages = messages[:limit]
    return JsonResponse(
        {
            "room": room_id,
            "messages": [message_frame(m) for m in messages],
            "has_more": has_more,
            "next_after": messages[-1].seq if messages else after,
        }
    )


@require_POST
@_signed_in_only
@answers_errors
def ws_tickets(request):
    """Issue a short-lived ticket for the websocket's `auth` frame (non-browser clients)."""
    return JsonResponse(
        {
            # Staff sessions that have not given their two-factor code get none (403).
            "ticket": ws_ticket_issue(
                user=request.user, otp_device=getattr(request.user, "otp_device", None)
            ),
            "expires_in": settings.PEERCHAT["WS_TICKET_MAX_AGE_SECONDS"],
        },
        status=201,
    )


def bad_request(request, exception=None):
    """Django's 400 handler: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413, and the API
    answers in its own shape; pages keep Django's page."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
    from django.views.defaults import bad_request as default_bad_request

    too_big = isinstance(exception, RequestDataTooBig)
    if request.path.startswith("/api/"):
        if too_big:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return _error(413, "body_too_large", f"The request body is over {limit} bytes.")
        if isinstance(exception, TooManyFieldsSent):
            return _error(400, "too_many_fields", "The request has too many fields.")
        return _error(400, "bad_request", "The request could not be understood.")
    response = default_bad_request(request, exception)
    if too_big:
        response.status_code = 413
    return response


def csrf_failure(request, reason=""):
    """Answer a refused POST in the API's own shape; pages keep Django's page."""
    if request.path.startswith("/api/"):
        return _error(403, "csrf_failed", "The request lacks a valid CSRF token; reload and retry.")
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason=reason)


urlpatterns = [
    path("api/v1/me", me, name="api-me"),
    path("api/v1/seekers", seekers, name="api-seekers"),
    path("api/v1/rooms", rooms, name="api-rooms"),
    path("api/v1/rooms/<int:room_id>/messages", room_messages, name="api-room-messages"),
    path("api/v1/ws-tickets", ws_tickets, name="api-ws-tickets"),
]
