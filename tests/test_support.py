"""Structured support: intake, shifts and training, queue and matching, sessions, the sweep."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from peerchat.errors import Conflict, Forbidden, NotFound, PeerchatError
from peerchat.models import (
    Agreement,
    AgreementAcceptance,
    Feedback,
    HandoverNote,
    Membership,
    Room,
    Shift,
    SupporterProfile,
    SupportRequest,
    SupportSession,
    TrainingRecord,
)
from peerchat.selectors.support import support_state, wait_estimate, wait_model
from peerchat.services.queue import matching_run, support_request_create, support_request_leave
from peerchat.services.sessions import (
    feedback_submit,
    handover_note_write,
    seeker_presence_touch,
    session_end,
    session_end_by,
    session_mark_escalated,
    session_phase_set,
    session_transfer,
)
from peerchat.services.shifts import shift_end, shift_start
from peerchat.services.sweep import support_sweep
from peerchat.services.users import seeker_create
from tests.conftest import make_supporter
from tests.factories import agreement_version, ask, on_shift_supporter, schedule, train

pytestmark = pytest.mark.django_db


def later(**delta):
    return timezone.now() + timedelta(**delta)


def sweep_later(*, minutes: float):
    """Sweep as if `minutes` had passed, with every seeker's page still open."""
    now = later(minutes=minutes)
    for seeker_id in SupportRequest.objects.values_list("seeker_id", flat=True):
        seeker_presence_touch(seeker_id=seeker_id, now=now)
    return support_sweep(now=now)


def session_of(seeker) -> SupportSession | None:
    return SupportSession.objects.filter(seeker=seeker, state="active").first()


# Intake ---------------------------------------------------------------------------------------


def test_asking_records_acceptance_of_the_exact_agreement_version():
    seeker, request, created = ask()
    assert created
    acceptance = AgreementAcceptance.objects.get(user=seeker)
    assert acceptance.agreement.version == agreement_version()
    assert request.agreement_id == acceptance.agreement_id


def test_an_outdated_agreement_version_is_refused_and_nothing_is_recorded():
    current = Agreement.objects.get(kind="one_to_one", version=agreement_version())
    Agreement.objects.create(
        kind="one_to_one",
        version=current.version + 1,
        title="New",
        body="<p>new</p>",
        confidentiality="<p>new</p>",
        published_at=timezone.now(),
    )
    seeker = seeker_create()
    with pytest.raises(Conflict) as refused:
        support_request_create(seeker=seeker, agreement_version=current.version)
    assert refused.value.code == "agreement_outdated"
    assert not SupportRequest.objects.filter(seeker=seeker).exists()
    assert not AgreementAcceptance.objects.filter(user=seeker).exists()


@pytest.mark.parametrize(
    ("answer", "urgent"), [("", False), ("yes", False), ("not_sure", True), ("no", True)]
)
def test_the_seekers_own_answer_decides_urgency(answer, urgent):
    _, request, _ = ask(safe_now=answer)
    assert request.urgent is urgent


def test_bad_answers_and_topics_are_refused():
    with pytest.raises(PeerchatError):
        ask(safe_now="maybe")
    with pytest.raises(PeerchatError):
        ask(topic="not-a-topic")


def test_staff_cannot_join_the_queue():
    with pytest.raises(Forbidden):
        support_request_create(seeker=make_supporter(), agreement_version=agreement_version())


def test_asking_twice_keeps_one_place_in_the_queue():
    seeker, first, created = ask()
    _, second, created_again = ask(seeker)
    assert created and not created_again
    assert first.pk == second.pk
    assert SupportRequest.objects.filter(seeker=seeker).count() == 1


def test_asking_while_in_a_chat_changes_nothing():
    on_shift_supporter()
    seeker, _, _ = ask()
    assert session_of(seeker) is not None
    _, request, created = ask(seeker)
    assert (request, created) == (None, False)
    assert SupportRequest.objects.filter(seeker=seeker).count() == 1


# Shifts and training ---------------------------------------------------------------------------


def test_going_on_shift_needs_a_scheduled_shift_now_and_says_when_the_next_one_is():
    supporter = make_supporter()
    train(supporter)
    Shift.objects.create(supporter=supporter, starts_at=later(hours=3), ends_at=later(hours=6))
    with pytest.raises(Conflict) as refused:
        shift_start(supporter=supporter)
    assert refused.value.code == "no_shift_now"
    assert "next shift starts" in refused.value.detail


