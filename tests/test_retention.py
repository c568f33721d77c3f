"""Data retention: the worker's purge blanks old message bodies and notes, provably, except in
rooms under a safeguarding hold or with an open escalation; each run is recorded and shown to
admins; evaluators' figures are the same before and after; clients see a neutral marker."""

import json
import threading
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moderation.escalations.services import escalation_raise_by
from moderation.metrics.report import metrics_report
from moderation.models import (
    AuditEntry,
    Escalation,
    EscalationTrigger,
    MessageRemoval,
    RetentionRun,
    ReviewNote,
    SafeguardingHold,
    Screening,
    Whisper,
)
from moderation.oversight.selectors import whispers_recent
from moderation.retention import services as retention
from moderation.retention.services import hold_place, hold_release, retention_purge
from peerchat import jobs
from peerchat.demo_history import demo_history_seed
from peerchat.frames import message_frame
from peerchat.jobs.models import Job
from peerchat.models import HandoverNote, Message, Room, Shift, ShiftCheckIn, User
from peerchat.services.messages import message_send
from peerchat.services.sweep import support_sweep
from peerchat.services.users import staff_user_upsert
from tests.conftest import make_group_room, make_supporter
from tests.wsclient import open_socket

OLD = 120  # days: past the 90-day default for message bodies
ANCIENT = 400  # days: past the 365-day default for notes


@pytest.fixture(autouse=True)
def defaults(settings):
    """The production defaults, whatever the environment says."""
    settings.RETENTION = {
        "MESSAGE_BODY_DAYS": 90,
        "NOTES_DAYS": 365,
        "PURGE_EVERY_MINUTES": 360,
        "BATCH_SIZE": 500,
    }


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def say(room: Room, user: User, body: str, *, days_ago: float) -> Message:
    message = message_send(
        room_id=room.pk, sender=user, client_msg_id=uuid.uuid4(), body=body
    ).message
    Message.objects.filter(pk=message.pk).update(sent_at=ago(days_ago))
    return Message.objects.get(pk=message.pk)


def moderator(name: str = "kai") -> User:
    return staff_user_upsert(
        username=name, role=User.Role.MODERATOR, password="a-long-test-password", handle=name
    )


def admin_user() -> User:
    return User.objects.create_superuser("root", password="a-long-admin-password")


def bodies(room: Room) -> list[tuple[int, str, str]]:
    return list(
        Message.objects.filter(room=room).order_by("seq").values_list("seq", "body", "removed_by")
    )


def run_worker() -> int:
    return jobs.run_due(worker_id="test-worker")


@pytest.fixture
def people(supporter, other_supporter):
    return {"alex": supporter, "sam": other_supporter}


# The purge runs through the worker ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_schedules_the_purge_and_the_worker_blanks_what_is_past_retention(people):
    alex, sam = people["alex"], people["sam"]
    room = make_group_room(alex, sam)
    say(room, alex, "msg 1, old", days_ago=OLD)
    say(room, sam, "msg 2, old", days_ago=OLD)
    say(room, alex, "msg 3, recent", days_ago=10)
    whisper_old = Whisper.objects.create(
        room=room, author=alex, author_role="supporter", body="an old whisper", created_at=ago(OLD)
    )
    whisper_new = Whisper.objects.create(
        room=room, author=alex, author_role="supporter", body="a new whisper", created_at=ago(1)
    )
    shift = Shift.objects.create(supporter=alex, starts_at=ago(ANCIENT), ends_at=ago(ANCIENT - 0.2))
    checkin_old = ShiftCheckIn.objects.create(
        shift=shift, supporter=alex, feeling="okay", note="an old note", created_at=ago(ANCIENT)
    )
    shift_new = Shift.objects.create(supporter=alex, starts_at=ago(100), ends_at=ago(99.8))
    checkin_new = ShiftCheckIn.objects.create(
        shift=shift_new, supporter=alex, feeling="good", note="a kept note", created_at=ago(100)
    )

    support_sweep()  # every daphne process does this now and then
    job = Job.objects.get(kind=retention.PURGE_JOB)
    assert job.state == Job.State.PENDING
    support_sweep()  # the same period: still one job
    assert Job.objects.filter(kind=retention.PURGE_JOB).count() == 1

    run_worker()  # the supervision scan's job too
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.last_error

    assert bodies(room) == [
        (1, "", "retention"),
        (2, "", "retention"),
        (3, "msg 3, recent", ""),
    ]
    # The rows stay: seq, sender, time and status are what they were.
    first = Message.objects.select_related("sender").get(room=room, seq=1)
    assert (first.sender, first.status, first.removed_at is not None) == (alex, "delivered", True)
    whisper_old.refresh_from_db()
    whisper_new.refresh_from_db()
    assert (whisper_old.body, whisper_new.body) == ("", "a new whisper")
    assert [w["body"] for w in whispers_recent(room_id=room.pk)] == ["a new whisper"]
    checkin_old.refresh_from_db()
    checkin_new.refresh_from_db()
    assert (checkin_old.note, checkin_new.note) == ("", "a kept note")
    assert checkin_old.feeling == "okay"

    run = RetentionRun.objects.get()
    assert run.state == RetentionRun.State.DONE and run.complete
    assert run.job_id == job.pk and run.worker == "test-worker"
    assert run.finished_at is not None and run.error == ""
    assert run.purged == {"message_bodies": 2, "whispers": 1, "checkin_notes": 1}
    assert (run.message_body_days, run.notes_days) == (90, 365)
    assert job.result == f"run {run.pk}: blanked 4, kept back 0"


