"""A seeker's own safety plan, shared with a supporter only when they choose."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from peerchat.models.support import SupportSession

PLAN_FIELD_MAX_CHARS = 2000


class SafetyPlan(models.Model):
    seeker = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="safety_plan"
    )
    warning_signs = models.TextField(max_length=PLAN_FIELD_MAX_CHARS, blank=True)
    things_that_help = models.TextField(max_length=PLAN_FIELD_MAX_CHARS, blank=True)
    people_and_places = models.TextField(max_length=PLAN_FIELD_MAX_CHARS, blank=True)
    professional_contacts = models.TextField(max_length=PLAN_FIELD_MAX_CHARS, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    FIELDS = ("warning_signs", "things_that_help", "people_and_places", "professional_contacts")

    def __str__(self):
        return f"safety plan of {self.seeker_id}"


class SafetyPlanShare(models.Model):
    """The plan shown to the supporter of one session, until the seeker withdraws it."""

    plan = models.ForeignKey(SafetyPlan, on_delete=models.CASCADE, related_name="shares")
    session = models.ForeignKey(
        SupportSession, on_delete=models.CASCADE, related_name="safety_plan_shares"
    )
    shared_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "session"],
                condition=Q(withdrawn_at__isnull=True),
                name="safety_plan_one_live_share_per_session",
            ),
        ]

    def __str__(self):
        return f"safety plan {self.plan_id} shared in session {self.session_id}"
