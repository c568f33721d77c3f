"""The JSON API under /api/v1/, one module per area. Thin: parse, call a service, answer."""

from peerchat.api.accounts import csrf_failure

__all__ = ["csrf_failure"]
