"""The support and staff JSON API: what pages get, who may call what, and kind refusals."""

import pytest
from django.test import Client

from peerchat.models import AgreementAcceptance, HandoverNote, SupportSession
from peerchat.services.users import seeker_create
from tests.conftest import make_supporter
from tests.factories import agreement_version, ask, on_shift_supporter, schedule, train

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, data: dict | None = None):
    return client.post(url, data or {}, content_type="application/json")


@pytest.fixture
def seeker_client(seeker):
    return client_for(seeker)


def test_intake_shows_the_sanitised_agreement_topics_and_availability(seeker_client):
    on_shift_supporter()
    body = seeker_client.get("/api/v1/support/intake").json()
    assert body["agreement"]["version"] == agreement_version()
    assert "Who can read this chat" in body["agreement"]["confidentiality"]
    assert {"code": "feelings", "label": "How I'm feeling"} in body["topics"]
    assert body["availability"]["on_shift"] == 1
    assert body["support"]["state"] == "none"
    assert body["grounding"]


def test_agreement_markup_is_sanitised(seeker_client):
    from peerchat.models import Agreement

    Agreement.objects.filter(kind="one_to_one").update(
        body='<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:x()">l</a></p>'
    )
    body = seeker_client.get("/api/v1/support/intake").json()["agreement"]["body"]
    assert "script" not in body and "onclick" not in body and "javascript" not in body


def test_asking_answers_201_then_200_for_a_second_click(seeker, seeker_client):
    data = {"agreement_version": agreement_version(), "safe_now": "no", "topic": "feelings"}
    first = post(seeker_client, "/api/v1/support/requests", data)
    second = post(seeker_client, "/api/v1/support/requests", data)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["state"] == "waiting"
    assert first.json()["request"]["urgent"] is True
    assert first.json()["request"]["id"] == second.json()["request"]["id"]
    assert AgreementAcceptance.objects.filter(user=seeker).count() == 1


def test_asking_without_accepting_is_refused_kindly(seeker_client):
    response = post(seeker_client, "/api/v1/support/requests", {"safe_now": "yes"})
    assert response.status_code == 400
    assert response.json()["error"] == "agreement_required"
    stale = post(seeker_client, "/api/v1/support/requests", {"agreement_version": 999})
    assert (stale.status_code, stale.json()["error"]) == (409, "agreement_outdated")


def test_matched_at_once_when_someone_is_free(seeker_client):
    on_shift_supporter(handle="Robin")
    body = post(
        seeker_client, "/api/v1/support/requests", {"agreement_version": agreement_version()}
    ).json()
    assert body["state"] == "active"
    assert body["session"]["supporter"] == {"handle": "Robin"}


def test_i_had_to_go(seeker_client):
    post(seeker_client, "/api/v1/support/requests", {"agreement_version": agreement_version()})
    left = post(seeker_client, "/api/v1/support/requests/leave").json()
    assert (left["left"], left["state"]) == (True, "none")
    again = post(seeker_client, "/api/v1/support/requests/leave").json()
    assert again["left"] is False


def test_staff_and_strangers_are_kept_out_of_seeker_endpoints():
    staff = client_for(make_supporter())
    assert staff.get("/api/v1/support/intake").status_code == 403
    assert post(staff, "/api/v1/support/requests", {"agreement_version": 1}).status_code == 403
    anonymous = Client()
    assert anonymous.get("/api/v1/support/current").status_code == 401


def test_seekers_are_kept_out_of_staff_endpoints(seeker_client):
    assert seeker_client.get("/api/v1/staff/status").status_code == 403
    assert post(seeker_client, "/api/v1/staff/shift", {"action": "start"}).status_code == 403


