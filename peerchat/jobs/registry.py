"""Job kinds and their handlers, and the exceptions a handler raises to steer retries.

Nothing here touches the database, so apps may register handlers in `AppConfig.ready()`.
"""

from collections.abc import Callable

HANDLERS: dict[str, Callable] = {}


class Retry(Exception):
    """Try the job again later: after `delay` seconds, or after the usual backoff.

    `reason` is kept as the job's `last_error`: keep it short and free of personal data.
    """

    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class GiveUp(Exception):
    """Stop trying: the job becomes a dead letter at once (an admin may retry it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def register(kind: str, handler: Callable) -> None:
    """Run `handler(job) -> str | None` for jobs of `kind`; registering a kind again replaces it.

    The handler runs outside any transaction and may run more than once for one job (a worker
    that dies mid-job is presumed dead when its lease runs out), so it must be idempotent or
    let the receiver deduplicate. Its return value, shortened, is kept as the job's `result`.
    """
    if not kind or len(kind) > 40:
        raise ValueError("A job kind is 1 to 40 characters.")
    HANDLERS[kind] = handler


def handler_for(kind: str) -> Callable | None:
    return HANDLERS.get(kind)
