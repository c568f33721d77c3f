"""Data retention: safeguarding holds that keep a room's text, and the record of each purge.

The purge itself is `moderation.retention.services.retention_purge`, run by the worker.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class SafeguardingHold(models.Model):
    """A moderator's recorded decision to keep a room's messages and notes past retention.

    While a hold is active (`released_at` is null) the purge leaves everything written in the
    room alone; releasing it lets the next purge catch up. At most one active hold per room.
    """

    room = models.ForeignKey(
        "peerchat.Room", on_delete=models.PROTECT, related_name="safeguarding_holds"
    )
    # The escalation it was placed beside, if it was.
    escalation = models.ForeignKey(
        "moderation.Escalation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField()
    # Why the record must be kept (a safeguarding referral, a complaint, a review). Staff only.
    reason = models.CharField(max_length=500)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"],
                condition=Q(released_at__isnull=True),
                name="safeguarding_hold_one_active_per_room",
            ),
        ]

    def __str__(self):
        state = "released" if self.released_at else "active"
        return f"safeguarding hold on room {self.room_id} ({state})"

    @property
    def active(self) -> bool:
        return self.released_at is None


class RetentionRun(models.Model):
    """One run of the retention purge: when, what it blanked, and what holds kept back."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    # Who ran it: a worker's id, or `manage.py retention_purge`.
    worker = models.CharField(max_length=100, blank=True)
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The settings it ran with (0: that kind of text is kept for ever).
    message_body_days = models.PositiveIntegerField()
    notes_days = models.PositiveIntegerField()
    # Items blanked, by kind ({"message_bodies": 120, "handover_notes": 4, ...}).
    purged = models.JSONField(default=dict, blank=True)
    # Items past retention left alone, by kind, because their room is under a safeguarding
    # hold or has an unresolved escalation; and which holds / how many such rooms.
    held_back = models.JSONField(default=dict, blank=True)
    holds = models.JSONField(default=list, blank=True)
    escalation_rooms = models.PositiveIntegerField(default=0)
    # False when the run stopped at its time budget and left the rest to a follow-up job.
    complete = models.BooleanField(default=False)
    # The class and place of a failure (never data).
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["state", "finished_at"], name="retention_run_state_idx")]

    def __str__(self):
        return f"retention purge at {self.started_at:%Y-%m-%d %H:%M} ({self.state})"

    @property
    def purged_total(self) -> int:
        return sum(self.purged.values())

    @property
    def held_back_total(self) -> int:
        return sum(self.held_back.values())
