"""The demo's seeded history (peerchat/demo_history.py): figures in the ranges the evaluator's
measures need, nothing left waiting, open, active, booked or due, written once, and the demo's
own pages (supporters, supervisor, moderators, the queue) as they were without it.
"""

import statistics
from collections import Counter
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count, Max, Min, Q
from django.test import Client
from django.utils import timezone

from moderation.models import Escalation, EscalationEvent, Screening
from peerchat.demo_history import HISTORY_USERNAME_PREFIX, DemoHistoryError, demo_history_seed
from peerchat.jobs.models import Job
from peerchat.models import (
    Booking,
    Debrief,
    Feedback,
    GroupMeeting,
    HandoverNote,
    Message,
    Room,
    Shift,
    ShiftCheckIn,
    SupportRequest,
    SupportSession,
    User,
)
from peerchat.selectors.support import queue_frames, wait_model
from peerchat.services.users import seeker_create

pytestmark = pytest.mark.django_db

PASSWORD = "x-long-pass-123"
SUPPORTERS = ("supporter1", "supporter2", "trainee1")
EVERYONE = (*SUPPORTERS, "moderator", "evaluator", "admin")
# Shorter than bin/demo's 26 weeks: the same shape, seeded in half the time.
HISTORY_WEEKS = 12


@pytest.fixture
def demo():
    call_command("seed_demo", "--password", PASSWORD)


@pytest.fixture
def history(demo) -> dict:
    made = demo_history_seed(weeks=HISTORY_WEEKS)
    assert not made.get("already_seeded")
    return made


def history_requests():
    return SupportRequest.objects.filter(seeker__username__startswith=HISTORY_USERNAME_PREFIX)


def history_sessions():
    return SupportSession.objects.filter(seeker__username__startswith=HISTORY_USERNAME_PREFIX)


def full_weeks(made: dict) -> set[tuple[int, int]]:
    """The ISO weeks wholly inside the history (all but a part week at the end)."""
    first, last = date.fromisoformat(made["first_day"]), date.fromisoformat(made["last_day"])
    weeks, monday = set(), first
    while monday + timedelta(days=6) <= last:
        weeks.add(monday.isocalendar()[:2])
        monday += timedelta(days=7)
    return weeks


def week(moment) -> tuple[int, int]:
    return timezone.localtime(moment).isocalendar()[:2]


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def test_the_history_has_the_volume_and_shape_the_measures_need(history):
    weeks = full_weeks(history)
    assert len(weeks) >= HISTORY_WEEKS - 1  # the newest week ends days before now
    requests = list(history_requests())
    per_week = Counter(week(r.created_at) for r in requests)
    assert all(40 <= per_week[w] <= 90 for w in weeks), per_week
    assert max(per_week[w] for w in weeks) - min(per_week[w] for w in weeks) >= 15  # trend, bump

    states = Counter(r.state for r in requests)
    assert 0.80 <= states["matched"] / len(requests) <= 0.92
    assert states["left"] and states["gone"] and not states["waiting"]
    assert 0.06 <= sum(r.urgent for r in requests) / len(requests) <= 0.14
    topics = Counter(r.topic for r in requests)
    assert {code for code, _ in settings.SUPPORT["TOPICS"]} <= set(topics) and topics[""]
    asked = [r for r in requests if r.preferred_supporter_id]
    assert 0.10 <= len(asked) / len(requests) <= 0.20
    continuity = Counter(r.continuity for r in asked if r.state == "matched")
    assert continuity["same"] > continuity["not_on_shift"] + continuity["wait_expired"]
    assert continuity["not_on_shift"]

    waits = [(r.matched_at - r.created_at).total_seconds() / 60 for r in requests if r.matched_at]
    urgent_waits = [
        (r.matched_at - r.created_at).total_seconds() / 60
        for r in requests
        if r.matched_at and r.urgent
    ]
    assert 1.5 <= statistics.median(waits) <= 6
    assert statistics.median(urgent_waits) < statistics.median(waits)

    sessions = list(history_sessions().select_related("room", "supporter"))
    assert len(sessions) == states["matched"]
    minutes = [(s.ended_at - s.started_at).total_seconds() / 60 for s in sessions]
    assert all(15 <= m <= 70 for m in minutes)
    reasons = Counter(s.end_reason for s in sessions)
    assert (reasons["seeker_ended"] + reasons["supporter_ended"]) / len(sessions) >= 0.8
    assert reasons["seeker_gone"]
    assert all(s.room.kind == Room.Kind.ONE_TO_ONE for s in sessions)
    # Nobody ever had more chats at once than their level allows.
    for supporter in {s.supporter for s in sessions}:
        moments = sorted(
            (t, step)
            for s in sessions
            if s.supporter == supporter
            for t, step in ((s.started_at, 1), (s.ended_at, -1))
        )
        load = peak = 0
        for _moment, step in moments:
            load += step
            peak = max(peak, load)
        capacity = {"trainee": 1, "peer": 2, "senior": 3}[supporter.supporter_level]
        assert peak <= capacity, supporter.handle

    feedback = Feedback.objects.filter(session__in=sessions)
    assert 0.3 <= feedback.count() / len(sessions) <= 0.5
    assert statistics.mean(f.listened for f in feedback if f.listened) >= 3.8
    assert feedback.filter(would_return="yes").count() > feedback.filter(would_return="no").count()

    screenings = list(Screening.objects.all())
    assert 0.01 <= len(screenings) / Message.objects.count() <= 0.06
    categories = Counter(c for s in screenings for c in s.categories)
    assert set(categories) == {"method", "encouragement", "graphic", "contact", "imminent", "links"}
    actions = {(s.categories[0], s.room_kind, s.action) for s in screenings}
    assert ("method", "one_to_one", "hold") in actions
    assert ("contact", "one_to_one", "mask") in actions
    assert ("graphic", "one_to_one", "content_warning") in actions
    assert ("imminent", "one_to_one", "allow") in actions
    assert all(s.escalate == (s.categories == ["imminent"]) for s in screenings)

    escalations = list(Escalation.objects.all())
    per_week = Counter(week(e.opened_at) for e in escalations)
    assert all(2 <= per_week[w] <= 5 for w in weeks), per_week
    acknowledged = [(e.acknowledged_at - e.opened_at).total_seconds() for e in escalations]
    assert all(20 <= seconds <= 360 for seconds in acknowledged)
    debriefs = Debrief.objects.all()
    assert debriefs.count() == len(escalations)
    on_time = sum(d.completed_at <= d.due_by for d in debriefs)
    assert debriefs.count() / 2 < on_time < debriefs.count()  # mostly on time, some late

    supervision = Counter(
        Booking.objects.filter(purpose="supervision").values_list("state", flat=True)
    )
    assert supervision["attended"] > supervision["missed"] > 0
    assert Shift.objects.filter(ended_at__isnull=False).count() == history["shifts"]
    assert ShiftCheckIn.objects.count() == history["shifts"]
    assert GroupMeeting.objects.filter(ends_at__lt=timezone.now()).count() >= HISTORY_WEEKS - 2


