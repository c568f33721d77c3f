"""Reads for staff calendar feeds: what a person's calendar app shows, and the link's panel.

A feed is reachable by anyone who has its link, so it carries times, staff handles and
staff-written locations only: never anything about a seeker, an escalation or a chat.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.db.models import Prefetch

from peerchat.models import (
    Booking,
    CalendarFeed,
    Shift,
    SlotKind,
    SlotPurpose,
    SupervisionSlot,
    User,
)

# Roles with a feed. Evaluators see aggregates only, and seekers have no schedule.
FEED_ROLES = frozenset({User.Role.SUPPORTER, User.Role.MODERATOR, User.Role.ADMIN})
# Far enough back for "when was that?", far enough ahead for planning; older entries drop
# out of the feed (and so out of subscribed calendars).
WINDOW_PAST = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=120)
SESSION_NEW_URL = "calendar_feed_url"
SCHEDULE_PATH = "/staff/schedule/"

CONFIRMED = "CONFIRMED"
CANCELLED = "CANCELLED"

PURPOSE_TITLES = {
    Booking.Purpose.SUPERVISION: "Supervision",
    Booking.Purpose.DEBRIEF: "Debrief",
    Booking.Purpose.TALK: "Talk",
}

# Said to the supporter whose booking it was.
CANCEL_WORDING = {
    Booking.CancelReason.SUPPORTER: "You cancelled it.",
    Booking.CancelReason.MOVED: "It moved to another time.",
    Booking.CancelReason.SLOT_CANCELLED: "The supervisor cancelled the slot.",
    Booking.CancelReason.DEACTIVATED: "The account was closed.",
    Booking.CancelReason.SUPERVISOR: "The supervisor cancelled it.",
}


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC
    summary: str
    description: str
    location: str
    status: str  # CONFIRMED or CANCELLED
    sequence: int
    last_modified: datetime | None  # None when the record keeps no time it changed


def feed_allowed(user: User) -> bool:
    """Return whether `user` may have a calendar feed (an active supporter, moderator or admin)."""
    return bool(user.is_authenticated and user.is_active and user.role in FEED_ROLES)


def _uid_host() -> str:
    return urlparse(settings.SITE_URL).hostname or "peerchat"


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _schedule_line() -> str:
    return f"Your schedule: {settings.SITE_URL}{SCHEDULE_PATH}"


def calendar_events(*, user: User, now: datetime) -> list[CalendarEvent]:
    """List the user's shifts, bookings and the slots they supervise around `now`, by start."""
    start, end = now - WINDOW_PAST, now + WINDOW_AHEAD
    host = _uid_host()
    events = []

    shifts = Shift.objects.filter(supporter=user, starts_at__lt=end, ends_at__gt=start)
    for shift in shifts:
        events.append(
            CalendarEvent(
                uid=f"shift-{shift.pk}@{host}",
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
                summary="Shift",
                description="Your peerchat shift. Go on shift from your page: "
                f"{settings.SITE_URL}/staff/",
                location="",
                status=CONFIRMED,
                sequence=0,
                last_modified=None,
            )
        )

    bookings = Booking.objects.filter(
        supporter=user, slot__starts_at__lt=end, slot__ends_at__gt=start
    ).select_related("slot__supervisor")
    for booking in bookings:
        events.append(_booking_event(booking, host=host))

    live = Booking.objects.exclude(state=Booking.State.CANCELLED).select_related("supporter")
    slots = (
        SupervisionSlot.objects.filter(supervisor=user, starts_at__lt=end, ends_at__gt=start)
        .prefetch_related(Prefetch("bookings", queryset=live, to_attr="live_bookings"))
        .order_by("starts_at")
    )
    for slot in slots:
        events.append(_slot_event(slot, host=host))

    events.sort(key=lambda e: (e.starts_at, e.uid))
    return events


def _booking_event(booking: Booking, *, host: str) -> CalendarEvent:
    slot = booking.slot
    title = PURPOSE_TITLES.get(booking.purpose, "Supervision")
    if slot.kind == SlotKind.GROUP and booking.purpose == Booking.Purpose.SUPERVISION:
        title = "Group supervision"
    cancelled = booking.state == Booking.State.CANCELLED or slot.state == slot.State.CANCELLED
    if cancelled:
        # Only the reasons' fixed wording, never the supervisor's own words: the feed is
        # readable by anyone with the link.
        reason = booking.cancel_reason
        if not reason and slot.state == slot.State.CANCELLED:
            reason = Booking.CancelReason.SLOT_CANCELLED
        description = ("Cancelled. " + CANCEL_WORDING.get(reason, "")).strip()
    else:
        description = f"{title} with {slot.supervisor.handle}, booked on peerchat."
        if booking.automatic:
            description += " peerchat booked it for you; you can move it to another time."
    return CalendarEvent(
        uid=f"booking-{booking.pk}@{host}",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        summary=f"{title} with {slot.supervisor.handle}",
        description=f"{description}\n{_schedule_line()}",
        location=slot.location,
        status=CANCELLED if cancelled else CONFIRMED,
        # A slot cancelled under a booking the services have not cancelled yet still counts
        # as a change: the slot's own sequence moves on.
        sequence=booking.sequence + slot.sequence,
        last_modified=_latest(
            booking.created_at, booking.cancelled_at, booking.recorded_at, slot.cancelled_at
        ),
    )


def _slot_event(slot: SupervisionSlot, *, host: str) -> CalendarEvent:
    booked = slot.live_bookings
    handles = sorted(b.supporter.handle for b in booked)
    if slot.kind == SlotKind.GROUP:
        summary = f"Group supervision ({len(booked)} of {slot.capacity} booked)"
    elif booked:
        purpose = PURPOSE_TITLES.get(booked[0].purpose, "Supervision")
        summary = f"{purpose} with {booked[0].supporter.handle}"
    elif slot.purpose == SlotPurpose.DEBRIEF:
        summary = "Open debrief slot"
    else:
        summary = "Open supervision slot"
    if slot.state == SupervisionSlot.State.CANCELLED:
        description = "Cancelled."
    elif handles:
        description = "Booked: " + ", ".join(handles) + "."
    else:
        description = "Nobody has booked it yet."
    return CalendarEvent(
        uid=f"slot-{slot.pk}@{host}",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        summary=summary,
        description=f"You are supervising. {description}\n{_schedule_line()}",
        location=slot.location,
        status=CANCELLED if slot.state == SupervisionSlot.State.CANCELLED else CONFIRMED,
        sequence=slot.sequence,
        last_modified=_latest(
            slot.created_at,
            slot.cancelled_at,
            *(b.created_at for b in booked),
            *(b.recorded_at for b in booked),
        ),
    )


def calendar_link_context(*, request, next_url: str) -> dict | None:
    """Return the "Your calendar" panel's `calendar` context; None for a role without a feed.

    A new link is in the session once, right after it was made: reading it removes it.
    """
    user = request.user
    if not feed_allowed(user):
        return None
    new_url = request.session.pop(SESSION_NEW_URL, None)
    has_feed = CalendarFeed.objects.filter(user=user).exists()
    return {
        "has_feed": has_feed,
        "new_url": new_url if has_feed else None,
        "next": next_url,
    }
