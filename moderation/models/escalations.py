"""Escalations: someone may be in danger, and a moderator must take it on (DESIGN §8).

An escalation is raised by imminent-danger wording, by a seeker's or supporter's "I need urgent
help", or by a moderator. It moves `open → acknowledged → resolved`; each step, and every later
trigger that attaches to it, is an `EscalationEvent`, which is what staff see live and what the
hooks receive, in order.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Escalation(models.Model):
    class Kind(models.TextChoices):
        FILTER = "filter", "Imminent-danger wording"
        SEEKER = "seeker", "The seeker asked for urgent help"
        SUPPORTER = "supporter", "The supporter asked for urgent help"
        MODERATOR = "moderator", "A moderator raised it"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Stage(models.IntegerChoices):
        ON_DUTY = 0, "Moderators on duty"
        ALL_MODERATORS = 1, "Every moderator"
        ON_CALL = 2, "The on-call contact"

    class Outcome(models.TextChoices):
        SUPPORTED = "supported", "Supported in the chat"
        SIGNPOSTED = "signposted", "Crisis services suggested and taken up"
        EMERGENCY_SERVICES = "emergency_services", "Emergency services contacted"
        SAFEGUARDING = "safeguarding", "Safeguarding referral made"
        NO_IMMEDIATE_RISK = "no_immediate_risk", "Checked: no immediate danger"
        LOST_CONTACT = "lost_contact", "Contact lost before it could be checked"

    room = models.ForeignKey("peerchat.Room", on_delete=models.PROTECT, related_name="escalations")
    # The one-to-one chat it came from, if it did.
    session = models.ForeignKey(
        "peerchat.SupportSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalations",
    )
    # What raised it first; later triggers are EscalationTrigger rows.
    kind = models.CharField(max_length=16, choices=Kind.choices)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # How widely it has been announced while nobody acknowledged it.
    stage = models.PositiveSmallIntegerField(choices=Stage.choices, default=Stage.ON_DUTY)
    opened_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    trigger_count = models.PositiveIntegerField(default=1)
    last_trigger_at = models.DateTimeField()
    # The number of the latest event: hooks receive each escalation's events in this order.
    last_sequence = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["state", "opened_at"], name="escalation_state_opened")]
        constraints = [
            # One escalation per room until it is resolved: later triggers attach to it.
            models.UniqueConstraint(
                fields=["room"],
                condition=~Q(state="resolved"),
                name="escalation_one_unresolved_per_room",
            ),
            models.CheckConstraint(
                name="escalation_resolved_has_outcome",
                condition=~Q(state="resolved") | (~Q(outcome="") & Q(resolved_at__isnull=False)),
            ),
            models.CheckConstraint(
                name="escalation_acknowledged_has_who",
                condition=Q(state="open") | Q(acknowledged_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"escalation {self.pk} in room {self.room_id} ({self.state})"


class EscalationTrigger(models.Model):
    """One signal that someone may be in danger; the first opens the escalation."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="triggers")
    kind = models.CharField(max_length=16, choices=Escalation.Kind.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The message whose wording raised it (filter triggers).
    message = models.ForeignKey(
        "peerchat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the person who raised it said about why (staff only; optional).
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.kind} trigger on escalation {self.escalation_id}"


class EscalationEvent(models.Model):
    """A step in an escalation's life, numbered per escalation; hooks get each one once."""

    class Type(models.TextChoices):
        OPENED = "opened", "Opened"
        TRIGGER_ADDED = "trigger_added", "Another signal attached"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RENOTIFIED = "renotified", "Not acknowledged in time: every moderator told"
        ON_CALL = "on_call", "Still not acknowledged: the on-call contact told"
        RESOLVED = "resolved", "Resolved"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="events")
    # Public id of the event: the hooks' idempotency key.
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sequence = models.PositiveIntegerField()
    type = models.CharField(max_length=16, choices=Type.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["escalation", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation", "sequence"], name="escalation_event_unique_sequence"
            ),
        ]

    def __str__(self):
        return f"{self.type} #{self.sequence} of escalation {self.escalation_id}"
