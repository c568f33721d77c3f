"""The gates on new shifts, and the recorded, time-limited exceptions supervisors may grant.

Overdue supervision or required training that is missing or expired stops a supporter from
starting a new shift (`shift_start` asks `gate_status`); chats and shifts already under way
are never cut off. A supervisor may let someone carry on for a while, with a reason that is
kept in the audit log.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from moderation.models import AuditEntry
from peerchat.errors import BodyInvalid, Forbidden, NotFound
from peerchat.models import GateException, User
from peerchat.selectors.supervision import is_supervisor, when
from peerchat.services.supervision.notices import notice_send

REASON_MAX_CHARS = 500


def gate_exception_grant(
    *,
    supporter: User,
    by: User,
    gate: str,
    reason: str,
    days: int,
    now: datetime | None = None,
) -> GateException:
    """Let `supporter` start shifts despite `gate` for `days` days; the reason is required."""
    now = now or timezone.now()
    if not is_supervisor(by):
        raise Forbidden("Only supervisors grant exceptions.")
    if by.pk == supporter.pk:
        raise Forbidden("An exception for yourself must come from another supervisor.")
    if supporter.role != User.Role.SUPPORTER or not supporter.is_active:
        raise NotFound("There is no such supporter.")
    if gate not in GateException.Gate.values:
        raise BodyInvalid("An exception is for overdue supervision or training.")
    reason = (reason or "").strip()
    if not reason:
        raise BodyInvalid("Say why, for the record.", code="reason_required")
    if len(reason) > REASON_MAX_CHARS:
        raise BodyInvalid(f"Keep the reason to {REASON_MAX_CHARS} characters.")
    longest = settings.SUPERVISION["EXCEPTION_MAX_DAYS"]
    if not 1 <= int(days) <= longest:
        raise BodyInvalid(f"An exception lasts 1 to {longest} days.", code="invalid_days")
    with transaction.atomic():
        exception = GateException.objects.create(
            supporter=supporter,
            gate=gate,
            reason=reason,
            granted_by=by,
            starts_at=now,
            expires_at=now + timedelta(days=int(days)),
        )
        AuditEntry.objects.create(
            actor=by,
            action="gate_exception_granted",
            subject=supporter,
            detail={"exception": exception.pk, "gate": gate, "days": int(days)},
        )
        notice_send(
            recipient=supporter,
            kind="exception",
            text=(
                f"{by.handle} has let you take shifts until {when(exception.expires_at)} "
                f"({exception.get_gate_display().lower()}). Please sort it out before then."
            ),
            link="/staff/schedule/",
            now=now,
        )
    return exception


def gate_exception_revoke(
    *, exception_id: int, by: User, now: datetime | None = None
) -> GateException:
    now = now or timezone.now()
    if not is_supervisor(by):
        raise Forbidden("Only supervisors revoke exceptions.")
    with transaction.atomic():
        exception = GateException.objects.select_for_update().filter(pk=exception_id).first()
        if exception is None:
            raise NotFound("There is no such exception.")
        if exception.revoked_at is None and exception.expires_at > now:
            exception.revoked_at = now
            exception.revoked_by = by
            exception.save(update_fields=["revoked_at", "revoked_by"])
            AuditEntry.objects.create(
                actor=by,
                action="gate_exception_revoked",
                subject_id=exception.supporter_id,
                detail={"exception": exception.pk, "gate": exception.gate},
            )
    return exception
