"""Escalations: raised by wording, by "I need urgent help" or by a moderator; one per room
until resolved; acknowledged once; resolved with an outcome; widened by durable timers.

Test phrases are harmless placeholders that exercise the rules (see moderation/corpus).
"""

import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from moderation.escalations import (
    escalation_acknowledge,
    escalation_raise,
    escalation_raise_by,
    escalation_resolve,
)
from moderation.models import AuditEntry, Escalation
from peerchat import jobs
from peerchat.errors import Conflict, PeerchatError, RoomNotFound
from peerchat.jobs.models import Job
from peerchat.models import Debrief, SupporterProfile, SupportSession, User
from peerchat.services.sessions import session_end_by
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_group_room
from tests.factories import ask, on_shift_supporter
from tests.wsclient import open_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

IMMINENT = "im going to do it tonight"


def moderator(username="kai", handle="Kai") -> User:
    return staff_user_upsert(
        username=username,
        role=User.Role.MODERATOR,
        password="a-long-test-password",
        handle=handle,
    )


def chat() -> SupportSession:
    """A real one-to-one chat: a supporter on shift matched with a new seeker."""
    on_shift_supporter(handle="Robin")
    seeker, _, _ = ask()
    return SupportSession.objects.select_related("seeker", "supporter").get(seeker=seeker)


def send(room_id, body):
    return {"type": "send", "room": room_id, "client_msg_id": str(uuid.uuid4()), "body": body}


async def recv_until(socket, frame_type: str, limit: int = 12) -> dict:
    for _ in range(limit):
        frame = await socket.recv()
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type} frame")


async def recv_types(socket, types: set[str], limit: int = 12) -> dict:
    """Read until one frame of each type has arrived, in whatever order; return them."""
    seen: dict = {}
    for _ in range(limit):
        frame = await socket.recv()
        if frame["type"] in types:
            seen.setdefault(frame["type"], frame)
        if set(seen) == types:
            return seen
    raise AssertionError(f"only {sorted(seen)} of {sorted(types)} arrived")


async def watching(user):
    socket = await open_socket(user)
    await socket.send({"type": "watch", "topic": "escalations"})
    await socket.recv_type("watching")
    snapshot = await socket.recv_type("escalations")
    return socket, snapshot


def run_due_jobs():
    return jobs.run_due(worker_id="test-worker")


def make_due(**filters):
    return Job.objects.filter(**filters).update(run_at=timezone.now() - timedelta(seconds=1))


# Raised by wording ---------------------------------------------------------------------------


async def test_imminent_wording_reaches_the_supporter_and_opens_an_escalation_moderators_see():
    session = await db(chat)()
    kai = await db(moderator)()
    mod, snapshot = await watching(kai)
    assert snapshot["items"] == []
    seeker = await open_socket(session.seeker)
    supporter = await open_socket(session.supporter)
    await seeker.join(session.room_id)
    await supporter.join(session.room_id)

    await seeker.send(send(session.room_id, IMMINENT))
    ack = await recv_until(seeker, "ack")
    assert ack["status"] == "delivered" and ack["escalate"] is True
    assert ack["resources"] and "someone from the team" in ack["note"]
    seen = await recv_types(supporter, {"message", "escalation_status"})
    assert seen["message"]["body"] == IMMINENT
    assert seen["escalation_status"]["escalation"]["state"] == "open"

    alert = await recv_until(mod, "escalation")
    assert alert["event"] == "opened"
    item = alert["item"]
    assert (item["kind"], item["state"], item["stage"]) == ("filter", "open", 0)
    assert item["room"] == session.room_id
    assert item["triggers"][0]["message"]["excerpt"] == IMMINENT
    assert item["session"]["supporter"] == "Robin"
    assert item["next_notice_at"] is not None
    for socket in (mod, seeker, supporter):
        await socket.close()

    escalation = await db(Escalation.objects.get)(room_id=session.room_id)
    assert escalation.session_id == session.pk
    assert escalation.raised_by_id == session.seeker_id


def test_opening_marks_the_supporter_due_a_debrief_and_pauses_their_new_chats():
    session = chat()
    before = timezone.now()
    result = escalation_raise(room_id=session.room_id, kind="filter", by=session.seeker)
    assert result.created
    debrief = Debrief.objects.get(supporter=session.supporter)
    assert debrief.escalation == result.escalation and debrief.state == "due"
    assert timedelta(hours=47) < debrief.due_by - before < timedelta(hours=49)
    profile = SupporterProfile.objects.get(user=session.supporter)
    assert profile.paused_until > before + timedelta(minutes=14)
    session.refresh_from_db()
    assert session.escalated_at is not None
    # The chat itself goes on.
    assert session.state == "active"


