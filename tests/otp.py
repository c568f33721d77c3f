"""RFC 6238 time-based one-time passwords, written out independently of django-otp.

The tests compute what an authenticator app would show from the key the server gave, so they
pass only if the server accepts real codes (tests/test_two_factor.py checks this against the
RFC's own test vectors).
"""

import hashlib
import hmac
import struct


def totp(key: bytes, at: float, *, digits: int = 6, step: int = 30) -> str:
    """The code for `key` at Unix time `at` (HMAC-SHA1, dynamic truncation, RFC 4226 §5.3)."""
    counter = int(at // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{value:0{digits}d}"