@pytest.mark.django_db
def test_every_kind_of_note_past_its_period_goes_and_younger_ones_stay(people, seeker):
    from tests.test_seeker_data import make_chat

    alex = people["alex"]
    kai = moderator()
    session = make_chat(seeker, alex)
    room = session.room
    old = say(room, seeker, "hello, old", days_ago=ANCIENT)
    young = say(room, seeker, "hello, young", days_ago=OLD)
    screening = Screening.objects.create(
        message=old,
        room=room,
        room_kind="one_to_one",
        action="mask",
        policy_version="test",
        original_body="hello as typed",
    )
    ReviewNote.objects.filter(
        pk=ReviewNote.objects.create(screening=screening, author=kai, body="a review note").pk
    ).update(created_at=ago(ANCIENT))
    removal = MessageRemoval.objects.create(
        message=young, removed_by=kai, reason="a reason", original_body="x", created_at=ago(OLD)
    )
    note_old = HandoverNote.objects.create(session=session, author=alex, kind="close", body="n1")
    HandoverNote.objects.filter(pk=note_old.pk).update(created_at=ago(ANCIENT))
    note_new = HandoverNote.objects.create(session=session, author=alex, kind="transfer", body="n2")
    from peerchat.models import Feedback

    feedback = Feedback.objects.create(session=session, listened=4, helpful=5, comment="thanks")
    Feedback.objects.filter(pk=feedback.pk).update(created_at=ago(ANCIENT))
    escalation = Escalation.objects.create(
        room=room,
        kind="supporter",
        state=Escalation.State.RESOLVED,
        opened_at=ago(ANCIENT),
        last_trigger_at=ago(ANCIENT),
        acknowledged_at=ago(ANCIENT),
        resolved_at=ago(ANCIENT),
        outcome="supported",
        resolution_note="a resolution note",
    )
    EscalationTrigger.objects.create(
        escalation=escalation, kind="supporter", note="a trigger note", created_at=ago(ANCIENT)
    )

    run = retention_purge()

    assert run.purged == {
        "message_bodies": 2,
        "screening_originals": 1,
        "removal_originals": 1,
        "handover_notes": 1,
        "review_notes": 1,
        "escalation_notes": 1,
        "escalation_trigger_notes": 1,
        "feedback_comments": 1,
    }
    screening.refresh_from_db()
    removal.refresh_from_db()
    note_new.refresh_from_db()
    feedback.refresh_from_db()
    escalation.refresh_from_db()
    assert screening.original_body == "" and screening.action == "mask"
    # The reason for removing a message is a note: 120 days is within the notes' period.
    assert (removal.original_body, removal.reason) == ("", "a reason")
    assert note_new.body == "n2"
    assert (feedback.comment, feedback.listened, feedback.helpful) == ("", 4, 5)
    assert (escalation.resolution_note, escalation.outcome) == ("", "supported")
    assert not ReviewNote.objects.exclude(body="").exists()
    assert not EscalationTrigger.objects.exclude(note="").exists()


