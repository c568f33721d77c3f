"""Signatures of webhook requests: `Peerchat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The signed text is the timestamp, a full stop, and the exact body bytes:
`HMAC-SHA256(secret, f"{t}." + body)`. The sender signs every attempt afresh (new `t`, same
body); while a secret is being replaced it signs with each secret, one `v1=` entry per
secret. Receivers may copy this module as it is: it needs only the standard library.
"""

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The request is not from peerchat, was altered, or is too old (the message says which)."""


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str | list[str], body: bytes, timestamp: int) -> str:
    """Return the `Peerchat-Signature` header value for `body` sent at `timestamp`."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("sign() needs at least one secret")
    return ",".join([f"t={int(timestamp)}", *(f"v1={_mac(s, body, timestamp)}" for s in secrets)])


def verify(
    secret: str | list[str],
    body: bytes,
    header: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a `Peerchat-Signature` header against the raw body; return its timestamp.

    `secret` may be a list (a receiver moving to a new secret accepts both). Raise
    `SignatureError` when the header is missing or garbled, the timestamp is more than
    `tolerance` seconds old or ahead, or no `v1` signature matches (compared in constant time).
    """
    if not header:
        raise SignatureError("missing Peerchat-Signature header")
    timestamp = None
    candidates = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("garbled Peerchat-Signature header")
        if name == "t":
            if not value.isdigit() or timestamp is not None:
                raise SignatureError("garbled Peerchat-Signature header: bad timestamp")
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
        # Other schemes (a future v2) are ignored, so senders can add them without breaking this.
    if timestamp is None:
        raise SignatureError("garbled Peerchat-Signature header: no timestamp")
    if not candidates:
        raise SignatureError("garbled Peerchat-Signature header: no v1 signature")
    age = (time.time() if now is None else now) - timestamp
    if age > tolerance:
        raise SignatureError(f"timestamp too old ({int(age)} s; at most {tolerance} s accepted)")
    if age < -tolerance:
        raise SignatureError(f"timestamp too far in the future ({int(-age)} s ahead)")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    matched = False
    for s in secrets:
        expected = _mac(s, body, timestamp)
        for candidate in candidates:
            # Every pair is compared, so the time taken tells nothing about which one matched.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise SignatureError("signature mismatch (wrong secret, or the body was altered)")
    return timestamp
