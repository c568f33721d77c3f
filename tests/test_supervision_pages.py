"""The supervision pages: the supporter's schedule (/staff/schedule/) and the supervisor's
calendar (/supervision/), driven through their plain forms as a browser without script would.

Times sit at whole hours of the deployment's wall clock (Europe/London) on days ahead of
today, clear of any shift, so no clock change or shift gets in the way.
"""

import html as entities
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from moderation.escalations import escalation_raise
from peerchat.models import (
    Booking,
    GateException,
    Shift,
    ShiftCheckIn,
    SlotSeries,
    StaffNotice,
    SupervisionSlot,
    SupporterProfile,
    SupportSession,
    User,
)
from peerchat.selectors.supervision import when
from peerchat.services.supervision.bookings import booking_create
from peerchat.services.supervision.slots import SlotSpec, slot_publish
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_supporter
from tests.factories import ask, on_shift_supporter, train

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
LONDON = ZoneInfo("Europe/London")
SCHEDULE = "/staff/schedule/"
SUPERVISION = "/supervision/"


# Helpers ----------------------------------------------------------------------------------------


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def staff(username: str, role: str, handle: str) -> User:
    return staff_user_upsert(username=username, role=role, password=PASSWORD, handle=handle)


def senior_supervisor(username="sam", handle="Sam") -> User:
    user = make_supporter(username, handle=handle, level="senior")
    user.user_permissions.add(Permission.objects.get(codename="supervise"))
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


@pytest.fixture
def kai(db) -> User:
    return staff("kai", User.Role.MODERATOR, "Kai")


