"""The filter on the real send path: what the sender, the room and moderators each see.

Test phrases are harmless placeholders that exercise the rules (see moderation/corpus).
"""

import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from moderation import services as moderation_services
from moderation.models import AuditEntry, FilterCase, PolicyTerm, Screening
from peerchat.errors import Conflict
from peerchat.models import Membership, Message, Room, User
from peerchat.services.messages import message_send
from peerchat.services.rooms import room_create
from peerchat.services.users import staff_user_upsert
from tests.conftest import make_group_room
from tests.wsclient import open_socket, sockets_in_room

pytestmark = pytest.mark.django_db(transaction=True)

HELD = "how many pills would it take"
BLOCKED = "kys"
CONTACT = "call me on 07700 900123 tonight"
GRAPHIC = "there was blood everywhere and it wouldnt stop"
IMMINENT = "im going to do it tonight"
FINE = "holding ice helped me a lot"


def moderator(name="kai") -> User:
    return staff_user_upsert(
        username=name, role=User.Role.MODERATOR, password="a-long-test-password", handle="Kai"
    )


def one_to_one(supporter, seeker) -> Room:
    return room_create(
        kind=Room.Kind.ONE_TO_ONE,
        name="",
        members=[(supporter, Membership.Role.SUPPORTER), (seeker, Membership.Role.SEEKER)],
    )


def send(room_id, body, client_msg_id=None):
    return {
        "type": "send",
        "room": room_id,
        "client_msg_id": client_msg_id or str(uuid.uuid4()),
        "body": body,
    }


async def watching_moderator():
    kai = await database_sync_to_async(moderator)()
    socket = await open_socket(kai)
    await socket.send({"type": "watch", "topic": "moderation"})
    await socket.recv_type("watching")
    snapshot = await socket.recv_type("review_queue")
    return kai, socket, snapshot


