"""Supervision and debriefs (DESIGN.md §9): slots, bookings, debriefs after escalations, the
gates on new shifts, after-shift check-ins, reminders and the scan, notices by email, records.

Services are given `now=` wherever they take it. Slots sit at whole hours of the deployment's
wall clock (Europe/London) on days ahead of today, which no clock change makes ambiguous;
the clock-change tests use fixed dates. The worker's own handlers read the real time, so
tests that run jobs put their times a day or more ahead of it.
"""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone

from moderation.escalations import escalation_raise
from moderation.models import AuditEntry
from peerchat import events, jobs
from peerchat.errors import BodyInvalid, Conflict, Forbidden, NotFound
from peerchat.frames import utc as frames_utc
from peerchat.jobs.models import Job
from peerchat.models import (
    Booking,
    Debrief,
    GateException,
    Message,
    Shift,
    ShiftCheckIn,
    SlotSeries,
    StaffNotice,
    SupervisionSlot,
    SupporterProfile,
    SupportSession,
    User,
)
from peerchat.selectors.staff import staff_status
from peerchat.selectors.supervision import (
    checkin_due,
    checkins_visible_to,
    gate_status,
    supervision_status,
    supervision_totals,
    supporter_records,
    when,
)
from peerchat.selectors.supporters import supporters_on_shift
from peerchat.services.messages import message_send
from peerchat.services.sessions import session_end
from peerchat.services.shifts import shift_end, shift_start
from peerchat.services.supervision import reminders
from peerchat.services.supervision.bookings import (
    booking_cancel,
    booking_create,
    booking_move,
    booking_record,
)
from peerchat.services.supervision.checkins import checkin_submit
from peerchat.services.supervision.debriefs import debrief_book_earliest, debrief_deadline_check
from peerchat.services.supervision.gates import gate_exception_grant, gate_exception_revoke
from peerchat.services.supervision.notices import notice_send
from peerchat.services.supervision.reminders import supervision_scan
from peerchat.services.supervision.slots import SlotSpec, series_extend, slot_cancel, slot_publish
from peerchat.services.users import staff_user_upsert
from tests.conftest import make_supporter
from tests.factories import ask, on_shift_supporter, schedule, train

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
LEADS = settings.SUPERVISION["REMINDER_LEAD_MINUTES"]
# The placeholder wording the filter escalates on (tests/test_escalations.py).
IMMINENT = "im going to do it tonight"


# Helpers ----------------------------------------------------------------------------------------


def moderator(username="kai", handle="Kai", email="") -> User:
    user = staff_user_upsert(
        username=username, role=User.Role.MODERATOR, password="a-long-test-password", handle=handle
    )
    if email:
        User.objects.filter(pk=user.pk).update(email=email)
        user.refresh_from_db()
    return user


def senior_supervisor(username="sam", handle="Sam", email="") -> User:
    """A senior supporter given the permission to supervise."""
    user = make_supporter(username, handle=handle, level="senior")
    user.user_permissions.add(Permission.objects.get(codename="supervise"))
    if email:
        User.objects.filter(pk=user.pk).update(email=email)
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


@pytest.fixture
def kai(db) -> User:
    return moderator()


@pytest.fixture
def sam(db) -> User:
    return senior_supervisor()


