"""HTTP middleware of the project's own."""

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse

from peerchat.api.common import error_response
from peerchat.selectors.two_factor import two_factor_enrolled, two_factor_required

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Send a strict Content-Security-Policy: only this origin's scripts, styles and sockets."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class StaffTwoFactorMiddleware:
    """Keep staff who have given only their password on the two-factor pages.

    Runs after django-otp's OTPMiddleware (which says whether this session gave a code). Until
    it has, a member of staff is sent from any page to the two-factor page (set-up when they
    have no authenticator app yet), and every JSON endpoint answers 403 `two_factor_required`.
    Seekers, and everyone while STAFF_TWO_FACTOR is off, pass untouched.
    """

    # Open before the code: signing in (again, perhaps as someone else), signing out, and the
    # two-factor pages themselves; also the health check, for load balancers.
    OPEN_URL_NAMES = (
        "login",
        "logout",
        "healthz",
        "two-factor",
        "two-factor-setup",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.STAFF_TWO_FACTOR and not self._open(request.path_info):
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _open(self, path: str) -> bool:
        if path.startswith(settings.STATIC_URL):
            return True
        return path in {reverse(name) for name in self.OPEN_URL_NAMES}

    def _refusal(self, request):
        user = request.user
        if not two_factor_required(user) or user.is_verified():
            return None
        if request.path_info.startswith("/api/"):
            return error_response(
                403,
                "two_factor_required",
                "Finish signing in: give the code from your authenticator app first.",
            )
        page = "two-factor" if two_factor_enrolled(user=user) else "two-factor-setup"
        if request.method not in ("GET", "HEAD"):
            # A form posted before the code is not repeated afterwards.
            return redirect(page)
        # Come back here once the code is given.
        return redirect_to_login(request.get_full_path(), reverse(page), REDIRECT_FIELD_NAME)
