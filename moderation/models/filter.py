"""The content filter's records: policy additions, screenings, reported cases (DESIGN §7)."""

from django.conf import settings
from django.db import models

# Moderators' additions to the policy -----------------------------------------------------------


class PolicyState(models.Model):
    """One row: the revision of moderators' additions to the filter policy."""

    revision = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"policy revision {self.revision}"

    @classmethod
    def current_revision(cls) -> int:
        revision = cls.objects.filter(pk=1).values_list("revision", flat=True).first()
        return revision or 0


class PolicyTermQuerySet(models.QuerySet):
    def active(self):
        return self.filter(removed_at__isnull=True)


class PolicyTerm(models.Model):
    """A term a moderator added to one of the policy's groups (or an allowed link domain)."""

    group = models.CharField(max_length=40)
    term = models.CharField(max_length=120)
    note = models.CharField(max_length=300, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = PolicyTermQuerySet.as_manager()

    class Meta:
        ordering = ["group", "term"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "term"],
                condition=models.Q(removed_at__isnull=True),
                name="policy_term_unique_active",
            )
        ]

    def __str__(self):
        return f"{self.group}: {self.term}"


# What the filter decided about a message, and moderators' review of it ------------------------


class Screening(models.Model):
    """The filter's verdict on a message it did not simply allow, and its review.

    Held and blocked messages wait here for a moderator (`review` pending). Masked, warned and
    escalated messages were delivered; their row tells moderators what happened and why.
    """

    class Review(models.TextChoices):
        NOT_NEEDED = "not_needed", "No review needed"
        PENDING = "pending", "Waiting for review"
        RELEASED = "released", "Released"
        KEPT = "kept", "Kept back"

    message = models.OneToOneField(
        "peerchat.Message", on_delete=models.CASCADE, related_name="screening"
    )
    room = models.ForeignKey("peerchat.Room", on_delete=models.CASCADE, related_name="+")
    room_kind = models.CharField(max_length=16)
    action = models.CharField(max_length=16)
    escalate = models.BooleanField(default=False)
    categories = models.JSONField(default=list)
    rule_ids = models.JSONField(default=list)
    # Where the evidence is in the original text: [[start, end, rule id], ...]. Staff only.
    spans = models.JSONField(default=list)
    policy_version = models.CharField(max_length=40)
    # The text as typed, when what was delivered differs (masked contact details).
    original_body = models.TextField(blank=True)
    review = models.CharField(max_length=16, choices=Review.choices, default=Review.NOT_NEEDED)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["review", "created_at"], name="screening_review_idx")]

    def __str__(self):
        return f"{self.action} on message {self.message_id}"


class ReviewNote(models.Model):
    """A moderator's note on a screened message (never shown to the sender)."""

    screening = models.ForeignKey(Screening, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"note on {self.screening_id}"


class FilterCase(models.Model):
    """A case a moderator reported: the filter got it wrong, or should be checked against it.

    Exported without identities as corpus lines (text, room kind, expected label), so false
    positives and misses become test cases.
    """

    class Kind(models.TextChoices):
        FALSE_POSITIVE = "false_positive", "Flagged but fine"
        MISSED = "missed", "Should have been caught"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The label the text should have: a category, or "ok" for text that should pass.
    expected = models.CharField(max_length=20)
    text = models.TextField()
    room_kind = models.CharField(max_length=16, default="one_to_one")
    # What the filter said when it was reported.
    got_action = models.CharField(max_length=16)
    got_rule_ids = models.JSONField(default=list)
    policy_version = models.CharField(max_length=40)
    note = models.CharField(max_length=300, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} ({self.expected})"