def test_messages_are_placeholders_numbered_without_gaps(history):
    rooms = (
        Room.objects.filter(messages__isnull=False)
        .annotate(
            visible=Count("messages", filter=Q(messages__seq__isnull=False)),
            top=Max("messages__seq"),
            bottom=Min("messages__seq"),
        )
        .distinct()
    )
    assert rooms.count() == history["sessions"] + history["group_meetings"]
    for room in rooms:
        assert room.visible == room.last_seq == room.top and room.bottom == 1
    assert all(
        body.startswith("demo message ") for body in Message.objects.values_list("body", flat=True)
    )
    hidden = Message.objects.filter(seq__isnull=True)
    assert hidden.exists()
    assert not hidden.exclude(screening__review=Screening.Review.KEPT).exists()


def test_nothing_is_left_waiting_open_active_booked_or_due(history):
    jobs_before = Job.objects.count()
    assert not Screening.objects.filter(review=Screening.Review.PENDING).exists()
    assert not Screening.objects.filter(
        action__in=["hold", "block"], reviewed_at__isnull=True
    ).exists()
    assert not Escalation.objects.exclude(state=Escalation.State.RESOLVED).exists()
    assert not Escalation.objects.filter(Q(outcome="") | Q(resolution_note="")).exists()
    for escalation in Escalation.objects.annotate(steps=Count("events")):
        assert escalation.steps == escalation.last_sequence
        types = list(escalation.events.order_by("sequence").values_list("type", flat=True))
        assert types[0] == EscalationEvent.Type.OPENED
        assert types[-1] == EscalationEvent.Type.RESOLVED
    assert not SupportSession.objects.filter(state=SupportSession.State.ACTIVE).exists()
    assert not SupportRequest.objects.filter(state=SupportRequest.State.WAITING).exists()
    assert not Debrief.objects.exclude(state=Debrief.State.DONE).exists()
    assert not Booking.objects.filter(state=Booking.State.BOOKED).exists()
    # Every chat has its supporter's close note: none shows up as a note still to write.
    assert HandoverNote.objects.filter(kind="close").count() == history["sessions"]
    # The demo's own shifts and group are now and ahead; all of the history is well before.
    quiet = timezone.now() - timedelta(days=4)
    for model, field in [
        (Message, "sent_at"),
        (SupportSession, "ended_at"),
        (Escalation, "resolved_at"),
        (Debrief, "completed_at"),
        (Booking, "recorded_at"),
        (ShiftCheckIn, "created_at"),
        (Shift, "ended_at"),
        (Feedback, "created_at"),
        (HandoverNote, "created_at"),
        (Screening, "reviewed_at"),
    ]:
        latest = model.objects.aggregate(latest=Max(field))["latest"]
        assert latest < quiet, (model.__name__, field)
    assert Job.objects.count() == jobs_before == 0


