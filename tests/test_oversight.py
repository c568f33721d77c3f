"""Moderators watching over rooms: the active rooms, observing read-only with the presence
marker, whispers that seekers never see, joining openly, removing a message, pausing,
resuming and ending a chat; every read and every action audited; nobody else may do any of it.
"""

import json
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moderation.escalations import escalation_raise_by
from moderation.models import AuditEntry, MessageRemoval, RoomPresence, Whisper
from moderation.oversight import selectors, services
from peerchat import events
from peerchat.errors import Conflict, Forbidden
from peerchat.models import Membership, Message, SupportSession, User
from peerchat.services.groups import group_meeting_create, group_open
from peerchat.services.messages import message_send
from peerchat.services.sessions import session_end_by
from peerchat.services.sweep import support_sweep
from peerchat.services.users import staff_user_upsert
from tests.factories import ask, on_shift_supporter
from tests.wsclient import open_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

CONTACT = "call me on 07700 900123 tonight"
PAUSED = (
    "A moderator has paused this chat for a moment. You can still read it, and the numbers "
    "for urgent help are always here."
)


# Data and helpers ------------------------------------------------------------------------------


def moderator(username="kai", handle="Kai", role=User.Role.MODERATOR) -> User:
    return staff_user_upsert(
        username=username, role=role, password="a-long-test-password", handle=handle
    )


def chat(supporter: str = "Robin") -> SupportSession:
    """A real one-to-one chat: a supporter, on shift, matched with a new seeker."""
    on_shift_supporter(handle=supporter)
    seeker, _, _ = ask()
    return SupportSession.objects.select_related("seeker", "supporter", "room").get(seeker=seeker)


def say(room_id: int, user: User, body: str) -> Message:
    return message_send(room_id=room_id, sender=user, client_msg_id=uuid.uuid4(), body=body).message