def at(days: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock time in Europe/London, `days` after today."""
    return datetime.combine(timezone.localdate() + timedelta(days=days), time(hour, minute))


def utc(local: datetime, tz: ZoneInfo = LONDON) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def publish(supervisor: User, starts_local: datetime, *, now, minutes=60, **spec) -> list:
    return slot_publish(
        supervisor=supervisor,
        spec=SlotSpec(starts_local=starts_local, duration_minutes=minutes, **spec),
        now=now,
    )


def one(supervisor: User, starts_local: datetime, *, now, **spec) -> SupervisionSlot:
    [slot] = publish(supervisor, starts_local, now=now, **spec)
    return slot


def told(user: User, kind: str | None = None) -> list[StaffNotice]:
    notices = StaffNotice.objects.filter(recipient=user).order_by("pk")
    return list(notices.filter(kind=kind) if kind else notices)


def kinds(user: User) -> list[str]:
    return [n.kind for n in told(user)]


def run_jobs() -> None:
    """Run every due job as the worker would; a supervision job that failed fails the test."""
    jobs.run_due(worker_id="t", limit=200)
    failed = Job.objects.filter(kind__startswith="supervision.").exclude(last_error="")
    assert not failed.exists(), list(failed.values_list("kind", "last_error"))


def chat() -> SupportSession:
    """A real one-to-one chat: Robin, on shift, matched with a new seeker."""
    on_shift_supporter("robin", handle="Robin")
    seeker, _, _ = ask()
    return SupportSession.objects.select_related("seeker", "supporter").get(seeker=seeker)


def escalate(session: SupportSession, now: datetime | None = None):
    return escalation_raise(
        room_id=session.room_id, kind="filter", by=session.seeker, now=now
    ).escalation


def assign_supervisor(supporter: User, supervisor: User) -> User:
    """Give `supporter` their own supervisor; return a fresh copy (no cached profile)."""
    SupporterProfile.objects.update_or_create(user=supporter, defaults={"supervisor": supervisor})
    return User.objects.get(pk=supporter.pk)


def code_of(raised) -> str:
    return raised.value.code


# Publishing slots -------------------------------------------------------------------------------


def test_a_one_off_slot_lands_at_the_utc_instant_of_its_local_time(kai):
    now = timezone.now()
    slot = one(kai, at(3, 18), now=now, minutes=45, location="Room 2")
    assert slot.starts_at == utc(at(3, 18))
    assert slot.ends_at == slot.starts_at + timedelta(minutes=45)
    assert (slot.kind, slot.capacity, slot.purpose, slot.state) == ("one_to_one", 1, "any", "open")
    assert slot.series_id is None and slot.location == "Room 2"
    assert list(SupervisionSlot.objects.values_list("pk", flat=True)) == [slot.pk]


def test_a_time_already_passed_is_refused(kai):
    now = timezone.now()
    with pytest.raises(BodyInvalid) as refused:
        publish(kai, at(-1, 10), now=now)
    assert code_of(refused) == "slot_in_past"
    assert not SupervisionSlot.objects.exists()


def test_a_slot_overlapping_the_supervisors_own_commitments_is_refused(kai, sam):
    now = timezone.now()
    first = one(kai, at(3, 10), now=now)
    for start in (at(3, 10), at(3, 10, 30), at(3, 9, 30)):
        with pytest.raises(Conflict) as refused:
            publish(kai, start, now=now)
        assert code_of(refused) == "slot_overlaps"
    adjacent = one(kai, at(3, 11), now=now)  # starts as the first ends: no overlap
    assert SupervisionSlot.objects.filter(supervisor=kai).count() == 2
    assert adjacent.starts_at == first.ends_at

    # A senior supervisor's shift and their own booking in someone else's time count too.
    Shift.objects.create(supporter=sam, starts_at=utc(at(4, 9)), ends_at=utc(at(4, 13)))
    with pytest.raises(Conflict) as refused:
        publish(sam, at(4, 12), now=now)
    assert code_of(refused) == "slot_overlaps" and "shift" in refused.value.detail
    kais = one(kai, at(5, 10), now=now)
    booking_create(supporter=sam, slot_id=kais.pk, now=now)
    with pytest.raises(Conflict) as refused:
        publish(sam, at(5, 10, 30), now=now)
    assert code_of(refused) == "slot_overlaps"
    assert not SupervisionSlot.objects.filter(supervisor=sam).exists()


def test_only_supervisors_publish(db):
    now = timezone.now()
    senior = make_supporter("lee", handle="Lee", level="senior")  # no permission
    peer = make_supporter("ash", handle="Ash", level="peer")
    peer.user_permissions.add(Permission.objects.get(codename="supervise"))
    peer = User.objects.get(pk=peer.pk)  # the permission alone is not enough below senior
    for user in (senior, peer):
        with pytest.raises(Forbidden):
            publish(user, at(3, 10), now=now)
    assert not SupervisionSlot.objects.exists()
    assert len(publish(senior_supervisor(), at(3, 10), now=now)) == 1


@pytest.mark.parametrize(
    ("kind", "capacity", "minutes", "allowed"),
    [
        ("one_to_one", 1, 60, True),
        ("one_to_one", 2, 60, False),
        ("group", 1, 60, False),
        ("group", 2, 60, True),
        ("group", 30, 60, True),
        ("group", 31, 60, False),
        ("one_to_one", 1, 14, False),
        ("one_to_one", 1, 241, False),
    ],
)
def test_capacity_and_length_rules(kai, kind, capacity, minutes, allowed):
    now = timezone.now()
    if allowed:
        slot = one(kai, at(3, 10), now=now, kind=kind, capacity=capacity, minutes=minutes)
        assert (slot.kind, slot.capacity) == (kind, capacity)
    else:
        with pytest.raises(BodyInvalid):
            publish(kai, at(3, 10), now=now, kind=kind, capacity=capacity, minutes=minutes)
        assert not SupervisionSlot.objects.exists()


def test_a_weekly_series_keeps_its_wall_clock_across_the_autumn_clock_change(kai):
    slots = publish(
        kai,
        datetime(2026, 10, 20, 18, 0),
        now=datetime(2026, 10, 1, 12, tzinfo=UTC),
        rrule="FREQ=WEEKLY;COUNT=4",
        time_zone="Europe/London",
    )
    assert [s.starts_at for s in slots] == [
        datetime(2026, 10, 20, 17, 0, tzinfo=UTC),  # BST
        datetime(2026, 10, 27, 18, 0, tzinfo=UTC),  # GMT from 25 October
        datetime(2026, 11, 3, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 18, 0, tzinfo=UTC),
    ]
    assert {s.starts_at.astimezone(LONDON).time() for s in slots} == {time(18, 0)}
    series = SlotSeries.objects.get()
    assert (series.time_zone, series.rrule) == ("Europe/London", "FREQ=WEEKLY;COUNT=4")
    assert {s.series_id for s in slots} == {series.pk}


def test_a_weekly_series_keeps_its_wall_clock_across_the_spring_clock_change(kai):
    slots = publish(
        kai,
        datetime(2027, 3, 16, 18, 0),
        now=datetime(2027, 3, 1, tzinfo=UTC),
        rrule="FREQ=WEEKLY;COUNT=4",
    )
    assert [s.starts_at for s in slots] == [
        datetime(2027, 3, 16, 18, 0, tzinfo=UTC),
        datetime(2027, 3, 23, 18, 0, tzinfo=UTC),
        datetime(2027, 3, 30, 17, 0, tzinfo=UTC),  # BST from 28 March
        datetime(2027, 4, 6, 17, 0, tzinfo=UTC),
    ]


def test_except_dates_are_skipped(kai):
    slots = publish(
        kai,
        datetime(2026, 10, 20, 18, 0),
        now=datetime(2026, 10, 1, tzinfo=UTC),
        rrule="FREQ=WEEKLY;COUNT=4",
        except_dates=(date(2026, 10, 27),),
    )
    assert [s.starts_at for s in slots] == [
        datetime(2026, 10, 20, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 10, 18, 0, tzinfo=UTC),
    ]
    assert SlotSeries.objects.get().exdates == ["2026-10-27T18:00:00+00:00"]


def test_a_one_off_at_a_time_the_clocks_skip_is_refused(kai):
    with pytest.raises(BodyInvalid) as refused:
        publish(kai, datetime(2027, 3, 28, 1, 30), now=datetime(2027, 3, 1, tzinfo=UTC))
    assert code_of(refused) == "time_does_not_exist"
    assert not SupervisionSlot.objects.exists()


def test_a_series_occurrence_in_the_spring_gap_moves_forward_by_the_gap(kai):
    slots = publish(
        kai,
        datetime(2027, 3, 21, 1, 30),
        now=datetime(2027, 3, 1, tzinfo=UTC),
        rrule="FREQ=WEEKLY;COUNT=2",
    )
    assert [s.starts_at for s in slots] == [
        datetime(2027, 3, 21, 1, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # 02:30 BST: 01:30 does not happen that day
    ]


def test_a_slot_published_in_new_york_lands_at_the_right_utc_instant(kai):
    now = datetime(2026, 10, 1, tzinfo=UTC)
    winter = one(kai, datetime(2026, 11, 10, 9, 0), now=now, time_zone="America/New_York")
    # New York moves its clocks on 14 March 2027, two weeks before London.
    spring = one(kai, datetime(2027, 3, 16, 9, 0), now=now, time_zone="America/New_York")
    assert winter.starts_at == datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
    assert spring.starts_at == datetime(2027, 3, 16, 13, 0, tzinfo=UTC)
    with pytest.raises(BodyInvalid):
        publish(kai, datetime(2026, 11, 11, 9, 0), now=now, time_zone="Mars/Olympus_Mons")


# Booking ----------------------------------------------------------------------------------------


def test_booking_a_place_tells_the_supervisor(kai):
    now = timezone.now()
    slot = one(kai, at(3, 10), now=now)
    alex = make_supporter("alex", handle="Alex")
    booking = booking_create(supporter=alex, slot_id=slot.pk, now=now)
    assert (booking.slot_id, booking.supporter_id, booking.purpose) == (
        slot.pk,
        alex.pk,
        "supervision",
    )
    assert (booking.state, booking.automatic) == ("booked", False)
    [notice] = told(kai)
    assert notice.kind == "booking_made"
    assert notice.text == f"Alex booked supervision in your time on {when(slot.starts_at)}."
    assert told(alex) == []


def test_a_full_one_to_one_or_group_slot_refuses_the_next_supporter(kai, sam):
    now = timezone.now()
    pair = one(kai, at(3, 10), now=now)
    group = one(sam, at(3, 10), now=now, kind="group", capacity=2)
    people = [make_supporter(f"p{i}", handle=f"P{i}") for i in range(3)]
    booking_create(supporter=people[0], slot_id=pair.pk, now=now)
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=people[1], slot_id=pair.pk, now=now)
    assert code_of(refused) == "slot_full"
    booking_create(supporter=people[1], slot_id=group.pk, now=now)
    booking_create(supporter=people[2], slot_id=group.pk, now=now)
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=make_supporter("p3"), slot_id=group.pk, now=now)
    assert code_of(refused) == "slot_full"
    assert Booking.objects.filter(slot=pair).count() == 1
    assert Booking.objects.filter(slot=group).count() == 2


def test_booking_twice_overlaps_own_slot_and_wrong_purpose_are_refused(kai, sam):
    now = timezone.now()
    alex = make_supporter("alex", handle="Alex")
    group = one(kai, at(3, 10), now=now, kind="group", capacity=4)
    booking_create(supporter=alex, slot_id=group.pk, now=now)
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=alex, slot_id=group.pk, now=now)
    assert code_of(refused) == "already_booked"

    overlapping = one(sam, at(3, 10, 30), now=now)  # another supervisor, half an hour later
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=alex, slot_id=overlapping.pk, now=now)
    assert code_of(refused) == "booking_overlaps"

    during_shift = one(kai, at(4, 10), now=now)
    Shift.objects.create(supporter=alex, starts_at=utc(at(4, 9)), ends_at=utc(at(4, 12)))
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=alex, slot_id=during_shift.pk, now=now)
    assert code_of(refused) == "booking_overlaps"

    own = one(sam, at(5, 10), now=now)
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=sam, slot_id=own.pk, now=now)
    assert code_of(refused) == "own_slot"

    debriefs_only = one(kai, at(6, 10), now=now, purpose="debrief")
    with pytest.raises(Conflict) as refused:
        booking_create(supporter=alex, slot_id=debriefs_only.pk, now=now)
    assert code_of(refused) == "slot_wrong_purpose"

    with pytest.raises(Forbidden):
        booking_create(supporter=kai, slot_id=during_shift.pk, now=now)  # moderators don't book
    assert list(Booking.objects.values_list("supporter_id", "slot_id")) == [(alex.pk, group.pk)]


def test_moving_a_booking_holds_the_new_place_and_frees_the_old(kai):
    now = timezone.now()
    first = one(kai, at(3, 10), now=now)
    second = one(kai, at(4, 10), now=now)
    alex = make_supporter("alex", handle="Alex")
    booking = booking_create(supporter=alex, slot_id=first.pk, now=now)
    old_keys = [f"supervision.reminder:{booking.pk}:{lead}" for lead in LEADS]
    assert set(Job.objects.filter(key__in=old_keys).values_list("state", flat=True)) == {"pending"}

    moved = booking_move(booking_id=booking.pk, supporter=alex, to_slot_id=second.pk, now=now)

    booking.refresh_from_db()
    assert (booking.state, booking.cancel_reason, booking.cancelled_at) == (
        "cancelled",
        "moved",
        now,
    )
    assert (moved.slot_id, moved.state, moved.purpose) == (second.pk, "booked", "supervision")
    assert set(Job.objects.filter(key__in=old_keys).values_list("state", flat=True)) == {
        "cancelled"
    }
    new = Job.objects.filter(key__startswith=f"supervision.reminder:{moved.pk}:")
    assert sorted(new.values_list("run_at", "state")) == sorted(
        (second.starts_at - timedelta(minutes=lead), "pending") for lead in LEADS
    )
    assert [n.kind for n in told(kai)] == ["booking_made", "booking_moved"]
    assert told(kai)[-1].text == (
        f"Alex moved their supervision to your time on {when(second.starts_at)} "
        f"(was {when(first.starts_at)})."
    )
    # The old place is free for someone else.
    booking_create(supporter=make_supporter("bo"), slot_id=first.pk, now=now)
    with pytest.raises(Conflict) as refused:
        booking_move(booking_id=booking.pk, supporter=alex, to_slot_id=first.pk, now=now)
    assert code_of(refused) == "booking_not_live"


def test_cancelling_tells_the_other_side(kai):
    now = timezone.now()
    first = one(kai, at(3, 10), now=now)
    second = one(kai, at(4, 10), now=now)
    alex = make_supporter("alex", handle="Alex")
    mine = booking_create(supporter=alex, slot_id=first.pk, now=now)
    booking_cancel(booking_id=mine.pk, by=alex, now=now)
    mine.refresh_from_db()
    assert (mine.state, mine.cancel_reason) == ("cancelled", "supporter")
    assert kinds(kai) == ["booking_made", "booking_cancelled"]
    assert told(kai)[-1].text == f"Alex cancelled their supervision on {when(first.starts_at)}."
    assert told(alex) == []

    theirs = booking_create(supporter=alex, slot_id=second.pk, now=now)
    with pytest.raises(NotFound):
        booking_cancel(booking_id=theirs.pk, by=make_supporter("bo"), now=now)
    with pytest.raises(Conflict) as refused:
        booking_cancel(booking_id=theirs.pk, by=alex, now=second.starts_at)
    assert code_of(refused) == "slot_started"
    booking_cancel(booking_id=theirs.pk, by=kai, now=now)
    theirs.refresh_from_db()
    assert (theirs.state, theirs.cancel_reason) == ("cancelled", "supervisor")
    assert kinds(alex) == ["booking_cancelled"]
    assert told(alex)[0].text.startswith(
        f"Kai cancelled your supervision on {when(second.starts_at)}."
    )
    assert kinds(kai) == ["booking_made", "booking_cancelled", "booking_made"]


def test_a_debrief_recorded_as_attended_is_done_at_the_time_it_was_held(kai, sam):
    session = chat()
    robin = session.supporter
    now = timezone.now()
    escalate(session, now)
    debrief = Debrief.objects.get(supporter=robin)
    slot = one(kai, at(1, 10), now=now, purpose="debrief")
    booking = booking_create(supporter=robin, slot_id=slot.pk, purpose="debrief", now=now)
    assert booking.debrief_id == debrief.pk
    with pytest.raises(Conflict) as refused:
        booking_record(booking_id=booking.pk, by=kai, attended=True, now=now)
    assert code_of(refused) == "slot_not_started"
    with pytest.raises(Forbidden):
        booking_record(booking_id=booking.pk, by=sam, attended=True, now=slot.ends_at)

    booking_record(booking_id=booking.pk, by=kai, attended=True, now=slot.ends_at)
    debrief.refresh_from_db()
    booking.refresh_from_db()
    assert (debrief.state, debrief.completed_at) == ("done", slot.starts_at)
    assert (booking.state, booking.recorded_by, booking.recorded_at) == (
        "attended",
        kai,
        slot.ends_at,
    )


def test_a_debrief_corrected_to_missed_is_due_again(kai, django_capture_on_commit_callbacks):
    session = chat()
    now = timezone.now()
    escalate(session, now)
    slot = one(kai, at(1, 10), now=now, purpose="debrief")
    booking = booking_create(
        supporter=session.supporter, slot_id=slot.pk, purpose="debrief", now=now
    )
    booking_record(booking_id=booking.pk, by=kai, attended=True, now=slot.ends_at)
    with django_capture_on_commit_callbacks(execute=True):
        booking_record(booking_id=booking.pk, by=kai, attended=False, now=slot.ends_at)
    debrief = Debrief.objects.get(supporter=session.supporter)
    assert (debrief.state, debrief.completed_at) == ("due", None)
    assert Job.objects.filter(kind="supervision.debrief_offers", state="pending").count() == 1


def test_an_attended_supervision_restarts_the_supervision_clock(kai):
    now = timezone.now()
    alex = make_supporter("alex", handle="Alex")
    User.objects.filter(pk=alex.pk).update(date_joined=now - timedelta(weeks=5))
    alex.refresh_from_db()
    before = supervision_status(user=alex, now=now)
    assert before.state == "overdue" and before.last_at is None
    assert before.due_at == alex.date_joined + timedelta(weeks=4)

    slot = one(kai, at(2, 10), now=now)
    booking = booking_create(supporter=alex, slot_id=slot.pk, now=now)
    assert supervision_status(user=alex, now=now).next_booking == booking
    after = slot.ends_at
    booking_record(booking_id=booking.pk, by=kai, attended=True, now=after)
    status = supervision_status(user=alex, now=after)
    assert (status.state, status.last_at) == ("ok", slot.starts_at)
    assert status.due_at == slot.starts_at + timedelta(weeks=4)


# A supervisor cancels a slot --------------------------------------------------------------------


def test_a_cancelled_slot_tells_who_booked_it_and_names_other_times(kai, sam):
    now = timezone.now()
    cancelled = one(kai, at(3, 10), now=now)
    later_kai = one(kai, at(4, 10), now=now)
    later_sam = one(sam, at(5, 10), now=now)
    alex = make_supporter("alex", handle="Alex")
    booking = booking_create(supporter=alex, slot_id=cancelled.pk, now=now)

    slot_cancel(slot_id=cancelled.pk, by=kai, reason="unwell", now=now)

    cancelled.refresh_from_db()
    booking.refresh_from_db()
    assert (cancelled.state, cancelled.cancel_reason, cancelled.sequence) == (
        "cancelled",
        "unwell",
        1,
    )
    assert (booking.state, booking.cancel_reason) == ("cancelled", "slot_cancelled")
    [notice] = told(alex)
    assert notice.kind == "slot_cancelled"
    assert notice.text == (
        f"Kai cancelled the supervision on {when(cancelled.starts_at)} (unwell). Other times: "
        f"{when(later_kai.starts_at)}; {when(later_sam.starts_at)}."
    )
    assert set(
        Job.objects.filter(key__startswith=f"supervision.reminder:{booking.pk}:").values_list(
            "state", flat=True
        )
    ) == {"cancelled"}
    with pytest.raises(Forbidden):
        slot_cancel(slot_id=later_kai.pk, by=sam, now=now)


def test_a_cancelled_slot_with_no_other_times_says_so(kai):
    now = timezone.now()
    slot = one(kai, at(3, 10), now=now)
    alex = make_supporter("alex", handle="Alex")
    booking_create(supporter=alex, slot_id=slot.pk, now=now)
    slot_cancel(slot_id=slot.pk, by=kai, now=now)
    [notice] = told(alex)
    assert notice.kind == "slot_cancelled"
    assert "Other times" not in notice.text
    assert notice.text.endswith("There are no other times yet; your supervisor will offer some.")


def test_a_debrief_in_a_cancelled_slot_is_booked_again_by_the_worker(
    kai, sam, django_capture_on_commit_callbacks
):
    session = chat()
    robin = session.supporter
    now = timezone.now()
    first = one(kai, at(1, 10), now=now, purpose="debrief")
    second = one(sam, at(1, 14), now=now)
    escalate(session, now)
    run_jobs()
    booked = Booking.objects.get(supporter=robin, state="booked")
    assert (booked.slot_id, booked.automatic) == (first.pk, True)

    with django_capture_on_commit_callbacks(execute=True):
        slot_cancel(slot_id=first.pk, by=kai, reason="unwell", now=now)
    run_jobs()

    again = Booking.objects.get(supporter=robin, state="booked")
    assert (again.slot_id, again.purpose, again.automatic) == (second.pk, "debrief", True)
    assert again.debrief_id == booked.debrief_id
    assert kinds(robin) == ["debrief_booked", "slot_cancelled", "debrief_booked"]
    assert told(robin)[1].text.startswith(
        f"Kai can't make your debrief on {when(first.starts_at)} (unwell). We're booking you"
    )
    assert "Sam" in told(robin)[2].text and when(second.starts_at) in told(robin)[2].text
    assert kinds(sam) == ["debrief_booked"]


# Debriefs after an escalation -------------------------------------------------------------------


def test_an_escalation_books_a_debrief_in_the_earliest_fitting_time_before_its_deadline(kai, sam):
    session = chat()
    robin, seeker = session.supporter, session.seeker
    now = timezone.now()
    one(sam, at(1, 8), now=now, purpose="supervision")  # not for debriefs
    full = one(sam, at(1, 9), now=now)
    booking_create(supporter=make_supporter("jo", handle="Jo"), slot_id=full.pk, now=now)
    earliest = one(kai, at(1, 10), now=now, purpose="debrief")
    one(kai, at(1, 12), now=now)  # fits too, but later

    before = timezone.now()
    message_send(room_id=session.room_id, sender=seeker, client_msg_id=uuid.uuid4(), body=IMMINENT)
    debrief = Debrief.objects.get(supporter=robin)
    assert debrief.state == "due"
    assert before + timedelta(hours=48) <= debrief.due_by <= timezone.now() + timedelta(hours=48)
    waiting = Job.objects.filter(payload__debrief=debrief.pk, state="pending")
    assert dict(waiting.values_list("kind", "key")) == {
        "supervision.debrief_offer": f"supervision.debrief_offer:{debrief.pk}",
        "supervision.debrief_deadline": f"supervision.debrief_deadline:{debrief.pk}",
    }
    assert waiting.get(kind="supervision.debrief_deadline").run_at == debrief.due_by
    assert waiting.get(kind="supervision.debrief_offer").run_at <= timezone.now()
    assert not Booking.objects.filter(supporter=robin).exists()

    run_jobs()
    run_jobs()

    booking = Booking.objects.get(supporter=robin)
    assert (booking.slot_id, booking.purpose, booking.automatic, booking.state) == (
        earliest.pk,
        "debrief",
        True,
        "booked",
    )
    assert booking.debrief_id == debrief.pk
    [to_kai] = told(kai)
    assert to_kai.kind == "debrief_booked"
    assert to_kai.text == (
        f"A debrief for Robin (after an escalation, due by {when(debrief.due_by)}) was booked "
        f"into your time on {when(earliest.starts_at)}."
    )
    [to_robin] = told(robin)
    assert to_robin.kind == "debrief_booked"
    assert f"with Kai on {when(earliest.starts_at)}" in to_robin.text
    assert kinds(sam) == ["booking_made"]  # Jo's booking, nothing about the debrief
    assert told(seeker) == []
    for notice in StaffNotice.objects.all():
        assert seeker.handle not in notice.text
    # Robin's "My shift" page says when and with whom, from the staff status.
    [due] = staff_status(user=robin, now=timezone.now())["debriefs_due"]
    assert (due["booked_at"], due["with"], due["overdue"]) == (
        frames_utc(earliest.starts_at),
        "Kai",
        False,
    )


def test_with_no_time_before_the_deadline_supervisors_are_asked_once_and_a_new_slot_is_booked(
    kai, sam, django_capture_on_commit_callbacks
):
    session = chat()
    robin = session.supporter
    now = timezone.now()
    too_late = one(kai, at(3, 10), now=now)  # after the 48-hour deadline
    escalate(session, now)
    debrief = Debrief.objects.get(supporter=robin)
    assert too_late.starts_at > debrief.due_by

    run_jobs()
    assert debrief_book_earliest(debrief_id=debrief.pk) is None  # looking again tells nobody
    run_jobs()

    assert not Booking.objects.filter(supporter=robin).exists()
    for supervisor in (kai, sam):  # no supervisor of their own: every supervisor is asked
        [notice] = told(supervisor)
        assert notice.kind == "debrief_unbooked"
        assert notice.text.startswith(
            f"Robin is due a debrief after an escalation by {when(debrief.due_by)}"
        )
    assert kinds(robin) == ["debrief_unbooked"]
    debrief.refresh_from_db()
    assert debrief.no_time_told_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        offered = one(sam, at(1, 15), now=timezone.now(), purpose="debrief")
    run_jobs()

    booking = Booking.objects.get(supporter=robin)
    assert (booking.slot_id, booking.automatic, booking.debrief_id) == (
        offered.pk,
        True,
        debrief.pk,
    )
    assert kinds(sam) == ["debrief_unbooked", "debrief_booked"]
    assert kinds(kai) == ["debrief_unbooked"]
    assert kinds(robin) == ["debrief_unbooked", "debrief_booked"]


def test_a_place_freed_by_a_cancelled_booking_goes_to_a_debrief_waiting_for_a_time(
    kai, django_capture_on_commit_callbacks
):
    session = chat()
    robin = session.supporter
    now = timezone.now()
    slot = one(kai, at(1, 10), now=now)
    jo = make_supporter("jo", handle="Jo")
    held = booking_create(supporter=jo, slot_id=slot.pk, now=now)
    escalate(session, now)
    run_jobs()
    assert kinds(robin) == ["debrief_unbooked"]

    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=held.pk, by=jo, now=timezone.now())
    run_jobs()

    booking = Booking.objects.filter(supporter=robin, state="booked").first()
    assert booking is not None and booking.slot_id == slot.pk and booking.automatic


def test_a_deadline_passing_without_the_debrief_is_flagged_once_to_supervisors_only(
    kai, sam, monkeypatch
):
    session = chat()
    robin, seeker = session.supporter, session.seeker
    assign_supervisor(robin, sam)
    now = timezone.now()
    escalate(session, now)
    debrief = Debrief.objects.get(supporter=robin)
    messages = Message.objects.filter(room_id=session.room_id).count()
    frames = []
    monkeypatch.setattr(events, "user_frame_on_commit", lambda *a, **k: frames.append(a))
    monkeypatch.setattr(events, "publish_on_commit", lambda *a, **k: frames.append(a))

    assert (
        debrief_deadline_check(debrief_id=debrief.pk, now=debrief.due_by - timedelta(minutes=1))
        is False
    )
    after = debrief.due_by + timedelta(minutes=1)
    assert debrief_deadline_check(debrief_id=debrief.pk, now=after) is True
    assert debrief_deadline_check(debrief_id=debrief.pk, now=after + timedelta(hours=1)) is False

    debrief.refresh_from_db()
    assert debrief.flagged_at == after and debrief.state == "due"
    [notice] = told(sam)  # their own supervisor, and only them
    assert notice.kind == "debrief_missed"
    assert notice.text == (
        f"Robin's debrief after an escalation was due by {when(debrief.due_by)} and hasn't been "
        "held. It has no time yet."
    )
    assert told(kai) == []
    assert "debrief_missed" not in kinds(robin)
    assert told(seeker) == []
    assert frames == []  # nothing live to anyone, the seeker included
    assert Message.objects.filter(room_id=session.room_id).count() == messages


def test_a_debrief_held_in_time_is_not_flagged(kai):
    session = chat()
    now = timezone.now()
    escalate(session, now)
    debrief = Debrief.objects.get(supporter=session.supporter)
    slot = one(kai, at(1, 10), now=now, purpose="debrief")
    booking = booking_create(
        supporter=session.supporter, slot_id=slot.pk, purpose="debrief", now=now
    )
    booking_record(booking_id=booking.pk, by=kai, attended=True, now=slot.ends_at)
    assert (
        debrief_deadline_check(debrief_id=debrief.pk, now=debrief.due_by + timedelta(minutes=1))
        is False
    )
    assert "debrief_missed" not in kinds(kai)
    debrief.refresh_from_db()
    assert debrief.flagged_at is None


# Gates on new shifts ----------------------------------------------------------------------------


def overdue_supporter(username="alex", handle="Alex", *, weeks_ago=5) -> User:
    user = make_supporter(username, handle=handle)
    train(user)
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(weeks=weeks_ago))
    return User.objects.get(pk=user.pk)


def test_overdue_supervision_stops_a_new_shift(db):
    alex = overdue_supporter()
    schedule(alex)
    with pytest.raises(Conflict) as refused:
        shift_start(supporter=alex)
    assert code_of(refused) == "supervision_overdue"
    assert not SupporterProfile.objects.filter(user=alex, current_shift__isnull=False).exists()
    assert Shift.objects.get(supporter=alex).started_at is None


def test_supervision_due_soon_warns_but_lets_the_shift_start(db):
    alex = make_supporter("alex", handle="Alex")
    train(alex)
    now = timezone.now()
    User.objects.filter(pk=alex.pk).update(date_joined=now - timedelta(weeks=4) + timedelta(days=3))
    alex.refresh_from_db()
    status = gate_status(user=alex, now=now)
    assert status.may_start is True and status.blocks == []
    assert status.warnings == [
        f"Your supervision is due by {when(alex.date_joined + timedelta(weeks=4))}. Book a time "
        "so your shifts can carry on."
    ]
    schedule(alex)
    assert shift_start(supporter=alex).started_at is not None


def test_a_supervisors_recorded_exception_lets_an_overdue_supporter_start(kai, sam):
    alex = overdue_supporter()
    now = timezone.now()
    for reason, days, code in (
        ("", 7, "reason_required"),
        ("  ", 7, "reason_required"),
        ("Booked for Friday", 15, "invalid_days"),
        ("Booked", 0, "invalid_days"),
    ):
        with pytest.raises(BodyInvalid) as refused:
            gate_exception_grant(
                supporter=alex, by=kai, gate="supervision", reason=reason, days=days, now=now
            )
        assert code_of(refused) == code
    with pytest.raises(Forbidden):
        gate_exception_grant(
            supporter=sam, by=sam, gate="supervision", reason="Me", days=3, now=now
        )
    with pytest.raises(Forbidden):
        gate_exception_grant(
            supporter=alex, by=make_supporter("bo"), gate="supervision", reason="x", days=3, now=now
        )
    assert not GateException.objects.exists()
    assert not AuditEntry.objects.filter(action="gate_exception_granted").exists()

    exception = gate_exception_grant(
        supporter=alex, by=kai, gate="supervision", reason="Booked for Friday", days=7, now=now
    )
    assert (exception.granted_by, exception.expires_at) == (kai, now + timedelta(days=7))
    entry = AuditEntry.objects.get(action="gate_exception_granted")
    assert (entry.actor, entry.subject) == (kai, alex)
    assert entry.detail == {"exception": exception.pk, "gate": "supervision", "days": 7}
    assert kinds(alex) == ["exception"]
    status = gate_status(user=alex, now=timezone.now())
    assert status.may_start and status.excepted == [exception] and len(status.warnings) == 1

    first = schedule(alex)
    assert shift_start(supporter=alex) == first
    shift_end(supporter=alex)
    Shift.objects.filter(pk=first.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(minutes=1)
    )
    second = schedule(alex)

    gate_exception_revoke(exception_id=exception.pk, by=sam)
    exception.refresh_from_db()
    assert exception.revoked_by == sam and exception.revoked_at is not None
    assert AuditEntry.objects.filter(action="gate_exception_revoked", actor=sam).count() == 1
    with pytest.raises(Conflict) as refused:
        shift_start(supporter=alex)
    assert code_of(refused) == "supervision_overdue"

    # One that ran out is no exception either.
    gate_exception_grant(
        supporter=alex,
        by=kai,
        gate="supervision",
        reason="Last week's",
        days=2,
        now=timezone.now() - timedelta(days=3),
    )
    with pytest.raises(Conflict) as refused:
        shift_start(supporter=alex)
    assert code_of(refused) == "supervision_overdue"
    second.refresh_from_db()
    assert second.started_at is None


def test_missing_training_blocks_and_a_training_exception_makes_the_supporter_matchable(kai):
    alex = make_supporter("alex", handle="Alex")  # no training recorded
    schedule(alex)
    with pytest.raises(Conflict) as refused:
        shift_start(supporter=alex)
    assert code_of(refused) == "training_required"

    gate_exception_grant(supporter=alex, by=kai, gate="training", reason="Course on Monday", days=5)
    shift_start(supporter=alex)
    candidate = supporters_on_shift(now=timezone.now())[alex.pk]
    assert candidate.trained is True and candidate.missing_training
    seeker, _, _ = ask()
    assert SupportSession.objects.get(seeker=seeker).supporter_id == alex.pk


def test_an_overdue_supporter_already_on_shift_keeps_their_shift_and_chats(db):
    session = chat()
    robin = session.supporter
    shift = SupporterProfile.objects.get(user=robin).current_shift
    User.objects.filter(pk=robin.pk).update(date_joined=timezone.now() - timedelta(weeks=5))
    robin = User.objects.get(pk=robin.pk)
    assert gate_status(user=robin, now=timezone.now()).may_start is False

    supervision_scan()
    session.refresh_from_db()
    assert session.state == "active"
    assert SupporterProfile.objects.get(user=robin).current_shift == shift
    assert robin.pk in supporters_on_shift(now=timezone.now())
    # A break within the same shift is not a new shift: going back on is not refused.
    shift_end(supporter=robin)
    assert shift_start(supporter=robin) == shift
    session.refresh_from_db()
    assert session.state == "active"


# After-shift check-ins --------------------------------------------------------------------------


def test_a_check_in_after_a_shift_is_private_to_the_supporter_and_their_supervisor(kai, sam):
    alex = assign_supervisor(on_shift_supporter("alex", handle="Alex"), sam)
    shift = SupporterProfile.objects.get(user=alex).current_shift
    now = timezone.now()
    assert checkin_due(user=alex, now=now) is None  # still on shift
    with pytest.raises(Conflict) as refused:
        checkin_submit(supporter=alex, shift_id=shift.pk, feeling="good", now=now)
    assert code_of(refused) == "shift_not_over"
    offer = one(kai, at(1, 10), now=now)
    shift_end(supporter=alex)
    now = timezone.now()
    assert checkin_due(user=alex, now=now) == shift

    note = "A heavy evening; I'd like to talk it over."
    checkin, offered = checkin_submit(
        supporter=alex, shift_id=shift.pk, feeling="low", note=note, wants_to_talk=True, now=now
    )
    assert (checkin.feeling, checkin.note, checkin.wants_to_talk) == ("low", note, True)
    assert offered == offer
    assert checkin_due(user=alex, now=now) is None
    [notice] = told(sam)
    assert notice.kind == "wants_to_talk"
    assert notice.text == "Alex would like to talk to someone after their shift."
    assert told(kai) == []

    with pytest.raises(Conflict) as refused:
        checkin_submit(supporter=alex, shift_id=shift.pk, feeling="good", now=now)
    assert code_of(refused) == "already_checked_in"
    assert ShiftCheckIn.objects.filter(shift=shift).count() == 1

    since = now - timedelta(days=1)
    assert checkins_visible_to(viewer=alex, since=since) == [checkin]
    assert checkins_visible_to(viewer=sam, since=since) == [checkin]
    assert checkins_visible_to(viewer=kai, since=since) == []
    assert checkins_visible_to(viewer=make_supporter("bo"), since=since) == []


def test_skipping_the_check_in_stops_the_prompt_and_tells_nobody(kai):
    alex = assign_supervisor(on_shift_supporter("alex", handle="Alex"), kai)
    shift_end(supporter=alex)
    shift = checkin_due(user=alex, now=timezone.now())
    checkin, offered = checkin_submit(
        supporter=alex, shift_id=shift.pk, feeling="skipped", note="later", wants_to_talk=True
    )
    assert (checkin.note, checkin.wants_to_talk, offered) == ("", False, None)
    assert checkin_due(user=alex, now=timezone.now()) is None
    assert checkins_visible_to(viewer=kai, since=timezone.now() - timedelta(days=1)) == []
    assert StaffNotice.objects.count() == 0


# Reminders and the scan -------------------------------------------------------------------------


def reminder_jobs(booking: Booking) -> set:
    keys = [f"supervision.reminder:{booking.pk}:{lead}" for lead in LEADS] + [
        f"supervision.slot-reminder:{booking.slot_id}:{lead}" for lead in LEADS
    ]
    return set(Job.objects.filter(key__in=keys).values_list("key", "kind", "run_at"))


def test_a_booking_schedules_reminders_at_each_lead_still_ahead(kai):
    slot = one(kai, at(3, 10), now=timezone.now())
    alex = make_supporter("alex", handle="Alex")
    booked_at = slot.starts_at - timedelta(hours=3)  # the day-before reminder has passed
    booking = booking_create(supporter=alex, slot_id=slot.pk, now=booked_at)
    ahead = [lead for lead in LEADS if slot.starts_at - timedelta(minutes=lead) > booked_at]
    assert ahead and len(ahead) < len(LEADS)
    assert reminder_jobs(booking) == {
        (key, "supervision.reminder", slot.starts_at - timedelta(minutes=lead))
        for lead in ahead
        for key in (
            f"supervision.reminder:{booking.pk}:{lead}",
            f"supervision.slot-reminder:{slot.pk}:{lead}",
        )
    }


def test_reminders_go_to_the_supporter_and_the_supervisor(kai):
    now = timezone.now()
    slot = one(kai, at(3, 10), now=now, location="Room 2")
    alex = make_supporter("alex", handle="Alex")
    booking_create(supporter=alex, slot_id=slot.pk, now=now)
    lead = max(LEADS)
    Job.objects.filter(kind="supervision.reminder", key__endswith=f":{lead}").update(
        run_at=timezone.now() - timedelta(seconds=1)
    )
    run_jobs()
    [to_alex] = told(alex, "reminder")
    assert to_alex.text == (
        f"Reminder: your supervision with Kai is on {when(slot.starts_at)} (Room 2)."
    )
    [to_kai] = told(kai, "reminder")
    assert to_kai.text == (
        f"Reminder: you're running one-to-one supervision on {when(slot.starts_at)} with Alex."
    )


def test_a_reminder_for_a_cancelled_booking_sends_nothing(kai):
    now = timezone.now()
    slot = one(kai, at(3, 10), now=now)
    alex = make_supporter("alex", handle="Alex")
    booking = booking_create(supporter=alex, slot_id=slot.pk, now=now)
    booking_cancel(booking_id=booking.pk, by=alex, now=now)
    mine = Job.objects.filter(key__startswith=f"supervision.reminder:{booking.pk}:")
    assert set(mine.values_list("state", flat=True)) == {"cancelled"}
    # Even if one runs (claimed just before the cancel), nobody is reminded.
    assert reminders.reminder_send(mine.first()) == "no longer booked"
    Job.objects.filter(kind="supervision.reminder").update(
        state="pending", run_at=timezone.now() - timedelta(seconds=1)
    )
    before = StaffNotice.objects.count()
    run_jobs()
    assert StaffNotice.objects.count() == before
    assert set(
        Job.objects.filter(kind="supervision.reminder").values_list("result", flat=True)
    ) == {
        "no longer booked",
        "nobody booked",
    }


def test_the_scan_warns_once_of_supervision_falling_due(kai):
    now = timezone.now()
    alex = make_supporter("alex", handle="Alex")
    booked = make_supporter("bo", handle="Bo")
    for user in (alex, booked):
        train(user)
    User.objects.filter(pk__in=[alex.pk, booked.pk]).update(
        date_joined=now - timedelta(weeks=4) + timedelta(days=3)
    )
    booking_create(supporter=booked, slot_id=one(kai, at(2, 10), now=now).pk, now=now)

    assert supervision_scan(now=now)["warnings"] == 1
    assert supervision_scan(now=now)["warnings"] == 0
    [notice] = told(alex, "supervision_due")
    assert "within 7 days" in notice.text
    assert told(booked, "supervision_due") == []

    # Once overdue it is a new warning, again given once.
    later = now + timedelta(days=4)
    supervision_scan(now=later)
    supervision_scan(now=later)
    assert len(told(alex, "supervision_due")) == 2
    assert "can't start new shifts" in told(alex, "supervision_due")[-1].text


def test_the_scan_warns_once_of_training_expiring(db):
    alex = make_supporter("alex", handle="Alex")
    train(alex, completed_days_ago=365 - 20)  # the yearly modules expire in 20 days
    now = timezone.now()
    supervision_scan(now=now)
    supervision_scan(now=now)
    expiring = told(alex, "training_expiring")
    assert sorted(n.text.split(" expires")[0] for n in expiring) == [
        "Harm minimisation and coping talk",
        "Safeguarding and sharing information",
    ]
    supervision_scan(now=now + timedelta(days=14))  # six days left: the last reminder
    supervision_scan(now=now + timedelta(days=14))
    assert len(told(alex, "training_expiring")) == 4


def test_the_scan_makes_later_occurrences_as_the_horizon_moves_and_skips_clashes(kai):
    start = datetime(2027, 1, 4, 12, tzinfo=UTC)
    slots = publish(kai, datetime(2027, 1, 5, 18, 0), now=start, rrule="FREQ=WEEKLY;BYDAY=TU")
    assert len(slots) == 12  # up to 84 days ahead
    assert slots[-1].starts_at == datetime(2027, 3, 23, 18, 0, tzinfo=UTC)
    one(kai, datetime(2027, 4, 6, 18, 30), now=start)  # taken meanwhile

    later = start + timedelta(days=14)
    assert supervision_scan(now=later)["occurrences_made"] == 1
    assert supervision_scan(now=later)["occurrences_made"] == 0
    series = SlotSeries.objects.get()
    assert list(series.slots.values_list("starts_at", flat=True))[-1] == datetime(
        2027, 3, 30, 17, 0, tzinfo=UTC
    )
    assert series.exdates == ["2027-04-06T17:00:00+00:00"]
    assert series.made_until == later + timedelta(days=84)


def test_an_open_ended_daily_series_keeps_going_as_the_horizon_moves(kai):
    start = datetime(2027, 1, 4, 12, tzinfo=UTC)
    publish(kai, datetime(2027, 1, 5, 9, 0), now=start, rrule="FREQ=DAILY")
    series = SlotSeries.objects.get()
    later = start + timedelta(days=60)
    series_extend(series=series, now=later)
    last = series.slots.order_by("starts_at").last().starts_at
    # 09:00 BST every day up to the new horizon, 2027-05-28 12:00Z.
    assert last == datetime(2027, 5, 28, 8, 0, tzinfo=UTC), series.slots.count()


# Notices by email -------------------------------------------------------------------------------


def test_a_notice_to_someone_with_an_address_is_mailed_once_without_the_seekers_name(
    kai, mailoutbox
):
    sam = senior_supervisor(email="sam@example.org")
    session = chat()
    robin, seeker = session.supporter, session.seeker
    assign_supervisor(robin, sam)
    now = timezone.now()
    slot = one(sam, at(1, 10), now=now, purpose="debrief")
    escalate(session, now)
    mailoutbox.clear()

    run_jobs()

    notice = StaffNotice.objects.get(recipient=sam)
    assert notice.kind == "debrief_booked"
    email_jobs = Job.objects.filter(kind="supervision.email")
    assert list(email_jobs.values_list("key", "state")) == [(f"notice-email:{notice.pk}", "done")]
    run_jobs()
    mails = [m for m in mailoutbox if m.to == ["sam@example.org"]]
    assert len(mails) == 1
    [mail] = mails
    assert mail.subject == "peerchat: your debrief is booked"
    assert notice.text in mail.body and when(slot.starts_at) in mail.body
    assert "Robin" in mail.body
    assert seeker.handle not in mail.body and seeker.handle not in mail.subject


def test_a_notice_to_someone_without_an_address_enqueues_no_mail(kai):
    notice_send(recipient=kai, kind="reminder", text="Hello")
    assert not Job.objects.filter(kind="supervision.email").exists()


# Records ----------------------------------------------------------------------------------------

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)


def worked(user: User, start: datetime, hours: float) -> Shift:
    end = start + timedelta(hours=hours)
    return Shift.objects.create(
        supporter=user, starts_at=start, ends_at=end, started_at=start, ended_at=end
    )


def record_data(kai: User) -> tuple[User, User]:
    alex = make_supporter("alex", handle="Alex")
    bo = make_supporter("bo", handle="Bo")
    worked(alex, datetime(2026, 11, 10, 18, tzinfo=UTC), 2)
    worked(alex, datetime(2026, 10, 31, 23, tzinfo=UTC), 2)  # half of it inside the period
    worked(bo, datetime(2026, 11, 12, 9, tzinfo=UTC), 1.5)
    worked(bo, datetime(2026, 12, 2, 9, tzinfo=UTC), 3)  # after it
    at_nov = datetime(2026, 11, 2, tzinfo=UTC)
    first = one(kai, datetime(2026, 11, 20, 10), now=at_nov, kind="group", capacity=2)
    went = booking_create(supporter=alex, slot_id=first.pk, now=at_nov)
    missed = booking_create(supporter=bo, slot_id=first.pk, now=at_nov)
    booking_record(booking_id=went.pk, by=kai, attended=True, now=first.ends_at)
    booking_record(booking_id=missed.pk, by=kai, attended=False, now=first.ends_at)
    return alex, bo


def test_records_count_hours_and_attendance_per_supporter(kai):
    record_data(kai)
    rows = {r["user"].handle: r for r in supporter_records(since=SINCE, until=UNTIL, now=UNTIL)}
    assert set(rows) == {"Alex", "Bo"}
    assert (rows["Alex"]["hours"], rows["Bo"]["hours"]) == (3.0, 1.5)
    assert (rows["Alex"]["supervision_attended"], rows["Alex"]["supervision_missed"]) == (1, 0)
    assert (rows["Bo"]["supervision_attended"], rows["Bo"]["supervision_missed"]) == (0, 1)

    totals = supervision_totals(since=SINCE, until=UNTIL, now=UNTIL)
    assert totals == {
        "supporter_hours": 4.5,
        "supervision_attended": 1,
        "supervision_missed": 1,
        "debriefs_due": 0,
        "debriefs_on_time": 0,
        "debriefs_late": 0,
        "debriefs_overdue": 0,
    }
    assert all(type(v) in (int, float) for v in totals.values())  # no names, no ids
    assert "Alex" not in repr(totals) and "Bo" not in repr(totals)


def test_a_shift_still_going_counts_up_to_now(db):
    alex = make_supporter("alex", handle="Alex")
    Shift.objects.create(
        supporter=alex,
        starts_at=datetime(2026, 11, 10, 18, tzinfo=UTC),
        ends_at=datetime(2026, 11, 10, 23, tzinfo=UTC),
        started_at=datetime(2026, 11, 10, 18, tzinfo=UTC),
    )
    now = datetime(2026, 11, 10, 20, 30, tzinfo=UTC)
    [row] = supporter_records(since=SINCE, until=UNTIL, now=now)
    assert row["hours"] == 2.5
    assert supervision_totals(since=SINCE, until=UNTIL, now=now)["supporter_hours"] == 2.5


@pytest.mark.parametrize(
    "extra",
    [0, 15],
)
def test_records_and_totals_take_a_bounded_number_of_queries(
    kai, extra, django_assert_max_num_queries
):
    """The same number of queries for 2 supporters as for 17."""
    record_data(kai)
    for i in range(extra):
        worked(make_supporter(f"extra{i}"), datetime(2026, 11, 15, 9, tzinfo=UTC), 1)
    with django_assert_max_num_queries(8):
        rows = supporter_records(since=SINCE, until=UNTIL, now=UNTIL)
    assert len(rows) == 2 + extra
    with django_assert_max_num_queries(3):
        supervision_totals(since=SINCE, until=UNTIL, now=UNTIL)


# A closed account -------------------------------------------------------------------------------


def test_closing_a_supporters_account_gives_up_their_places_and_tells_supervisors(kai, sam):
    from peerchat.services.users import staff_user_deactivate

    now = timezone.now()
    alex = make_supporter("alex", handle="Alex")
    kais = one(kai, at(3, 10), now=now)
    sams = one(sam, at(4, 10), now=now)
    a = booking_create(supporter=alex, slot_id=kais.pk, now=now)
    b = booking_create(supporter=alex, slot_id=sams.pk, now=now)

    staff_user_deactivate(user=alex, by=kai)

    for booking in (a, b):
        booking.refresh_from_db()
        assert (booking.state, booking.cancel_reason) == ("cancelled", "deactivated")
    for supervisor, slot in ((kai, kais), (sam, sams)):
        [notice] = told(supervisor, "deactivated")
        assert notice.text == (
            f"Alex's account was closed, so their supervision on {when(slot.starts_at)} is "
            "cancelled and the place is free again."
        )
    assert SupervisionSlot.objects.filter(state="open").count() == 2  # the times stay open
    reminders_left = Job.objects.filter(key__startswith="supervision.reminder:", state="pending")
    assert not reminders_left.exists()


def test_closing_a_supervisors_account_cancels_their_times_and_tells_who_booked(kai):
    from peerchat.services.users import staff_user_deactivate

    now = timezone.now()
    sam = senior_supervisor()
    sams = publish(sam, at(3, 10), now=now, rrule="FREQ=WEEKLY;COUNT=3")
    alex = make_supporter("alex", handle="Alex")
    booking = booking_create(supporter=alex, slot_id=sams[0].pk, now=now)

    staff_user_deactivate(user=sam, by=kai)

    booking.refresh_from_db()
    assert (booking.state, booking.cancel_reason) == ("cancelled", "slot_cancelled")
    assert set(SupervisionSlot.objects.filter(supervisor=sam).values_list("state", flat=True)) == {
        "cancelled"
    }
    assert SlotSeries.objects.get().ended_at is not None
    [notice] = told(alex)
    assert notice.kind == "slot_cancelled"
    assert "(the supervisor is no longer available)" in notice.text


def test_the_check_in_waits_until_the_supporters_last_chat_after_the_shift_ends(kai):
    session = chat()
    robin = session.supporter
    shift = SupporterProfile.objects.get(user=robin).current_shift
    shift_end(supporter=robin)  # off shift, but the chat with the seeker goes on
    assert checkin_due(user=robin, now=timezone.now()) is None
    session_end(session=session, by=robin, reason=SupportSession.EndReason.SUPPORTER_ENDED)
    assert checkin_due(user=robin, now=timezone.now()) == shift
