"""Two-factor sign-in pages for staff: set up an authenticator app, give a code, see backup codes.

After the password, `config.middleware.StaffTwoFactorMiddleware` sends staff here (with
`?next=` where they were going) until this session has given a code. The QR code is SVG drawn
on the server and written into the page, so the strict CSP needs no exception; the key is also
shown as text, and as an `otpauth://` link that opens the authenticator app on the same phone.
"""

import re
from base64 import b32encode
from urllib.parse import urlencode

import django_otp
import qrcode
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render, resolve_url
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from qrcode.image.svg import SvgPathFillImage

from peerchat.errors import Conflict
from peerchat.selectors.two_factor import two_factor_enrolled, two_factor_required
from peerchat.services.two_factor import (
    TwoFactorCodeWrong,
    TwoFactorThrottled,
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_verify,
)

# The backup codes just made, kept in the session only until the next page shows them.
BACKUP_CODES_SESSION_KEY = "peerchat_two_factor_backup_codes"


def _next_url(request) -> str:
    """Where to go once the code is given: `next` when it is on this site, else the usual."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _mark_verified(request, device) -> None:
    """This session has given its code: a new session id, then django-otp remembers the device."""
    request.session.cycle_key()
    django_otp.login(request, device)


def _grouped(text: str, size: int = 4) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def _qr_svg(data: str) -> str:
    """`data` as an SVG QR code: black squares on white (also in dark mode), no style or script."""
    svg = qrcode.make(data, image_factory=SvgPathFillImage, box_size=10, border=4).to_string(
        encoding="unicode"
    )
    # Sized by site.css; described for screen readers, who are pointed to the key as text.
    return re.sub(
        r"^<svg ",
        '<svg class="qr-code" role="img" aria-label="QR code of the key shown below" ',
        svg,
        count=1,
    )


def _not_for_this_request(request, next_url: str):
    """Send people who have nothing to do on the two-factor pages where they belong."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not two_factor_required(user) or user.is_verified():
        return redirect(next_url)
    return None


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "HEAD", "POST"])
def two_factor_verify_page(request):
    """Ask for the 6-digit code from the app (or, on request, a backup code)."""
    next_url = _next_url(request)
    elsewhere = _not_for_this_request(request, next_url)
    if elsewhere is not None:
        return elsewhere
    if not two_factor_enrolled(user=request.user):
        return redirect(_with_next("two-factor-setup", next_url))
    backup = (request.POST.get("backup") or request.GET.get("backup")) == "1"
    error = ""
    if request.method == "POST":
        try:
            device = two_factor_verify(user=request.user, token=request.POST.get("code", ""))
        except (TwoFactorCodeWrong, TwoFactorThrottled) as refusal:
            error = refusal.detail
        else:
            _mark_verified(request, device)
            return redirect(next_url)
    return render(
        request,
        "registration/two_factor_verify.html",
        {"next": next_url, "backup": backup, "error": error},
    )


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "HEAD", "POST"])
def two_factor_setup_page(request):
    """Set up an authenticator app: QR code and key, then a code from the app to confirm."""
    next_url = _next_url(request)
    elsewhere = _not_for_this_request(request, next_url)
    if elsewhere is not None:
        return elsewhere
    if two_factor_enrolled(user=request.user):
        return redirect(_with_next("two-factor", next_url))
    error = ""
    if request.method == "POST":
        try:
            device_id = int(request.POST.get("device", ""))
        except ValueError:
            device_id = 0
        try:
            device, codes = totp_enrolment_confirm(
                user=request.user, device_id=device_id, token=request.POST.get("code", "")
            )
        except (TwoFactorCodeWrong, TwoFactorThrottled, Conflict) as refusal:
            if getattr(refusal, "code", "") == "already_enrolled":
                return redirect(_with_next("two-factor", next_url))
            error = refusal.detail
        else:
            _mark_verified(request, device)
            request.session[BACKUP_CODES_SESSION_KEY] = codes
            return redirect(_with_next("two-factor-backup-codes", next_url))
    device = totp_enrolment_start(user=request.user)
    key = b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "next": next_url,
            "error": error,
            "device_id": device.pk,
            "key_text": _grouped(key),
            "config_url": device.config_url,
            "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - made here, no input
        },
    )


@never_cache
def two_factor_backup_codes_page(request):
    """Show the backup codes made at set-up, once."""
    next_url = _next_url(request)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    codes = request.session.pop(BACKUP_CODES_SESSION_KEY, None)
    if not codes:
        return redirect(next_url)
    return render(
        request,
        "registration/two_factor_backup_codes.html",
        {"next": next_url, "codes": [_grouped(code) for code in codes]},
    )


urlpatterns = [
    path("accounts/two-factor/", two_factor_verify_page, name="two-factor"),
    path("accounts/two-factor/setup/", two_factor_setup_page, name="two-factor-setup"),
    path(
        "accounts/two-factor/backup-codes/",
        two_factor_backup_codes_page,
        name="two-factor-backup-codes",
    ),
]
