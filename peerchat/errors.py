"""Errors raised by services and selectors; the consumer and views turn them into answers."""


class PeerchatError(Exception):
    """An expected refusal with a stable code (docs/protocol.md lists every code)."""

    code = "error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class RoomNotFound(PeerchatError):
    """The room does not exist or the user is not a member: the two are indistinguishable."""

    code = "room_not_found"


class BodyEmpty(PeerchatError):
    code = "body_empty"


class BodyTooLong(PeerchatError):
    code = "body_too_long"


class BodyInvalid(PeerchatError):
    code = "invalid_field"