@pytest.mark.django_db
def test_a_second_run_changes_nothing_and_counts_nothing(people):
    room = make_group_room(people["alex"], people["sam"])
    say(room, people["alex"], "msg 1", days_ago=OLD)
    first = retention_purge()
    removed_at = Message.objects.get(room=room).removed_at
    second = retention_purge()
    assert first.purged == {"message_bodies": 1}
    assert second.purged == {} and second.state == RetentionRun.State.DONE
    assert Message.objects.get(room=room).removed_at == removed_at


@pytest.mark.django_db
def test_small_batches_get_through_everything(people, settings):
    settings.RETENTION = {**settings.RETENTION, "BATCH_SIZE": 2}
    room = make_group_room(people["alex"], people["sam"])
    for i in range(7):
        say(room, people["alex"], f"msg {i}", days_ago=OLD + i)
    assert retention_purge().purged == {"message_bodies": 7}
    assert not Message.objects.exclude(body="").exists()


@pytest.mark.django_db
def test_a_run_out_of_time_hands_over_to_a_follow_up_job(people, settings):
    settings.RETENTION = {**settings.RETENTION, "BATCH_SIZE": 1}
    settings.WORKER = {**settings.WORKER, "LEASE_SECONDS": 0.0}  # time for one batch a run
    room = make_group_room(people["alex"], people["sam"])
    say(room, people["alex"], "msg 1", days_ago=OLD)
    say(room, people["alex"], "msg 2", days_ago=OLD)
    retention.purge_ensure()
    run_worker()  # the purge's job, and each follow-up it enqueues as they fall due
    runs = list(RetentionRun.objects.order_by("pk").values_list("complete", "purged", "state"))
    assert runs == [
        (False, {"message_bodies": 1}, "done"),
        (False, {"message_bodies": 1}, "done"),
        (True, {}, "done"),
    ]
    purge_jobs = Job.objects.filter(kind=retention.PURGE_JOB).order_by("pk")
    assert [job.state for job in purge_jobs] == [Job.State.DONE] * 3
    assert [":more:" in job.key for job in purge_jobs] == [False, True, True]
    assert bodies(room) == [(1, "", "retention"), (2, "", "retention")]


@pytest.mark.django_db
def test_a_failed_run_is_recorded_and_the_job_retried(people, monkeypatch):
    room = make_group_room(people["alex"], people["sam"])
    say(room, people["alex"], "msg 1", days_ago=OLD)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(retention, "_purge_kind", broken)
    retention.purge_ensure()
    run_worker()
    job = Job.objects.get(kind=retention.PURGE_JOB)
    assert (job.state, job.last_error) == (Job.State.PENDING, "RuntimeError")
    run = RetentionRun.objects.get()
    assert run.state == RetentionRun.State.FAILED
    assert run.error.startswith("RuntimeError at test_retention.py:")
    assert run.finished_at is not None
    assert bodies(room) == [(1, "msg 1", "")]


@pytest.mark.django_db
def test_the_command_catches_up_by_hand_and_records_the_run(people, capsys):
    room = make_group_room(people["alex"], people["sam"])
    say(room, people["alex"], "msg 1", days_ago=OLD)
    call_command("retention_purge")
    out = capsys.readouterr().out
    run = RetentionRun.objects.get()
    assert "cleared 1: Message bodies (held and undelivered ones too)" in out
    assert f"retention run {run.pk}: done" in out
    assert run.worker == "manage.py retention_purge" and run.complete
    assert bodies(room) == [(1, "", "retention")]


@pytest.mark.django_db
def test_nothing_is_scheduled_while_everything_is_kept_for_ever(settings):
    settings.RETENTION = {**settings.RETENTION, "MESSAGE_BODY_DAYS": 0, "NOTES_DAYS": 0}
    support_sweep()
    assert not Job.objects.filter(kind=retention.PURGE_JOB).exists()


