"""Moderators in rooms: observing, joining, whispering to supporters, removing messages."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class RoomPresence(models.Model):
    """A moderator watching a room (read-only) or taking part in it openly.

    While any presence in a room is current (`ended_at` is null), the room shows its members
    the discreet "a moderator is present" marker. A page that vanished without saying goodbye
    stops counting once `seen_at` is older than the presence timeout.
    """

    class Mode(models.TextChoices):
        OBSERVING = "observing", "Observing"
        JOINED = "joined", "Joined openly"

    room = models.ForeignKey("peerchat.Room", on_delete=models.CASCADE, related_name="+")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["room", "ended_at"], name="presence_room_current")]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "moderator"],
                condition=Q(ended_at__isnull=True),
                name="presence_one_current_per_moderator",
            ),
        ]

    def __str__(self):
        return f"{self.moderator} {self.mode} room {self.room_id}"


class Whisper(models.Model):
    """A private note between the moderators and the supporters of a room.

    Seekers never receive whispers: they go to each staff member's own sockets, not the room.
    """

    room = models.ForeignKey("peerchat.Room", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_role = models.CharField(max_length=16)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["room", "created_at"], name="whisper_room_time")]

    def __str__(self):
        return f"whisper in room {self.room_id}"


class MessageRemoval(models.Model):
    """A moderator took a delivered message out of a room; everyone now sees a neutral marker.

    The text as it was is kept here for accountability (staff only) and emptied if its sender
    later deletes their data.
    """

    message = models.OneToOneField(
        "peerchat.Message", on_delete=models.CASCADE, related_name="removal"
    )
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300)
    original_body = models.TextField(blank=True)
    created_at = models.DateTimeField()

    def __str__(self):
        return f"removal of message {self.message_id}"
