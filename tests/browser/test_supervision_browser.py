"""Supervision in the browser: a supervisor offers times, a supporter books one, and hears
when it is cancelled. Plain forms and page loads only (no script on these pages).

The server is the demo (`run_topology`, one daphne process): Kai is a moderator (so a
supervisor), Alex a peer supporter with a shift covering now and the next twelve hours.
"""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, WatchedTab

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")  # the demo server's time zone
KAI = "Kai (moderator)"
# The demo may come with times of its own; this walk starts with none to come, so what it
# sees and counts is what it made. Past records (supervision already had) stay.
CLEAR_COMING_TIMES = """
from django.utils import timezone
from peerchat.models import SlotSeries, SupervisionSlot
SupervisionSlot.objects.filter(ends_at__gt=timezone.now()).delete()
SlotSeries.objects.all().delete()
"""


def first_free_day(hour: int) -> str:
    """Tomorrow, unless `hour` tomorrow is inside Alex's demo shift (until now + 12 hours)."""
    now = datetime.now(LONDON)
    for days in (1, 2):
        day = (now + timedelta(days=days)).date()
        start = datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)
        if start > now + timedelta(hours=13):
            return day.isoformat()
    raise AssertionError("unreachable")


def publish(page, *, date: str, start: str, group_places: int = 0, weekly_times: int = 0):
    form = page.locator("form.sv-publish")
    form.get_by_label("Date", exact=True).fill(date)
    form.get_by_label("Start time", exact=True).fill(start)
    form.get_by_label("Minutes", exact=True).fill("60")
    if group_places:
        form.get_by_label("Group", exact=True).check()
        form.get_by_label("Places (for a group)").fill(str(group_places))
    else:
        form.get_by_label("One-to-one", exact=True).check()
    form.get_by_label("Place", exact=True).fill("Room 2" if not group_places else "Video call")
    if weekly_times:
        form.get_by_label("Repeat", exact=True).select_option(label="Every week")
        form.get_by_label("For how many times").fill(str(weekly_times))
    form.get_by_role("button", name="Publish").click()


def test_a_supervisor_offers_times_a_supporter_books_one_and_hears_when_it_is_cancelled(
    browser, server
):
    server.manage("shell", "-c", CLEAR_COMING_TIMES)
    contexts = [browser.new_context(viewport=DESKTOP) for _ in range(2)]
    try:
        kai = WatchedTab(contexts[0].new_page(), server.base_url())
        alex = WatchedTab(contexts[1].new_page(), server.base_url())
        k, a = kai.page, alex.page
        status = "p.plan-status[role=status]"

        # Kai signs in and opens Supervision from the site navigation.
        kai.sign_in_with_form("moderator", landing="**/moderation/")
        k.get_by_role("navigation", name="Site").get_by_role("link", name="Supervision").click()
        expect(k.get_by_role("heading", name="Supervision", level=1)).to_be_visible()
        expect(k.get_by_text("All times on this page are Europe/London time.")).to_be_visible()

        # A one-to-one tomorrow at 10:00, and a weekly group on the evening after.
        one_day = first_free_day(10)
        publish(k, date=one_day, start="10:00")
        expect(k.locator(status)).to_have_text(re.compile(r"^Published: \w+day .+, 10:00\.$"))
        group_day = (datetime.fromisoformat(one_day) + timedelta(days=1)).date().isoformat()
        publish(k, date=group_day, start="18:00", group_places=6, weekly_times=4)
        expect(k.locator(status)).to_have_text(re.compile(r"^Published 4 times, starting .+"))
        times = k.locator("li.sv-slot")
        expect(times).to_have_count(5)
        expect(k.get_by_role("heading", name="Regular times")).to_be_visible()
        one_to_one = times.filter(has_text="One-to-one")
        expect(one_to_one).to_contain_text("Nobody has booked yet.")

        # Alex, in a browser of their own, books the one-to-one from My schedule.
        alex.sign_in_with_form("supporter1", landing="**/staff/")
        a.get_by_role("navigation", name="Site").get_by_role("link", name="My schedule").click()
        expect(a.get_by_role("heading", name="My schedule", level=1)).to_be_visible()
        offered = a.locator("li.sv-open").filter(has_text=f"One-to-one with {KAI}")
        expect(offered).to_contain_text("10:00 to 11:00")
        expect(offered).to_contain_text("Room 2")
        expect(a.locator("li.sv-open").filter(has_text="6 of 6 places left")).to_have_count(4)
        offered.get_by_role("button", name=re.compile(r"^Book")).click()
        expect(a.locator(status)).to_have_text(
            re.compile(rf"^Booked: your supervision, .+, 10:00 with {re.escape(KAI)}\.$")
        )
        mine = a.locator("li.sv-booking")
        expect(mine).to_have_count(1)
        expect(mine).to_contain_text(f"Supervision with {KAI} · One-to-one · Room 2")
        expect(a.locator("li.sv-open").filter(has_text="One-to-one")).to_have_count(0)

        # Kai reloads: Alex has booked. Kai cancels it, saying why.
        k.reload()
        expect(one_to_one).to_contain_text("Booked: Alex (supervision)")
        one_to_one.get_by_text("Cancel this time").click()
        one_to_one.get_by_label("Reason (optional, shown to people booked)").fill("I'm unwell")
        one_to_one.get_by_role("button", name=re.compile(r"^Cancel the time on")).click()
        expect(k.locator(status)).to_contain_text("Anyone who had booked it has been told")
        expect(one_to_one).to_contain_text("Cancelled")
        expect(one_to_one).to_contain_text("Reason: I'm unwell")
        expect(one_to_one.get_by_text("Cancel this time")).to_have_count(0)

        # Alex reloads: told it was cancelled, why, and which other times there are.
        a.reload()
        notice = a.locator("li.sv-notice--unread").filter(has_text="cancelled the supervision")
        expect(notice).to_contain_text(f"{KAI} cancelled the supervision on")
        expect(notice).to_contain_text("(I'm unwell). Other times:")
        expect(notice).to_contain_text("18:00")
        expect(a.locator("li.sv-booking")).to_have_count(0)
        a.get_by_role("button", name="Mark all as read").click()
        expect(a.locator("li.sv-notice--unread")).to_have_count(0)

        # Both pages fit a phone's width, and nothing broke the content security policy.
        for tab in (kai, alex):
            tab.page.set_viewport_size(PHONE)
            tab.page.reload()
            expect(tab.page.get_by_role("heading", level=1)).to_be_visible()
            assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert tab.page.evaluate("window.__cspViolations") == []
            assert tab.console == []
    finally:
        for context in contexts:
            context.close()


