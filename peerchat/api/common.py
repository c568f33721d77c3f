"""What every JSON endpoint shares: error shape, sign-in and role checks, body parsing."""

import json
from functools import wraps

from django.http import JsonResponse

from peerchat.errors import PeerchatError


def error_response(status: int, code: str, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)


def signed_in_only(view):
    """Answer 401 (JSON) unless the request is signed in."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return error_response(401, "not_authenticated", "Sign in first.")
        return view(request, *args, **kwargs)

    return wrapped


def roles_only(*roles: str):
    """Answer 401 unless signed in, and 403 unless the user has one of `roles`."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return error_response(401, "not_authenticated", "Sign in first.")
            if request.user.role not in roles:
                return error_response(403, "forbidden", "This is not available to your account.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


class BadRequest(PeerchatError):
    code = "invalid_request"


def optional_text(data: dict, field: str) -> str:
    """A JSON body's optional string field ("" when absent); BadRequest when not a string."""
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"'{field}' must be a string.")
    return value


def json_body(request) -> dict:
    """The request's JSON object body ({} when empty); BadRequest when it is not an object."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def answers_errors(view):
    """Turn a PeerchatError raised by a service into a JSON error (status from the error)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PeerchatError as error:
            return error_response(getattr(error, "status", 400), error.code, error.detail)

    return wrapped