def test_going_on_shift_needs_every_required_module_in_date():
    supporter = make_supporter()
    schedule(supporter)
    train(supporter, completed_days_ago=400)  # the safeguarding modules last 365 days
    with pytest.raises(Conflict) as refused:
        shift_start(supporter=supporter)
    assert refused.value.code == "training_required"
    assert "Safeguarding" in refused.value.detail
    TrainingRecord.objects.filter(supporter=supporter).delete()
    train(supporter)
    shift_start(supporter=supporter)
    assert SupporterProfile.objects.get(user=supporter).current_shift is not None


def test_a_shift_can_start_a_little_early_but_not_long_before():
    supporter = make_supporter()
    train(supporter)
    Shift.objects.create(supporter=supporter, starts_at=later(minutes=10), ends_at=later(hours=4))
    shift_start(supporter=supporter)  # 10 minutes early is within the default 15


def test_only_supporters_go_on_shift(seeker):
    with pytest.raises(Forbidden):
        shift_start(supporter=seeker)


def test_going_on_shift_twice_is_harmless():
    supporter = on_shift_supporter()
    shift = shift_start(supporter=supporter)
    assert Shift.objects.filter(supporter=supporter, started_at__isnull=False).count() == 1
    assert shift.pk == SupporterProfile.objects.get(user=supporter).current_shift_id


def test_off_shift_gets_no_new_chats_but_keeps_the_current_one():
    supporter = on_shift_supporter()
    first, _, _ = ask()
    assert session_of(first).supporter == supporter
    assert shift_end(supporter=supporter)
    _second, request, _ = ask()
    request.refresh_from_db()
    assert request.state == "waiting"
    assert session_of(first).state == "active"
    assert not shift_end(supporter=supporter)  # already off


def test_a_finished_shift_is_closed_by_the_sweep_and_takes_no_new_chats():
    supporter = make_supporter()
    train(supporter)
    shift = Shift.objects.create(
        supporter=supporter, starts_at=later(hours=-2), ends_at=later(minutes=30)
    )
    shift_start(supporter=supporter)
    support_sweep(now=later(minutes=31))
    shift.refresh_from_db()
    assert shift.ended_at == shift.ends_at
    assert SupporterProfile.objects.get(user=supporter).current_shift is None


# Matching -----------------------------------------------------------------------------------


def test_capacity_by_level_is_never_exceeded():
    trainee = on_shift_supporter(level="trainee")
    peer = on_shift_supporter(level="peer")
    seekers = [ask()[0] for _ in range(5)]
    load = {
        user: SupportSession.objects.filter(supporter=user, state="active").count()
        for user in (trainee, peer)
    }
    assert load == {trainee: 1, peer: 2}
    waiting = SupportRequest.objects.filter(state="waiting").count()
    assert waiting == 2
    assert sum(1 for s in seekers if session_of(s)) == 3


def test_urgent_requests_go_first_then_by_arrival():
    calm, _, _ = ask(safe_now="yes")
    early, _, _ = ask()
    urgent, _, _ = ask(safe_now="no")
    state = support_state(seeker=urgent, now=timezone.now())
    assert state["request"]["position"] == 1
    supporter = on_shift_supporter(level="senior")  # capacity 3 takes everyone, in order
    sessions = SupportSession.objects.filter(supporter=supporter).order_by("pk")
    assert [s.seeker for s in sessions] == [urgent, calm, early]


def test_urgent_requests_go_to_an_experienced_supporter_when_one_is_free():
    trainee = on_shift_supporter(level="trainee")
    peer = on_shift_supporter(level="peer")
    SupporterProfile.objects.filter(user=peer).update(last_assigned_at=timezone.now())
    seeker, _, _ = ask(safe_now="not_sure")
    assert session_of(seeker).supporter == peer
    calm, _, _ = ask()
    assert session_of(calm).supporter == trainee


def test_load_is_shared_fairly():
    a = on_shift_supporter(level="senior")
    b = on_shift_supporter(level="senior")
    for _ in range(4):
        ask()
    counts = sorted(
        SupportSession.objects.filter(supporter=s, state="active").count() for s in (a, b)
    )
    assert counts == [2, 2]


