"""Start-up checks of the hook settings (run by every `manage.py` command, run_worker included).

A hook that cannot be built would only fail when an escalation happens; these checks make a
worker refuse to start instead.
"""

from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


def hooks_check(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    names = set()
    lease = settings.WORKER["LEASE_SECONDS"]
    for path in settings.ESCALATION_HOOKS:
        try:
            hook_class = import_string(path)
        except ImportError:
            errors.append(Error(f"ESCALATION_HOOKS: {path} cannot be imported.", id="hooks.E001"))
            continue
        name = getattr(hook_class, "name", "")
        if not name or len(name) > 40:
            errors.append(
                Error(
                    f"ESCALATION_HOOKS: {path} has no `name` (1 to 40 characters).", id="hooks.E002"
                )
            )
            continue
        if name in names:
            errors.append(
                Error(f"ESCALATION_HOOKS: two hooks are called {name!r}.", id="hooks.E003")
            )
        names.add(name)
        try:
            hook = hook_class()
        except ImproperlyConfigured as error:
            errors.append(Error(f"Escalation hook {name!r}: {error}", id="hooks.E004"))
            continue
        longest = float(getattr(hook, "longest_attempt_seconds", 0) or 0)
        if longest >= lease:
            errors.append(
                Error(
                    f"WORKER_LEASE_SECONDS ({lease:g}) must be longer than the longest attempt "
                    f"of escalation hook {name!r} ({longest:g} s), or a slow attempt is presumed "
                    f"lost and delivered twice.",
                    hint="Raise WORKER_LEASE_SECONDS or lower the hook's timeout "
                    "(ESCALATION_WEBHOOK_TIMEOUT_SECONDS counts twice, for connecting and for "
                    "the answer; EMAIL_TIMEOUT three times).",
                    id="hooks.E005",
                )
            )
    return errors
