"""Supporters: their profile, scheduled shifts and training records."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class SupporterProfile(models.Model):
    """What matching needs to know about a supporter beyond their account.

    The level lives on the account (`User.supporter_level`); capacity by level is configuration
    (`SUPPORT["CAPACITY_BY_LEVEL"]`).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supporter_profile"
    )
    # The shift they are on now (went on from their page); None when off shift.
    current_shift = models.OneToOneField(
        "Shift", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # No new chats until then (a short pause after a chat that ended in an escalation).
    paused_until = models.DateTimeField(null=True, blank=True)
    # When they were last given a chat: the longest-idle supporter is matched first.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # Their supervisor: the one person besides them who reads their after-shift check-ins.
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supervisees",
    )

    def __str__(self):
        return f"supporter profile of {self.user}"


class Shift(models.Model):
    """A scheduled shift, and when the supporter actually went on and off it."""

    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shifts"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["starts_at", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                name="shift_ends_after_it_starts", condition=Q(ends_at__gt=F("starts_at"))
            ),
        ]

    def __str__(self):
        return f"shift of {self.supporter} from {self.starts_at:%Y-%m-%d %H:%M}"


class TrainingModule(models.Model):
    """A training module; `required_levels` lists the supporter levels that must hold it."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    required_levels = models.JSONField(default=list, blank=True)
    # How long a completion stays valid; None: it does not expire.
    valid_days = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self):
        return self.name


class TrainingRecord(models.Model):
    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_records"
    )
    module = models.ForeignKey(TrainingModule, on_delete=models.PROTECT, related_name="records")
    completed_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-completed_on"]

    def __str__(self):
        return f"{self.module} completed by {self.supporter} on {self.completed_on}"


class Debrief(models.Model):
    """A debrief a supporter is due with a supervisor, after an escalation in their chat.

    The escalation flow creates it; the worker books the earliest fitting slot
    (`peerchat.services.supervision.debriefs`), and the supervisor records it as held.
    """

    class State(models.TextChoices):
        DUE = "due", "Due"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Not needed"

    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="debriefs"
    )
    escalation = models.ForeignKey(
        "moderation.Escalation", on_delete=models.CASCADE, related_name="debriefs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.DUE)
    due_by = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When supervisors were told the deadline passed without a debrief (once).
    flagged_at = models.DateTimeField(null=True, blank=True)
    # When supervisors were told no time before the deadline was free (once).
    no_time_told_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_by"]
        constraints = [
            models.UniqueConstraint(
                fields=["supporter", "escalation"], name="debrief_one_per_supporter_escalation"
            ),
        ]

    def __str__(self):
        return f"debrief of {self.supporter} due by {self.due_by:%Y-%m-%d %H:%M}"
