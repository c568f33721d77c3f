"""The durable job: one row per piece of work that must happen even if a process dies."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

ERROR_MAX_CHARS = 200
RESULT_MAX_CHARS = 200


class Job(models.Model):
    """Work for `manage.py run_worker`, enqueued in the transaction of the change that needs it.

    `key` makes enqueueing idempotent. Jobs that share a non-empty `ordering_key` run one after
    another in id order. `last_error` holds a short reason (`HTTP 503`, `ConnectionError`),
    never the payload or anything personal.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DEAD = "dead", "Dead letter"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200, unique=True)
    ordering_key = models.CharField(max_length=200, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    run_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    locked_by = models.CharField(max_length=100, blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=ERROR_MAX_CHARS, blank=True, default="")
    result = models.CharField(max_length=RESULT_MAX_CHARS, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The worker's claim: due pending jobs and running ones whose lease ran out.
            models.Index(fields=["state", "run_at"], name="job_claim_idx"),
            # "Is an earlier job with this ordering key still waiting?"
            models.Index(fields=["ordering_key", "state"], name="job_ordering_idx"),
        ]

    def __str__(self):
        return f"job {self.pk} ({self.kind}, {self.state})"