def test_later_triggers_attach_to_the_unresolved_escalation_until_it_is_resolved():
    session = chat()
    kai = moderator()
    first = escalation_raise(room_id=session.room_id, kind="filter", by=session.seeker)
    again = escalation_raise_by(room_id=session.room_id, user=session.seeker)
    by_supporter = escalation_raise_by(room_id=session.room_id, user=session.supporter)
    assert first.created and not again.created and not by_supporter.created
    assert again.escalation.pk == by_supporter.escalation.pk == first.escalation.pk
    escalation = Escalation.objects.get()
    assert escalation.trigger_count == 3
    assert [t.kind for t in escalation.triggers.all()] == ["filter", "seeker", "supporter"]
    assert list(escalation.events.values_list("sequence", "type")) == [
        (1, "opened"),
        (2, "trigger_added"),
        (3, "trigger_added"),
    ]
    # One debrief, however many triggers.
    assert Debrief.objects.filter(supporter=session.supporter).count() == 1

    escalation_acknowledge(escalation_id=escalation.pk, moderator=kai)
    still = escalation_raise(room_id=session.room_id, kind="filter", by=session.seeker)
    assert not still.created
    escalation_resolve(
        escalation_id=escalation.pk, moderator=kai, outcome="supported", note="Talked it through."
    )
    later = escalation_raise(room_id=session.room_id, kind="filter", by=session.seeker)
    assert later.created and later.escalation.pk != escalation.pk


# Raised by people ------------------------------------------------------------------------------


async def test_the_supporters_urgent_help_shows_the_seeker_resources_without_ending_the_chat():
    session = await db(chat)()
    seeker = await open_socket(session.seeker)
    supporter = await open_socket(session.supporter)
    await seeker.join(session.room_id)
    await supporter.join(session.room_id)

    await supporter.send({"type": "escalate", "room": session.room_id, "note": "worried"})
    answer = await recv_until(supporter, "escalated")
    assert answer["new"] is True and answer["escalation"]["state"] == "open"
    assert "moderator has been asked" in answer["note"]
    assert "resources" not in answer  # supporters know the numbers; seekers are shown them

    shown = await recv_until(seeker, "resources")
    assert shown["room"] == session.room_id
    assert [r["name"] for r in shown["resources"]][:2] == ["Emergency services", "Samaritans"]
    note = shown["note"].lower()
    for word in ("violation", "emergency", "risk", "alarm", "banned"):
        assert word not in note
    # The chat goes on for both.
    await seeker.send(send(session.room_id, "thank you"))
    await recv_until(supporter, "message")
    await seeker.close()
    await supporter.close()

    trigger = await db(lambda: Escalation.objects.get().triggers.get())()
    assert (trigger.kind, trigger.note) == ("supporter", "worried")


async def test_the_seekers_urgent_help_answers_with_resources_and_asks_nothing_of_them():
    session = await db(chat)()
    seeker = await open_socket(session.seeker)
    await seeker.join(session.room_id)
    await seeker.send({"type": "escalate", "room": session.room_id})
    answer = await recv_until(seeker, "escalated")
    assert answer["new"] is True
    assert answer["resources"] and "keep talking" in answer["note"]
    # They asked for it: no second, separate resources frame.
    assert await seeker.nothing()
    await seeker.close()
    escalation = await db(Escalation.objects.get)()
    assert escalation.kind == "seeker"


