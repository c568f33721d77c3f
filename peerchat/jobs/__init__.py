"""Durable jobs (DESIGN.md §3): work saved as rows and run by `manage.py run_worker`.

Use it as `from peerchat import jobs`:

    jobs.register("hook", deliver_hook)            # in AppConfig.ready()
    with transaction.atomic():
        escalation.save()
        jobs.enqueue(kind="hook", key=f"hook:email:{event_id}", payload={...},
                     ordering_key=f"hook:email:escalation:{escalation.pk}")

A handler returns a short result, raises `jobs.Retry(reason, delay=None)` to try again later,
`jobs.GiveUp(reason)` to dead-letter the job at once; any other exception is retried. The
rules (idempotent enqueue, ordering, backoff, leases) are in `peerchat.jobs.services`.
"""

from peerchat.jobs.registry import GiveUp, Retry, register

__all__ = [
    "GiveUp",
    "Job",
    "Retry",
    "backoff_delay",
    "cancel",
    "enqueue",
    "register",
    "run_due",
]

# These need the models, which cannot be imported while Django loads its apps (this package
# is one of them), so they are looked up on first use.
_LAZY = {
    "Job": "peerchat.jobs.models",
    "backoff_delay": "peerchat.jobs.services",
    "cancel": "peerchat.jobs.services",
    "enqueue": "peerchat.jobs.services",
    "run_due": "peerchat.jobs.services",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
