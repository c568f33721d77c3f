"""The seeker's support page: start, agreement, waiting room, chat and feedback on one page.

The page's script (static/peerchat/support.js) drives the journey through the JSON API
(docs/api.md, "Support (seekers)") and the socket's `support`, `queue` and `session` frames;
the state always comes from the server, so a reload lands where the person was.
"""

from django.conf import settings
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from peerchat import throttles
from peerchat.models import User
from peerchat.services.users import seeker_create

STAFF_PAGE = "/staff/"


def _staff_home(user: User):
    """Staff have their own pages: supporters their shift, everyone else the conversations."""
    return redirect(STAFF_PAGE if user.role == User.Role.SUPPORTER else "chat")


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def support(request):
    """GET: the page (strangers see the start screen). POST: start as a seeker without script.

    With JavaScript the start button calls `POST /api/v1/seekers` and carries on in place;
    the form posts here only when the script did not run, and lands back on this page.
    """
    user = request.user
    if user.is_authenticated and not user.is_seeker:
        return _staff_home(user)
    if request.method == "POST":
        if not user.is_authenticated:
            wait = throttles.seeker_start_wait(request)
            if wait:
                context = {
                    "time_zone": settings.TIME_ZONE,
                    "start_refused": throttles.seeker_start_refusal(wait),
                }
                response = render(request, "peerchat/support.html", context, status=429)
                response["Retry-After"] = str(wait)
                return response
            login(request, seeker_create(), backend="django.contrib.auth.backends.ModelBackend")
        return redirect("support")
    return render(request, "peerchat/support.html", {"time_zone": settings.TIME_ZONE})


urlpatterns = [
    path("support/", support, name="support"),
]