def test_nobody_on_shift_is_said_honestly_with_the_next_shift():
    supporter = make_supporter()
    starts = later(hours=2)
    Shift.objects.create(supporter=supporter, starts_at=starts, ends_at=later(hours=5))
    seeker, _, _ = ask()
    state = support_state(seeker=seeker, now=timezone.now())
    assert state["state"] == "waiting"
    estimate = state["request"]["estimate"]
    assert estimate["kind"] == "nobody_on_shift"
    assert estimate["next_shift_at"].startswith(starts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))


def test_a_freed_place_goes_to_the_next_in_the_queue():
    supporter = on_shift_supporter(level="trainee")
    first, _, _ = ask()
    second, _, _ = ask()
    assert session_of(second) is None
    session_end_by(room_id=session_of(first).room_id, user=first)
    assert session_of(second).supporter == supporter


def test_a_seeker_who_left_the_queue_is_never_matched():
    seeker, _, _ = ask()
    assert support_request_leave(seeker=seeker)
    on_shift_supporter()
    assert session_of(seeker) is None
    assert SupportRequest.objects.get(seeker=seeker).state == "left"
    assert not support_request_leave(seeker=seeker)


def test_a_matched_chat_is_a_one_to_one_room_with_both_as_members():
    supporter = on_shift_supporter()
    seeker, _, _ = ask()
    session = session_of(seeker)
    assert session.room.kind == Room.Kind.ONE_TO_ONE
    roles = dict(Membership.objects.filter(room=session.room).values_list("user", "role"))
    assert roles == {seeker.pk: "seeker", supporter.pk: "supporter"}


# Continuity ---------------------------------------------------------------------------------


def finished_chat_with(supporter):
    seeker, _, _ = ask()
    session = session_of(seeker)
    assert session.supporter == supporter
    session_end_by(room_id=session.room_id, user=seeker)
    return seeker


def test_a_returning_seeker_gets_the_supporter_they_asked_for():
    robin = on_shift_supporter(level="senior", handle="Robin")
    seeker = finished_chat_with(robin)
    on_shift_supporter(level="senior")  # someone else, idle for longer
    assert support_state(seeker=seeker, now=timezone.now())["previous_supporter"] == {
        "handle": "Robin"
    }
    _, request, _ = ask(seeker, ask_for_previous=True)
    request.refresh_from_db()
    assert session_of(seeker).supporter == robin
    assert request.continuity == "same"


def test_asked_for_supporter_off_shift_means_the_next_available_at_once():
    robin = on_shift_supporter(handle="Robin")
    seeker = finished_chat_with(robin)
    shift_end(supporter=robin)
    other = on_shift_supporter()
    _, request, _ = ask(seeker, ask_for_previous=True)
    request.refresh_from_db()
    assert session_of(seeker).supporter == other
    assert request.continuity == "not_on_shift"


def test_asked_for_supporter_busy_waits_then_the_next_available():
    robin = on_shift_supporter(level="trainee", handle="Robin")
    seeker = finished_chat_with(robin)
    ask()  # Robin is busy with someone else now
    other = on_shift_supporter(level="senior")
    _, request, _ = ask(seeker, ask_for_previous=True)
    request.refresh_from_db()
    assert request.state == "waiting"  # waiting for Robin, although someone else is free
    state = support_state(seeker=seeker, now=timezone.now())
    assert state["request"]["asked_for"] == "Robin"
    sweep_later(minutes=5)
    assert session_of(seeker) is None
    sweep_later(minutes=11)  # past the 10-minute continuity wait
    request.refresh_from_db()
    assert session_of(seeker).supporter == other
    assert request.continuity == "wait_expired"


def test_asked_for_supporter_freeing_up_in_time_gets_the_chat():
    robin = on_shift_supporter(level="trainee", handle="Robin")
    seeker = finished_chat_with(robin)
    busy_with, _, _ = ask()
    on_shift_supporter(level="senior")
    ask(seeker, ask_for_previous=True)
    session_end_by(room_id=session_of(busy_with).room_id, user=robin)
    assert session_of(seeker).supporter == robin


# Sessions -----------------------------------------------------------------------------------


@pytest.fixture
def chat():
    on_shift_supporter(handle="Robin")
    seeker, _, _ = ask(topic="feelings")
    return session_of(seeker)


def test_phases_are_set_by_the_supporter_only(chat):
    session_phase_set(room_id=chat.room_id, supporter=chat.supporter, phase="talking")
    chat.refresh_from_db()
    assert chat.phase == "talking"
    with pytest.raises(Forbidden):
        session_phase_set(room_id=chat.room_id, supporter=chat.seeker, phase="closing")
    with pytest.raises(PeerchatError):
        session_phase_set(room_id=chat.room_id, supporter=chat.supporter, phase="lunch")


