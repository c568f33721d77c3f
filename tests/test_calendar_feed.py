"""Staff calendar feeds: what calendar apps read (two parsers), daylight saving, revocation,
who may have a link, and that nothing about seekers ever gets in."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from peerchat.errors import Forbidden
from peerchat.ical import render_calendar
from peerchat.models import (
    Booking,
    CalendarFeed,
    Membership,
    Room,
    Shift,
    SlotKind,
    SupervisionSlot,
    User,
)
from peerchat.selectors.calendar import calendar_events, calendar_link_context
from peerchat.services.calendar_feeds import (
    calendar_feed_reset,
    calendar_feed_revoke,
    calendar_feed_user,
)
from peerchat.services.rooms import room_create
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_supporter

PASSWORD = "a-long-test-password"
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
# A fixed "now" for selector-level tests: the autumn 2026 change is inside its window.
NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


# Building data ----------------------------------------------------------------------------------


def staff(username: str, role: str, handle: str) -> User:
    return staff_user_upsert(username=username, role=role, password=PASSWORD, handle=handle)


def make_slot(supervisor: User, starts_at: datetime, *, minutes=60, **fields) -> SupervisionSlot:
    fields.setdefault("kind", SlotKind.ONE_TO_ONE)
    return SupervisionSlot.objects.create(
        supervisor=supervisor,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        **fields,
    )


def make_booking(slot: SupervisionSlot, supporter: User, **fields) -> Booking:
    fields.setdefault("purpose", Booking.Purpose.SUPERVISION)
    fields.setdefault("created_at", min(slot.starts_at, NOW) - timedelta(days=3))
    return Booking.objects.create(slot=slot, supporter=supporter, **fields)


def make_shift(supporter: User, starts_at: datetime, *, hours=3) -> Shift:
    return Shift.objects.create(
        supporter=supporter, starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours)
    )


def feed_bytes(user: User, *, now=NOW, time_zone="Europe/London") -> bytes:
    return render_calendar(
        calendar_events(user=user, now=now), name="peerchat: test", time_zone=time_zone, now=now
    )


def feed_path(token: str) -> str:
    return reverse("calendar-feed", kwargs={"token": token})


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Reading feeds with two independent parsers -------------------------------------------------------


def by_uid_icalendar(body: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def by_uid_vobject(body: bytes) -> dict:
    calendar = vobject.readOne(body.decode("utf-8"))
    return {event.uid.value: event for event in calendar.vevent_list}


def instants(body: bytes) -> dict[str, tuple[datetime, datetime]]:
    """Each event's start and end in UTC, checking that both parsers read the same."""
    first = {
        uid: (e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC))
        for uid, e in by_uid_icalendar(body).items()
    }
    second = {
        uid: (e.dtstart.value.astimezone(UTC), e.dtend.value.astimezone(UTC))
        for uid, e in by_uid_vobject(body).items()
    }
    assert first == second
    return first


def local_starts(body: bytes) -> dict[str, list[tuple[int, int]]]:
    """Each event's wall-clock start (hour, minute) as each parser reads it."""
    first = {
        uid: (e.decoded("DTSTART").hour, e.decoded("DTSTART").minute)
        for uid, e in by_uid_icalendar(body).items()
    }
    second = {
        uid: (e.dtstart.value.hour, e.dtstart.value.minute)
        for uid, e in by_uid_vobject(body).items()
    }
    return {uid: [first[uid], second[uid]] for uid in first}


def unfolded(body: bytes) -> str:
    """The feed's text with folded lines joined, so a search cannot miss a folded word."""
    return body.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")


def uid(kind: str, pk: int) -> str:
    return f"{kind}-{pk}@{urlparse(django_settings.SITE_URL).hostname}"


