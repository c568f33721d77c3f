"""Escalation hooks: each escalation event handed to every configured hook, durably and in order.

`ESCALATION_HOOKS` lists the hook classes (docs/hooks.md). The escalation service calls
`hooks_enqueue` inside its transaction; for each hook that adds one durable job (kind `hook`),
which `manage.py run_worker` delivers with retries. Jobs of one hook that share an ordering
key (one escalation's events) are delivered one after another, in the order they were made.
"""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from moderation.hooks.base import Hook, HookDelivery, HookGiveUp, HookRetry

__all__ = [
    "HOOK_JOB",
    "Hook",
    "HookDelivery",
    "HookGiveUp",
    "HookRetry",
    "hook_deliver",
    "hook_get",
    "hooks_enqueue",
]

logger = logging.getLogger(__name__)

HOOK_JOB = "hook"


def hooks_enqueue(*, event_id: str, event_type: str, payload: dict, ordering_key: str) -> list:
    """Enqueue the event for every configured hook; return the jobs (one per hook).

    Call it inside the transaction that records the event: the deliveries exist exactly when
    the event does. The same `event_id` again adds nothing. A hook class that cannot be
    loaded is logged and left out rather than failing the escalation (the worker's start-up
    checks report it).
    """
    from peerchat import jobs

    enqueued = []
    for path in settings.ESCALATION_HOOKS:
        try:
            name = import_string(path).name
        except (ImportError, AttributeError) as error:
            logger.error(
                "escalation hook %s cannot be loaded (%s); event %s not handed to it",
                path,
                type(error).__name__,
                event_id,
            )
            continue
        enqueued.append(
            jobs.enqueue(
                kind=HOOK_JOB,
                key=f"hook:{name}:{event_id}",
                ordering_key=f"hook:{name}:{ordering_key}",
                payload={
                    "hook": name,
                    "event_id": event_id,
                    "event_type": event_type,
                    "body": payload,
                },
            )
        )
    return enqueued


def hook_get(name: str) -> Hook:
    """Build the configured hook called `name` (its settings are read now)."""
    for path in settings.ESCALATION_HOOKS:
        hook_class = import_string(path)
        if hook_class.name == name:
            return hook_class()
    raise HookGiveUp(f"hook {name!r} is no longer configured")


def hook_deliver(job) -> str | None:
    """The handler of `hook` jobs: give the event to its hook."""
    hook = hook_get(job.payload["hook"])
    return hook.deliver(
        HookDelivery(
            event_id=job.payload["event_id"],
            event_type=job.payload["event_type"],
            payload=job.payload["body"],
            attempt=job.attempts,
            key=job.key,
        )
    )
