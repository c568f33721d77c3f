"""What staff are told about their schedules: a notice on their page, and an email.

The email goes through the durable outbox (a job enqueued in the same transaction), so a
notice is mailed exactly when the change that caused it commits, and retried if the mail
server is down. Notices speak about times and staff only: never message text, never anything
about a seeker.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from peerchat import jobs
from peerchat.models import StaffNotice, User

logger = logging.getLogger(__name__)

EMAIL_JOB = "supervision.email"
SUBJECT = "peerchat: {}"


def notice_send(
    *,
    recipient: User,
    kind: str,
    text: str,
    link: str = "",
    now: datetime | None = None,
    email: bool = True,
    once_key: str | None = None,
) -> StaffNotice | None:
    """Tell `recipient` something on their page and, if they have an address, by email.

    With `once_key`, a notice already sent with that key is not sent again (returns None).
    """
    notice = StaffNotice(
        recipient=recipient,
        kind=kind,
        text=text[:500],
        link=link,
        created_at=now or timezone.now(),
        once_key=once_key,
    )
    notice.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            notice.save()
    except IntegrityError:
        if once_key is None:
            raise
        return None
    if email and recipient.email:
        jobs.enqueue(kind=EMAIL_JOB, key=f"notice-email:{notice.pk}", payload={"notice": notice.pk})
    return notice


def notices_mark_read(*, user: User, now: datetime | None = None) -> int:
    return StaffNotice.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )


def notice_email_send(job) -> str:
    """The email job: send one notice to its recipient (idempotent enough: one mail per job)."""
    notice = (
        StaffNotice.objects.select_related("recipient").filter(pk=job.payload["notice"]).first()
    )
    if notice is None or not notice.recipient.is_active or not notice.recipient.email:
        return "skipped"
    link = f"\n\n{settings.SITE_URL}{notice.link}" if notice.link else ""
    body = (
        f"Hello {notice.recipient.handle},\n\n{notice.text}{link}\n\n"
        "You get this because you are staff on peerchat."
    )
    EmailMessage(
        subject=SUBJECT.format(_subject(notice.kind)),
        body=body,
        to=[notice.recipient.email],
    ).send()
    return "sent"


SUBJECTS = {
    "booking_made": "a booking in your slot",
    "booking_moved": "a booking moved",
    "booking_cancelled": "a booking cancelled",
    "slot_cancelled": "a supervision time was cancelled",
    "debrief_booked": "your debrief is booked",
    "debrief_unbooked": "a debrief needs a time",
    "debrief_missed": "a debrief deadline passed",
    "reminder": "reminder",
    "supervision_due": "supervision due",
    "training_expiring": "training to renew",
    "exception": "an exception was recorded",
    "wants_to_talk": "someone would like to talk",
    "deactivated": "a supporter's bookings were cancelled",
}


def _subject(kind: str) -> str:
    return SUBJECTS.get(kind, "a note about your schedule")