# What is in a feed --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_feed_holds_shifts_bookings_and_supervised_slots_at_their_real_times():
    alex = make_supporter("alex", handle="Alex")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    shift = make_shift(alex, NOW + timedelta(days=2, hours=8))
    slot = make_slot(kai, NOW + timedelta(days=5), location="Video call: link by email")
    booking = make_booking(slot, alex)

    body = feed_bytes(alex)
    assert instants(body) == {
        uid("shift", shift.pk): (shift.starts_at, shift.ends_at),
        uid("booking", booking.pk): (slot.starts_at, slot.ends_at),
    }
    events = by_uid_icalendar(body)
    assert str(events[uid("shift", shift.pk)]["SUMMARY"]) == "Shift"
    entry = events[uid("booking", booking.pk)]
    assert str(entry["SUMMARY"]) == "Supervision with Kai"
    assert str(entry["LOCATION"]) == "Video call: link by email"
    assert (str(entry["STATUS"]), int(entry["SEQUENCE"])) == ("CONFIRMED", 0)
    assert entry.decoded("LAST-MODIFIED") == booking.created_at
    assert entry.decoded("DTSTAMP") == NOW

    # The supervisor sees the same hour from their side, under the slot's own UID.
    body = feed_bytes(kai)
    assert instants(body) == {uid("slot", slot.pk): (slot.starts_at, slot.ends_at)}
    entry = by_uid_vobject(body)[uid("slot", slot.pk)]
    assert entry.summary.value == "Supervision with Alex"
    assert entry.status.value == "CONFIRMED"


@pytest.mark.django_db
def test_the_calendar_header_says_what_calendar_apps_need():
    alex = make_supporter("alex", handle="Alex")
    make_shift(alex, NOW + timedelta(days=1))
    calendar = icalendar.Calendar.from_ical(feed_bytes(alex))
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]).startswith("-//peerchat//")
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "peerchat: test"
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/London"
    text = feed_bytes(alex).decode()
    assert "\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
    assert "\r\nX-PUBLISHED-TTL:PT1H\r\n" in text
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/London"]
    assert calendar.get_missing_tzids() == set()


@pytest.mark.django_db
def test_summaries_say_what_and_with_whom():
    alex = make_supporter("alex", handle="Alex")
    sam = make_supporter("sam", handle="Sam")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    day = NOW + timedelta(days=3)

    debrief = make_booking(make_slot(kai, day), alex, purpose=Booking.Purpose.DEBRIEF)
    talk = make_booking(
        make_slot(kai, day + timedelta(hours=2)), alex, purpose=Booking.Purpose.TALK
    )
    group = make_slot(kai, day + timedelta(hours=4), kind=SlotKind.GROUP, capacity=6)
    in_group = make_booking(group, alex)
    make_booking(group, sam)
    make_booking(group, make_supporter("robin", handle="Robin"), state=Booking.State.CANCELLED)
    free = make_slot(kai, day + timedelta(days=1))
    # Held and missed bookings are still real events that happened.
    attended = make_booking(
        make_slot(kai, NOW - timedelta(days=2)), alex, state=Booking.State.ATTENDED
    )
    missed = make_booking(make_slot(kai, NOW - timedelta(days=1)), alex, state=Booking.State.MISSED)

    events = by_uid_icalendar(feed_bytes(alex))
    summary = {key: str(event["SUMMARY"]) for key, event in events.items()}
    assert summary[uid("booking", debrief.pk)] == "Debrief with Kai"
    assert summary[uid("booking", talk.pk)] == "Talk with Kai"
    assert summary[uid("booking", in_group.pk)] == "Group supervision with Kai"
    for booking in (attended, missed):
        assert str(events[uid("booking", booking.pk)]["STATUS"]) == "CONFIRMED"

    events = by_uid_vobject(feed_bytes(kai))
    assert events[uid("slot", group.pk)].summary.value == "Group supervision (2 of 6 booked)"
    assert "Alex, Sam" in events[uid("slot", group.pk)].description.value
    assert "Robin" not in events[uid("slot", group.pk)].description.value
    assert events[uid("slot", free.pk)].summary.value == "Open supervision slot"
    assert events[uid("slot", debrief.slot_id)].summary.value == "Debrief with Alex"