# Holds and open escalations -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_held_room_is_untouched_until_the_hold_is_released(people):
    alex, sam = people["alex"], people["sam"]
    kai = moderator()
    held = make_group_room(alex, sam, name="Held")
    other = make_group_room(alex, sam, name="Other")
    say(held, alex, "msg 1", days_ago=OLD)
    say(held, sam, "msg 2", days_ago=OLD)
    say(other, alex, "msg 1", days_ago=OLD)
    hold, created = hold_place(room_id=held.pk, moderator=kai, reason="Safeguarding referral")
    assert created
    again, created = hold_place(room_id=held.pk, moderator=kai, reason="twice")
    assert (again, created) == (hold, False)

    retention.purge_ensure()
    run_worker()
    assert bodies(held) == [(1, "msg 1", ""), (2, "msg 2", "")]
    assert bodies(other) == [(1, "", "retention")]
    run = RetentionRun.objects.get()
    assert run.purged == {"message_bodies": 1}
    assert run.held_back == {"message_bodies": 2}
    assert (run.holds, run.escalation_rooms) == ([hold.pk], 0)

    released = hold_release(room_id=held.pk, moderator=kai, note="Referral closed")
    assert released.released_by == kai and released.released_at is not None
    run = retention_purge()
    assert run.purged == {"message_bodies": 2} and run.held_back == {} and run.holds == []
    assert bodies(held) == [(1, "", "retention"), (2, "", "retention")]

    audit = list(
        AuditEntry.objects.filter(room=held)
        .order_by("created_at", "pk")
        .values_list("action", "actor", "detail")
    )
    assert audit == [
        ("safeguarding_hold_placed", kai.pk, {"hold": hold.pk, "escalation": None}),
        ("safeguarding_hold_released", kai.pk, {"hold": hold.pk}),
    ]


@pytest.mark.django_db
def test_a_room_with_an_unresolved_escalation_is_kept_until_it_is_resolved(people):
    alex, sam = people["alex"], people["sam"]
    room = make_group_room(alex, sam)
    say(room, alex, "msg 1", days_ago=OLD)
    escalation_raise_by(room_id=room.pk, user=alex, note="a note")
    EscalationTrigger.objects.update(created_at=ago(ANCIENT))
    run = retention_purge()
    assert run.purged == {} and run.escalation_rooms == 1
    assert run.held_back == {"message_bodies": 1, "escalation_trigger_notes": 1}
    Escalation.objects.update(
        state=Escalation.State.RESOLVED,
        acknowledged_at=ago(1),
        resolved_at=ago(1),
        outcome="supported",
    )
    run = retention_purge()
    assert run.purged == {"message_bodies": 1, "escalation_trigger_notes": 1}


@pytest.mark.django_db
def test_only_staff_hold_and_a_reason_is_required(people):
    room = make_group_room(people["alex"], people["sam"])
    from peerchat.errors import Forbidden, PeerchatError

    with pytest.raises(Forbidden):
        hold_place(room_id=room.pk, moderator=people["alex"], reason="no")
    with pytest.raises(PeerchatError) as refused:
        hold_place(room_id=room.pk, moderator=moderator(), reason="  ")
    assert refused.value.code == "reason_required"
    assert not SafeguardingHold.objects.exists()


# The moderators' page: a hold beside an escalation ------------------------------------------------


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_moderators_place_and_release_a_hold_beside_an_escalation(people):
    alex, sam = people["alex"], people["sam"]
    kai = moderator()
    room = make_group_room(alex, sam)
    escalation = escalation_raise_by(room_id=room.pk, user=alex).escalation
    client = signed_in(kai)
    url = f"/api/moderation/rooms/{room.pk}/hold"

    refused = client.post(url, {"reason": ""}, content_type="application/json")
    assert (refused.status_code, refused.json()["error"]) == (400, "reason_required")
    placed = client.post(
        url,
        {"reason": "Safeguarding referral made", "escalation": escalation.pk},
        content_type="application/json",
    )
    assert placed.status_code == 201
    hold = placed.json()["hold"]
    assert (hold["placed_by"], hold["reason"], hold["active"]) == (
        "kai",
        "Safeguarding referral made",
        True,
    )
    assert SafeguardingHold.objects.get().escalation == escalation
    # The escalation's card shows it, to every moderator.
    feed = client.get("/api/moderation/escalations").json()
    assert feed["items"][0]["hold"]["id"] == hold["id"]
    assert client.get(url).json()["hold"]["id"] == hold["id"]
    # Twice: the same hold.
    second = client.post(url, {"reason": "again"}, content_type="application/json")
    assert (second.status_code, second.json()["hold"]["id"]) == (200, hold["id"])

    released = client.post(url + "/release", {"note": "Closed"}, content_type="application/json")
    assert released.status_code == 200 and released.json()["hold"]["active"] is False
    assert client.get("/api/moderation/escalations").json()["items"][0]["hold"] is None
    gone = client.post(url + "/release", {}, content_type="application/json")
    assert (gone.status_code, gone.json()["error"]) == (404, "hold_not_found")
    assert list(
        AuditEntry.objects.filter(action__startswith="safeguarding_hold").values_list(
            "action", flat=True
        )
    ) == ["safeguarding_hold_released", "safeguarding_hold_placed"]


