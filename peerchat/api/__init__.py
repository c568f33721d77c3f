"""The JSON API under /api/v1/, one module per area. Thin: parse, call a service, answer."""

from peerchat.api.accounts import bad_request, csrf_failure

__all__ = ["bad_request", "csrf_failure"]