# Alex joined five weeks ago and has not had supervision since: it is overdue.
MAKE_ALEX_OVERDUE = """
from datetime import timedelta
from django.utils import timezone
from peerchat.models import Booking, User
User.objects.filter(username="supporter1").update(date_joined=timezone.now() - timedelta(weeks=5))
Booking.objects.filter(supporter__username="supporter1").delete()
"""


def test_overdue_supervision_keeps_a_supporter_off_new_shifts_until_a_supervisor_lets_them(
    browser, server
):
    server.manage("shell", "-c", MAKE_ALEX_OVERDUE)
    contexts = [browser.new_context(viewport=PHONE), browser.new_context(viewport=DESKTOP)]
    try:
        alex = WatchedTab(contexts[0].new_page(), server.base_url())
        kai = WatchedTab(contexts[1].new_page(), server.base_url())
        a, k = alex.page, kai.page

        # Alex is told before pressing anything, with the way to sort it out.
        alex.sign_in_with_form("supporter1", landing="**/staff/")
        reason = a.locator("#shift-training")
        expect(reason).to_contain_text("Your supervision was due on")
        expect(reason).to_contain_text("you can't start new shifts until you've had it")
        expect(reason.get_by_role("link", name="Book a time on your schedule")).to_have_attribute(
            "href", "/staff/schedule/"
        )
        a.get_by_role("button", name="Start shift").click()
        expect(a.locator("#shift-error")).to_contain_text("you can't start new shifts")
        expect(a.locator("#shift-error-book")).to_be_visible()
        expect(a.locator("#shift-state")).to_have_text(
            "You're off shift. No new chats will come to you."
        )

        # Kai sees Alex overdue at the top of the roster and records an exception.
        kai.sign_in_with_form("moderator", landing="**/moderation/")
        k.goto(server.base_url() + "/supervision/")
        row = k.locator("#roster-heading ~ * tr").filter(has_text="Alex").first
        expect(row).to_contain_text("Overdue")
        row.get_by_text("Let Alex take shifts for now").click()
        row.get_by_label("Why (kept on record)").fill(
            "Supervision booked for Friday, agreed by phone"
        )
        row.get_by_role("button", name="Record the exception").click()
        expect(k.locator("p.plan-status[role=status]")).to_contain_text("Alex may start shifts")

        # Alex can go on shift now, and is reminded the exception is only for a while.
        a.reload()
        expect(a.locator("#shift-training")).to_be_hidden()
        a.get_by_role("button", name="Start shift").click()
        expect(a.locator("#shift-state")).to_contain_text("You're on shift")
        for tab in (alex, kai):
            assert tab.page.evaluate("window.__cspViolations") == []
        # The refused start is the browser's one complaint: the API answered 409, as it should.
        assert [line for line in alex.console if "status of 409" not in line] == []
        assert kai.console == []
    finally:
        for context in contexts:
            context.close()