def send(room_id: int, body: str) -> dict:
    return {"type": "send", "room": room_id, "client_msg_id": str(uuid.uuid4()), "body": body}


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post(client: Client, url: str, data: dict | None = None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def actions(**filters) -> list[str]:
    return list(
        AuditEntry.objects.filter(**filters).order_by("pk").values_list("action", flat=True)
    )


async def recv_until(socket, frame_type: str, limit: int = 12, **fields) -> dict:
    """Read frames until one of `frame_type` (with `fields`) arrives; others may come first."""
    for _ in range(limit):
        frame = await socket.recv()
        if frame["type"] == frame_type and all(frame.get(k) == v for k, v in fields.items()):
            return frame
    raise AssertionError(f"no {frame_type} frame with {fields}")


async def drain(socket, quiet: float = 0.3) -> list[dict]:
    """Every frame that arrives until the socket has been quiet for `quiet` seconds."""
    frames = []
    while not await socket.nothing(quiet):
        frames.append(await socket.recv())
    return frames


async def observing(user: User, room_id: int, since: int = 0):
    """A socket of `user` observing the room; returns it, `joined` and the replay."""
    socket = await open_socket(user)
    await socket.send({"type": "observe", "room": room_id, "since": since})
    # The room's own `presence` frame (this observer arriving) may come before or after it.
    joined = await recv_until(socket, "joined")
    replay = [await recv_until(socket, "message") for _ in range(joined["replayed"])]
    return socket, joined, replay


# The active rooms ------------------------------------------------------------------------------


def test_the_rooms_list_shows_active_chats_and_open_groups_without_any_text():
    session = chat()
    say(session.room_id, session.seeker, "A private thing I said.")
    escalation_raise_by(room_id=session.room_id, user=session.supporter, note="worried")
    ended = chat("Jo")
    session_end_by(room_id=ended.room_id, user=ended.seeker)
    facilitator = on_shift_supporter(level="senior", handle="Sam")
    now = timezone.now()
    meeting = group_meeting_create(
        title="Evening group",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        max_members=8,
        facilitator=facilitator,
    )
    group_open(meeting=meeting, by=facilitator)
    kai = moderator()
    services.presence_start(room_id=session.room_id, moderator=kai)

    response = client_for(kai).get("/api/moderation/rooms")
    assert response.status_code == 200
    data = response.json()
    [item] = data["sessions"]  # the ended chat is not listed
    assert item["room"] == session.room_id
    assert item["seeker"] == {"handle": session.seeker.handle}
    assert item["supporter"] == {"handle": "Robin"}
    assert (item["phase"], item["paused"], item["last_seq"]) == ("opening", False, 1)
    assert item["last_message_at"] and item["started_at"]
    assert item["escalation"]["state"] == "open"
    assert item["moderators"] == [{"handle": "Kai", "mode": "observing"}]
    assert item["moderator_present"] is True
    [group] = data["groups"]
    assert (group["room"], group["name"], group["members"]) == (meeting.room_id, "Evening group", 0)
    assert group["facilitator"] == {"handle": "Sam"}
    assert (group["moderator_present"], group["escalation"]) == (False, None)
    assert "private thing" not in response.content.decode()
    assert "worried" not in response.content.decode()


def test_nobody_but_moderators_and_admins_may_oversee():
    session = chat()
    say(session.room_id, session.seeker, "hello")
    room = session.room_id
    routes = [
        ("get", "/api/moderation/rooms"),
        ("get", f"/api/moderation/rooms/{room}/whispers"),
        ("post", f"/api/moderation/rooms/{room}/whispers"),
        ("post", f"/api/moderation/rooms/{room}/join"),
        ("post", f"/api/moderation/rooms/{room}/leave"),
        ("post", f"/api/moderation/rooms/{room}/messages/1/remove"),
        ("post", f"/api/moderation/rooms/{room}/pause"),
        ("post", f"/api/moderation/rooms/{room}/resume"),
        ("post", f"/api/moderation/rooms/{room}/end"),
    ]
    evaluator = staff_user_upsert(
        username="lee", role=User.Role.EVALUATOR, password="a-long-test-password", handle="Lee"
    )
    for user in (session.seeker, session.supporter, evaluator):
        client = client_for(user)
        for method, url in routes:
            response = getattr(client, method)(url, {}, content_type="application/json")
            assert (response.status_code, response.json()["error"]) == (403, "forbidden"), url
    for method, url in routes:
        response = getattr(Client(), method)(url)
        assert response.status_code == 401, url
    # Nothing happened: the message is there, the chat goes on, nothing was recorded.
    assert Message.objects.get(room_id=room, seq=1).removed_at is None
    session.refresh_from_db()
    assert (session.state, session.paused_at) == ("active", None)
    assert not Membership.objects.filter(room_id=room, role="moderator").exists()
    assert not AuditEntry.objects.exists() and not Whisper.objects.exists()
    # And the services refuse them too, whatever calls them.
    with pytest.raises(Forbidden):
        services.room_observe(room_id=room, moderator=session.supporter, since=0)
    with pytest.raises(Forbidden):
        services.session_pause(room_id=room, moderator=session.seeker)


def test_admins_may_oversee_too():
    session = chat()
    root = moderator("root", "Admin", role=User.Role.ADMIN)
    response = post(client_for(root), f"/api/moderation/rooms/{session.room_id}/pause")
    assert response.status_code == 200 and response.json()["session"]["paused"] is True


# Observing -------------------------------------------------------------------------------------


async def test_an_observer_sees_the_replay_and_live_messages_but_cannot_take_part():
    session = await db(chat)()
    await db(say)(session.room_id, session.seeker, "one")
    await db(say)(session.room_id, session.supporter, "two")
    kai = await db(moderator)()
    seeker = await open_socket(session.seeker)
    joined_before, _ = await seeker.join(session.room_id)
    assert joined_before["moderator_present"] is False

    watcher, joined, replay = await observing(kai, session.room_id, since=1)
    assert (joined["role"], joined["observing"], joined["kind"]) == (
        "observer",
        True,
        "one_to_one",
    )
    assert (joined["since"], joined["last_seq"], joined["replayed"]) == (1, 2, 1)
    assert joined["name"] == f"Chat: {session.seeker.handle} with Robin"
    assert joined["session"]["state"] == "active"
    assert joined["whispers"] == [] and joined["moderator_present"] is True
    assert [(m["seq"], m["body"]) for m in replay] == [(2, "two")]
    # No membership: observing is not being in the room.
    assert not await db(Membership.objects.filter(room_id=session.room_id, user=kai).exists)()
    entry = await db(AuditEntry.objects.get)(action="transcript_read")
    assert (entry.actor_id, entry.room_id) == (kai.pk, session.room_id)
    assert entry.detail == {"why": "observe", "since": 1}

    await seeker.send(send(session.room_id, "three"))
    live = await recv_until(watcher, "message")
    assert (live["seq"], live["body"]) == (3, "three")

    await watcher.send(send(session.room_id, "hello from the moderator"))
    refused = await recv_until(watcher, "error")
    assert refused["code"] == "read_only"
    assert refused["detail"] == "You are observing this room; join it to take part."
    assert refused["room"] == session.room_id and "client_msg_id" in refused
    await watcher.send({"type": "typing", "room": session.room_id})
    assert (await recv_until(watcher, "error"))["code"] == "read_only"
    count = await db(Message.objects.filter(room_id=session.room_id).count)()
    assert count == 3

    # Re-observing with `since` gets what was missed, without duplicates.
    await watcher.send({"type": "observe", "room": session.room_id, "since": 2})
    again = await recv_until(watcher, "joined")
    assert (again["replayed"], again["first_seq"]) == (1, 3)
    assert (await watcher.recv_type("message"))["seq"] == 3
    await watcher.send({"type": "leave", "room": session.room_id})
    assert await recv_until(watcher, "left") == {
        "type": "left",
        "room": session.room_id,
        "reason": "left",
    }
    await seeker.send(send(session.room_id, "four"))
    await recv_until(seeker, "ack")
    assert not [f for f in await drain(watcher) if f["type"] == "message"]
    await watcher.close()
    await seeker.close()


async def test_observe_is_for_moderators_and_active_rooms_only():
    session = await db(chat)()
    kai = await db(moderator)()
    for user in (session.seeker, session.supporter):
        socket = await open_socket(user)
        await socket.send({"type": "observe", "room": session.room_id})
        assert (await socket.recv_type("error"))["code"] == "forbidden"
        await socket.close()
    watcher = await open_socket(kai)
    await watcher.send({"type": "observe", "room": 999999})
    assert (await watcher.recv_type("error"))["code"] == "room_not_found"
    await db(session_end_by)(room_id=session.room_id, user=session.seeker)
    await watcher.send({"type": "observe", "room": session.room_id})
    assert (await watcher.recv_type("error"))["code"] == "session_ended"
    await watcher.close()
    assert not await db(AuditEntry.objects.filter(action="transcript_read").exists)()


async def test_a_group_room_can_be_observed():
    alex = await db(on_shift_supporter)(handle="Alex")
    now = timezone.now()
    meeting = await db(group_meeting_create)(
        title="Evening group",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        max_members=8,
        facilitator=alex,
    )
    await db(say)(meeting.room_id, alex, "Welcome, everyone.")
    kai = await db(moderator)()
    watcher, joined, replay = await observing(kai, meeting.room_id)
    assert joined["kind"] == "group" and joined["group"]["title"] == "Evening group"
    assert [m["body"] for m in replay] == ["Welcome, everyone."]
    await watcher.close()


async def test_a_resync_keeps_observed_rooms_and_drops_them_once_the_chat_ended(monkeypatch):
    from peerchat.hub import get_hub

    session = await db(chat)()
    kai = await db(moderator)()
    watcher, _, _ = await observing(kai, session.room_id)
    await drain(watcher)
    [consumer] = get_hub().members(events.room_group(session.room_id))
    # A message whose broadcast was lost (the channel layer was down) is fetched by seq.
    monkeypatch.setattr(events, "publish_on_commit", lambda group, event: None)
    await db(say)(session.room_id, session.seeker, "said during the outage")
    monkeypatch.undo()
    await consumer.hub_resync()
    missed = await recv_until(watcher, "message")
    assert (missed["seq"], missed["body"]) == (1, "said during the outage")

    monkeypatch.setattr(events, "publish_on_commit", lambda group, event: None)
    await db(session_end_by)(room_id=session.room_id, user=session.seeker)
    monkeypatch.undo()
    await consumer.hub_resync()
    assert await recv_until(watcher, "left") == {
        "type": "left",
        "room": session.room_id,
        "reason": "removed",
    }
    await watcher.close()


# The presence marker ---------------------------------------------------------------------------


async def test_members_see_a_moderator_arrive_and_leave_but_not_who():
    session = await db(chat)()
    kai = await db(moderator)()
    ash = await db(moderator)("ash", "Ash")
    seeker = await open_socket(session.seeker)
    supporter = await open_socket(session.supporter)
    await seeker.join(session.room_id)
    await supporter.join(session.room_id)

    kai_socket, _, _ = await observing(kai, session.room_id)
    arrived = {"type": "presence", "room": session.room_id, "moderator_present": True}
    for socket in (seeker, supporter):
        assert await recv_until(socket, "presence") == arrived
    # A second moderator changes nothing the room sees.
    ash_socket, _, _ = await observing(ash, session.room_id)
    assert not [f for f in await drain(seeker) if f["type"] == "presence"]
    late = await open_socket(session.seeker)
    joined, _ = await late.join(session.room_id)
    assert joined["moderator_present"] is True
    assert "whispers" not in joined  # seekers never get whispers

    # The last one going (one leaves, the other closes the page) turns the marker off.
    await kai_socket.send({"type": "leave", "room": session.room_id})
    await recv_until(kai_socket, "left")
    assert not [f for f in await drain(seeker) if f["type"] == "presence"]
    await ash_socket.close()
    gone = {"type": "presence", "room": session.room_id, "moderator_present": False}
    for socket in (seeker, supporter, late):
        assert await recv_until(socket, "presence") == gone
    presences = await db(list)(RoomPresence.objects.values_list("ended_at", flat=True))
    assert len(presences) == 2 and all(presences)
    for socket in (seeker, supporter, late, kai_socket):
        await socket.close()


async def test_a_presence_whose_page_stopped_answering_is_ended_by_the_sweep(settings):
    session = await db(chat)()
    kai = await db(moderator)()
    seeker = await open_socket(session.seeker)
    await seeker.join(session.room_id)
    # Observed from a process that then died: nothing will end or refresh the presence.
    await db(services.presence_start)(room_id=session.room_id, moderator=kai)
    await recv_until(seeker, "presence", moderator_present=True)

    await db(support_sweep)()  # still fresh: nothing happens
    assert await seeker.nothing()
    timeout = settings.OVERSIGHT["PRESENCE_TIMEOUT_SECONDS"]
    await db(RoomPresence.objects.update)(seen_at=timezone.now() - timedelta(seconds=timeout + 1))
    result = await db(support_sweep)()
    assert result.presences_ended == 1
    assert await recv_until(seeker, "presence") == {
        "type": "presence",
        "room": session.room_id,
        "moderator_present": False,
    }
    presence = await db(RoomPresence.objects.get)()
    assert presence.ended_at is not None
    await seeker.close()


async def test_an_observing_socket_keeps_its_presence_fresh(settings):
    settings.OVERSIGHT = {**settings.OVERSIGHT, "PRESENCE_INTERVAL_SECONDS": 0.05}
    session = await db(chat)()
    kai = await db(moderator)()
    watcher, _, _ = await observing(kai, session.room_id)
    first = await db(RoomPresence.objects.get)()
    await watcher.nothing(0.3)
    refreshed = await db(RoomPresence.objects.get)()
    assert refreshed.seen_at > first.seen_at and refreshed.ended_at is None
    await watcher.close()


# Whispers --------------------------------------------------------------------------------------


async def test_a_whisper_reaches_the_supporter_and_moderators_and_never_the_seeker():
    session = await db(chat)()
    kai = await db(moderator)()
    seeker = await open_socket(session.seeker)
    supporter = await open_socket(session.supporter)
    await seeker.join(session.room_id)
    await supporter.join(session.room_id)
    watcher, _, _ = await observing(kai, session.room_id)
    await drain(seeker)
    await drain(supporter)

    await watcher.send(
        {"type": "whisper", "room": session.room_id, "body": "  I'm here if you need me.  "}
    )
    frames = {f["type"]: f for f in [await watcher.recv(), await watcher.recv()]}
    whisper = await db(Whisper.objects.get)()
    assert frames["whisper_sent"] == {
        "type": "whisper_sent",
        "room": session.room_id,
        "id": whisper.pk,
    }
    expected = {
        "type": "whisper",
        "room": session.room_id,
        "id": whisper.pk,
        "from": {"handle": "Kai", "role": "moderator"},
        "body": "I'm here if you need me.",
        "sent_at": frames["whisper"]["sent_at"],
    }
    assert frames["whisper"] == expected
    assert await recv_until(supporter, "whisper") == expected

    # The supporter replies over the socket; the moderator present gets it.
    await supporter.send({"type": "whisper", "room": session.room_id, "body": "Thanks, all ok."})
    reply = await recv_until(watcher, "whisper")
    assert reply["from"] == {"handle": "Robin", "role": "supporter"}
    await recv_until(supporter, "whisper_sent")
    # Joining later shows the recent whispers to staff.
    again = await open_socket(session.supporter)
    joined, _ = await again.join(session.room_id)
    assert [w["body"] for w in joined["whispers"]] == [
        "I'm here if you need me.",
        "Thanks, all ok.",
    ]

    # The seeker's socket received nothing at all, and a seeker may not whisper.
    assert await seeker.nothing(0.5)
    await seeker.send({"type": "whisper", "room": session.room_id, "body": "hello?"})
    assert (await seeker.recv_type("error"))["code"] == "forbidden"
    assert await db(Whisper.objects.count)() == 2
    assert await db(actions)(action="whisper_sent") == ["whisper_sent", "whisper_sent"]
    for socket in (seeker, supporter, watcher, again):
        await socket.close()


def test_whisper_rules():
    session = chat()
    kai = moderator()
    other = on_shift_supporter(handle="Sam")
    room = session.room_id

    def code_of(**kwargs):
        with pytest.raises(Exception) as caught:
            services.whisper_send(room_id=room, **kwargs)
        return caught.value.code

    assert code_of(author=kai, body="hi") == "not_observing"  # neither observing nor a member
    assert code_of(author=other, body="hi") == "room_not_found"  # not this room's supporter
    assert code_of(author=session.seeker, body="hi") == "forbidden"
    services.presence_start(room_id=room, moderator=kai)
    assert code_of(author=kai, body="   ") == "body_empty"
    assert code_of(author=kai, body="x" * 2001) == "body_too_long"
    services.whisper_send(room_id=room, author=kai, body="x" * 2000)

    client = client_for(kai)
    response = post(client, f"/api/moderation/rooms/{room}/whispers", {"body": "Over HTTP."})
    assert response.status_code == 201
    assert response.json()["whisper"]["from"] == {"handle": "Kai", "role": "moderator"}
    listed = client.get(f"/api/moderation/rooms/{room}/whispers").json()
    assert [w["body"][:5] for w in listed["whispers"]] == ["xxxxx", "Over "]
    response = post(client, f"/api/moderation/rooms/{room}/whispers", {"body": ""})
    assert (response.status_code, response.json()["error"]) == (400, "body_empty")
    assert selectors.whisper_recipient_ids(room_id=room, author_id=kai.pk) == sorted(
        [kai.pk, session.supporter_id]
    )


# Joining openly --------------------------------------------------------------------------------


async def test_a_moderator_joins_openly_talks_through_the_filter_and_leaves():
    session = await db(chat)()
    kai = await db(moderator)()
    seeker = await open_socket(session.seeker)
    await seeker.join(session.room_id)
    client = await db(client_for)(kai)
    room = session.room_id

    response = await db(post)(client, f"/api/moderation/rooms/{room}/join")
    assert response.status_code == 200
    assert await recv_until(seeker, "presence") == {
        "type": "presence",
        "room": room,
        "moderator_present": True,
        "joined": {"handle": "Kai", "role": "moderator"},
    }
    mod = await open_socket(kai)
    joined, _ = await mod.join(room)
    assert (joined["role"], joined["moderator_present"]) == ("moderator", True)
    assert "observing" not in joined and joined["whispers"] == []

    await mod.send(send(room, CONTACT))
    ack = await recv_until(mod, "ack")
    assert ack["status"] == "masked"
    seen = await recv_until(seeker, "message")
    assert seen["sender"] == {"handle": "Kai", "role": "moderator"}
    assert "07700" not in seen["body"] and seen["status"] == "masked"

    # Their page closes: no longer present (still a member); it comes back: present again.
    await mod.close()
    await recv_until(seeker, "presence", moderator_present=False)
    mod = await open_socket(kai)
    await mod.join(room)
    assert await recv_until(seeker, "presence") == {
        "type": "presence",
        "room": room,
        "moderator_present": True,
    }

    response = await db(post)(client, f"/api/moderation/rooms/{room}/leave")
    assert response.json() == {"room": room, "member": False, "left": True}
    assert await recv_until(seeker, "presence") == {
        "type": "presence",
        "room": room,
        "moderator_present": False,
        "left": {"handle": "Kai", "role": "moderator"},
    }
    assert (await recv_until(mod, "left"))["reason"] == "removed"
    assert not await db(Membership.objects.filter(room_id=room, user=kai).exists)()
    assert await db(actions)(room_id=room) == [
        "room_joined",
        "transcript_read",
        "transcript_read",
        "room_left",
    ]
    entry = await db(AuditEntry.objects.filter(action="transcript_read").first)()
    assert entry.detail == {"why": "member_join", "since": 0}
    await seeker.close()
    await mod.close()


# Removing a message ----------------------------------------------------------------------------


async def test_removing_a_message_leaves_a_neutral_marker_live_and_on_replay():
    session = await db(chat)()
    kai = await db(moderator)()
    room = session.room_id
    await db(say)(room, session.seeker, "hello")
    await db(say)(room, session.supporter, "Something that should not stay.")
    seeker = await open_socket(session.seeker)
    supporter = await open_socket(session.supporter)
    await seeker.join(room)
    await supporter.join(room)
    client = await db(client_for)(kai)
    url = f"/api/moderation/rooms/{room}/messages/2/remove"

    response = await db(post)(client, url, {"reason": "Unkind to the seeker."})
    assert response.status_code == 200
    assert response.json()["removed_by"] == "moderator"
    removed = {"type": "message_removed", "room": room, "seqs": [2], "by": "moderator"}
    for socket in (seeker, supporter):
        assert await recv_until(socket, "message_removed") == removed

    removal = await db(MessageRemoval.objects.select_related("message").get)()
    assert removal.original_body == "Something that should not stay."
    assert (removal.reason, removal.removed_by_id) == ("Unkind to the seeker.", kai.pk)
    message = removal.message
    assert (message.body, message.removed_by) == ("", "moderator")
    assert message.removed_at is not None

    again = await open_socket(session.seeker)
    _, replay = await again.join(room)
    assert [(m["seq"], m["body"], m.get("removed"), m.get("removed_by")) for m in replay] == [
        (1, "hello", None, None),
        (2, "", True, "moderator"),
    ]
    page = await db(client_for)(session.supporter)
    listed = (await db(page.get)(f"/api/v1/rooms/{room}/messages")).json()["messages"]
    assert listed[1]["removed_by"] == "moderator" and listed[1]["body"] == ""

    # Again: the same answer, nothing new sent or recorded.
    repeat = await db(post)(client, url, {"reason": "Again."})
    assert repeat.status_code == 200
    assert not [f for f in await drain(seeker) if f["type"] == "message_removed"]
    assert await db(MessageRemoval.objects.count)() == 1
    [entry] = await db(list)(AuditEntry.objects.filter(action="message_removed"))
    assert (entry.actor_id, entry.subject_id, entry.room_id) == (
        kai.pk,
        session.supporter_id,
        room,
    )
    assert entry.detail == {"seq": 2, "removal": removal.pk}
    assert "should not stay" not in json.dumps(entry.detail)
    for socket in (seeker, supporter, again):
        await socket.close()


def test_removal_needs_a_reason_and_a_message():
    session = chat()
    say(session.room_id, session.seeker, "hello")
    client = client_for(moderator())
    url = f"/api/moderation/rooms/{session.room_id}/messages"
    response = post(client, f"{url}/1/remove", {"reason": "  "})
    assert (response.status_code, response.json()["error"]) == (400, "reason_required")
    response = post(client, f"{url}/9/remove", {"reason": "Unkind."})
    assert (response.status_code, response.json()["error"]) == (404, "message_not_found")
    assert not MessageRemoval.objects.exists()


# Pausing, resuming, ending ---------------------------------------------------------------------


async def test_a_paused_chat_refuses_sends_kindly_until_it_is_resumed():
    session = await db(chat)()
    kai = await db(moderator)()
    room = session.room_id
    seeker = await open_socket(session.seeker)
    await seeker.join(room)
    client = await db(client_for)(kai)

    response = await db(post)(client, f"/api/moderation/rooms/{room}/pause", {"note": "Checking."})
    assert response.json()["session"]["paused"] is True
    told = await recv_until(seeker, "session")
    assert (told["paused"], told["state"]) == (True, "active")

    await seeker.send(send(room, "are you there?"))
    refused = await recv_until(seeker, "error")
    assert (refused["code"], refused["detail"]) == ("session_paused", PAUSED)
    with pytest.raises(Conflict) as caught:
        await db(say)(room, session.supporter, "me neither")
    assert caught.value.code == "session_paused"
    # Pausing again changes nothing and records nothing.
    await db(post)(client, f"/api/moderation/rooms/{room}/pause")

    response = await db(post)(client, f"/api/moderation/rooms/{room}/resume")
    assert response.json()["session"]["paused"] is False
    assert (await recv_until(seeker, "session"))["paused"] is False
    await seeker.send(send(room, "are you there?"))
    assert (await recv_until(seeker, "ack"))["status"] == "delivered"
    assert await db(actions)(room_id=room) == ["session_paused", "session_resumed"]
    entry = await db(AuditEntry.objects.get)(action="session_paused")
    assert (entry.actor_id, entry.detail) == (kai.pk, {"note": "Checking."})
    await seeker.close()


def test_a_moderator_in_the_room_may_still_write_while_it_is_paused():
    session = chat()
    kai = moderator()
    services.room_join_openly(room_id=session.room_id, moderator=kai)
    services.session_pause(room_id=session.room_id, moderator=kai)
    message = say(session.room_id, kai, "I've paused this for a moment; I'm here with you.")
    assert message.seq == 1


async def test_a_moderator_ends_a_chat():
    session = await db(chat)()
    kai = await db(moderator)()
    room = session.room_id
    seeker = await open_socket(session.seeker)
    await seeker.join(room)
    client = await db(client_for)(kai)

    response = await db(post)(client, f"/api/moderation/rooms/{room}/end", {"note": "Done."})
    assert response.status_code == 200
    assert response.json()["session"]["end_reason"] == "moderator_ended"
    told = await recv_until(seeker, "session")
    assert (told["state"], told["end_reason"]) == ("ended", "moderator_ended")
    again = await db(post)(client, f"/api/moderation/rooms/{room}/end")
    assert again.status_code == 200
    response = await db(post)(client, f"/api/moderation/rooms/{room}/pause")
    assert (response.status_code, response.json()["error"]) == (409, "session_ended")
    assert await db(actions)(room_id=room) == ["session_ended"]
    await seeker.close()


# The audit log in the admin --------------------------------------------------------------------


def test_the_audit_log_can_be_searched_by_who_did_it():
    session = chat()
    kai = moderator()
    services.session_pause(room_id=session.room_id, moderator=kai)
    root = User.objects.create_superuser("root", password="a-long-admin-password")
    client = client_for(root)
    url = reverse("admin:moderation_auditentry_changelist")
    assert client.get(url, {"q": "Kai"}).context["cl"].result_count == 1
    assert client.get(url, {"q": "Nobody"}).context["cl"].result_count == 0
    page = client.get(url, {"action__exact": "session_paused"})
    assert page.context["cl"].result_count == 1
    assert list(page.context["cl"].list_display[:2]) == ["action", "actor"]
