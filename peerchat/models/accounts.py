"""Accounts, rooms and messages: the records everything else stands on."""

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Q


class UserManager(DjangoUserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """`createsuperuser` makes an admin whose handle is their username unless given."""
        extra_fields.setdefault("role", "admin")
        extra_fields.setdefault("handle", username)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """Anyone who signs in. Other people only ever see the `handle`."""

    class Role(models.TextChoices):
        SEEKER = "seeker", "Seeker"
        SUPPORTER = "supporter", "Supporter"
        MODERATOR = "moderator", "Moderator"
        EVALUATOR = "evaluator", "Evaluator"
        ADMIN = "admin", "Admin"

    class SupporterLevel(models.TextChoices):
        TRAINEE = "trainee", "Trainee"
        PEER = "peer", "Peer"
        SENIOR = "senior", "Senior"

    role = models.CharField(max_length=16, choices=Role.choices)
    supporter_level = models.CharField(
        max_length=16, choices=SupporterLevel.choices, blank=True, default=""
    )
    handle = models.CharField(max_length=48, unique=True)

    objects = UserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="user_supporter_level_only_for_supporters",
                condition=(Q(role="supporter") & ~Q(supporter_level=""))
                | (~Q(role="supporter") & Q(supporter_level="")),
            ),
        ]

    def __str__(self):
        return self.handle or self.username

    @property
    def is_seeker(self) -> bool:
        return self.role == self.Role.SEEKER


class Room(models.Model):
    """A conversation. `last_seq` is the number of the newest visible message."""

    class Kind(models.TextChoices):
        ONE_TO_ONE = "one_to_one", "One-to-one support"
        GROUP = "group", "Group"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=80, blank=True)
    last_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="Membership", related_name="rooms")

    def __str__(self):
        return self.name or f"{self.get_kind_display()} #{self.pk}"


class Membership(models.Model):
    """A user's place in a room, with the role they have there."""

    class Role(models.TextChoices):
        SEEKER = "seeker", "Seeker"
        SUPPORTER = "supporter", "Supporter"
        MODERATOR = "moderator", "Moderator"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique_room_user"),
        ]

    def __str__(self):
        return f"{self.user} in {self.room} as {self.role}"


class Message(models.Model):
    """One message as typed. Visible messages carry the room's next `seq`."""

    class Status(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        HELD = "held", "Held for review"
        MASKED = "masked", "Delivered with details masked"
        BLOCKED = "blocked", "Not delivered"

    class RemovedBy(models.TextChoices):
        SENDER = "sender", "Its sender"
        MODERATOR = "moderator", "A moderator"
        RETENTION = "retention", "The retention period"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    # Null only for messages that are not visible (held or blocked by the content filter).
    seq = models.BigIntegerField(null=True, blank=True)
    sender = models.ForeignKey(User, on_delete=models.CASCADE, related_name="messages_sent")
    # The sender's role in the room when they sent it; rooms outlive role changes.
    sender_role = models.CharField(max_length=16, choices=Membership.Role.choices)
    client_msg_id = models.UUIDField()
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DELIVERED)
    # Set when the content filter delivered the message behind a reveal ("graphic").
    content_warning = models.CharField(max_length=20, blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)
    # Set when the sender deleted their data, a moderator took the message out, or the
    # retention purge cleared it (moderation.retention): the body is emptied and others see a
    # neutral marker in its place, so every seq stays in the room.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.CharField(max_length=16, choices=RemovedBy.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["room", "seq"],
                condition=Q(seq__isnull=False),
                name="message_unique_room_seq",
            ),
            models.UniqueConstraint(
                fields=["room", "sender", "client_msg_id"],
                name="message_unique_client_msg_id",
            ),
        ]
        indexes = [
            # The retention purge's batches: the oldest messages whose text is still there.
            models.Index(
                fields=["sent_at"],
                condition=Q(removed_at__isnull=True),
                name="message_unremoved_sent_at",
            ),
        ]

    def __str__(self):
        return f"message {self.room_id}#{self.seq}"