async def test_held_message_reaches_nobody_and_the_sender_gets_a_kind_note(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    _, mod, snapshot = await watching_moderator()
    assert snapshot["items"] == []

    await sam.send(send(room.pk, HELD))
    ack = await sam.recv_type("ack")
    assert ack["status"] == "held"
    assert ack["seq"] is None
    assert "Only you can see this for now" in ack["note"]
    assert "your supporter is still here" in ack["note"]
    assert "violation" not in ack["note"].lower()
    assert [r["name"] for r in ack["resources"]][:2] == ["Emergency services", "Samaritans"]
    assert await alex.nothing()
    assert await sam.nothing()

    item = (await mod.recv_type("review_item"))["item"]
    assert item["body"] == HELD
    assert item["action"] == "hold"
    assert item["review"] == "pending"
    assert item["categories"] == ["method"]
    assert item["rule_ids"] == ["method.means_amount"]
    assert item["sender"]["role"] == "seeker"
    assert item["spans"]  # where the rule found its evidence

    stored = await database_sync_to_async(Message.objects.get)(room=room)
    assert (stored.seq, stored.status) == (None, "held")
    room_after = await database_sync_to_async(Room.objects.get)(pk=room.pk)
    assert room_after.last_seq == 0  # no number taken: seq stays gapless for everyone
    for socket in (alex, sam, mod):
        await socket.close()


async def test_resending_a_held_message_gets_the_same_ack_and_stores_nothing(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    (sam,) = await sockets_in_room(room.pk, seeker)
    frame = send(room.pk, HELD)
    await sam.send(frame)
    first = await sam.recv_type("ack")
    await sam.send(frame)
    again = await sam.recv_type("ack")
    assert again == first
    assert await database_sync_to_async(Message.objects.count)() == 1
    assert await database_sync_to_async(Screening.objects.count)() == 1
    await sam.close()


async def test_release_delivers_the_message_with_the_next_seq_to_everyone(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    kai, mod, _ = await watching_moderator()
    await alex.send(send(room.pk, "hello, I'm here"))
    await alex.ack_and_message()
    await sam.recv_type("message")

    held = send(room.pk, HELD)
    await sam.send(held)
    await sam.recv_type("ack")
    item = (await mod.recv_type("review_item"))["item"]

    released = await database_sync_to_async(moderation_services.screening_release)(
        screening_id=item["id"], moderator=kai, note="Talked it over; fine in context."
    )
    assert released.review == "released"
    for socket in (alex, sam):
        message = await socket.recv_type("message")
        assert (message["seq"], message["body"]) == (2, HELD)
        assert message["client_msg_id"] == held["client_msg_id"]
        assert message["status"] == "delivered"
    update = (await mod.recv_type("review_item"))["item"]
    assert (update["review"], update["reviewed_by"], update["seq"]) == ("released", "Kai", 2)
    assert update["notes"][0]["body"] == "Talked it over; fine in context."
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="filter_release")
    assert entry.actor_id == kai.pk and entry.subject_id == seeker.pk

    with pytest.raises(Conflict) as refused:
        await database_sync_to_async(moderation_services.screening_keep)(
            screening_id=item["id"], moderator=kai
        )
    assert refused.value.code == "already_reviewed"
    assert "Kai already decided" in refused.value.detail
    for socket in (alex, sam, mod):
        await socket.close()


async def test_joining_again_shows_the_sender_their_own_waiting_messages(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    (sam,) = await sockets_in_room(room.pk, seeker)
    frame = send(room.pk, HELD)
    await sam.send(frame)
    await sam.recv_type("ack")
    await sam.close()

    sam, alex = await open_socket(seeker), await open_socket(supporter)
    joined, replay = await sam.join(room.pk)
    assert replay == []
    (held,) = joined["held"]
    assert held["client_msg_id"] == frame["client_msg_id"]
    assert (held["body"], held["status"]) == (HELD, "held")
    assert "Only you can see this" in held["note"]
    other_joined, _ = await alex.join(room.pk)
    assert "held" not in other_joined  # nobody else learns of it
    await sam.close()
    await alex.close()


async def test_blocked_message_is_kept_back_with_a_kind_note(room, supporter, other_supporter):
    alex, sam = await sockets_in_room(room.pk, supporter, other_supporter)
    await alex.send(send(room.pk, BLOCKED))
    ack = await alex.recv_type("ack")
    assert (ack["status"], ack["seq"]) == ("blocked", None)
    assert "wasn't shared" in ack["note"]
    assert ack["resources"]
    assert await sam.nothing()
    screening = await database_sync_to_async(Screening.objects.get)()
    assert (screening.action, screening.review) == ("block", "pending")
    await alex.close()
    await sam.close()


async def test_contact_details_are_masked_and_moderators_told(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    _, mod, _ = await watching_moderator()
    await sam.send(send(room.pk, CONTACT))
    ack, own = await sam.ack_and_message()
    assert ack["status"] == "masked"
    assert "contact details hidden" in ack["note"]
    seen = await alex.recv_type("message")
    assert seen["body"] == own["body"] == "call me on [contact details hidden] tonight"
    assert "07700" not in seen["body"]
    alert = (await mod.recv_type("filter_alert"))["item"]
    assert alert["body"] == CONTACT  # moderators see what was typed
    assert alert["delivered_body"] == seen["body"]
    assert alert["categories"] == ["contact"]
    for socket in (alex, sam, mod):
        await socket.close()


async def test_graphic_text_is_behind_a_warning_in_one_to_one_and_held_in_groups(
    supporter, seeker, other_supporter
):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    await sam.send(send(room.pk, GRAPHIC))
    ack, own = await sam.ack_and_message()
    assert ack["status"] == "delivered"
    assert own["content_warning"] == "graphic"
    seen = await alex.recv_type("message")
    assert (seen["body"], seen["content_warning"]) == (GRAPHIC, "graphic")
    await alex.close()
    await sam.close()

    group = await database_sync_to_async(make_group_room)(supporter, other_supporter)
    alex, robin = await sockets_in_room(group.pk, supporter, other_supporter)
    await alex.send(send(group.pk, GRAPHIC))
    ack = await alex.recv_type("ack")
    assert (ack["status"], ack["seq"]) == ("held", None)
    assert "everyone is still here" in ack["note"]
    assert await robin.nothing()
    await alex.close()
    await robin.close()


async def test_imminent_danger_is_delivered_escalated_and_the_sender_given_resources(
    supporter, seeker
):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    _, mod, _ = await watching_moderator()
    await sam.send(send(room.pk, IMMINENT))
    ack, _ = await sam.ack_and_message()
    assert ack["status"] == "delivered" and ack["seq"] == 1
    assert ack["escalate"] is True
    assert ack["resources"] and "Thank you for telling us" in ack["note"]
    # The supporter gets the message and, as the room's supporter, the escalation it raised.
    frames = {frame["type"]: frame for frame in [await alex.recv(), await alex.recv()]}
    assert set(frames) == {"message", "escalation_status"}, frames
    seen = frames["message"]
    assert seen["body"] == IMMINENT and "content_warning" not in seen
    assert frames["escalation_status"]["escalation"]["state"] == "open"
    alert = (await mod.recv_type("filter_alert"))["item"]
    assert alert["escalate"] is True and alert["categories"] == ["imminent"]
    screening = await database_sync_to_async(Screening.objects.get)()
    assert screening.escalate and screening.review == "not_needed"
    for socket in (alex, sam, mod):
        await socket.close()


async def test_supporters_messages_are_checked_too(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    await alex.send(send(room.pk, HELD))
    assert (await alex.recv_type("ack"))["status"] == "held"
    assert await sam.nothing()
    await alex.close()
    await sam.close()


async def test_ordinary_and_coping_talk_passes_untouched(supporter, seeker):
    room = await database_sync_to_async(one_to_one)(supporter, seeker)
    alex, sam = await sockets_in_room(room.pk, supporter, seeker)
    await sam.send(send(room.pk, FINE))
    ack, own = await sam.ack_and_message()
    assert ack["status"] == "delivered" and "note" not in ack and "content_warning" not in own
    assert (await alex.recv_type("message"))["body"] == FINE
    assert await database_sync_to_async(Screening.objects.count)() == 0
    await alex.close()
    await sam.close()


async def test_only_moderators_and_admins_may_watch_the_review_queue(supporter):
    socket = await open_socket(supporter)
    await socket.send({"type": "watch", "topic": "moderation"})
    error = await socket.recv_type("error")
    assert error["code"] == "forbidden"
    await socket.close()


def test_keep_is_final_and_the_sender_still_sees_it_as_not_shared(supporter, seeker):
    room = one_to_one(supporter, seeker)
    kai = moderator()
    result = message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
    kept = moderation_services.screening_keep(
        screening_id=result.screening.pk, moderator=kai, note="not for this room"
    )
    assert kept.review == "kept"
    assert Message.objects.get(pk=result.message.pk).seq is None
    again = message_send(
        room_id=room.pk, sender=seeker, client_msg_id=result.message.client_msg_id, body=HELD
    )
    from moderation.screening import sender_note

    assert "wasn't shared" in sender_note(again.message, again.screening)["note"]
    assert AuditEntry.objects.filter(action="filter_keep", actor=kai).count() == 1


def test_release_of_a_message_whose_sender_deleted_their_data_is_refused(supporter, seeker):
    from peerchat.services.seeker_data import seeker_data_delete

    room = one_to_one(supporter, seeker)
    kai = moderator()
    result = message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
    seeker_data_delete(seeker=seeker)
    with pytest.raises(Conflict) as refused:
        moderation_services.screening_release(screening_id=result.screening.pk, moderator=kai)
    assert refused.value.code in ("message_removed", "already_reviewed")


# The moderators' API -------------------------------------------------------------------------


def api(user):
    client = Client()
    client.force_login(user)
    return client


def test_review_api_is_for_moderators_only(supporter, seeker):
    assert api(supporter).get("/api/moderation/queue").status_code == 403
    assert (
        api(seeker).post("/api/moderation/try", {"text": "x"}, "application/json").status_code
        == 403
    )
    assert Client().get("/api/moderation/queue").status_code == 401
    assert api(supporter).get("/moderation/").status_code == 302


def test_try_a_phrase_explains_the_verdict(db):
    client = api(moderator())
    answer = client.post(
        "/api/moderation/try", {"text": HELD, "room_kind": "group"}, "application/json"
    )
    verdict = answer.json()["verdict"]
    assert verdict["action"] == "hold"
    assert verdict["rule_ids"] == ["method.means_amount"]
    assert [HELD[s:e] for s, e, _ in verdict["spans"]] == ["how many", "pills"]
    bad = client.post(
        "/api/moderation/try", {"text": "x", "room_kind": "lobby"}, "application/json"
    )
    assert bad.status_code == 400
    empty = client.post("/api/moderation/try", {"text": "  "}, "application/json")
    assert empty.json()["error"] == "body_empty"


def test_a_moderators_term_takes_effect_and_can_be_removed(db):
    client = api(moderator())
    phrase = "how many zorblex would it take"
    assert (
        client.post("/api/moderation/try", {"text": phrase}, "application/json").json()["verdict"][
            "action"
        ]
        == "allow"
    )
    added = client.post(
        "/api/moderation/terms",
        {"group": "means", "term": "zorblex", "note": "made-up word for the test"},
        "application/json",
    )
    assert added.status_code == 201
    version = added.json()["policy_version"]
    assert version.endswith("+db.1")
    verdict = client.post("/api/moderation/try", {"text": phrase}, "application/json").json()[
        "verdict"
    ]
    assert (verdict["action"], verdict["policy_version"]) == ("hold", version)
    duplicate = client.post(
        "/api/moderation/terms", {"group": "means", "term": "Zorblex"}, "application/json"
    )
    assert duplicate.status_code == 409
    assert (
        client.post(
            "/api/moderation/terms", {"group": "no_such_group", "term": "x"}, "application/json"
        ).status_code
        == 400
    )
    listed = client.get("/api/moderation/terms").json()
    assert [t["term"] for t in listed["terms"]] == ["zorblex"]
    assert "means" in listed["groups"] and "allowed_domain" in listed["groups"]
    term_id = listed["terms"][0]["id"]
    assert (
        client.delete(f"/api/moderation/terms/{term_id}").json()["policy_version"].endswith("+db.2")
    )
    assert (
        client.post("/api/moderation/try", {"text": phrase}, "application/json").json()["verdict"][
            "action"
        ]
        == "allow"
    )
    assert client.delete(f"/api/moderation/terms/{term_id}").status_code == 404
    assert AuditEntry.objects.filter(action__startswith="filter_term").count() == 2


def test_an_allowed_domain_added_by_a_moderator_lets_its_links_through(db):
    client = api(moderator())
    text = "this page helped me https://support.example.org/coping"
    assert (
        client.post("/api/moderation/try", {"text": text}, "application/json").json()["verdict"][
            "action"
        ]
        == "hold"
    )
    client.post(
        "/api/moderation/terms",
        {"group": "allowed_domain", "term": "example.org"},
        "application/json",
    )
    assert (
        client.post("/api/moderation/try", {"text": text}, "application/json").json()["verdict"][
            "action"
        ]
        == "allow"
    )


def test_other_processes_pick_up_a_policy_change_without_a_restart(db, settings):
    """Another process changed the policy: this one sees it at its next check."""
    from moderation.filter import check
    from moderation.models import PolicyState

    settings.FILTER = {"RELOAD_SECONDS": 0}
    assert check("how many zorblex would it take").action == "allow"
    # What policy_term_add does on another process: no forget() reaches this one.
    PolicyTerm.objects.create(group="means", term="zorblex")
    PolicyState.objects.update_or_create(pk=1, defaults={"revision": 7})
    verdict = check("how many zorblex would it take")
    assert (verdict.action, verdict.policy_version.endswith("+db.7")) == ("hold", True)


def test_reported_cases_export_without_identities(supporter, seeker):
    room = one_to_one(supporter, seeker)
    kai = moderator()
    result = message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
    client = api(kai)
    reported = client.post(
        f"/api/moderation/items/{result.screening.pk}/report",
        {"kind": "false_positive", "expected": "ok", "note": "a question about a prescription"},
        "application/json",
    )
    assert reported.status_code == 201
    client.post(
        "/api/moderation/cases",
        {
            "text": "a phrase it missed",
            "room_kind": "group",
            "kind": "missed",
            "expected": "method",
        },
        "application/json",
    )
    export = client.get("/api/moderation/cases.jsonl")
    assert export["Content-Type"] == "application/x-ndjson"
    lines = [line for line in export.content.decode().splitlines() if line]
    assert len(lines) == 2
    import json

    first, second = (json.loads(line) for line in lines)
    assert first["text"] == HELD and first["label"] == "reported_ok"
    assert first["expect"] == {"action": "allow", "escalate": False}
    assert second["expect"]["action"] == "hold" and second["room_kind"] == "group"
    text = export.content.decode()
    for identity in (seeker.handle, supporter.handle, "Kai", str(room.pk)):
        assert f'"{identity}"' not in text
    assert FilterCase.objects.count() == 2
    bad = client.post(
        "/api/moderation/cases",
        {"text": "x", "kind": "sometimes", "expected": "method"},
        "application/json",
    )
    assert bad.status_code == 400


def test_queue_api_lists_waiting_items_and_decisions(supporter, seeker):
    room = one_to_one(supporter, seeker)
    kai = moderator()
    waiting = message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
    message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=IMMINENT)
    client = api(kai)
    queue = client.get("/api/moderation/queue").json()
    assert [i["id"] for i in queue["items"]] == [waiting.screening.pk]
    assert [i["escalate"] for i in queue["alerts"]] == [True]
    released = client.post(
        f"/api/moderation/items/{waiting.screening.pk}/release", {}, "application/json"
    )
    assert released.json()["item"]["review"] == "released"
    again = client.post(
        f"/api/moderation/items/{waiting.screening.pk}/keep", {}, "application/json"
    )
    assert again.status_code == 409 and again.json()["error"] == "already_reviewed"
    noted = client.post(
        f"/api/moderation/items/{waiting.screening.pk}/notes", {"body": "ok"}, "application/json"
    )
    assert noted.json()["item"]["notes"][0]["author"] == "Kai"
    queue = client.get("/api/moderation/queue").json()
    assert queue["items"] == [] and queue["decided"][0]["review"] == "released"
    assert (
        client.post("/api/moderation/items/999999/release", {}, "application/json").status_code
        == 404
    )


def test_admins_can_read_the_filter_records(supporter, seeker):
    from peerchat.services.users import staff_user_upsert as upsert

    room = one_to_one(supporter, seeker)
    message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
    admin_user = upsert(
        username="root", role=User.Role.ADMIN, password="a-long-test-password", handle="Admin"
    )
    client = api(admin_user)
    for page in ("screening", "policyterm", "filtercase", "auditentry"):
        assert client.get(f"/admin/moderation/{page}/").status_code == 200, page
    assert client.get("/admin/moderation/screening/add/").status_code == 403
