"""Short-lived tickets that authenticate a websocket without a session cookie.

A browser on the same origin is authenticated by its session cookie when the socket opens.
Other clients (the load harness, a future app) ask for a ticket over HTTP while signed in and
send it in an `auth` frame. A ticket expires quickly and dies with a password change.

Staff who must give a two-factor code get a ticket only from a session that gave it: the ticket
names the device the code came from, and stops working when that device is reset.
"""

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from peerchat.errors import Forbidden
from peerchat.models import User
from peerchat.selectors.two_factor import device_verified, two_factor_required

SALT = "peerchat.ws-ticket"


def _fingerprint(user: User) -> str:
    return salted_hmac(SALT, user.get_session_auth_hash()).hexdigest()[:20]


def ws_ticket_issue(*, user: User, otp_device=None) -> str:
    """A ticket for `user`; `otp_device` is the device their session gave its code with."""
    data = {"u": user.pk, "f": _fingerprint(user)}
    if two_factor_required(user):
        if otp_device is None:
            raise Forbidden(
                "Finish signing in with your two-factor code first.", code="two_factor_required"
            )
        data["d"] = otp_device.persistent_id
    return signing.dumps(data, salt=SALT)


def ws_ticket_user(*, ticket: str) -> User | None:
    """Return the active user a valid, unexpired ticket belongs to, else None."""
    try:
        data = signing.loads(
            ticket, salt=SALT, max_age=settings.PEERCHAT["WS_TICKET_MAX_AGE_SECONDS"]
        )
        user_id, fingerprint = int(data["u"]), str(data["f"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not constant_time_compare(fingerprint, _fingerprint(user)):
        return None
    if two_factor_required(user) and not device_verified(user=user, persistent_id=data.get("d")):
        return None
    return user