@pytest.mark.django_db
def test_the_window_is_a_month_back_and_four_months_ahead():
    alex = make_supporter("alex", handle="Alex")
    too_old = make_shift(alex, NOW - timedelta(days=31))
    recent = make_shift(alex, NOW - timedelta(days=29))
    ahead = make_shift(alex, NOW + timedelta(days=119))
    too_far = make_shift(alex, NOW + timedelta(days=121))
    uids = {e.uid for e in calendar_events(user=alex, now=NOW)}
    assert uid("shift", recent.pk) in uids and uid("shift", ahead.pk) in uids
    assert uid("shift", too_old.pk) not in uids and uid("shift", too_far.pk) not in uids


@pytest.mark.django_db
def test_the_feed_is_read_in_a_bounded_number_of_queries(django_assert_max_num_queries):
    alex = make_supporter("alex", handle="Alex")
    supervisors = [staff(f"sup{i}", User.Role.MODERATOR, f"Sup {i}") for i in range(3)]
    for i in range(12):
        make_shift(alex, NOW + timedelta(days=i, hours=1))
        make_booking(make_slot(supervisors[i % 3], NOW + timedelta(days=i, hours=6)), alex)
    kai = staff("kai", User.Role.ADMIN, "Kai")
    for i in range(12):
        group = make_slot(kai, NOW + timedelta(days=i, hours=9), kind=SlotKind.GROUP, capacity=4)
        make_booking(group, alex)
        make_booking(group, make_supporter(f"s{i}", handle=f"S {i}"))

    # Shifts, bookings with their slots and supervisors, slots, and the slots' bookings.
    with django_assert_max_num_queries(4):
        assert len(calendar_events(user=alex, now=NOW)) == 36
    with django_assert_max_num_queries(4):
        events = calendar_events(user=kai, now=NOW)
    assert [e.summary for e in events] == ["Group supervision (2 of 4 booked)"] * 12


# Daylight saving and time zones -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("now", "first_day", "second_day", "first_utc_hour", "second_utc_hour"),
    [
        # British Summer Time ends on 25 October 2026: 18:00 was 17:00Z, becomes 18:00Z.
        (NOW, (2026, 10, 20), (2026, 10, 27), 17, 18),
        # And starts on 28 March 2027: 18:00 was 18:00Z, becomes 17:00Z.
        (datetime(2027, 3, 1, tzinfo=UTC), (2027, 3, 23), (2027, 3, 30), 18, 17),
    ],
)
def test_a_weekly_slot_stays_at_six_in_the_evening_across_the_clock_change(
    now, first_day, second_day, first_utc_hour, second_utc_hour
):
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    first = make_slot(kai, datetime(*first_day, 18, 0, tzinfo=LONDON))
    second = make_slot(kai, datetime(*second_day, 18, 0, tzinfo=LONDON))
    assert (first.starts_at.astimezone(UTC).hour, second.starts_at.astimezone(UTC).hour) == (
        first_utc_hour,
        second_utc_hour,
    )

    body = feed_bytes(kai, now=now)
    starts = {key: value[0] for key, value in instants(body).items()}
    assert starts[uid("slot", first.pk)] == datetime(*first_day, first_utc_hour, tzinfo=UTC)
    assert starts[uid("slot", second.pk)] == datetime(*second_day, second_utc_hour, tzinfo=UTC)
    # Both parsers show 18:00 on the wall clock, both weeks.
    assert local_starts(body) == {
        uid("slot", first.pk): [(18, 0), (18, 0)],
        uid("slot", second.pk): [(18, 0), (18, 0)],
    }
    text = body.decode()
    date = "{:04d}{:02d}{:02d}".format
    assert f"DTSTART;TZID=Europe/London:{date(*first_day)}T180000\r\n" in text
    assert f"DTSTART;TZID=Europe/London:{date(*second_day)}T180000\r\n" in text
    assert re.search(r"DTSTAMP:\d{8}T\d{6}Z\r\n", text)
    assert "BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\n" in text


