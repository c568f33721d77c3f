"""Throttles on HTTP, counted in the cache (Redis when REDIS_URL is set, so across processes).

Each throttle counts events per key in fixed windows of time: at most `limit` in one window,
then refused until the window ends. Keys are keyed hashes (HMAC with SECRET_KEY) of usernames
and client addresses, so the cache never holds either in the clear: an address tells who
uses a self-harm support service. If the cache does not answer, nothing is refused.
"""

import hashlib
import hmac
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from peerchat.limits import Outage

_outage = Outage("the throttles' cache")


@dataclass(frozen=True)
class Throttle:
    name: str
    limit: int
    window: int  # seconds

    def _key(self, subject: str, now: float) -> str:
        digest = hmac.new(
            settings.SECRET_KEY.encode(), f"{self.name}:{subject}".encode(), hashlib.sha256
        ).hexdigest()[:32]
        return f"{settings.LIMITS['KEY_PREFIX']}:{self.name}:{digest}:{int(now // self.window)}"

    def wait(self, subject: str) -> int:
        """Seconds until `subject` may try again (0: now)."""
        now = time.time()
        try:
            count = cache.get(self._key(subject, now), 0)
        except Exception as error:  # noqa: BLE001 - fail open, logged once
            _outage.failed(error)
            return 0
        _outage.answered()
        if count < self.limit:
            return 0
        return max(1, math.ceil((now // self.window + 1) * self.window - now))

    def record(self, subject: str) -> None:
        """Count one event for `subject` in the current window."""
        key = self._key(subject, time.time())
        try:
            # add() starts the window's count (the key outlives the window a little);
            # incr() is atomic in Redis, so processes counting at once lose nothing.
            cache.add(key, 0, timeout=self.window + 60)
            try:
                cache.incr(key)
            except ValueError:  # it expired in between
                cache.set(key, 1, timeout=self.window + 60)
        except Exception as error:  # noqa: BLE001
            _outage.failed(error)
            return
        _outage.answered()

    def reset(self, subject: str) -> None:
        try:
            cache.delete(self._key(subject, time.time()))
        except Exception as error:  # noqa: BLE001
            _outage.failed(error)


def login_by_username() -> Throttle:
    config = settings.LIMITS
    return Throttle(
        "login-user", config["LOGIN_FAILURES_PER_USERNAME"], config["LOGIN_WINDOW_SECONDS"]
    )


def login_by_address() -> Throttle:
    config = settings.LIMITS
    return Throttle(
        "login-addr", config["LOGIN_FAILURES_PER_ADDRESS"], config["LOGIN_WINDOW_SECONDS"]
    )


def seeker_starts_by_address() -> Throttle:
    config = settings.LIMITS
    return Throttle(
        "seeker-start",
        config["SEEKER_STARTS_PER_ADDRESS"],
        config["SEEKER_STARTS_WINDOW_SECONDS"],
    )


def seeker_start_wait(request) -> int:
    """Count a new seeker account from this client's address, or say how long to wait.

    The limit is far above what people sharing an address start (docs/operations.md, "Abuse
    limits"): it stops a script making accounts in bulk, not a person.
    """
    throttle = seeker_starts_by_address()
    address = client_address(request)
    wait = throttle.wait(address)
    if not wait:
        throttle.record(address)
    return wait


def seeker_start_refusal(wait: int) -> str:
    return (
        "A lot of chats have just been started from your network, so new ones are paused for "
        f"a moment. Please try again in about {minutes_text(wait)}. If you need help right "
        "now, the numbers under 'Help now' are always there."
    )


def username_subject(username: str) -> str:
    """Failures count against a username however it is typed (case, spaces around it)."""
    return username.strip().casefold()


def client_address(request) -> str:
    """The client's address: daphne's peer, or the proxy's X-Forwarded-For with
    --proxy-headers (BEHIND_PROXY). Without it behind a proxy, every client shares one."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def minutes_text(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"
