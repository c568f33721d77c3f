"""Scheduled peer-support groups, open only while a facilitator is there."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from peerchat.models.accounts import Room


class GroupMeeting(models.Model):
    """One scheduled sitting of a group, in its own group room."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="group_meeting")
    title = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    max_members = models.PositiveSmallIntegerField(default=8)
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="facilitated_groups"
    )
    # Set while the facilitator has the group open; members can talk only then.
    opened_at = models.DateTimeField(null=True, blank=True)
    # Refreshed while the facilitator has the service open; an open group whose facilitator
    # has been away for the grace period closes (the sweep).
    facilitator_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                name="group_ends_after_it_starts", condition=Q(ends_at__gt=F("starts_at"))
            ),
        ]

    def __str__(self):
        return f"{self.title} at {self.starts_at:%Y-%m-%d %H:%M}"


class Mute(models.Model):
    """`user` does not want to see `muted`'s messages in `room`. Only `user` is affected."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    muted = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="mutes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "muted", "room"], name="mute_unique"),
        ]

    def __str__(self):
        return f"mute of {self.muted_id} by {self.user_id} in room {self.room_id}"