def test_seeding_twice_adds_nothing(history, capsys):
    counts = {m: m.objects.count() for m in (User, SupportRequest, Message, Escalation, Shift)}
    assert demo_history_seed() == {"already_seeded": True}
    call_command("seed_demo_history")
    assert "already there" in capsys.readouterr().out
    call_command("seed_demo", "--password", PASSWORD)  # bin/demo run again: still fine
    assert not Booking.objects.filter(state=Booking.State.BOOKED).exists()
    assert counts == {m: m.objects.count() for m in counts}


def test_the_history_needs_the_demo_accounts():
    with pytest.raises(DemoHistoryError, match="seed_demo"):
        demo_history_seed(weeks=HISTORY_WEEKS)
    assert not User.objects.exists()


def test_a_short_history_leaves_the_supporters_free_to_go_on_shift(demo):
    demo_history_seed(weeks=1)
    for username in SUPPORTERS:
        status = signed_in(username).get("/api/v1/staff/status").json()
        assert status["supervision"]["state"] == "ok"
        assert status["gate"] == {"may_start": True, "blocks": [], "warnings": []}


def snapshot() -> dict:
    """What the demo accounts see on their pages and APIs that history must not change."""
    seen = {}
    for username in EVERYONE:
        client = signed_in(username)
        seen[username, "rooms"] = client.get("/api/v1/rooms").json()
        seen[username, "groups"] = client.get("/api/v1/groups").json()
    for username in SUPPORTERS:
        client = signed_in(username)
        assert client.get("/staff/").status_code == 200
        status = client.get("/api/v1/staff/status").json()
        status["supervision"].pop("due_at")  # from their last supervision now, not joining
        seen[username, "status"] = status
        page = client.get("/staff/schedule/")
        assert page.status_code == 200
        context = page.context
        seen[username, "schedule"] = {
            "shifts": [s.pk for s in context["shifts"]],
            "supervision": context["supervision"].state,
            "next_supervision": context["supervision"].next_booking,
            "gate": (context["gate"].may_start, context["gate"].blocks, context["gate"].warnings),
            "bookings": [b.pk for b in context["bookings"]],
            "debriefs": context["debriefs"],
            "open_slots": [s.pk for s in context["open_slots"]],
            "checkin_shift": context["checkin_shift"],
            "notices": list(context["notices"]),
            "unread": context["unread"],
        }
    for username in ("moderator", "supporter2"):  # Kai supervises; so may Sam
        page = signed_in(username).get("/supervision/")
        assert page.status_code == 200
        context = page.context
        seen[username, "supervision"] = {
            "upcoming": [r["slot"].pk for r in context["upcoming"]],
            "to_record": context["to_record"],
            "series": [s["series"].pk for s in context["series"]],
            "roster": [
                (r["user"].handle, r["urgency"], r["debriefs"], r["grantable"])
                for r in context["roster"]
            ],
            "notices": list(context["notices"]),
        }
    moderator = signed_in("moderator")
    assert moderator.get("/moderation/").status_code == 200
    seen["queue to review"] = moderator.get("/api/moderation/queue").json()["items"]
    seen["escalations"] = moderator.get("/api/moderation/escalations").json()["items"]
    seen["rooms"] = moderator.get("/api/moderation/rooms").json()
    now = timezone.now()
    seen["queue"] = queue_frames(now=now)
    seen["wait model"] = wait_model(now=now)
    # A new seeker's first look: the agreement, the queue, no "same supporter again".
    client = Client()
    client.force_login(seeker_create())
    seen["seeker"] = client.get("/api/v1/support/current").json()
    return seen


def test_the_demo_pages_look_as_they_did_without_history(demo):
    before = snapshot()
    demo_history_seed(weeks=HISTORY_WEEKS)
    after = snapshot()
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key
    # What did change is the supervisor's view of the past: records and recent check-ins.
    context = signed_in("moderator").get("/supervision/").context
    hours = {row["user"].handle: row["hours"] for row in context["records"]}
    assert all(hours[handle] > 20 for handle in ("Alex", "Sam", "Robin")), hours
    assert {c.supporter.handle for c in context["checkins"]} <= {"Alex", "Sam", "Robin"}
    statuses = {row["user"].handle: row["supervision"] for row in context["roster"]}
    assert all(s.last_at is not None and s.state == "ok" for s in statuses.values())
    assert Screening.objects.filter(review=Screening.Review.KEPT).exists()
    assert signed_in("moderator").get("/api/moderation/queue").json()["decided"]