def day(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def at(days: int, hour: int) -> datetime:
    """The UTC instant of `hour`:00 in Europe/London, `days` after today."""
    local = datetime.combine(timezone.localdate() + timedelta(days=days), time(hour))
    return local.replace(tzinfo=LONDON).astimezone(UTC)


def publish_form(client: Client, **fields):
    data = {
        "date": day(3),
        "start": "10:00",
        "duration": "60",
        "kind": "one_to_one",
        "places": "",
        "purpose": "any",
        "location": "Room 2",
        "time_zone": "Europe/London",
        "repeat": "none",
        "times": "8",
        "skip": "",
        **fields,
    }
    return client.post("/supervision/publish", data, follow=True)


def slot(supervisor: User, days: int, hour: int, **spec) -> SupervisionSlot:
    local = datetime.combine(timezone.localdate() + timedelta(days=days), time(hour))
    [made] = slot_publish(
        supervisor=supervisor, spec=SlotSpec(starts_local=local, duration_minutes=60, **spec)
    )
    return made


def said(response) -> list[str]:
    """The outcome messages at the top of the page, as the person reads them."""
    html = response.content.decode()
    return [
        entities.unescape(re.sub(r"\s+", " ", text).strip())
        for text in re.findall(
            r'<p class="(?:form-error|plan-status)" role="(?:alert|status)">(.*?)</p>', html, re.S
        )
    ]


def text_of(response) -> str:
    """The page's words without tags, spaces collapsed (what a reader of the page sees)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" .", ".").strip()
    return entities.unescape(words)


def nav_links(response) -> list[tuple[str, str]]:
    html = response.content.decode()
    nav = re.search(r'aria-label="Site">(.*?)</nav>', html, re.S).group(1)
    return re.findall(r'<a href="([^"]+)"[^>]*>(?:<strong>)?([^<]+)', nav)


def assert_no_inline_code(html: str) -> None:
    """The CSP allows only this site's files: no inline script, style or handler."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


# Who gets which page ----------------------------------------------------------------------------


def people() -> dict[str, User | None]:
    return {
        "anonymous": None,
        "seeker": seeker_create(),
        "peer": make_supporter("alex", handle="Alex"),
        "trainee": make_supporter("robin", handle="Robin", level="trainee"),
        "senior": make_supporter("jo", handle="Jo", level="senior"),
        "senior supervisor": senior_supervisor(),
        "moderator": staff("kai", User.Role.MODERATOR, "Kai"),
        "evaluator": staff("lee", User.Role.EVALUATOR, "Lee"),
        "admin": staff("admin", User.Role.ADMIN, "Admin"),
    }


def test_the_schedule_is_for_supporters_and_others_are_sent_where_they_belong():
    expected = {
        "anonymous": (302, "/accounts/login/?next=/staff/schedule/"),
        "seeker": (302, "/chat/"),
        "peer": (200, None),
        "trainee": (200, None),
        "senior": (200, None),
        "senior supervisor": (200, None),
        "moderator": (302, "/supervision/"),
        "evaluator": (302, "/chat/"),
        "admin": (302, "/supervision/"),
    }
    found = {}
    for name, user in people().items():
        response = signed_in(user).get(SCHEDULE)
        found[name] = (response.status_code, response.headers.get("Location"))
        if response.status_code == 200:
            assert "no-store" in response.headers["Cache-Control"]
            assert "My schedule" in response.content.decode()
    assert found == expected


def test_the_supervision_page_is_for_supervisors_only():
    expected = {
        "anonymous": 302,
        "seeker": 403,
        "peer": 403,
        "trainee": 403,
        "senior": 403,
        "senior supervisor": 200,
        "moderator": 200,
        "evaluator": 403,
        "admin": 200,
    }
    found = {}
    for name, user in people().items():
        response = signed_in(user).get(SUPERVISION)
        found[name] = response.status_code
        if response.status_code == 403:
            assert "This page is for supervisors" in response.content.decode()
            assert "Offer a time" not in response.content.decode()
    assert found == expected
    assert Client().get(SUPERVISION).headers["Location"] == "/accounts/login/?next=/supervision/"


def test_without_the_permission_no_form_on_the_supervision_page_does_anything():
    jo = make_supporter("jo", handle="Jo", level="senior")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    mine = slot(kai, 3, 10)
    client = signed_in(jo)
    assert publish_form(client).status_code == 403
    assert client.post("/supervision/cancel", {"slot": mine.pk}).status_code == 403
    assert not SupervisionSlot.objects.filter(supervisor=jo).exists()
    assert SupervisionSlot.objects.get(pk=mine.pk).state == "open"
    # And supervisors without a schedule of their own can't book through the supporter's forms.
    answer = signed_in(kai).post("/staff/schedule/book", {"slot": mine.pk, "purpose": "talk"})
    assert answer.headers["Location"] == "/supervision/"
    assert not Booking.objects.exists()


def test_the_nav_shows_my_schedule_to_supporters_and_supervision_to_supervisors():
    alex = make_supporter("alex", handle="Alex")
    assert nav_links(signed_in(alex).get(SCHEDULE)) == [
        ("/staff/", "My shift"),
        ("/staff/schedule/", "My schedule"),
        ("/chat/", "Conversations"),
    ]
    assert (
        'href="/staff/schedule/" aria-current="page"'
        in signed_in(alex).get(SCHEDULE).content.decode()
    )
    sam = senior_supervisor()
    assert nav_links(signed_in(sam).get(SCHEDULE))[-1] == ("/supervision/", "Supervision")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    assert nav_links(signed_in(kai).get(SUPERVISION)) == [
        ("/moderation/", "Review"),
        ("/chat/", "Conversations"),
        ("/supervision/", "Supervision"),
    ]
    lee = staff("lee", User.Role.EVALUATOR, "Lee")
    assert ("/supervision/", "Supervision") not in nav_links(signed_in(lee).get("/"))


def test_both_pages_need_no_inline_script_or_style():
    alex = make_supporter("alex", handle="Alex")
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    for user, url in ((alex, SCHEDULE), (kai, SUPERVISION)):
        response = signed_in(user).get(url)
        policy = response.headers["Content-Security-Policy"]
        script = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script and "'unsafe-inline'" not in policy
        assert_no_inline_code(response.content.decode())
        assert "peerchat/supervision.css" in response.content.decode()


# Publishing ---------------------------------------------------------------------------------------


def test_a_one_off_time_is_published_through_the_form(kai):
    response = publish_form(signed_in(kai), date=day(3), start="10:00", duration="45")
    [made] = SupervisionSlot.objects.all()
    assert made.starts_at == at(3, 10)
    assert made.ends_at == made.starts_at + timedelta(minutes=45)
    assert (made.kind, made.capacity, made.purpose, made.location, made.series_id) == (
        "one_to_one",
        1,
        "any",
        "Room 2",
        None,
    )
    assert said(response) == [f"Published: {when(made.starts_at)}."]
    page = text_of(response)
    assert "Your times" in page and "Nobody has booked yet." in page
    assert "All times on this page are Europe/London time." in page


def test_a_weekly_group_time_is_published_with_a_date_skipped(kai):
    response = publish_form(
        signed_in(kai),
        date=day(2),
        start="18:00",
        kind="group",
        places="6",
        purpose="supervision",
        repeat="weekly",
        times="4",
        skip=day(9),
    )
    slots = list(SupervisionSlot.objects.order_by("starts_at"))
    assert [s.starts_at for s in slots] == [at(2, 18), at(16, 18), at(23, 18)]
    assert {(s.kind, s.capacity, s.purpose) for s in slots} == {("group", 6, "supervision")}
    series = SlotSeries.objects.get()
    assert series.rrule == "FREQ=WEEKLY;COUNT=4" and {s.series_id for s in slots} == {series.pk}
    assert said(response) == [f"Published 3 times, starting {when(slots[0].starts_at)}."]
    page = text_of(response)
    assert "Regular times" in page and "Every week from" in page
    assert "End this regular time" in page


@pytest.mark.parametrize(
    ("repeat", "rule"),
    [
        ("fortnightly", "FREQ=WEEKLY;INTERVAL=2;COUNT=3"),
        ("weekdays", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=3"),
    ],
)
def test_the_other_repeats_become_their_rules(kai, repeat, rule):
    publish_form(signed_in(kai), repeat=repeat, times="3")
    assert SlotSeries.objects.get().rrule == rule
    assert SupervisionSlot.objects.count() == 3


def test_refusals_are_said_plainly_and_the_form_keeps_what_was_typed(kai):
    client = signed_in(kai)
    past = publish_form(client, date=day(-1), location="The quiet room")
    assert past.status_code == 400
    assert said(past) == ["That time has already passed."]
    assert 'value="The quiet room"' in past.content.decode()
    assert f'value="{day(-1)}"' in past.content.decode()

    publish_form(client, date=day(3), start="10:00")
    overlapping = publish_form(client, date=day(3), start="10:30")
    [first] = SupervisionSlot.objects.all()
    assert said(overlapping) == [
        f"The time at {when(at(3, 10) + timedelta(minutes=30))} overlaps a time you run on "
        f"{when(first.starts_at)}."
    ]

    assert said(publish_form(client, date="")) == ["Pick a date."]
    assert said(publish_form(client, kind="group", places="1", start="14:00")) == [
        "A group has 2 to 30 places."
    ]
    assert said(publish_form(client, repeat="weekly", skip="25 December", start="15:00")) == [
        "Write dates to skip like 2026-12-25, separated by commas."
    ]
    assert SupervisionSlot.objects.count() == 1


# Booking, moving, cancelling ------------------------------------------------------------------


def test_a_supporter_books_moves_and_cancels_through_the_forms(kai):
    alex = make_supporter("alex", handle="Alex")
    first = slot(kai, 3, 10, location="Room 2")
    second = slot(kai, 4, 11)
    client = signed_in(alex)

    page = text_of(client.get(SCHEDULE))
    assert f"{when(first.starts_at)} to 11:00" in page
    assert "One-to-one with Kai · Room 2" in page

    booked = client.post("/staff/schedule/book", {"slot": first.pk, "purpose": "supervision"})
    assert booked.headers["Location"] == SCHEDULE
    booking = Booking.objects.get(supporter=alex, state="booked")
    assert (booking.slot_id, booking.purpose) == (first.pk, "supervision")
    page = client.get(SCHEDULE)
    assert said(page) == [f"Booked: your supervision, {when(first.starts_at)} with Kai."]
    html = page.content.decode()
    bookings = html.split('id="bookings-heading"')[1].split('id="open-heading"')[0]
    assert when(first.starts_at).split(",")[0] in bookings
    assert f'<option value="{second.pk}">' in bookings  # the other time, to move to
    assert "Cancel this booking" in bookings
    # The supervisor sees who booked.
    assert "Alex (supervision)" in text_of(signed_in(kai).get(SUPERVISION))

    moved = client.post(
        "/staff/schedule/move", {"booking": booking.pk, "to_slot": second.pk}, follow=True
    )
    live = Booking.objects.get(supporter=alex, state="booked")
    assert live.slot_id == second.pk
    assert Booking.objects.get(pk=booking.pk).cancel_reason == "moved"
    assert said(moved) == [f"Moved: your supervision is now {when(second.starts_at)} with Kai."]

    cancelled = client.post("/staff/schedule/cancel", {"booking": live.pk}, follow=True)
    assert Booking.objects.get(pk=live.pk).state == "cancelled"
    assert said(cancelled) == [
        f"Cancelled your supervision on {when(second.starts_at)}. Kai has been told."
    ]
    assert "You have no supervision booked." in text_of(cancelled)
    assert StaffNotice.objects.filter(recipient=kai, kind="booking_cancelled").exists()


def test_a_full_or_cancelled_time_is_refused_with_a_kind_message(kai):
    alex = make_supporter("alex", handle="Alex")
    jo = make_supporter("jo", handle="Jo")
    only = slot(kai, 3, 10)
    booking_create(supporter=jo, slot_id=only.pk)
    full = signed_in(alex).post(
        "/staff/schedule/book", {"slot": only.pk, "purpose": "supervision"}, follow=True
    )
    assert said(full) == ["This time is full. Pick another."]
    assert not Booking.objects.filter(supporter=alex).exists()

    other = slot(kai, 5, 10)
    signed_in(kai).post("/supervision/cancel", {"slot": other.pk})
    gone = signed_in(alex).post(
        "/staff/schedule/book", {"slot": other.pk, "purpose": "supervision"}, follow=True
    )
    assert said(gone) == ["This time was cancelled."]
    nonsense = signed_in(alex).post("/staff/schedule/book", {"slot": "x"}, follow=True)
    assert said(nonsense) == [
        "Something in that form didn't come through. Please reload the page and try again."
    ]


def test_open_group_times_show_the_places_left(kai):
    alex = make_supporter("alex", handle="Alex")
    group = slot(kai, 3, 18, kind="group", capacity=4, location="Video call")
    booking_create(supporter=make_supporter("jo", handle="Jo"), slot_id=group.pk)
    page = text_of(signed_in(alex).get(SCHEDULE))
    assert "Group with Kai · 3 of 4 places left · Video call" in page


# Cancelling a time, recording, notices ----------------------------------------------------------


def test_cancelling_a_time_tells_the_supporter_with_the_reason_and_other_times(kai):
    alex = make_supporter("alex", handle="Alex")
    doomed = slot(kai, 3, 10)
    other = slot(kai, 4, 10)
    booking_create(supporter=alex, slot_id=doomed.pk)
    response = signed_in(kai).post(
        "/supervision/cancel", {"slot": doomed.pk, "reason": "I'm unwell"}, follow=True
    )
    assert said(response) == [
        f"Cancelled the time on {when(doomed.starts_at)}. Anyone who had booked it has been "
        "told and offered other times."
    ]
    assert SupervisionSlot.objects.get(pk=doomed.pk).state == "cancelled"

    client = signed_in(alex)
    page = text_of(client.get(SCHEDULE))
    assert (
        f"Kai cancelled the supervision on {when(doomed.starts_at)} (I'm unwell). "
        f"Other times: {when(other.starts_at)}." in page
    )
    assert "1 new" in page and "Mark all as read" in page
    client.post("/staff/schedule/notices-read")
    page = text_of(client.get(SCHEDULE))
    assert "Mark all as read" not in page and "1 new" not in page
    assert "(I'm unwell)" in page  # read notices stay listed


def test_ending_a_regular_time_cancels_its_coming_times(kai):
    publish_form(signed_in(kai), repeat="weekly", times="3")
    series = SlotSeries.objects.get()
    response = signed_in(kai).post("/supervision/end-series", {"series": series.pk}, follow=True)
    assert said(response) == [
        "Ended this regular time: 3 coming times cancelled. Anyone who had booked has been told."
    ]
    assert set(SupervisionSlot.objects.values_list("state", flat=True)) == {"cancelled"}
    assert "Regular times" not in text_of(response)


def test_the_supervisor_records_who_came(kai):
    alex = make_supporter("alex", handle="Alex")
    jo = make_supporter("jo", handle="Jo")
    then = timezone.now() - timedelta(days=2)
    local = timezone.localtime(then + timedelta(hours=1)).replace(tzinfo=None, minute=0)
    [held] = slot_publish(
        supervisor=kai,
        spec=SlotSpec(starts_local=local, duration_minutes=60, kind="group", capacity=3),
        now=then,
    )
    a = booking_create(supporter=alex, slot_id=held.pk, now=then)
    j = booking_create(supporter=jo, slot_id=held.pk, now=then)
    client = signed_in(kai)
    page = client.get(SUPERVISION).content.decode()
    assert "To record" in page and page.count('name="attended" value="yes"') == 2

    came = client.post("/supervision/record", {"booking": a.pk, "attended": "yes"}, follow=True)
    assert said(came) == ["Recorded: Alex came."]
    missed = client.post("/supervision/record", {"booking": j.pk, "attended": "no"}, follow=True)
    assert said(missed) == ["Recorded: Jo didn't come."]
    assert Booking.objects.get(pk=a.pk).state == "attended"
    assert Booking.objects.get(pk=j.pk).state == "missed"
    assert "To record" not in text_of(missed)
    # The records table counts them.
    records = missed.content.decode().split('id="records-heading"')[1]
    alex_row = re.search(r"<tr>\s*<th[^>]*>Alex.*?</tr>", records, re.S).group(0)
    assert re.findall(r">(\d+(?:\.\d)?)</td>", alex_row) == ["0.0", "1", "0", "0", "0", "0"]


# Gates and exceptions ---------------------------------------------------------------------------


def test_overdue_supervision_is_said_at_the_top_and_a_supervisor_can_lift_it_for_a_while(kai):
    alex = make_supporter("alex", handle="Alex")
    train(alex)
    User.objects.filter(pk=alex.pk).update(date_joined=timezone.now() - timedelta(weeks=6))
    page = text_of(signed_in(alex).get(SCHEDULE))
    assert re.search(
        r"My schedule All times on this page are Europe/London time\. Before your next shift "
        r"Your supervision was due "
        r"on .+, so you can't start new shifts until you've had it\.",
        page,
    )
    assert "Overdue Your supervision was due on" in page

    roster = signed_in(kai).get(SUPERVISION).content.decode().split('id="roster-heading"')[1]
    assert "Let Alex take shifts for now" in roster
    no_reason = signed_in(kai).post(
        "/supervision/exception",
        {"supporter": alex.pk, "gate": "supervision", "days": "3", "reason": " "},
        follow=True,
    )
    assert said(no_reason) == ["Say why, for the record."]
    too_long = signed_in(kai).post(
        "/supervision/exception",
        {"supporter": alex.pk, "gate": "supervision", "days": "30", "reason": "Booked for Mon"},
        follow=True,
    )
    assert said(too_long) == ["An exception lasts 1 to 14 days."]
    assert not GateException.objects.exists()

    granted = signed_in(kai).post(
        "/supervision/exception",
        {"supporter": alex.pk, "gate": "supervision", "days": "3", "reason": "Booked for Mon"},
        follow=True,
    )
    exception = GateException.objects.get()
    assert (exception.gate, exception.reason, exception.granted_by_id) == (
        "supervision",
        "Booked for Mon",
        kai.pk,
    )
    assert said(granted) == [
        f"Alex may start shifts until {when(exception.expires_at)} (supervision overdue). "
        "They've been told, and the reason is kept on record."
    ]
    roster = granted.content.decode().split('id="roster-heading"')[1]
    assert "Booked for Mon" in roster and "End this exception" in roster
    assert "Let Alex take shifts for now" not in roster
    page = text_of(signed_in(alex).get(SCHEDULE))
    assert "A supervisor has let you take shifts for now: please book supervision." in page

    revoked = signed_in(kai).post(
        "/supervision/exception/revoke", {"exception": exception.pk}, follow=True
    )
    assert said(revoked) == ["Ended the exception for Alex."]
    assert GateException.objects.get().revoked_by_id == kai.pk


# Check-ins ----------------------------------------------------------------------------------------


def worked_shift(user: User, *, hours_ago: float = 1) -> Shift:
    now = timezone.now()
    ended = now - timedelta(hours=hours_ago)
    return Shift.objects.create(
        supporter=user,
        starts_at=ended - timedelta(hours=4),
        ends_at=ended,
        started_at=ended - timedelta(hours=4),
        ended_at=ended,
    )


def test_the_check_in_asks_after_a_shift_and_says_who_can_read_it(kai):
    alex = make_supporter("alex", handle="Alex")
    SupporterProfile.objects.update_or_create(user=alex, defaults={"supervisor": kai})
    shift = worked_shift(alex)
    talk = slot(kai, 2, 10)
    client = signed_in(alex)
    html = client.get(SCHEDULE).content.decode()
    assert "How are you after this shift?" in html
    for label in ("Good", "Okay", "A bit low", "Struggling"):
        assert re.search(rf'<label for="feeling-\w+">{label}</label>', html)
    assert "Only you and your supervisor Kai can read this." in html
    assert "I'd like to talk to someone" in html and ">Not now</button>" in html

    response = client.post(
        "/staff/schedule/checkin",
        {"shift": shift.pk, "feeling": "low", "note": "A heavy one tonight.", "wants_to_talk": "1"},
        follow=True,
    )
    checkin = ShiftCheckIn.objects.get()
    assert (checkin.feeling, checkin.note, checkin.wants_to_talk) == (
        "low",
        "A heavy one tonight.",
        True,
    )
    assert said(response)[0].startswith("Thank you. We've let a supervisor know")
    page = text_of(response)
    assert "How are you after this shift?" not in page
    assert f"A time to talk {when(talk.starts_at)} to 11:00 with Kai" in page

    booked = client.post("/staff/schedule/book", {"slot": talk.pk, "purpose": "talk"}, follow=True)
    assert Booking.objects.get(supporter=alex).purpose == "talk"
    assert "A time to talk" not in text_of(booked)
    assert StaffNotice.objects.filter(recipient=kai, kind="wants_to_talk").count() == 1


def test_not_now_records_a_skip_and_stops_asking():
    alex = make_supporter("alex", handle="Alex")
    shift = worked_shift(alex)
    client = signed_in(alex)
    assert "Only you can read this." in client.get(SCHEDULE).content.decode()
    response = client.post("/staff/schedule/checkin", {"shift": shift.pk, "skip": "1"}, follow=True)
    assert ShiftCheckIn.objects.get().feeling == "skipped"
    assert said(response) == ["That's fine. We won't ask about that shift again."]
    assert "How are you after this shift?" not in text_of(response)
    nothing = client.post("/staff/schedule/checkin", {"shift": shift.pk}, follow=True)
    assert said(nothing) == ["Pick how you are, or choose 'Not now'."]


def test_a_check_in_is_read_by_the_assigned_supervisor_only():
    kai = staff("kai", User.Role.MODERATOR, "Kai")
    sam = senior_supervisor()
    admin = staff("admin", User.Role.ADMIN, "Admin")
    alex = make_supporter("alex", handle="Alex")
    SupporterProfile.objects.update_or_create(user=alex, defaults={"supervisor": kai})
    shift = worked_shift(alex)
    signed_in(alex).post(
        "/staff/schedule/checkin",
        {"shift": shift.pk, "feeling": "struggling", "note": "Private words for Kai."},
    )
    kai_page = kai_html = signed_in(kai).get(SUPERVISION).content.decode()
    checkins = kai_html.split('id="checkins-heading"')[1].split('id="records-heading"')[0]
    assert "Alex" in checkins and "Struggling" in checkins
    assert "Private words for Kai." in checkins
    for other in (sam, admin):
        page = signed_in(other).get(SUPERVISION).content.decode()
        assert "Private words for Kai." not in page
        assert "No check-ins yet." in page
    assert kai_page.count("Private words for Kai.") == 1


# Debriefs ---------------------------------------------------------------------------------------


def test_a_debrief_due_offers_times_and_once_booked_can_be_moved(kai):
    on_shift_supporter("robin", handle="Robin")
    seeker, _, _ = ask()
    session = SupportSession.objects.select_related("supporter").get(seeker=seeker)
    robin = session.supporter
    first = slot(kai, 1, 10, purpose="debrief")
    later = slot(kai, 1, 14)
    escalation_raise(room_id=session.room_id, kind="filter", by=seeker)
    client = signed_in(robin)
    page = client.get(SCHEDULE).content.decode()
    debriefs = page.split('id="debriefs-heading"')[1].split('id="supervision-heading"')[0]
    assert "Due by" in debriefs and "Pick a time:" in debriefs
    assert f'<input type="hidden" name="slot" value="{first.pk}">' in debriefs

    client.post("/staff/schedule/book", {"slot": first.pk, "purpose": "debrief"})
    booking = Booking.objects.get(supporter=robin)
    assert (booking.purpose, booking.debrief.state) == ("debrief", "due")
    page = client.get(SCHEDULE).content.decode()
    debriefs = page.split('id="debriefs-heading"')[1].split('id="supervision-heading"')[0]
    assert "Booked:" in debriefs and f'<option value="{later.pk}">' in debriefs
    # A debrief is moved, not listed again among the supervision bookings.
    bookings = page.split('id="bookings-heading"')[1].split('id="open-heading"')[0]
    assert "You have no supervision booked." in bookings

    client.post("/staff/schedule/move", {"booking": booking.pk, "to_slot": later.pk})
    assert Booking.objects.get(supporter=robin, state="booked").slot_id == later.pk
    kai_page = text_of(signed_in(kai).get(SUPERVISION))
    assert "Robin (debrief)" in kai_page
    assert seeker.handle not in kai_page
