"""Start-up checks of the WORKER settings."""

from django.conf import settings
from django.core.checks import Error


def worker_check(app_configs=None, **kwargs) -> list[Error]:
    worker = settings.WORKER
    errors = []
    for name in ("POLL_SECONDS", "LEASE_SECONDS", "RETRY_BASE_SECONDS", "RETRY_MAX_SECONDS"):
        if not worker[name] > 0:
            errors.append(Error(f"WORKER_{name} must be more than 0.", id="jobs.E001"))
    if worker["RETRY_MAX_SECONDS"] < worker["RETRY_BASE_SECONDS"]:
        errors.append(
            Error(
                "WORKER_RETRY_MAX_SECONDS must be at least WORKER_RETRY_BASE_SECONDS.",
                id="jobs.E002",
            )
        )
    if worker["MAX_ATTEMPTS"] < 1:
        errors.append(Error("WORKER_MAX_ATTEMPTS must be at least 1.", id="jobs.E003"))
    return errors
