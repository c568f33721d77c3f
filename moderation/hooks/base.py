"""What every escalation hook is: a class with a `name` and a `deliver(delivery)` method.

docs/hooks.md explains how to write one (a pager, a chat integration, ...).
"""

from dataclasses import dataclass

from peerchat.jobs import GiveUp, Retry

# A hook raises these (the durable jobs' own exceptions, under the names hooks use):
HookRetry = Retry  # try again later: HookRetry("HTTP 503", delay=None)
HookGiveUp = GiveUp  # stop now, the delivery becomes a dead letter: HookGiveUp("HTTP 401")


@dataclass(frozen=True)
class HookDelivery:
    """One escalation event on its way to one hook.

    `payload` is the event as the escalation service describes it (treat it as opaque JSON:
    ids, states and times, never message text). `attempt` counts from 1; `key` is the same
    on every attempt (`hook:<name>:<event_id>`), like `event_id`.
    """

    event_id: str
    event_type: str
    payload: dict
    attempt: int
    key: str


class Hook:
    """Base class of escalation hooks.

    A subclass sets `name` (short and stable: it is part of every job key, and deliveries
    still waiting under an old name fail once no configured hook has it), reads its own
    settings in `__init__` (raising ImproperlyConfigured when they are wrong), and implements
    `deliver`. `longest_attempt_seconds` is how long one `deliver` call can take at most; the
    worker's lease must be longer, which the start-up checks verify.
    """

    name: str = ""

    longest_attempt_seconds: float = 0.0

    def deliver(self, delivery: HookDelivery) -> str | None:
        """Hand the event over; return a short result, or raise HookRetry / HookGiveUp."""
        raise NotImplementedError