def test_urgent_help_over_http_for_a_page_whose_socket_is_reconnecting():
    session = chat()
    client = Client()
    client.force_login(session.seeker)
    response = client.post(
        f"/api/v1/rooms/{session.room_id}/escalate", "{}", content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["resources"]
    again = client.post(
        f"/api/v1/rooms/{session.room_id}/escalate", "{}", content_type="application/json"
    )
    assert again.status_code == 200 and again.json()["new"] is False


def test_only_members_can_ask_for_urgent_help_in_a_room():
    session = chat()
    stranger = seeker_create()
    with pytest.raises(RoomNotFound):
        escalation_raise_by(room_id=session.room_id, user=stranger)
    assert not Escalation.objects.exists()


def test_a_moderator_can_raise_one_for_any_room():
    session = chat()
    kai = moderator()
    client = Client()
    client.force_login(kai)
    response = client.post(
        "/api/moderation/escalations",
        {"room": session.room_id, "note": "Reading this, I'm concerned."},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    item = response.json()["item"]
    assert item["kind"] == "moderator" and item["raised_by"]["handle"] == "Kai"
    assert AuditEntry.objects.filter(action="escalation_raised", actor=kai).exists()
    missing = client.post(
        "/api/moderation/escalations", {"room": 99999}, content_type="application/json"
    )
    assert missing.status_code == 404


# The state machine -----------------------------------------------------------------------------


def test_open_acknowledged_resolved_with_who_and_when_and_invalid_steps_refused():
    session = chat()
    kai, ash = moderator(), moderator("ash", "Ash")
    escalation = escalation_raise(
        room_id=session.room_id, kind="filter", by=session.seeker
    ).escalation

    with pytest.raises(Conflict) as early:
        escalation_resolve(
            escalation_id=escalation.pk, moderator=kai, outcome="supported", note="done"
        )
    assert early.value.code == "not_acknowledged"

    escalation_acknowledge(escalation_id=escalation.pk, moderator=kai)
    with pytest.raises(Conflict) as second:
        escalation_acknowledge(escalation_id=escalation.pk, moderator=ash)
    assert second.value.code == "already_acknowledged"
    assert "Kai has already taken this on" in second.value.detail
    with pytest.raises(Conflict) as mine:
        escalation_acknowledge(escalation_id=escalation.pk, moderator=kai)
    assert mine.value.detail.startswith("You have already taken this on")

    with pytest.raises(PeerchatError) as no_note:
        escalation_resolve(
            escalation_id=escalation.pk, moderator=kai, outcome="supported", note=" "
        )
    assert no_note.value.code == "note_required"
    with pytest.raises(PeerchatError) as bad_outcome:
        escalation_resolve(escalation_id=escalation.pk, moderator=kai, outcome="fine", note="x")
    assert bad_outcome.value.code == "invalid_outcome"

    escalation_resolve(
        escalation_id=escalation.pk,
        moderator=kai,
        outcome="signposted",
        note="Shared Samaritans; they said they'd call.",
    )
    with pytest.raises(Conflict) as again:
        escalation_acknowledge(escalation_id=escalation.pk, moderator=ash)
    assert again.value.code == "already_resolved"

    escalation.refresh_from_db()
    assert escalation.state == "resolved" and escalation.outcome == "signposted"
    assert escalation.acknowledged_by == kai and escalation.resolved_by == kai
    assert escalation.acknowledged_at <= escalation.resolved_at
    assert list(escalation.events.values_list("sequence", "type", "actor__handle")) == [
        (1, "opened", session.seeker.handle),
        (2, "acknowledged", "Kai"),
        (3, "resolved", "Kai"),
    ]
    actions = set(AuditEntry.objects.filter(actor=kai).values_list("action", flat=True))
    assert {"escalation_acknowledged", "escalation_resolved"} <= actions


def test_only_moderators_acknowledge_and_resolve():
    session = chat()
    escalation = escalation_raise(
        room_id=session.room_id, kind="filter", by=session.seeker
    ).escalation
    client = Client()
    client.force_login(session.supporter)
    for path in ("acknowledge", "resolve"):
        response = client.post(f"/api/moderation/escalations/{escalation.pk}/{path}")
        assert response.status_code == 403
    assert client.get("/api/moderation/escalations").status_code == 403


def test_the_api_acknowledges_resolves_and_tells_the_second_moderator_who_won():
    session = chat()
    kai, ash = moderator(), moderator("ash", "Ash")
    escalation = escalation_raise(
        room_id=session.room_id, kind="filter", by=session.seeker
    ).escalation
    first, second = Client(), Client()
    first.force_login(kai)
    second.force_login(ash)
    url = f"/api/moderation/escalations/{escalation.pk}"
    won = first.post(f"{url}/acknowledge")
    assert won.status_code == 200 and won.json()["item"]["acknowledged_by"] == "Kai"
    lost = second.post(f"{url}/acknowledge")
    assert lost.status_code == 409
    assert lost.json()["error"] == "already_acknowledged"
    assert "Kai" in lost.json()["detail"]
    resolved = first.post(
        f"{url}/resolve",
        {"outcome": "no_immediate_risk", "note": "Checked in; they're safe tonight."},
        content_type="application/json",
    )
    assert resolved.status_code == 200
    assert resolved.json()["item"]["outcome_label"] == "Checked: no immediate danger"
    feed = first.get("/api/moderation/escalations").json()
    assert feed["items"][0]["state"] == "resolved"
    assert {o["code"] for o in feed["outcomes"]} >= {"supported", "emergency_services"}


def test_reading_the_rooms_context_is_audited():
    session = chat()
    kai = moderator()
    escalation = escalation_raise(
        room_id=session.room_id, kind="supporter", by=session.supporter
    ).escalation
    client = Client()
    client.force_login(kai)
    context = client.get(f"/api/moderation/escalations/{escalation.pk}/context")
    assert context.status_code == 200
    assert context.json()["room"] == session.room_id
    entry = AuditEntry.objects.get(action="transcript_read", actor=kai)
    assert entry.room_id == session.room_id
    assert entry.detail["escalation"] == escalation.pk


# Durable timers ------------------------------------------------------------------------------


def test_unacknowledged_escalations_widen_on_durable_timers(settings):
    session = chat()
    escalation = escalation_raise(
        room_id=session.room_id, kind="filter", by=session.seeker
    ).escalation
    timer = Job.objects.get(kind="escalation_timer")
    assert timer.run_at == escalation.opened_at + timedelta(
        seconds=settings.ESCALATIONS["RENOTIFY_AFTER_SECONDS"]
    )
    run_due_jobs()
    escalation.refresh_from_db()
    assert escalation.stage == 0  # not due yet

    make_due(kind="escalation_timer")
    run_due_jobs()
    escalation.refresh_from_db()
    assert escalation.stage == 1
    on_call = Job.objects.get(kind="escalation_timer", state="pending")
    assert on_call.run_at == escalation.opened_at + timedelta(
        seconds=settings.ESCALATIONS["ON_CALL_AFTER_SECONDS"]
    )
    make_due(kind="escalation_timer", state="pending")
    run_due_jobs()
    escalation.refresh_from_db()
    assert escalation.stage == 2
    types = list(escalation.events.values_list("type", flat=True))
    assert types == ["opened", "renotified", "on_call"]
    # Every event went to the hooks, once each.
    hook_jobs = Job.objects.filter(kind="hook")
    assert hook_jobs.count() == len(types) * len(settings.ESCALATION_HOOKS)


def test_an_acknowledged_escalation_is_not_widened():
    session = chat()
    escalation = escalation_raise(
        room_id=session.room_id, kind="filter", by=session.seeker
    ).escalation
    escalation_acknowledge(escalation_id=escalation.pk, moderator=moderator())
    make_due(kind="escalation_timer")
    run_due_jobs()
    escalation.refresh_from_db()
    assert escalation.stage == 0
    assert Job.objects.get(kind="escalation_timer").result == "no longer open"
    assert not escalation.events.filter(type__in=["renotified", "on_call"]).exists()


async def test_moderators_pages_hear_the_renotification_live():
    session = await db(chat)()
    kai = await db(moderator)()
    await db(escalation_raise)(room_id=session.room_id, kind="filter", by=session.seeker)
    mod, snapshot = await watching(kai)
    assert [i["state"] for i in snapshot["items"]] == ["open"]
    await db(make_due)(kind="escalation_timer")
    await db(run_due_jobs)()
    frame = await recv_until(mod, "escalation")
    assert frame["event"] == "renotified" and frame["item"]["stage"] == 1
    await mod.close()


# Who may watch ------------------------------------------------------------------------------


async def test_only_moderators_and_admins_watch_escalations():
    session = await db(chat)()
    socket = await open_socket(session.supporter)
    await socket.send({"type": "watch", "topic": "escalations"})
    refused = await socket.recv_type("error")
    assert refused["code"] == "forbidden"
    await socket.close()


async def test_supporters_see_when_someone_has_taken_it_on_and_on_rejoining():
    session = await db(chat)()
    kai = await db(moderator)()
    escalation = (
        await db(escalation_raise)(room_id=session.room_id, kind="filter", by=session.seeker)
    ).escalation
    supporter = await open_socket(session.supporter)
    joined, _ = await supporter.join(session.room_id)
    assert joined["escalation"]["state"] == "open"
    await db(escalation_acknowledge)(escalation_id=escalation.pk, moderator=kai)
    status = await recv_until(supporter, "escalation_status")
    assert status["escalation"]["acknowledged_by"] == "Kai"
    await supporter.close()
    seeker = await open_socket(session.seeker)
    joined, _ = await seeker.join(session.room_id)
    assert "escalation" not in joined  # seekers are not shown the staff's workings
    await seeker.close()


def test_a_group_escalation_makes_its_supporters_due_a_debrief():
    alex, sam = on_shift_supporter(handle="Alex"), on_shift_supporter(handle="Sam")
    room = make_group_room(alex, sam)
    escalation_raise_by(room_id=room.pk, user=alex)
    assert set(Debrief.objects.values_list("supporter__handle", flat=True)) == {"Alex", "Sam"}


def test_an_escalated_chat_pauses_its_supporter_again_when_it_ends(settings):
    session = chat()
    escalation_raise(room_id=session.room_id, kind="filter", by=session.seeker)
    SupporterProfile.objects.filter(user=session.supporter).update(paused_until=None)
    session_end_by(room_id=session.room_id, user=session.seeker)
    profile = SupporterProfile.objects.get(user=session.supporter)
    assert profile.paused_until is not None
