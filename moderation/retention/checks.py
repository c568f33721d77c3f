"""Start-up checks of the RETENTION settings."""

from django.conf import settings
from django.core.checks import Error, Warning


def retention_check(app_configs=None, **kwargs) -> list:
    config = settings.RETENTION
    problems = []
    for name in ("MESSAGE_BODY_DAYS", "NOTES_DAYS"):
        if config[name] < 0:
            problems.append(
                Error(f"RETENTION_{name} must be 0 (keep for ever) or more.", id="retention.E001")
            )
        elif config[name] == 0 and not settings.DEBUG:
            problems.append(
                Warning(
                    f"RETENTION_{name} is 0: that text is kept for ever and never purged.",
                    hint="Set a retention period (docs/operations.md, 'Data retention').",
                    id="retention.W001",
                )
            )
    for name in ("PURGE_EVERY_MINUTES", "BATCH_SIZE"):
        if config[name] < 1:
            problems.append(Error(f"RETENTION_{name} must be at least 1.", id="retention.E002"))
    return problems
