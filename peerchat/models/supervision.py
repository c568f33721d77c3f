"""Supervision and debriefs (DESIGN.md §9): supervisors' slots, supporters' bookings, after-shift
check-ins, recorded exceptions to the gates, staff notices and private calendar feeds.

All times are stored in UTC. A recurring series keeps its wall-clock time in its own time zone
(`SlotSeries.time_zone`), so "Tuesdays at 18:00" stays 18:00 across a daylight-saving change.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class SlotKind(models.TextChoices):
    ONE_TO_ONE = "one_to_one", "One-to-one"
    GROUP = "group", "Group"


class SlotPurpose(models.TextChoices):
    """What a slot may be booked for. Debriefs may also use supervision slots when it fits."""

    ANY = "any", "Supervision or debrief"
    SUPERVISION = "supervision", "Supervision"
    DEBRIEF = "debrief", "Debrief"


class SlotSeries(models.Model):
    """A recurring availability (RFC 5545 RRULE with exceptions) that makes `SupervisionSlot`s.

    Occurrences are made ahead of time up to a horizon (`SUPERVISION["SERIES_HORIZON_DAYS"]`),
    so a booking always locks one concrete row.
    """

    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slot_series"
    )
    # The first occurrence's start, and the zone whose wall clock the rule follows.
    first_starts_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64)
    rrule = models.CharField(max_length=300)
    duration_minutes = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=SlotKind.choices)
    capacity = models.PositiveIntegerField(default=1)
    purpose = models.CharField(max_length=16, choices=SlotPurpose.choices, default=SlotPurpose.ANY)
    location = models.CharField(max_length=200, blank=True)
    # Occurrence starts (UTC, ISO 8601) that are skipped: RFC 5545 EXDATE.
    exdates = models.JSONField(default=list, blank=True)
    # Occurrences exist up to here; the worker's scan makes more as time passes.
    made_until = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "slot series"

    def __str__(self):
        return f"{self.rrule} from {self.first_starts_at:%Y-%m-%d %H:%M} by {self.supervisor}"


class SupervisionSlot(models.Model):
    """A time a supervisor offers for supervision or debriefs; one-to-one or a group."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CANCELLED = "cancelled", "Cancelled"

    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supervision_slots"
    )
    series = models.ForeignKey(
        SlotSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="slots"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=SlotKind.choices)
    capacity = models.PositiveIntegerField(default=1)
    purpose = models.CharField(max_length=16, choices=SlotPurpose.choices, default=SlotPurpose.ANY)
    # Where it happens (a room, "video call: link by email"): staff-written, shown to staff.
    location = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    # RFC 5545 SEQUENCE: bumped whenever the calendar entry changes (cancelled).
    sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        permissions = [("supervise", "Can publish supervision slots and run debriefs")]
        indexes = [models.Index(fields=["state", "starts_at"], name="slot_state_start_idx")]
        constraints = [
            models.CheckConstraint(
                name="slot_ends_after_it_starts", condition=Q(ends_at__gt=F("starts_at"))
            ),
            models.CheckConstraint(name="slot_capacity_positive", condition=Q(capacity__gte=1)),
            models.UniqueConstraint(
                fields=["series", "starts_at"],
                condition=Q(series__isnull=False),
                name="slot_unique_series_occurrence",
            ),
        ]

    def __str__(self):
        when = f"{self.starts_at:%Y-%m-%d %H:%M}"
        return f"{self.get_kind_display()} slot of {self.supervisor} at {when}"


class Booking(models.Model):
    """A supporter's place in a slot, for supervision or for a debrief."""

    class State(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"
        ATTENDED = "attended", "Attended"
        MISSED = "missed", "Missed"

    class Purpose(models.TextChoices):
        SUPERVISION = "supervision", "Supervision"
        DEBRIEF = "debrief", "Debrief"
        # "I'd like to talk to someone" after a shift.
        TALK = "talk", "A talk after a shift"

    class CancelReason(models.TextChoices):
        SUPPORTER = "supporter", "Cancelled by the supporter"
        MOVED = "moved", "Moved to another time"
        SLOT_CANCELLED = "slot_cancelled", "The supervisor cancelled the slot"
        DEACTIVATED = "deactivated", "The supporter's account was closed"
        SUPERVISOR = "supervisor", "Cancelled by the supervisor"

    slot = models.ForeignKey(SupervisionSlot, on_delete=models.CASCADE, related_name="bookings")
    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supervision_bookings"
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    debrief = models.ForeignKey(
        "peerchat.Debrief",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bookings",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.BOOKED)
    # Booked by the system (the earliest fitting slot for a debrief that fell due).
    automatic = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sequence = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["slot__starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot", "supporter"],
                condition=Q(state="booked"),
                name="booking_one_live_per_slot_supporter",
            ),
        ]
        indexes = [models.Index(fields=["supporter", "state"], name="booking_supporter_state_idx")]

    def __str__(self):
        return f"{self.get_purpose_display()} booking of {self.supporter} ({self.state})"


class GateException(models.Model):
    """A supervisor's recorded, time-limited permission to go on shift despite an overdue gate."""

    class Gate(models.TextChoices):
        SUPERVISION = "supervision", "Supervision overdue"
        TRAINING = "training", "Training to renew"

    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gate_exceptions"
    )
    gate = models.CharField(max_length=16, choices=Gate.choices)
    reason = models.CharField(max_length=500)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                name="gate_exception_expires_after_start",
                condition=Q(expires_at__gt=F("starts_at")),
            ),
        ]

    def __str__(self):
        return f"{self.get_gate_display()} exception for {self.supporter} until {self.expires_at}"


class ShiftCheckIn(models.Model):
    """How a supporter is after a shift. Only they and their supervisor may read it."""

    class Feeling(models.TextChoices):
        GOOD = "good", "Good"
        OKAY = "okay", "Okay"
        LOW = "low", "A bit low"
        STRUGGLING = "struggling", "Struggling"
        SKIPPED = "skipped", "Not now"

    shift = models.OneToOneField("peerchat.Shift", on_delete=models.CASCADE, related_name="checkin")
    supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shift_checkins"
    )
    feeling = models.CharField(max_length=16, choices=Feeling.choices)
    note = models.TextField(blank=True)
    wants_to_talk = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"check-in of {self.supporter} after shift {self.shift_id}"


class StaffNotice(models.Model):
    """Something a member of staff is told (a slot moved, a debrief booked, a deadline missed).

    System-written text about schedules only: never message text or anything about a seeker.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_notices"
    )
    kind = models.CharField(max_length=40)
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # Set for warnings given once only ("supervision due", "training expiring"): a second
    # notice with the same key is not sent.
    once_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notice_recipient_read_idx")]

    def __str__(self):
        return f"{self.kind} notice for {self.recipient}"


class CalendarFeed(models.Model):
    """A staff user's private iCalendar feed. Only a hash of its secret token is kept.

    Resetting the link replaces the token, so the old address stops working at once.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"calendar feed of {self.user}"