def test_either_side_may_end_and_ending_twice_is_harmless(chat):
    ended = session_end_by(room_id=chat.room_id, user=chat.supporter)
    assert (ended.state, ended.end_reason) == ("ended", "supporter_ended")
    again = session_end_by(room_id=chat.room_id, user=chat.seeker)
    assert again.end_reason == "supporter_ended"
    assert again.ended_at == ended.ended_at


def test_strangers_cannot_touch_a_session(chat):
    with pytest.raises(NotFound):
        session_end_by(room_id=chat.room_id, user=make_supporter())
    with pytest.raises(NotFound):
        session_end_by(room_id=chat.room_id, user=seeker_create())


def test_an_escalated_chat_pauses_its_supporter_before_the_next(chat):
    session_mark_escalated(session=chat)
    ask()  # fills Robin's second place
    session_end(session=chat, by=chat.supporter, reason="supporter_ended")
    profile = SupporterProfile.objects.get(user=chat.supporter)
    assert profile.paused_until > later(minutes=14)
    third, _, _ = ask()
    assert session_of(third) is None
    sweep_later(minutes=16)
    assert session_of(third).supporter == chat.supporter


def test_transfer_needs_a_note_and_an_available_supporter(chat):
    with pytest.raises(PeerchatError) as refused:
        session_transfer(room_id=chat.room_id, supporter=chat.supporter, to_handle="Sam", note="")
    assert refused.value.code == "note_required"
    off_shift = make_supporter(handle="Sam")
    with pytest.raises(Conflict) as refused:
        session_transfer(
            room_id=chat.room_id, supporter=chat.supporter, to_handle="Sam", note="Over to you"
        )
    assert refused.value.code == "supporter_unavailable"
    assert off_shift.pk != chat.supporter_id


def test_transfer_moves_the_chat_and_keeps_a_staff_note(chat):
    robin = chat.supporter
    sam = on_shift_supporter(level="senior", handle="Sam")
    session_transfer(
        room_id=chat.room_id, supporter=robin, to_handle="Sam", note="Talking about exams."
    )
    chat.refresh_from_db()
    assert chat.supporter == sam
    members = set(Membership.objects.filter(room=chat.room).values_list("user", flat=True))
    assert members == {chat.seeker_id, sam.pk}
    note = HandoverNote.objects.get(session=chat)
    assert (note.kind, note.author, note.to_supporter) == ("transfer", robin, sam)
    with pytest.raises(NotFound):  # Robin is no longer part of it
        session_transfer(room_id=chat.room_id, supporter=robin, to_handle="Sam", note="again")


def test_handover_note_after_the_chat_only_and_rewriting_replaces_it(chat):
    with pytest.raises(Conflict):
        handover_note_write(room_id=chat.room_id, author=chat.supporter, body="too early")
    session_end_by(room_id=chat.room_id, user=chat.seeker)
    handover_note_write(room_id=chat.room_id, author=chat.supporter, body="first")
    handover_note_write(room_id=chat.room_id, author=chat.supporter, body="second")
    assert list(HandoverNote.objects.values_list("body", flat=True)) == ["second"]
    with pytest.raises(NotFound):
        handover_note_write(room_id=chat.room_id, author=chat.seeker, body="mine")


def test_feedback_after_the_chat_with_small_scales(chat):
    with pytest.raises(Conflict):
        feedback_submit(room_id=chat.room_id, seeker=chat.seeker, listened=5)
    session_end_by(room_id=chat.room_id, user=chat.seeker)
    with pytest.raises(PeerchatError):
        feedback_submit(room_id=chat.room_id, seeker=chat.seeker, listened=6)
    with pytest.raises(PeerchatError):
        feedback_submit(room_id=chat.room_id, seeker=chat.seeker, would_return="perhaps")
    feedback_submit(
        room_id=chat.room_id,
        seeker=chat.seeker,
        listened=5,
        helpful=4,
        would_return="yes",
        comment="Thank you",
    )
    feedback_submit(room_id=chat.room_id, seeker=chat.seeker, listened=4)  # a change of mind
    feedback = Feedback.objects.get(session=chat)
    assert (feedback.listened, feedback.helpful, feedback.comment) == (4, None, "")
    with pytest.raises(NotFound):
        feedback_submit(room_id=chat.room_id, seeker=seeker_create(), listened=1)