@pytest.mark.django_db
def test_a_deployment_in_another_zone_writes_its_own_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    # US daylight saving ends on 1 November 2026.
    before = make_slot(kai, datetime(2026, 10, 27, 18, 0, tzinfo=NEW_YORK))
    after = make_slot(kai, datetime(2026, 11, 3, 18, 0, tzinfo=NEW_YORK))

    body = feed_bytes(kai, time_zone=settings.TIME_ZONE)
    text = body.decode()
    assert "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n" in text
    assert "DTSTART;TZID=America/New_York:20261027T180000\r\n" in text
    assert "DTSTART;TZID=America/New_York:20261103T180000\r\n" in text
    assert "Europe/London" not in text
    starts = {key: value[0] for key, value in instants(body).items()}
    assert starts[uid("slot", before.pk)] == datetime(2026, 10, 27, 22, 0, tzinfo=UTC)
    assert starts[uid("slot", after.pk)] == datetime(2026, 11, 3, 23, 0, tzinfo=UTC)
    assert set(map(tuple, local_starts(body).values())) == {((18, 0), (18, 0))}


@pytest.mark.django_db
def test_the_served_feed_uses_the_deployments_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    slot = make_slot(kai, (timezone.now() + timedelta(days=9)).replace(microsecond=0))
    response = Client().get(feed_path(calendar_feed_reset(user=kai)))
    assert response.status_code == 200
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["X-WR-TIMEZONE"]) == "America/New_York"
    assert [tz.tz_name for tz in calendar.timezones] == ["America/New_York"]
    (event,) = calendar.walk("VEVENT")
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert instants(response.content) == {uid("slot", slot.pk): (slot.starts_at, slot.ends_at)}


# Changes ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cancelled_booking_is_sent_as_cancelled_with_a_higher_sequence():
    alex = make_supporter("alex", handle="Alex")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    booking = make_booking(make_slot(kai, NOW + timedelta(days=4)), alex)
    before = by_uid_vobject(feed_bytes(alex))[uid("booking", booking.pk)]
    assert (before.status.value, int(before.sequence.value)) == ("CONFIRMED", 0)

    Booking.objects.filter(pk=booking.pk).update(
        state=Booking.State.CANCELLED,
        cancel_reason=Booking.CancelReason.SUPPORTER,
        cancelled_at=NOW,
        sequence=1,
    )
    after = by_uid_icalendar(feed_bytes(alex))[uid("booking", booking.pk)]
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before.sequence.value)
    assert after.decoded("LAST-MODIFIED") == NOW
    assert "You cancelled it." in str(after["DESCRIPTION"])
    # The time it held is free again in the supporter's calendar.
    assert str(after["TRANSP"]) == "TRANSPARENT"
    # The supervisor's slot is open again.
    assert by_uid_vobject(feed_bytes(kai))[uid("slot", booking.slot_id)].summary.value == (
        "Open supervision slot"
    )


@pytest.mark.django_db
def test_a_cancelled_slot_is_cancelled_in_both_calendars():
    alex = make_supporter("alex", handle="Alex")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    slot = make_slot(kai, NOW + timedelta(days=4))
    booking = make_booking(slot, alex)
    old_slot_sequence = int(by_uid_icalendar(feed_bytes(kai))[uid("slot", slot.pk)]["SEQUENCE"])
    old_booking_sequence = int(
        by_uid_icalendar(feed_bytes(alex))[uid("booking", booking.pk)]["SEQUENCE"]
    )

    # Even before the booking itself is cancelled, the slot's cancellation shows through.
    SupervisionSlot.objects.filter(pk=slot.pk).update(
        state=SupervisionSlot.State.CANCELLED,
        cancelled_at=NOW,
        cancel_reason="Kai is off sick",
        sequence=1,
    )
    for user, key, old in (
        (kai, uid("slot", slot.pk), old_slot_sequence),
        (alex, uid("booking", booking.pk), old_booking_sequence),
    ):
        body = feed_bytes(user)
        first = by_uid_icalendar(body)[key]
        second = by_uid_vobject(body)[key]
        assert (str(first["STATUS"]), second.status.value) == ("CANCELLED", "CANCELLED")
        assert int(first["SEQUENCE"]) == int(second.sequence.value) > old
        # The supervisor's own words about why stay on the schedule page, not in the feed.
        assert "sick" not in unfolded(body)

    sequence = int(by_uid_icalendar(feed_bytes(alex))[uid("booking", booking.pk)]["SEQUENCE"])
    Booking.objects.filter(pk=booking.pk).update(
        state=Booking.State.CANCELLED,
        cancel_reason=Booking.CancelReason.SLOT_CANCELLED,
        cancelled_at=NOW,
        sequence=1,
    )
    entry = by_uid_icalendar(feed_bytes(alex))[uid("booking", booking.pk)]
    assert str(entry["STATUS"]) == "CANCELLED" and int(entry["SEQUENCE"]) > sequence
    assert "The supervisor cancelled the slot." in str(entry["DESCRIPTION"])


