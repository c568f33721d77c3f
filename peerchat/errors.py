"""Errors raised by services and selectors; the consumer and views turn them into answers."""


class PeerchatError(Exception):
    """An expected refusal with a stable code (docs/protocol.md and docs/api.md list them).

    `status` is the HTTP status the JSON API answers with. A subclass fixes the usual code;
    `code=` gives a more precise one for a single refusal.
    """

    code = "error"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class RoomNotFound(PeerchatError):
    """The room does not exist or the user is not a member: the two are indistinguishable."""

    code = "room_not_found"
    status = 404


class NotFound(PeerchatError):
    code = "not_found"
    status = 404


class Forbidden(PeerchatError):
    code = "forbidden"
    status = 403


class Conflict(PeerchatError):
    """The request cannot be done in the current state (already matched, shift ended, ...)."""

    code = "conflict"
    status = 409


class BodyEmpty(PeerchatError):
    code = "body_empty"


class BodyTooLong(PeerchatError):
    code = "body_too_long"


class BodyInvalid(PeerchatError):
    code = "invalid_field"
