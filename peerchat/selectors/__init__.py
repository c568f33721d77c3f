"""Reads. Every read of a room's content goes through a membership check."""

from peerchat.selectors.rooms import (
    Replay,
    membership_get,
    messages_after,
    replay_for_join,
    room_name_for,
    rooms_for_user,
)

__all__ = [
    "Replay",
    "membership_get",
    "messages_after",
    "replay_for_join",
    "room_name_for",
    "rooms_for_user",
]
