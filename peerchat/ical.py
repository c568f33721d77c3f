"""Writing iCalendar (RFC 5545) feeds: the staff calendar's events as one VCALENDAR.

The `icalendar` library does the encoding (escaping, CRLF line endings, folding at 75 octets).
Times are written in the deployment's zone, with its VTIMEZONE, so a calendar app shows
"18:00" for a slot at 18:00 local time on either side of a daylight-saving change.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from icalendar import Calendar, Event, Timezone, vDuration

from peerchat.selectors.calendar import CalendarEvent

PRODID = "-//peerchat//Staff calendar//EN"
# How often calendar apps should fetch the feed again (RFC 7986, and Outlook's older name).
REFRESH = timedelta(hours=1)


def render_calendar(
    events: Iterable[CalendarEvent],
    *,
    name: str,
    time_zone: str,
    now: datetime | None = None,
) -> bytes:
    """Encode `events` as a published, read-only calendar in `time_zone`."""
    now = now or timezone.now()
    events = list(events)
    zone = ZoneInfo(time_zone)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", time_zone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))

    if time_zone != "UTC":
        # UTC needs no VTIMEZONE (its times end in Z). The rules cover a little more than the
        # feed's events, so that an app moving an event by a few days still reads it right.
        instants = [now] + [e.starts_at for e in events] + [e.ends_at for e in events]
        first = date(min(instants).astimezone(zone).year - 1, 1, 1)
        last = date(max(instants).astimezone(zone).year + 2, 1, 1)
        calendar.add_component(Timezone.from_tzid(time_zone, first_date=first, last_date=last))

    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", item.starts_at.astimezone(zone))
        event.add("dtend", item.ends_at.astimezone(zone))
        event.add("summary", item.summary)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        event.add("status", item.status)
        event.add("sequence", item.sequence)
        # Cancelled entries no longer block the time in free/busy views.
        event.add("transp", "TRANSPARENT" if item.status == "CANCELLED" else "OPAQUE")
        if item.last_modified is not None:
            event.add("last-modified", item.last_modified.astimezone(UTC))
        calendar.add_component(event)
    return calendar.to_ical()
