"""The home and chat pages, signing in and out, and the health check."""

import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie

from peerchat import events, throttles

HEALTH_TIMEOUT_SECONDS = 2.0


@ensure_csrf_cookie
def home(request):
    return render(request, "peerchat/home.html")


@ensure_csrf_cookie
def chat(request):
    if not request.user.is_authenticated:
        # A seeker whose session ended has no password to sign in with: the home page offers
        # both ways back in (start again, or staff sign-in).
        return redirect("home")
    return render(request, "peerchat/chat.html")


class LoginView(auth_views.LoginView):
    """Staff sign-in, throttled per username and per client address across processes.

    Failures count whether or not the username exists, and a refusal reads the same either
    way, so the throttle tells nobody which usernames are real. Signing in resets the
    username's count (not the address's: one person's success says nothing of the rest).
    """

    def post(self, request, *args, **kwargs):
        username = throttles.username_subject(request.POST.get("username", ""))
        address = throttles.client_address(request)
        wait = max(
            throttles.login_by_username().wait(username),
            throttles.login_by_address().wait(address),
        )
        if wait:
            context = self.get_context_data(
                form=self.form_class(request), throttled=throttles.minutes_text(wait)
            )
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        throttles.login_by_username().record(
            throttles.username_subject(self.request.POST.get("username", ""))
        )
        throttles.login_by_address().record(throttles.client_address(self.request))
        return super().form_invalid(form)

    def form_valid(self, form):
        throttles.login_by_username().reset(
            throttles.username_subject(self.request.POST.get("username", ""))
        )
        return super().form_valid(form)


class LogoutView(auth_views.LogoutView):
    """Sign out, and close this session's open sockets on every process."""

    def post(self, request, *args, **kwargs):
        user, session_key = request.user, request.session.session_key
        response = super().post(request, *args, **kwargs)
        if user.is_authenticated and session_key:
            events.publish_on_commit(
                events.USERS_GROUP,
                {
                    "kind": "control",
                    "user": user.pk,
                    "action": "signed_out",
                    "session_key": session_key,
                },
            )
        return response


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


async def _channel_layer_ok() -> bool:
    """Round-trip one message through the channel layer, trying twice.

    After Redis restarts, the first command on each pooled connection fails once and the pool
    reconnects it; only a second failure means the layer is really unreachable.
    """
    try:
        return await _channel_layer_round_trip()
    except Exception:  # noqa: BLE001 - a stale pooled connection: retried once
        return await _channel_layer_round_trip()


async def _channel_layer_round_trip() -> bool:
    layer = get_channel_layer()
    channel = f"peerchat-healthz.{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz", "token": token})
    message = await layer.receive(channel)
    return message.get("token") == token


async def healthz(request):
    """Report the database and the channel layer; 200 when both answer, else 503."""
    checks = {}
    try:
        ok = await asyncio.wait_for(sync_to_async(_database_ok)(), HEALTH_TIMEOUT_SECONDS)
        checks["database"] = "ok" if ok else "failing"
    except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
        checks["database"] = f"failing: {type(error).__name__}"
    try:
        ok = await asyncio.wait_for(_channel_layer_ok(), HEALTH_TIMEOUT_SECONDS)
        checks["channel_layer"] = "ok" if ok else "failing"
    except Exception as error:  # noqa: BLE001
        checks["channel_layer"] = f"failing: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "failing", **checks}, status=200 if healthy else 503
    )


urlpatterns = [
    path("", home, name="home"),
    path("chat/", chat, name="chat"),
    path("healthz", healthz, name="healthz"),
]