@pytest.mark.django_db
def test_people_in_the_chat_cannot_place_or_release_holds(people, seeker):
    room = make_group_room(people["alex"], people["sam"])
    for user in (people["alex"], seeker):
        client = signed_in(user)
        url = f"/api/moderation/rooms/{room.pk}/hold"
        assert client.post(url, {"reason": "x"}, content_type="application/json").status_code == 403
        assert client.post(url + "/release", {}, content_type="application/json").status_code == 403
    assert Client().post(f"/api/moderation/rooms/{room.pk}/hold").status_code == 401
    assert not SafeguardingHold.objects.exists()


@pytest.mark.django_db
def test_the_moderators_page_offers_the_hold_on_escalation_cards():
    client = signed_in(moderator())
    page = client.get("/moderation/")
    assert page.status_code == 200
    script = client.get("/static/moderation/escalations.js")
    text = b"".join(script.streaming_content).decode()
    assert "/hold" in text and 'data-act="hold"' not in text  # built by the script
    assert "Keep this chat's record" in text


# What admins see ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admins_see_the_last_run_its_counts_and_a_warning_when_it_is_late(people):
    room = make_group_room(people["alex"], people["sam"])
    say(room, people["alex"], "msg 1", days_ago=OLD)
    client = signed_in(admin_user())
    url = reverse("admin:moderation_retentionrun_changelist")

    never = client.get(url)
    assert never.status_code == 200
    assert "The retention purge has never finished a run." in never.content.decode()

    run = retention_purge()
    page = client.get(url).content.decode()
    assert 'id="retention-warning"' not in page
    assert "Message bodies (held and undelivered ones too): 1" in page
    assert timezone.localtime(run.finished_at).strftime("%Y-%m-%d %H:%M") in page

    RetentionRun.objects.filter(pk=run.pk).update(finished_at=ago(1))  # more than 2 x 6 hours
    late = client.get(url).content.decode()
    assert 'id="retention-warning"' in late
    assert "more than twice its interval (6 hours) ago" in late

    detail = client.get(reverse("admin:moderation_retentionrun_change", args=[run.pk]))
    assert detail.status_code == 200


@pytest.mark.django_db
def test_the_admin_view_is_refused_to_everyone_else(people, seeker):
    url = reverse("admin:moderation_retentionrun_changelist")
    for user in (moderator(), people["alex"], seeker):
        response = signed_in(user).get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Client().get(url).status_code == 302


