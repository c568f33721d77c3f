"""Structured support: agreements, the queue, one-to-one sessions and what follows them."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from peerchat.models.accounts import Room


def _public_id() -> str:
    return secrets.token_urlsafe(9)


class Agreement(models.Model):
    """A room agreement with the limits of confidentiality, versioned.

    Published versions are never edited: a change is a new version, so every acceptance
    points at the exact words the person accepted. The newest published version of a kind is
    the one shown.
    """

    kind = models.CharField(max_length=16, choices=Room.Kind.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    # Sanitised markup (bleach allow-list) written by admins.
    body = models.TextField(help_text="The room agreement. Simple HTML: p, ul, li, strong, em.")
    confidentiality = models.TextField(
        help_text="Who can read the chat, when a moderator may step in, and when information "
        "may be shared to keep someone safe. Same markup as the body."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="agreement_unique_version"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} agreement v{self.version}"


class AgreementAcceptance(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="acceptances"
    )
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "agreement"], name="acceptance_unique"),
        ]

    def __str__(self):
        return f"{self.user_id} accepted {self.agreement}"


class SupportRequest(models.Model):
    """A seeker's place in the queue, from "I need to talk" until matched or gone."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        MATCHED = "matched", "Matched"
        LEFT = "left", "Left while waiting"  # the seeker's own "I had to go"
        GONE = "gone", "Lost while waiting"  # their page stopped answering for the grace period

    class SafeNow(models.TextChoices):
        UNANSWERED = "", "Not answered"
        YES = "yes", "Yes"
        NOT_SURE = "not_sure", "Not sure"
        NO = "no", "No"

    class Continuity(models.TextChoices):
        NOT_ASKED = "", "Not asked"
        SAME = "same", "Got the supporter they asked for"
        NOT_ON_SHIFT = "not_on_shift", "Asked-for supporter was not on shift"
        WAIT_EXPIRED = "wait_expired", "Asked-for supporter stayed busy"

    public_id = models.CharField(max_length=16, unique=True, default=_public_id)
    seeker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="support_requests",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.WAITING)
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="+")
    safe_now = models.CharField(max_length=16, choices=SafeNow.choices, blank=True, default="")
    # The seeker's own answer makes a request urgent; nothing here predicts risk (NICE CG133).
    urgent = models.BooleanField(default=False)
    topic = models.CharField(max_length=40, blank=True, default="")
    preferred_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    preferred_until = models.DateTimeField(null=True, blank=True)
    continuity = models.CharField(max_length=16, choices=Continuity.choices, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(auto_now_add=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "-urgent", "created_at"], name="request_queue_order"),
            models.Index(fields=["matched_at"], name="request_matched_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["seeker"],
                condition=Q(state="waiting"),
                name="request_one_waiting_per_seeker",
            ),
        ]

    def __str__(self):
        return f"support request {self.public_id} ({self.state})"


class SupportSession(models.Model):
    """A one-to-one support chat: its room, who is in it, and how it ended."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    class Phase(models.TextChoices):
        OPENING = "opening", "Opening"
        TALKING = "talking", "Talking"
        CLOSING = "closing", "Closing"

    class EndReason(models.TextChoices):
        SEEKER_ENDED = "seeker_ended", "The seeker ended it"
        SUPPORTER_ENDED = "supporter_ended", "The supporter ended it"
        SEEKER_GONE = "seeker_gone", "The seeker did not come back in time"
        SEEKER_DELETED = "seeker_deleted", "The seeker deleted their data"
        MODERATOR_ENDED = "moderator_ended", "A moderator ended it"

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="support_session")
    request = models.OneToOneField(
        SupportRequest, null=True, on_delete=models.SET_NULL, related_name="session"
    )
    seeker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="support_sessions",
    )
    # The supporter now responsible (changes on a transfer).
    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="supported_sessions",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.OPENING)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    # Refreshed while the seeker's page is connected; the grace period counts from here.
    seeker_seen_at = models.DateTimeField(auto_now_add=True)
    # Set by the escalation flow; a session that ended escalated pauses its supporter.
    escalated_at = models.DateTimeField(null=True, blank=True)
    # A moderator paused the chat: nobody can send until they resume it (reading goes on).
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        indexes = [models.Index(fields=["state", "supporter"], name="session_state_supporter")]
        constraints = [
            models.UniqueConstraint(
                fields=["seeker"],
                condition=Q(state="active"),
                name="session_one_active_per_seeker",
            ),
        ]

    def __str__(self):
        return f"support session in room {self.room_id} ({self.state})"


class HandoverNote(models.Model):
    """A short, staff-only note: written on close, or on a transfer to another supporter."""

    class Kind(models.TextChoices):
        CLOSE = "close", "After the chat"
        TRANSFER = "transfer", "Transfer"

    session = models.ForeignKey(
        SupportSession, on_delete=models.CASCADE, related_name="handover_notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    to_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "author"],
                condition=Q(kind="close"),
                name="handover_one_close_note_per_author",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} note on session {self.session_id}"


class Feedback(models.Model):
    """The seeker's optional feedback on a session. The comment is staff-only."""

    class Return(models.TextChoices):
        UNANSWERED = "", "Not answered"
        YES = "yes", "Yes"
        MAYBE = "maybe", "Maybe"
        NO = "no", "No"

    session = models.OneToOneField(
        SupportSession, on_delete=models.CASCADE, related_name="feedback"
    )
    listened = models.PositiveSmallIntegerField(null=True, blank=True)  # 1..5
    helpful = models.PositiveSmallIntegerField(null=True, blank=True)  # 1..5
    would_return = models.CharField(max_length=8, choices=Return.choices, blank=True)
    comment = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="feedback_scales_1_to_5",
                condition=(Q(listened__isnull=True) | Q(listened__gte=1, listened__lte=5))
                & (Q(helpful__isnull=True) | Q(helpful__gte=1, helpful__lte=5)),
            ),
        ]

    def __str__(self):
        return f"feedback on session {self.session_id}"


class QueueState(models.Model):
    """One row. Every change to the queue or to who can take chats locks it first.

    That serialises matching across every daphne process (one seeker never goes to two
    supporters, no supporter goes over capacity), and `version` orders queue snapshots.
    """

    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"queue version {self.version}"
