"""Reads about staff two-factor sign-in: who needs it, and whether a session or ticket has it.

The devices are django-otp's (`TOTPDevice` for the authenticator app, `StaticDevice` for the
backup codes). A session is verified when it names, under django-otp's session key, a
confirmed device of its own user; django-otp's middleware does this for HTTP requests, and
`session_two_factor_pending` does the same for websockets.
"""

from django.conf import settings
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from peerchat.models import User


def two_factor_required(user) -> bool:
    """Whether `user` must give a code after their password: staff, while the setting is on.

    Seekers have no password and are never asked. Reads no database.
    """
    return (
        bool(settings.STAFF_TWO_FACTOR)
        and user is not None
        and user.is_authenticated
        and user.role != User.Role.SEEKER
    )


def two_factor_enrolled(*, user: User) -> bool:
    """Whether `user` has a confirmed authenticator app."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_device_pending(*, user: User) -> TOTPDevice | None:
    """The authenticator app `user` started setting up and has not confirmed, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()


def backup_codes_left(*, user: User) -> int:
    return sum(device.token_set.count() for device in StaticDevice.objects.filter(user=user))


def device_verified(*, user: User, persistent_id: str | None) -> Device | None:
    """The confirmed device of `user` that `persistent_id` names, else None.

    A device deleted by a reset, or one of somebody else, names nothing: the session or
    ticket that carried it is no longer verified.
    """
    if not persistent_id:
        return None
    device = Device.from_persistent_id(str(persistent_id))
    if device is None or device.user_id != user.pk or not device.confirmed:
        return None
    return device


def session_two_factor_pending(*, user, session) -> bool:
    """Whether this signed-in session still owes its code (for sockets opened with its cookie)."""
    if not two_factor_required(user):
        return False
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    return device_verified(user=user, persistent_id=persistent_id) is None