def test_the_seekers_state_after_a_chat_asks_for_feedback_once(chat):
    session_end_by(room_id=chat.room_id, user=chat.seeker)
    assert support_state(seeker=chat.seeker, now=timezone.now())["state"] == "ended"
    feedback_submit(room_id=chat.room_id, seeker=chat.seeker)
    assert support_state(seeker=chat.seeker, now=timezone.now())["state"] == "none"


# Grace period ----------------------------------------------------------------------------------


def test_a_seeker_who_comes_back_within_the_grace_period_keeps_their_chat(chat):
    support_sweep(now=later(seconds=200))
    seeker_presence_touch(seeker_id=chat.seeker_id, now=later(seconds=250))
    support_sweep(now=later(seconds=400))
    chat.refresh_from_db()
    assert chat.state == "active"
    assert support_state(seeker=chat.seeker, now=later(seconds=400))["session"]["room"] == (
        chat.room_id
    )


def test_a_seeker_gone_past_the_grace_period_ends_the_chat_kindly(chat):
    result = support_sweep(now=later(seconds=301))
    chat.refresh_from_db()
    assert (chat.state, chat.end_reason) == ("ended", "seeker_gone")
    assert result.sessions_ended == 1


def test_a_waiting_seeker_gone_past_the_grace_period_leaves_the_queue():
    _seeker, request, _ = ask()
    support_sweep(now=later(seconds=301))
    request.refresh_from_db()
    assert request.state == "gone"


# Waits --------------------------------------------------------------------------------------


def test_estimates_come_from_recent_chats_and_say_so():
    supporter = on_shift_supporter(level="trainee")
    now = timezone.now()
    for minutes_ago in (60, 40, 20):
        seeker, _, _ = ask()
        session = session_of(seeker)
        SupportSession.objects.filter(pk=session.pk).update(
            started_at=now - timedelta(minutes=minutes_ago + 10)
        )
        session_end(
            session=session,
            by=seeker,
            reason="seeker_ended",
            now=now - timedelta(minutes=minutes_ago),
        )
    ask()  # takes the one place
    model = wait_model(now=now)
    assert model.free_places == 0
    first = wait_estimate(position=1, model=model)
    third = wait_estimate(position=3, model=model)
    assert first["kind"] == "minutes" and first["basis"] == "recent_chats"
    assert first["samples"] >= 3
    assert third["low"] > first["low"] and third["high"] > first["high"]
    assert supporter.pk


def test_without_enough_data_the_estimate_says_it_does_not_know():
    on_shift_supporter(level="trainee")
    ask()
    seeker, _, _ = ask()
    estimate = support_state(seeker=seeker, now=timezone.now())["request"]["estimate"]
    assert estimate["kind"] == "unknown"


def test_a_free_place_means_soon():
    on_shift_supporter()
    model = wait_model(now=timezone.now())
    assert wait_estimate(position=1, model=model) == {"kind": "soon"}


def test_matching_run_is_harmless_with_nothing_to_do():
    assert matching_run() == []


def test_back_from_a_break_on_the_same_shift():
    supporter = on_shift_supporter()
    shift_end(supporter=supporter)
    shift = shift_start(supporter=supporter)
    assert shift.ended_at is None
    assert SupporterProfile.objects.get(user=supporter).current_shift == shift
    seeker, _, _ = ask()
    assert session_of(seeker).supporter == supporter


def test_the_sweep_command_reports_what_it_did():
    from io import StringIO

    from django.core.management import call_command

    _seeker, request, _ = ask()
    SupportRequest.objects.filter(pk=request.pk).update(seen_at=later(minutes=-6))
    out = StringIO()
    call_command("support_sweep", stdout=out)
    assert "queue places lapsed: 1" in out.getvalue()
    request.refresh_from_db()
    assert request.state == "gone"


def test_a_shift_due_now_that_nobody_went_on_is_the_next_shift():
    supporter = make_supporter()
    due = Shift.objects.create(
        supporter=supporter, starts_at=later(minutes=-10), ends_at=later(hours=3)
    )
    Shift.objects.create(supporter=supporter, starts_at=later(hours=5), ends_at=later(hours=8))
    model = wait_model(now=timezone.now())
    assert model.next_shift_at == due.starts_at
    train(supporter)
    shift_start(supporter=supporter)
    shift_end(supporter=supporter)  # went off again: the shift is still scheduled now
    assert wait_model(now=timezone.now()).next_shift_at == due.starts_at