def test_a_whole_chat_over_the_api():
    robin = make_supporter(handle="Robin")
    train(robin)
    schedule(robin)
    staff = client_for(robin)
    status = staff.get("/api/v1/staff/status").json()
    assert (status["on_shift"], status["can_start_shift"], status["capacity"]) == (False, True, 2)
    status = post(staff, "/api/v1/staff/shift", {"action": "start"}).json()
    assert status["on_shift"] and status["taking_chats"]

    seeker, _, _ = ask(topic="feelings")
    room = SupportSession.objects.get(seeker=seeker).room_id
    status = staff.get("/api/v1/staff/status").json()
    assert [s["room"] for s in status["sessions"]] == [room]
    assert status["sessions"][0]["topic"] == "feelings"

    phase = post(staff, f"/api/v1/support/sessions/{room}/phase", {"phase": "talking"})
    assert phase.json()["phase"] == "talking"
    seeker_client = client_for(seeker)
    assert seeker_client.get(f"/api/v1/support/sessions/{room}").json()["phase"] == "talking"

    early = post(seeker_client, f"/api/v1/support/sessions/{room}/feedback", {"helpful": 5})
    assert (early.status_code, early.json()["error"]) == (409, "session_active")
    ended = post(seeker_client, f"/api/v1/support/sessions/{room}/end").json()
    assert ended["end_reason"] == "seeker_ended"
    feedback = post(
        seeker_client,
        f"/api/v1/support/sessions/{room}/feedback",
        {"listened": 5, "helpful": 4, "would_return": "maybe", "comment": "ok"},
    )
    assert feedback.status_code == 201

    status = staff.get("/api/v1/staff/status").json()
    assert [n["room"] for n in status["notes_due"]] == [room]
    note = post(staff, f"/api/v1/support/sessions/{room}/handover", {"body": "Went well."})
    assert note.status_code == 201
    assert staff.get("/api/v1/staff/status").json()["notes_due"] == []
    off = post(staff, "/api/v1/staff/shift", {"action": "end"}).json()
    assert off["on_shift"] is False


def test_shift_refusals_explain_themselves():
    untrained = make_supporter()
    schedule(untrained)
    response = post(client_for(untrained), "/api/v1/staff/shift", {"action": "start"})
    assert (response.status_code, response.json()["error"]) == (409, "training_required")
    unscheduled = make_supporter()
    train(unscheduled)
    response = post(client_for(unscheduled), "/api/v1/staff/shift", {"action": "start"})
    assert (response.status_code, response.json()["error"]) == (409, "no_shift_now")
    bad = post(client_for(unscheduled), "/api/v1/staff/shift", {"action": "nap"})
    assert bad.status_code == 400


def test_transfer_over_the_api_and_earlier_notes_for_continuity():
    robin = on_shift_supporter(handle="Robin")
    seeker, _, _ = ask()
    first_room = SupportSession.objects.get(seeker=seeker).room_id
    staff = client_for(robin)
    post(staff, f"/api/v1/support/sessions/{first_room}/end")
    post(staff, f"/api/v1/support/sessions/{first_room}/handover", {"body": "Likes music."})

    ask(seeker)
    room = SupportSession.objects.get(seeker=seeker, state="active").room_id
    sam = on_shift_supporter(level="senior", handle="Sam")
    targets = staff.get("/api/v1/staff/transfer-targets").json()["supporters"]
    assert [t["handle"] for t in targets] == ["Sam"]
    moved = post(
        staff, f"/api/v1/support/sessions/{room}/transfer", {"to": "Sam", "note": "Exams."}
    )
    assert moved.json()["supporter"] == {"handle": "Sam"}
    notes = client_for(sam).get(f"/api/v1/support/sessions/{room}/notes").json()["notes"]
    assert [(n["kind"], n["body"]) for n in notes] == [
        ("transfer", "Exams."),
        ("close", "Likes music."),
    ]
    # Robin handed over: the chat is no longer his to read notes for.
    assert staff.get(f"/api/v1/support/sessions/{room}/notes").status_code == 404
    # Seekers never see staff notes.
    assert client_for(seeker).get(f"/api/v1/support/sessions/{room}/notes").status_code == 403
    assert HandoverNote.objects.count() == 2


def test_another_seeker_cannot_read_or_end_someone_elses_chat():
    on_shift_supporter()
    seeker, _, _ = ask()
    room = SupportSession.objects.get(seeker=seeker).room_id
    other = client_for(seeker_create())
    assert other.get(f"/api/v1/support/sessions/{room}").status_code == 404
    assert post(other, f"/api/v1/support/sessions/{room}/end").status_code == 404
    assert SupportSession.objects.get(room_id=room).state == "active"
