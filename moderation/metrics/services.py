"""Writes that come with the figures: every export is audited."""

from moderation.models import AuditEntry
from peerchat.models import User

EXPORT_ACTION = "metrics_export"


def metrics_export_record(*, user: User, report: dict, file_format: str) -> AuditEntry:
    """Record who exported which figures, before the file leaves the server."""
    periods = report["periods"]
    return AuditEntry.objects.create(
        actor=user,
        action=EXPORT_ACTION,
        detail={
            "format": file_format,
            "period": report["period"],
            "count": len(periods),
            "first": periods[0]["key"] if periods else None,
            "last": periods[-1]["key"] if periods else None,
        },
    )
