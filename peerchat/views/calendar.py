"""Staff calendar feeds: the .ics address calendar apps poll, and the forms that make and
revoke it (the panel is `peerchat/_calendar_link.html`, included by the schedule pages)."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from peerchat.ical import render_calendar
from peerchat.selectors.calendar import (
    SCHEDULE_PATH,
    SESSION_NEW_URL,
    calendar_events,
    feed_allowed,
)
from peerchat.services.calendar_feeds import (
    calendar_feed_reset,
    calendar_feed_revoke,
    calendar_feed_user,
)

# Calendar apps poll; five minutes of caching in the app is fine, shared caches get nothing.
FEED_CACHE_CONTROL = "private, max-age=300"


@require_safe
def calendar_feed(request, token: str):
    """Serve the feed. No sign-in (calendar apps send no cookies): the token is the secret."""
    now = timezone.now()
    user = calendar_feed_user(token=token, now=now)
    if user is None:
        # The same answer for a token that never existed and one that was revoked.
        response = HttpResponse(
            b"Not found.\n", status=404, content_type="text/plain; charset=utf-8"
        )
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex"
        return response
    body = render_calendar(
        calendar_events(user=user, now=now),
        name=f"peerchat: {user.handle}",
        time_zone=settings.TIME_ZONE,
        now=now,
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="peerchat.ics"'
    response["Cache-Control"] = FEED_CACHE_CONTROL
    response["X-Robots-Tag"] = "noindex"
    return response


def _next_url(request) -> str:
    """Return where to go back to: the form's `next` if it is on this site, else the schedule."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return SCHEDULE_PATH


def _refusal(request, next_url: str):
    if not request.user.is_authenticated:
        return redirect_to_login(next_url)
    if not feed_allowed(request.user):
        return HttpResponseForbidden(
            "Calendar links are for supporters, moderators and admins.",
            content_type="text/plain; charset=utf-8",
        )
    return None


@never_cache
@require_POST
def calendar_link_reset(request):
    """Make a new link (the old one stops working) and show it once on the page."""
    next_url = _next_url(request)
    refused = _refusal(request, next_url)
    if refused is not None:
        return refused
    token = calendar_feed_reset(user=request.user)
    feed_path = reverse("calendar-feed", kwargs={"token": token})
    # Kept until the page shows it, which takes it out of the session.
    request.session[SESSION_NEW_URL] = settings.SITE_URL + feed_path
    return redirect(next_url)


@never_cache
@require_POST
def calendar_link_revoke(request):
    """Turn the link off: calendar apps that use it stop getting updates."""
    next_url = _next_url(request)
    refused = _refusal(request, next_url)
    if refused is not None:
        return refused
    calendar_feed_revoke(user=request.user)
    request.session.pop(SESSION_NEW_URL, None)
    return redirect(next_url)


urlpatterns = [
    re_path(r"^calendar/(?P<token>[A-Za-z0-9_-]+)\.ics$", calendar_feed, name="calendar-feed"),
    path("staff/calendar-link", calendar_link_reset, name="calendar-link-reset"),
    path("staff/calendar-link/revoke", calendar_link_revoke, name="calendar-link-revoke"),
]
