"""The supporter's page (shift, queue overview, chats side by side, handover notes), and where
signing in lands each role."""

import json

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from peerchat.models import User
from peerchat.services.safety_plans import FIELD_LABELS


@never_cache
@ensure_csrf_cookie
def staff(request):
    """The supporter's page; its script does everything through the JSON API and the socket."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.user.role != User.Role.SUPPORTER:
        return redirect("chat")
    context = {
        "time_zone": settings.TIME_ZONE,
        "capacity": settings.SUPPORT["CAPACITY_BY_LEVEL"].get(request.user.supporter_level, 0),
        # Passed as data attributes (the CSP allows no inline script).
        "topics_json": json.dumps(dict(settings.SUPPORT["TOPICS"])),
        "plan_labels_json": json.dumps(FIELD_LABELS),
    }
    return render(request, "peerchat/staff.html", context)


@never_cache
def after_sign_in(request):
    """Where the login form sends people: each role to its own page."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.role == User.Role.SUPPORTER:
        return redirect("staff")
    if request.user.role == User.Role.SEEKER:
        return redirect("/support/")
    if request.user.role == User.Role.MODERATOR:
        return redirect("moderation-review")
    if request.user.role == User.Role.EVALUATOR:
        return redirect("evaluation")
    return redirect("chat")


urlpatterns = [
    path("staff/", staff, name="staff"),
    path("after-sign-in/", after_sign_in, name="after-sign-in"),
]
