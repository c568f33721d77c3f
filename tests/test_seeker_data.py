"""A seeker's own data: downloading everything held about them, and deleting it.

Deleting in the middle of a chat has a defined, kind outcome: the supporter's page is told
which messages were removed and that the chat ended, the seeker's sockets close, and the
room's numbering keeps no holes.
"""

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import authenticate
from django.test import Client
from django.utils import timezone

from peerchat import events
from peerchat.models import (
    Agreement,
    AgreementAcceptance,
    Feedback,
    HandoverNote,
    Membership,
    Message,
    Mute,
    Room,
    SafetyPlan,
    SafetyPlanShare,
    SupportRequest,
    SupportSession,
    User,
)
from peerchat.services import messages
from peerchat.services.messages import message_send
from peerchat.services.rooms import room_create
from peerchat.services.safety_plans import safety_plan_save, safety_plan_share
from peerchat.services.seeker_data import seeker_data_delete, seeker_data_export
from peerchat.services.users import seeker_create
from peerchat.tickets import ws_ticket_issue
from tests.wsclient import open_socket

CONFIRM = {"confirm": "delete my data"}
NOTE_TEXT = "Staff-only handover text, placeholder 7731."


def say(room_id: int, user: User, body: str) -> Message:
    return message_send(room_id=room_id, sender=user, client_msg_id=uuid.uuid4(), body=body).message


def make_agreement() -> Agreement:
    agreement, _ = Agreement.objects.get_or_create(
        kind=Room.Kind.ONE_TO_ONE,
        version=3,
        defaults={
            "title": "Our agreement",
            "body": "<p>Be kind.</p>",
            "confidentiality": "<p>Who can read this chat.</p>",
            "published_at": timezone.now(),
        },
    )
    return agreement