@pytest.mark.django_db
def test_admins_place_holds_in_the_admin_and_it_is_audited(people):
    room = make_group_room(people["alex"], people["sam"])
    root = admin_user()
    client = signed_in(root)
    response = client.post(
        reverse("admin:moderation_safeguardinghold_add"),
        {"room": room.pk, "escalation": "", "reason": "A complaint is being looked into"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = SafeguardingHold.objects.get()
    assert (hold.placed_by, hold.room) == (root, room)
    assert AuditEntry.objects.filter(action="safeguarding_hold_placed", actor=root).exists()
    twice = client.post(
        reverse("admin:moderation_safeguardinghold_add"),
        {"room": room.pk, "escalation": "", "reason": "again"},
    )
    assert (
        twice.status_code == 200 and "already under a safeguarding hold" in twice.content.decode()
    )
    client.post(
        reverse("admin:moderation_safeguardinghold_changelist"),
        {"action": "release_selected", "_selected_action": [hold.pk]},
    )
    hold.refresh_from_db()
    assert hold.released_by == root
    assert AuditEntry.objects.filter(action="safeguarding_hold_released", actor=root).exists()


# Evaluators' figures survive ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_evaluators_figures_are_the_same_before_and_after_a_purge(settings):
    call_command("seed_demo", "--password", "x-long-pass-123")
    now = timezone.now()
    demo_history_seed(weeks=6, now=now)
    # Everything in the history is at least four days old: purge it all.
    settings.RETENTION = {**settings.RETENTION, "MESSAGE_BODY_DAYS": 2, "NOTES_DAYS": 2}
    before = {period: metrics_report(period=period, now=now) for period in ("week", "month")}
    with_text = Message.objects.exclude(body="").count()
    assert with_text > 100

    run = retention_purge(now=now)

    assert run.purged["message_bodies"] == with_text
    assert run.purged["handover_notes"] > 0 and run.purged["escalation_notes"] > 0
    assert not Message.objects.exclude(body="").exists()
    after = {period: metrics_report(period=period, now=now) for period in ("week", "month")}
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)


# What clients see ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_open_pages_are_told_and_replays_carry_a_neutral_marker(people):
    alex, sam = people["alex"], people["sam"]
    room = await database_sync_to_async(make_group_room)(alex, sam)
    await database_sync_to_async(say)(room, alex, "msg 1", days_ago=OLD)
    await database_sync_to_async(say)(room, sam, "msg 2", days_ago=1)
    socket = await open_socket(sam)
    _, replay = await socket.join(room.pk)
    assert [m["body"] for m in replay] == ["msg 1", "msg 2"]

    await database_sync_to_async(retention.purge_ensure)()
    assert await database_sync_to_async(run_worker)() == 1

    assert await socket.recv() == {
        "type": "message_removed",
        "room": room.pk,
        "seqs": [1],
        "by": "retention",
    }
    again = await open_socket(alex)
    joined, replay = await again.join(room.pk)
    assert joined["last_seq"] == 2
    assert [(m["seq"], m["body"], m.get("removed"), m.get("removed_by")) for m in replay] == [
        (1, "", True, "retention"),
        (2, "msg 2", None, None),
    ]
    await socket.close()
    await again.close()


@pytest.mark.django_db
def test_a_purged_held_message_is_not_offered_back_to_its_sender_or_released(people):
    from moderation.selectors import held_for_sender
    from moderation.services import screening_release
    from peerchat.errors import Conflict

    room = make_group_room(people["alex"], people["sam"])
    message = say(room, people["alex"], "msg 1", days_ago=OLD)
    Message.objects.filter(pk=message.pk).update(seq=None, status="held")
    Room.objects.filter(pk=room.pk).update(last_seq=0)
    screening = Screening.objects.create(
        message=message,
        room=room,
        room_kind="group",
        action="hold",
        policy_version="t",
        review="pending",
    )
    assert len(held_for_sender(room_id=room.pk, user=people["alex"])) == 1
    assert retention_purge().purged == {"message_bodies": 1}
    assert held_for_sender(room_id=room.pk, user=people["alex"]) == []
    with pytest.raises(Conflict):
        screening_release(screening_id=screening.pk, moderator=moderator())
    frame = message_frame(Message.objects.select_related("sender").get(pk=message.pk))
    assert frame["removed_by"] == "retention" and frame["body"] == ""


# Two purges at once -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_purges_at_once_blank_everything_once_postgres(settings):
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    settings.RETENTION = {**settings.RETENTION, "BATCH_SIZE": 5}
    alex, sam = make_supporter("alex"), make_supporter("sam")
    rooms = [make_group_room(alex, sam, name=f"Room {i}") for i in range(6)]
    for room in rooms:
        for i in range(10):
            say(room, alex if i % 2 else sam, f"msg {i}", days_ago=OLD)
    runs, errors = [], []
    barrier = threading.Barrier(2)

    def purge():
        try:
            barrier.wait()
            runs.append(retention_purge(worker=threading.current_thread().name))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=purge, name=f"w{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = sum(run.purged.get("message_bodies", 0) for run in runs)
    skipped = Message.objects.exclude(body="").count()
    # Each message blanked exactly once; any a batch skipped (locked by the other) is left
    # for the next run, which takes it.
    assert total + skipped == 60
    assert retention_purge().purged.get("message_bodies", 0) == skipped
    assert not Message.objects.exclude(body="").exists()
    assert settings.RETENTION["BATCH_SIZE"] == 5
