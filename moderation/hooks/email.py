"""The email hook: tell people by email about the escalation events they must act on.

`ESCALATION_EMAIL["EVENTS"]` maps event types to recipient groups: "moderators" (every
active moderator with an email address) and "on_call" (`ESCALATION_ON_CALL_EMAILS`). By
default a re-notification goes to the moderators and the on-call event to the on-call list;
other events are accepted and skipped.

Email leaves the service's control, so it carries no message text and no names: only the
escalation's number, room number, what raised it, its state, times and the console link.
"""

import email.utils
import logging
import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from moderation.hooks.base import Hook, HookDelivery, HookGiveUp, HookRetry

logger = logging.getLogger(__name__)

RECIPIENT_GROUPS = ("moderators", "on_call")

SUBJECTS = {
    "escalation.opened": "Escalation #{id} opened",
    "escalation.trigger_added": "Escalation #{id}: another concern was raised",
    "escalation.acknowledged": "Escalation #{id} has been picked up",
    "escalation.renotified": "Escalation #{id} is waiting for a moderator",
    "escalation.on_call": "Escalation #{id}: the on-call contact is asked to help",
    "escalation.resolved": "Escalation #{id} is resolved",
}

OPENINGS = {
    "escalation.renotified": (
        "Someone on peerchat may need help, and no moderator has picked up this escalation "
        "yet. If you can, please open the moderators' page and take it."
    ),
    "escalation.on_call": (
        "You are the on-call contact. Someone on peerchat may need help, and no moderator has "
        "picked up this escalation yet. Please open the moderators' page and look at it."
    ),
}
DEFAULT_OPENING = "There is news about an escalation on peerchat."

KINDS = {
    "filter": "wording that may mean someone is in danger",
    "seeker": "the person being supported asked for urgent help",
    "supporter": "their supporter asked for urgent help",
    "moderator": "a moderator raised it",
}
ROOM_KINDS = {"one_to_one": "one-to-one chat", "group": "group"}


def _when(value) -> str:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        return "not known"
    return timezone.localtime(moment).strftime("%d %b %Y, %H:%M %Z")


def _number(value) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def _word(value, names: dict) -> str:
    return names.get(value, str(value)) if isinstance(value, str) else "not known"


class EmailHook(Hook):
    name = "email"

    def __init__(self):
        config = settings.ESCALATION_EMAIL
        self.events = {
            event: [group for group in groups if group in RECIPIENT_GROUPS]
            for event, groups in config["EVENTS"].items()
        }
        self.on_call = [address for address in config["ON_CALL"] if address]
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or 0
        # Connecting, then a handful of SMTP commands, each bounded by EMAIL_TIMEOUT.
        self.longest_attempt_seconds = 3 * timeout

    def recipients(self, event_type: str) -> list[str]:
        addresses = []
        for group in self.events.get(event_type, []):
            if group == "moderators":
                addresses += (
                    get_user_model()
                    .objects.filter(role="moderator", is_active=True)
                    .exclude(email="")
                    .order_by("pk")
                    .values_list("email", flat=True)
                )
            elif group == "on_call":
                addresses += self.on_call
        return list(dict.fromkeys(addresses))  # each address once, in a stable order

    def message(self, delivery: HookDelivery, recipients: list[str]) -> EmailMessage:
        escalation = delivery.payload.get("escalation") or {}
        number = _number(escalation.get("id"))
        subject = SUBJECTS.get(delivery.event_type, "Escalation #{id}").format(id=number)
        lines = [
            "Hello,",
            "",
            OPENINGS.get(delivery.event_type, DEFAULT_OPENING),
            "",
            f"Escalation: #{number}",
            f"Room: #{_number(escalation.get('room'))} "
            f"({_word(escalation.get('room_kind'), ROOM_KINDS)})",
            f"Raised by: {_word(escalation.get('kind'), KINDS)}",
            f"State: {_word(escalation.get('state'), {})}",
            f"Opened: {_when(escalation.get('opened_at'))}",
        ]
        if escalation.get("acknowledged_at"):
            lines.append(f"Picked up: {_when(escalation['acknowledged_at'])}")
        if escalation.get("resolved_at"):
            lines.append(f"Resolved: {_when(escalation['resolved_at'])}")
        lines.append(f"This email was written: {_when(delivery.payload.get('created_at'))}")
        console_url = delivery.payload.get("console_url")
        if isinstance(console_url, str) and console_url.startswith(("https://", "http://")):
            lines += ["", "The moderators' page:", console_url]
        lines += [
            "",
            "This email holds no messages or names on purpose; everything else is on the "
            "moderators' page. Thank you for looking after this.",
        ]
        _, sender = email.utils.parseaddr(settings.DEFAULT_FROM_EMAIL)
        domain = sender.rpartition("@")[2] or "peerchat.invalid"
        # The same id on every attempt, so a retried email is recognised as the same one.
        message_id = f"<{delivery.key.replace(':', '.')}@{domain}>"
        return EmailMessage(
            subject=subject,
            body="\n".join(lines) + "\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            bcc=recipients,  # people on the list do not see each other's addresses
            headers={"Message-ID": message_id, "Peerchat-Event": delivery.event_type},
        )

    def deliver(self, delivery: HookDelivery) -> str:
        if delivery.event_type not in self.events:
            return "skipped"
        recipients = self.recipients(delivery.event_type)
        if not recipients:
            logger.warning(
                "email hook: nobody to write to about %s (%s)",
                delivery.event_type,
                " and ".join(self.events[delivery.event_type]) or "no recipient groups",
            )
            return "no recipients"
        try:
            self.message(delivery, recipients).send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused:
            raise HookGiveUp("every recipient was refused") from None
        except (smtplib.SMTPException, OSError) as error:
            raise HookRetry(type(error).__name__) from None
        return f"sent to {len(recipients)}"
