"""Staff two-factor sign-in: set up an authenticator app, check codes, reset a lost phone.

The one-time passwords, their throttling (a wait that doubles after each wrong code: 1 s, 2 s,
4 s, ...) and replay protection are django-otp's; this module only decides which device a code
is for and records what staff and admins did in the audit log.
"""

import math

import django_otp
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from moderation.models import AuditEntry
from peerchat import events
from peerchat.errors import Conflict, PeerchatError
from peerchat.models import User
from peerchat.selectors.two_factor import totp_device_pending

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
TOTP_DIGITS = 6


class TwoFactorCodeWrong(PeerchatError):
    code = "two_factor_code_wrong"
    status = 400


class TwoFactorThrottled(PeerchatError):
    """Too many wrong codes in a row: no code is checked until `retry_after` seconds pass."""

    code = "two_factor_throttled"
    status = 429

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


def _staff_only(user: User) -> None:
    if user.role == User.Role.SEEKER:
        raise ValueError("seekers have no password and no two-factor sign-in")


def _normalised(token: str) -> str:
    """A code as typed, without the spaces and hyphens people copy or add (and in lower case,
    as backup codes are stored)."""
    return "".join(str(token or "").split()).replace("-", "").lower()


def _throttle_check(device: Device) -> None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return
    locked_until = (info or {}).get("locked_until")
    seconds = 1
    if locked_until is not None:
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
    raise TwoFactorThrottled(
        f"That was several wrong codes in a row. Wait {seconds} "
        f"second{'s' if seconds != 1 else ''}, then try again.",
        retry_after=seconds,
    )


def _verify(user: User, device: Device, token: str) -> Device:
    """Check `token` against `device` with django-otp (locked row, throttling, no replay)."""
    _throttle_check(device)
    verified = django_otp.verify_token(user, device.persistent_id, token)
    if verified is None:
        raise TwoFactorCodeWrong("That code didn't match. Check it and try again.")
    return verified


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """The authenticator app `user` is setting up: made once, so a reload shows the same key."""
    _staff_only(user)
    device = totp_device_pending(user=user)
    if device is None:
        device = TOTPDevice(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
        device.full_clean()
        device.save()
    return device


def totp_enrolment_confirm(*, user: User, device_id: int, token: str) -> tuple[TOTPDevice, list]:
    """Confirm the app with a code it shows; return the device and a fresh set of backup codes.

    The backup codes are returned once, to be shown once: afterwards they can be used but not
    read back from anywhere but the database.
    """
    _staff_only(user)
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("Two-factor is already set up for this account.", code="already_enrolled")
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    if device is None:
        raise Conflict(
            "That set-up has expired. Start again with the new key below.", code="enrolment_gone"
        )
    token = _normalised(token)
    if not (token.isdigit() and len(token) == TOTP_DIGITS):
        raise TwoFactorCodeWrong("Type the 6-digit code your authenticator app shows.")
    verified = _verify(user, device, token)
    with transaction.atomic():
        verified.confirmed = True
        verified.save(update_fields=["confirmed"])
        # Set-ups started in other tabs are no longer wanted.
        TOTPDevice.objects.filter(user=user).exclude(pk=verified.pk).delete()
        codes = _backup_codes_replace(user=user)
        AuditEntry.objects.create(
            actor=user,
            action="two_factor_enrolled",
            subject=user,
            detail={"backup_codes": len(codes)},
        )
    return verified, codes


def _backup_codes_replace(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = []
    while len(codes) < BACKUP_CODE_COUNT:
        code = StaticToken.random_token()
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def two_factor_verify(*, user: User, token: str) -> Device:
    """Check a code after the password: 6 digits from the app, or one of the backup codes.

    A backup code works once; using one is audited (a lost phone may be behind it).
    """
    _staff_only(user)
    token = _normalised(token)
    if not token:
        raise TwoFactorCodeWrong("Type the 6-digit code your authenticator app shows.")
    is_app_code = token.isdigit() and len(token) == TOTP_DIGITS
    model = TOTPDevice if is_app_code else StaticDevice
    device = model.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        raise TwoFactorCodeWrong("That code didn't match. Check it and try again.")
    verified = _verify(user, device, token)
    if isinstance(verified, StaticDevice):
        AuditEntry.objects.create(
            actor=user,
            action="two_factor_backup_code_used",
            subject=user,
            detail={"backup_codes_left": verified.token_set.count()},
        )
    return verified


def two_factor_reset(*, user: User, by: User | None, via: str) -> AuditEntry:
    """Forget `user`'s authenticator app and backup codes (a lost or replaced phone).

    Their sessions stop counting as verified at once, their open sockets close, and they set
    up a new app at their next sign-in. `by` is the admin (None: an operator at the command
    line); `via` says where the reset was made.
    """
    _staff_only(user)
    with transaction.atomic():
        apps, _ = TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        entry = AuditEntry.objects.create(
            actor=by,
            action="two_factor_reset",
            subject=user,
            detail={"via": via, "had_app": bool(apps)},
        )
        events.publish_on_commit(
            events.USERS_GROUP,
            {"kind": "control", "user": user.pk, "action": "two_factor_reset"},
        )
    return entry