# The feed's address -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_feed_is_served_without_sign_in_with_private_caching():
    alex = make_supporter("alex", handle="Alex")
    shift = make_shift(alex, (timezone.now() + timedelta(days=1)).replace(microsecond=0))
    token = calendar_feed_reset(user=alex)
    response = Client().get(feed_path(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'inline; filename="peerchat.ics"'
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert instants(response.content) == {uid("shift", shift.pk): (shift.starts_at, shift.ends_at)}
    assert "Set-Cookie" not in response.headers
    assert Client().head(feed_path(token)).status_code == 200
    assert Client().post(feed_path(token)).status_code == 405


@pytest.mark.django_db
def test_unknown_tokens_get_a_plain_not_found():
    alex = make_supporter("alex", handle="Alex")
    calendar_feed_reset(user=alex)
    for path in (feed_path("x" * 43), feed_path("short"), "/calendar/a.b.ics", "/calendar/.ics"):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert b"Alex" not in response.content
    response = Client().get(feed_path("x" * 43))
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"Not found.\n"


@pytest.mark.django_db
def test_only_a_hash_of_the_token_is_kept():
    alex = make_supporter("alex", handle="Alex")
    token = calendar_feed_reset(user=alex)
    assert len(token) >= 43
    stored = CalendarFeed.objects.get(user=alex).token_hash
    assert re.fullmatch(r"[0-9a-f]{64}", stored) and token not in stored


@pytest.mark.django_db
def test_a_new_link_replaces_the_old_and_turning_it_off_ends_both():
    alex = make_supporter("alex", handle="Alex")
    client = signed_in(alex)

    response = client.post(reverse("calendar-link-reset"))
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/schedule/")
    first = client.session["calendar_feed_url"]
    assert first.startswith(django_settings.SITE_URL + "/calendar/") and first.endswith(".ics")
    first_path = first.removeprefix(django_settings.SITE_URL)
    assert Client().get(first_path).status_code == 200

    client.post(reverse("calendar-link-reset"), {"next": "/staff/schedule/?week=2"})
    second_path = client.session["calendar_feed_url"].removeprefix(django_settings.SITE_URL)
    assert second_path != first_path
    assert Client().get(first_path).status_code == 404
    assert Client().get(second_path).status_code == 200
    assert CalendarFeed.objects.filter(user=alex).count() == 1

    response = client.post(reverse("calendar-link-revoke"), {"next": "/staff/"})
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/")
    assert Client().get(second_path).status_code == 404
    assert not CalendarFeed.objects.filter(user=alex).exists()
    assert "calendar_feed_url" not in client.session
    assert calendar_feed_revoke(user=alex) is False


@pytest.mark.django_db
def test_next_must_stay_on_this_site():
    alex = make_supporter("alex", handle="Alex")
    client = signed_in(alex)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(reverse("calendar-link-reset"), {"next": target})
        assert response.headers["Location"] == "/staff/schedule/", target
    response = client.post(reverse("calendar-link-reset"), {"next": "/staff/schedule/?w=1"})
    assert response.headers["Location"] == "/staff/schedule/?w=1"


@pytest.mark.django_db
def test_each_feed_shows_only_its_owners_items():
    alex = make_supporter("alex", handle="Alex")
    sam = make_supporter("sam", handle="Sam")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    soon = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    alex_shift = make_shift(alex, soon)
    sam_shift = make_shift(sam, soon)
    alex_booking = make_booking(make_slot(kai, soon + timedelta(hours=5)), alex)
    make_booking(make_slot(kai, soon + timedelta(hours=7)), sam)

    body = Client().get(feed_path(calendar_feed_reset(user=alex))).content
    assert set(instants(body)) == {uid("shift", alex_shift.pk), uid("booking", alex_booking.pk)}
    assert "Sam" not in unfolded(body)
    body = Client().get(feed_path(calendar_feed_reset(user=sam))).content
    assert uid("shift", sam_shift.pk) in instants(body)
    assert "Alex" not in unfolded(body)


@pytest.mark.django_db
def test_a_link_stops_working_when_its_owner_may_no_longer_have_one():
    alex = make_supporter("alex", handle="Alex")
    token = calendar_feed_reset(user=alex)
    assert calendar_feed_user(token=token) == alex
    alex.is_active = False
    alex.save(update_fields=["is_active"])
    assert Client().get(feed_path(token)).status_code == 404

    lee = staff("lee", User.Role.MODERATOR, "Lee")
    token = calendar_feed_reset(user=lee)
    User.objects.filter(pk=lee.pk).update(role=User.Role.EVALUATOR)
    assert Client().get(feed_path(token)).status_code == 404


@pytest.mark.django_db
def test_fetches_are_recorded_at_most_once_a_minute():
    alex = make_supporter("alex", handle="Alex")
    token = calendar_feed_reset(user=alex, now=NOW)
    assert CalendarFeed.objects.get(user=alex).last_fetched_at is None
    calendar_feed_user(token=token, now=NOW)
    calendar_feed_user(token=token, now=NOW + timedelta(seconds=30))
    assert CalendarFeed.objects.get(user=alex).last_fetched_at == NOW
    calendar_feed_user(token=token, now=NOW + timedelta(seconds=61))
    assert CalendarFeed.objects.get(user=alex).last_fetched_at == NOW + timedelta(seconds=61)


# Who may have a link ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", [User.Role.SUPPORTER, User.Role.MODERATOR, User.Role.ADMIN])
def test_supporters_moderators_and_admins_get_a_link(role):
    user = make_supporter("alex") if role == User.Role.SUPPORTER else staff("u", role, "U")
    response = signed_in(user).post(reverse("calendar-link-reset"))
    assert response.status_code == 302
    assert CalendarFeed.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_seekers_evaluators_and_strangers_get_no_link():
    seeker = seeker_create()
    evaluator = staff("eve", User.Role.EVALUATOR, "Eve")
    for user in (seeker, evaluator):
        with pytest.raises(Forbidden):
            calendar_feed_reset(user=user)
        response = signed_in(user).post(reverse("calendar-link-reset"))
        assert response.status_code == 403
    response = Client().post(reverse("calendar-link-reset"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")
    assert Client().post(reverse("calendar-link-revoke")).status_code == 302
    assert not CalendarFeed.objects.exists()


@pytest.mark.django_db
def test_making_a_link_needs_the_csrf_token():
    alex = make_supporter("alex", handle="Alex")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alex)
    assert client.post(reverse("calendar-link-reset")).status_code == 403
    assert not CalendarFeed.objects.exists()

    client.get("/staff/")  # the page sets the CSRF cookie its forms send back
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("calendar-link-reset"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert CalendarFeed.objects.filter(user=alex).exists()
    assert client.post(reverse("calendar-link-revoke")).status_code == 403
    assert CalendarFeed.objects.filter(user=alex).exists()


# The "Your calendar" panel ------------------------------------------------------------------------


def panel(user: User, session: SessionStore) -> tuple[dict | None, str]:
    request = RequestFactory().get("/staff/schedule/")
    request.user = user
    request.session = session
    context = calendar_link_context(request=request, next_url="/staff/schedule/")
    return context, render_to_string(
        "peerchat/_calendar_link.html", {"calendar": context}, request=request
    )


@pytest.mark.django_db
def test_the_panel_shows_a_new_link_once():
    alex = make_supporter("alex", handle="Alex")
    client = signed_in(alex)
    session = SessionStore(session_key=client.session.session_key)

    context, html = panel(alex, session)
    assert context == {"has_feed": False, "new_url": None, "next": "/staff/schedule/"}
    assert "Your calendar" in html and "Get a calendar link" in html
    assert "Turn off the link" not in html
    assert "anyone who has the link can see" in html.lower()

    client.post(reverse("calendar-link-reset"))
    url = client.session["calendar_feed_url"]
    session = SessionStore(session_key=client.session.session_key)
    context, html = panel(alex, session)
    assert context["new_url"] == url and context["has_feed"] is True
    assert re.search(r'<label for="calendar-url">', html)
    assert re.search(
        rf'<input type="text" id="calendar-url" value="{re.escape(url)}" readonly', html
    )
    assert "Copy it now: it won't be shown again" in html
    assert "Get a new link (the old one stops working)" in html
    assert "Turn off the link" in html
    assert f'action="{reverse("calendar-link-revoke")}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "<script" not in html and "style=" not in html and "<style" not in html
    session.save()

    # Shown once: the next page has the buttons but not the address.
    context, html = panel(alex, SessionStore(session_key=session.session_key))
    assert context["new_url"] is None and url not in html
    assert "Get a new link (the old one stops working)" in html


@pytest.mark.django_db
def test_the_panel_is_empty_for_roles_without_a_feed():
    evaluator = staff("eve", User.Role.EVALUATOR, "Eve")
    context, html = panel(evaluator, SessionStore())
    assert context is None and html.strip() == ""


# The encoding -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lines_end_in_crlf_and_long_lines_are_folded_at_75_octets():
    alex = make_supporter("alex", handle="Alex")
    kai = staff("kai", User.Role.MODERATOR, "Kaï Ødegård-Sørensen")
    location = "Video call — the link is in your email; ring the office if it doesn't work. " * 2
    booking = make_booking(make_slot(kai, NOW + timedelta(days=1), location=location), alex)
    body = feed_bytes(alex)

    assert body.endswith(b"\r\n")
    lines = body.split(b"\r\n")[:-1]
    assert not any(b"\n" in line or b"\r" in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # something was folded
    for line in lines:
        line.decode("utf-8")  # no character was split across a fold
    # Unfolded, both parsers get the text back exactly.
    assert str(by_uid_icalendar(body)[uid("booking", booking.pk)]["LOCATION"]) == location
    assert by_uid_vobject(body)[uid("booking", booking.pk)].location.value == location
    assert (
        by_uid_vobject(body)[uid("booking", booking.pk)].summary.value
        == "Supervision with Kaï Ødegård-Sørensen"
    )


# Privacy ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_seeker_ever_appears_in_a_feed():
    alex = make_supporter("alex", handle="Alex")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    admin = staff("ada", User.Role.ADMIN, "Ada")
    seeker = seeker_create()
    room_create(
        kind=Room.Kind.ONE_TO_ONE,
        members=[(seeker, Membership.Role.SEEKER), (alex, Membership.Role.SUPPORTER)],
    )
    soon = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    make_shift(alex, soon)
    make_booking(make_slot(kai, soon + timedelta(hours=4)), alex, purpose=Booking.Purpose.DEBRIEF)
    make_booking(make_slot(admin, soon + timedelta(hours=6), kind=SlotKind.GROUP, capacity=4), alex)
    make_slot(admin, soon + timedelta(days=1))

    for user in (alex, kai, admin):
        response = Client().get(feed_path(calendar_feed_reset(user=user)))
        assert response.status_code == 200
        assert len(by_uid_icalendar(response.content)) >= 1
        text = unfolded(response.content)
        assert seeker.handle not in text
        assert seeker.username not in text
        assert "seeker" not in text.lower()