def make_chat(seeker: User, supporter: User, *, agreement: Agreement | None = None):
    """A matched request and its active one-to-one session, built directly."""
    agreement = agreement or make_agreement()
    AgreementAcceptance.objects.get_or_create(user=seeker, agreement=agreement)
    request = SupportRequest.objects.create(
        seeker=seeker,
        agreement=agreement,
        state=SupportRequest.State.MATCHED,
        safe_now=SupportRequest.SafeNow.NOT_SURE,
        urgent=True,
        topic="feelings",
        matched_at=timezone.now(),
    )
    room = room_create(
        kind=Room.Kind.ONE_TO_ONE,
        members=[(seeker, Membership.Role.SEEKER), (supporter, Membership.Role.SUPPORTER)],
    )
    return SupportSession.objects.create(
        room=room, request=request, seeker=seeker, supporter=supporter
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(seeker, supporter, other_supporter):
    """A seeker with an ended chat (feedback, staff note), a group and an active chat."""
    agreement = make_agreement()
    past = make_chat(seeker, other_supporter, agreement=agreement)
    say(past.room_id, seeker, "Earlier chat, seeker line.")
    say(past.room_id, other_supporter, "Earlier chat, supporter line.")
    SupportSession.objects.filter(pk=past.pk).update(
        state=SupportSession.State.ENDED,
        ended_at=timezone.now(),
        end_reason=SupportSession.EndReason.SEEKER_ENDED,
    )
    Feedback.objects.create(
        session=past, listened=5, helpful=4, would_return="yes", comment="Thank you, placeholder."
    )
    HandoverNote.objects.create(
        session=past, author=other_supporter, kind=HandoverNote.Kind.CLOSE, body=NOTE_TEXT
    )
    neighbour = seeker_create()
    group = room_create(
        kind=Room.Kind.GROUP,
        name="Evening group",
        members=[
            (supporter, Membership.Role.SUPPORTER),
            (seeker, Membership.Role.SEEKER),
            (neighbour, Membership.Role.SEEKER),
        ],
    )
    say(group.pk, neighbour, "Neighbour's own group line.")
    say(group.pk, seeker, "My group line.")
    Mute.objects.create(user=seeker, muted=neighbour, room=group)
    Mute.objects.create(user=neighbour, muted=seeker, room=group)
    current = make_chat(seeker, supporter, agreement=agreement)
    say(current.room_id, seeker, "Current chat, first seeker line.")
    say(current.room_id, supporter, "Current chat, supporter line.")
    say(current.room_id, seeker, "Current chat, second seeker line.")
    safety_plan_save(seeker=seeker, warning_signs="Plan placeholder.")
    safety_plan_share(seeker=seeker, room_id=current.room_id)
    return {"past": past, "current": current, "group": group, "neighbour": neighbour}


# Export ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_export_holds_everything_about_the_seeker_and_nothing_staff_only(seeker, history):
    data = seeker_data_export(seeker=seeker)
    text = json.dumps(data)  # JSON-serialisable as it is
    assert data["account"]["handle"] == seeker.handle
    assert data["account"]["created_at"].endswith("Z")
    assert [(a["version"], a["kind"]) for a in data["agreements_accepted"]] == [(3, "one_to_one")]
    assert [(r["topic"], r["safe_now_answer"]) for r in data["support_requests"]] == [
        ("How I'm feeling", "Not sure"),
        ("How I'm feeling", "Not sure"),
    ]
    past, current = data["chats"]
    assert (past["supporter"], past["how_it_ended"]) == ("Sam", "The seeker ended it")
    assert [(m["from"], m["text"]) for m in past["transcript"]] == [
        (seeker.handle, "Earlier chat, seeker line."),
        ("Sam", "Earlier chat, supporter line."),
    ]
    assert past["feedback_you_gave"]["comment"] == "Thank you, placeholder."
    assert past["staff_notes_count"] == 1
    assert (current["state"], current["supporter"]) == ("active", "Alex")
    assert [m["seq"] for m in current["transcript"]] == [1, 2, 3]
    (group,) = data["group_rooms"]
    assert [m["text"] for m in group["your_messages"]] == ["My group line."]
    assert data["safety_plan"]["warning_signs"] == "Plan placeholder."
    assert data["safety_plan"]["shared_in_chats"][0]["room"] == history["current"].room_id
    assert [m["muted"] for m in data["mutes"]] == [history["neighbour"].handle]
    assert data["staff_notes"]["count"] == 1
    assert "working notes for staff" in data["staff_notes"]["why_not_included"]
    # Not what staff wrote, and not what other people wrote where the seeker is not a party.
    assert NOTE_TEXT not in text
    assert "Neighbour's own group line." not in text


@pytest.mark.django_db
def test_the_export_leaves_out_other_peoples_chats(seeker, supporter, history):
    someone_else = seeker_create()
    theirs = make_chat(someone_else, supporter)
    say(theirs.room_id, someone_else, "Another seeker's private line.")
    text = json.dumps(seeker_data_export(seeker=seeker))
    assert "Another seeker's private line." not in text
    assert someone_else.handle not in text


@pytest.mark.django_db
def test_the_export_is_a_json_download_for_the_seeker_only(seeker, supporter, history):
    response = signed_in(seeker).get("/api/v1/me/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="peerchat-my-data.json"'
    )
    assert "no-store" in response.headers["Cache-Control"]
    assert json.loads(response.content)["account"]["handle"] == seeker.handle
    assert Client().get("/api/v1/me/export").status_code == 401
    assert signed_in(supporter).get("/api/v1/me/export").status_code == 403


# Deleting ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"confirm": "yes"}, {"confirm": "Delete my data "}])
def test_deleting_needs_the_exact_confirmation(seeker, history, body):
    response = signed_in(seeker).post("/api/v1/me/delete", body, content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (400, "confirmation_required")
    seeker.refresh_from_db()
    assert seeker.is_active
    assert Message.objects.filter(sender=seeker, removed_at__isnull=True).count() == 4


@pytest.mark.django_db
def test_deleting_needs_the_csrf_token(seeker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(seeker)
    client.get("/api/v1/me")
    refused = client.post("/api/v1/me/delete", CONFIRM, content_type="application/json")
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
    seeker.refresh_from_db()
    assert seeker.is_active
    response = client.post(
        "/api/v1/me/delete",
        CONFIRM,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.json() == {"deleted": True}


@pytest.mark.django_db
def test_deleting_empties_messages_and_cuts_every_record_loose(seeker, supporter, history):
    current, past = history["current"], history["past"]
    username = seeker.username
    client = signed_in(seeker)
    cookie = client.cookies["sessionid"].value
    response = client.post("/api/v1/me/delete", CONFIRM, content_type="application/json")
    assert response.json() == {"deleted": True}

    # Messages: empty, marked, still numbered; nobody else's touched.
    removed = Message.objects.filter(sender_id=seeker.pk).order_by("room_id", "seq")
    assert removed.count() == 4
    assert all(m.body == "" and m.removed_at is not None for m in removed)
    assert list(
        Message.objects.filter(room_id=current.room_id).order_by("seq").values_list("seq", "body")
    ) == [(1, ""), (2, "Current chat, supporter line."), (3, "")]
    assert Message.objects.get(body="Neighbour's own group line.")

    # What the supporter now reads over HTTP.
    page = signed_in(supporter).get(f"/api/v1/rooms/{current.room_id}/messages").json()
    assert [(m["seq"], m["body"], m.get("removed")) for m in page["messages"]] == [
        (1, "", True),
        (2, "Current chat, supporter line.", None),
        (3, "", True),
    ]

    # The chat ended kindly; figures keep their rows, without the person.
    current.refresh_from_db()
    assert (current.state, current.end_reason) == ("ended", "seeker_deleted")
    assert SupportSession.objects.filter(seeker__isnull=True).count() == 2
    assert SupportRequest.objects.filter(seeker__isnull=True).count() == 2
    feedback = Feedback.objects.get(session=past)
    assert (feedback.listened, feedback.helpful, feedback.comment) == (5, 4, "")
    assert HandoverNote.objects.filter(session=past).count() == 1  # staff's own record

    # Everything personal is gone.
    assert not SafetyPlan.objects.exists() and not SafetyPlanShare.objects.exists()
    assert not Mute.objects.filter(user_id=seeker.pk).exists()
    assert Mute.objects.filter(user=history["neighbour"]).exists()  # someone else's choice
    assert not AgreementAcceptance.objects.filter(user_id=seeker.pk).exists()
    assert not Membership.objects.filter(user_id=seeker.pk).exists()

    # The account is an anonymous placeholder that can never sign in.
    account = User.objects.get(pk=seeker.pk)
    assert account.handle.startswith("removed-") and account.username.startswith("removed-")
    assert account.username != username
    assert not account.is_active and not account.has_usable_password()
    assert authenticate(username=account.username, password="") is None
    assert client.get("/api/v1/me").json() == {"authenticated": False}
    stale = Client()
    stale.cookies["sessionid"] = cookie
    assert stale.get("/api/v1/me").json() == {"authenticated": False}


@pytest.mark.django_db
def test_a_second_delete_is_harmless(seeker, history):
    client = signed_in(seeker)
    first = client.post("/api/v1/me/delete", CONFIRM, content_type="application/json")
    assert first.status_code == 200
    again = client.post("/api/v1/me/delete", CONFIRM, content_type="application/json")
    assert (again.status_code, again.json()["error"]) == (401, "not_authenticated")
    # The service itself is idempotent too (two tabs at once).
    assert seeker_data_delete(seeker=User.objects.get(pk=seeker.pk)) is False


@pytest.mark.django_db
def test_deleting_while_waiting_leaves_the_queue(seeker):
    request = SupportRequest.objects.create(seeker=seeker, agreement=make_agreement())
    assert seeker_data_delete(seeker=seeker) is True
    request.refresh_from_db()
    assert (request.state, request.seeker_id) == ("left", None)
    assert request.closed_at is not None


@pytest.mark.django_db
def test_staff_cannot_use_seeker_deletion(supporter):
    response = signed_in(supporter).post(
        "/api/v1/me/delete", CONFIRM, content_type="application/json"
    )
    assert response.status_code == 403
    supporter.refresh_from_db()
    assert supporter.is_active


@pytest.mark.django_db
def test_deleting_tells_each_room_exactly_which_seqs_went(seeker, history, monkeypatch):
    monkeypatch.setattr(messages, "REMOVED_SEQS_PER_FRAME", 1)
    published = []
    publish = events.publish_on_commit

    def recording(group, event):
        published.append((group, event))
        publish(group, event)

    monkeypatch.setattr(events, "publish_on_commit", recording)
    seeker_data_delete(seeker=seeker)
    removals = sorted(
        (group, json.loads(event["text"])["seqs"])
        for group, event in published
        if event.get("kind") == "state" and '"message_removed"' in event["text"]
    )
    current, past, group = history["current"], history["past"], history["group"]
    assert removals == sorted(
        [
            (events.room_group(past.room_id), [1]),
            (events.room_group(group.pk), [2]),
            (events.room_group(current.room_id), [1]),
            (events.room_group(current.room_id), [3]),
        ]
    )


# Deleting in the middle of a chat ----------------------------------------------------------------


async def frames_until(socket, done, limit=20) -> list[dict]:
    frames = []
    for _ in range(limit):
        frame = await socket.recv()
        frames.append(frame)
        if done(frame):
            return frames
    raise AssertionError(f"never came: {frames}")


@pytest.mark.django_db(transaction=True)
async def test_deleting_mid_chat_ends_it_kindly_for_the_supporter(seeker, supporter):
    session = await database_sync_to_async(make_chat)(seeker, supporter)
    room_id = session.room_id
    for user, body in (
        (seeker, "Seeker line one."),
        (supporter, "Supporter line."),
        (seeker, "Two."),
    ):
        await database_sync_to_async(say)(room_id, user, body)
    await database_sync_to_async(safety_plan_save)(seeker=seeker, warning_signs="Placeholder.")
    await database_sync_to_async(safety_plan_share)(seeker=seeker, room_id=room_id)

    client = Client()
    await database_sync_to_async(client.force_login)(seeker)
    cookie = client.cookies["sessionid"].value
    seekers_socket = await open_socket(seeker, cookie=cookie)
    await seekers_socket.join(room_id)
    supporters_socket = await open_socket(supporter)
    await supporters_socket.join(room_id)

    response = await database_sync_to_async(client.post)(
        "/api/v1/me/delete", CONFIRM, content_type="application/json"
    )
    assert response.status_code == 200

    seen = await frames_until(
        supporters_socket, lambda f: f["type"] == "session" and f["state"] == "ended"
    )
    by_type = {frame["type"]: frame for frame in seen}
    assert by_type["message_removed"] == {
        "type": "message_removed",
        "room": room_id,
        "seqs": [1, 3],
        "by": "sender",
    }
    assert by_type["safety_plan"] == {"type": "safety_plan", "room": room_id, "shared": False}
    assert by_type["session"]["end_reason"] == "seeker_deleted"
    assert not [f for f in seen if f["type"] == "message"]  # nothing new was said

    # The seeker's own socket is closed (after, at most, the same room frames).
    for _ in range(10):
        output = await seekers_socket.communicator.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            break
    assert output == {"type": "websocket.close", "code": 4403}

    # Anyone re-joining sees the room without holes, the removed messages empty.
    await supporters_socket.join(room_id)  # re-join on the same socket
    again = await open_socket(supporter)
    joined, replay = await again.join(room_id)
    assert joined["last_seq"] == 3
    assert [(m["seq"], m["body"], m.get("removed")) for m in replay] == [
        (1, "", True),
        (2, "Supporter line.", None),
        (3, "", True),
    ]
    assert "removed" not in replay[1]

    # The old cookie no longer signs a socket in.
    stranger = await open_socket(None, cookie=cookie)
    await stranger.close()
    await supporters_socket.close()
    await again.close()

    session = await SupportSession.objects.aget(pk=session.pk)
    request = await SupportRequest.objects.aget(pk=session.request_id)
    assert (session.state, session.seeker_id, request.seeker_id) == ("ended", None, None)


@pytest.mark.django_db(transaction=True)
async def test_the_supporter_can_still_write_nothing_more_reaches_the_seeker(seeker, supporter):
    """After deletion the seeker is out of the room: the chat is over for both."""
    session = await database_sync_to_async(make_chat)(seeker, supporter)
    await database_sync_to_async(seeker_data_delete)(seeker=seeker)
    socket = await open_socket(supporter)
    await socket.join(session.room_id)
    await socket.send(
        {"type": "send", "room": session.room_id, "client_msg_id": str(uuid.uuid4()), "body": "Hi"}
    )
    error = await socket.recv_type("error")
    assert error["code"] == "session_ended"
    await socket.close()


# The pages ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_my_data_page_explains_deletion_before_anything_happens(seeker, supporter, history):
    client = signed_in(seeker)
    html = client.get("/my-data/").content.decode()
    assert 'href="/api/v1/me/export"' in html
    for words in (
        "message removed by sender",
        "cannot be undone",
        "Your chat in progress ends now",
        "nothing that says who you are",
    ):
        assert words in html
    assert "<script>" not in html and "style=" not in html
    refused = client.post("/my-data/delete/", {})
    assert refused.status_code == 400
    assert "Nothing has been deleted" in refused.content.decode()
    assert User.objects.get(pk=seeker.pk).is_active
    response = signed_in(supporter).get("/my-data/")
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")


@pytest.mark.django_db
def test_deleting_from_the_page_signs_out_and_says_so_kindly(seeker, history):
    client = signed_in(seeker)
    response = client.post("/my-data/delete/", CONFIRM)
    assert (response.status_code, response.headers["Location"]) == (302, "/my-data/deleted/")
    page = client.get("/my-data/deleted/").content.decode()
    assert "Your data has been deleted" in page
    assert "Samaritans" in page and "tel:116123" in page
    assert "Signed in as" not in page
    assert not User.objects.get(pk=seeker.pk).is_active
    # A double click lands on the same page and changes nothing.
    again = client.post("/my-data/delete/", CONFIRM)
    assert again.headers["Location"] == "/my-data/deleted/"
    assert User.objects.filter(is_active=False).count() == 1


@pytest.mark.django_db(transaction=True)
async def test_deleting_closes_sockets_signed_in_with_a_ticket_too(seeker):
    ticket = await database_sync_to_async(ws_ticket_issue)(user=seeker)
    socket = await open_socket(None)
    await socket.send({"type": "auth", "ticket": ticket})
    assert (await socket.recv_type("hello"))["authenticated"] is True
    await database_sync_to_async(seeker_data_delete)(seeker=seeker)
    for _ in range(10):
        output = await socket.communicator.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            break
    assert output == {"type": "websocket.close", "code": 4403}
