"""Services and selectors: numbering, idempotency, membership, accounts."""

import contextlib
import re
import uuid
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from peerchat import events, selectors
from peerchat.errors import BodyEmpty, BodyInvalid, BodyTooLong, RoomNotFound
from peerchat.models import Membership, Message, Room, User
from peerchat.selectors import membership_get
from peerchat.services.messages import message_send
from peerchat.services.rooms import room_member_add, room_member_remove
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_group_room

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def statements_run():
    """The SQL of every statement run meanwhile, as sent (whichever cursor ran it: the send's
    prepared statements on PostgreSQL are not in Django's captured queries' text)."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def send(room, user, body="hello", client_msg_id=None):
    return message_send(
        room_id=room.pk, sender=user, client_msg_id=client_msg_id or uuid.uuid4(), body=body
    )


def test_messages_are_numbered_per_room_without_gaps(supporter, other_supporter, room):
    other_room = make_group_room(supporter, name="Other")
    seqs = [send(room, supporter).message.seq for _ in range(3)]
    seqs.append(send(other_room, supporter).message.seq)
    seqs.append(send(room, other_supporter).message.seq)
    assert seqs == [1, 2, 3, 1, 4]
    room.refresh_from_db()
    assert room.last_seq == 4


def test_message_keeps_the_senders_role_in_the_room(supporter, room):
    Membership.objects.filter(room=room, user=supporter).update(role=Membership.Role.MODERATOR)
    assert send(room, supporter).message.sender_role == "moderator"


def test_same_client_msg_id_is_stored_once(supporter, room):
    client_msg_id = uuid.uuid4()
    first = send(room, supporter, "one", client_msg_id)
    again = send(room, supporter, "one", client_msg_id)
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1


def test_same_client_msg_id_from_two_people_is_two_messages(supporter, other_supporter, room):
    client_msg_id = uuid.uuid4()
    send(room, supporter, "a", client_msg_id)
    send(room, other_supporter, "b", client_msg_id)
    assert list(Message.objects.order_by("seq").values_list("body", "seq")) == [("a", 1), ("b", 2)]


def test_a_duplicate_loses_the_insert_and_returns_the_stored_message(supporter, room):
    """A re-send (or a concurrent twin) is caught by the unique constraint, not by a read
    before the insert: the stored message comes back and the loser's number is rolled back."""
    client_msg_id = uuid.uuid4()
    winner = send(room, supporter, "same", client_msg_id).message
    with statements_run() as statements:
        result = send(room, supporter, "same", client_msg_id)
    assert (result.created, result.message.pk) == (False, winner.pk)
    assert any("INSERT" in sql for sql in statements)
    room.refresh_from_db()
    assert room.last_seq == 1
    assert send(room, supporter, "next").message.seq == 2


def test_a_send_from_a_socket_that_holds_its_room_costs_two_statements(supporter, room):
    """The chat's hot path: take the number, then insert if the sender is a member and the
    room is open, in one statement. (The socket passes the room it joined; the filter's
    policy reads are its own.)"""
    send(room, supporter, "first")  # loads the filter's policy
    with statements_run() as statements:
        message_send(
            room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="hi", room=room
        )
    kinds = [
        sql.split()[0].upper()
        for sql in statements
        if not re.match(r"(SAVEPOINT|RELEASE|BEGIN|COMMIT)", sql, re.I) and "moderation_" not in sql
    ]
    assert kinds == ["UPDATE", "INSERT"], statements


@pytest.mark.parametrize("insert", ["_message_insert_plain", "save"])
def test_a_failed_insert_gives_its_number_back(supporter, room, insert):
    """Whether the one-statement insert fails or the model's (a screened message), the
    transaction rolls back with the number it took."""
    send(room, supporter)
    failing = (
        mock.patch.object(Message, "save", side_effect=IntegrityError("boom"))
        if insert == "save"
        else mock.patch(f"peerchat.services.messages.{insert}", side_effect=IntegrityError("boom"))
    )
    with (
        mock.patch("peerchat.services.messages._message_insert_plain", return_value=None)
        if insert == "save"
        else contextlib.nullcontext(),
        failing,
        mock.patch("peerchat.services.messages._message_by_client_id", return_value=None),
        pytest.raises(IntegrityError),
    ):
        send(room, supporter)
    room.refresh_from_db()
    assert room.last_seq == 1
    assert send(room, supporter).message.seq == 2


def test_only_members_can_send(supporter, seeker, room):
    with pytest.raises(RoomNotFound):
        send(room, seeker)
    with pytest.raises(RoomNotFound):
        message_send(room_id=987654, sender=supporter, client_msg_id=uuid.uuid4(), body="x")
    assert Message.objects.count() == 0


def test_deactivated_members_cannot_send(supporter, room):
    User.objects.filter(pk=supporter.pk).update(is_active=False)
    supporter.refresh_from_db()
    with pytest.raises(RoomNotFound):
        send(room, supporter)


@pytest.mark.parametrize(
    ("body", "error"),
    [("", BodyEmpty), (" \n\t ", BodyEmpty), ("x" * 2001, BodyTooLong), ("a\x07b", BodyInvalid)],
)
def test_bodies_are_checked(supporter, room, body, error):
    with pytest.raises(error):
        send(room, supporter, body)
    assert Message.objects.count() == 0


def test_bodies_are_stored_as_typed(supporter, room):
    body = "  <b>not markup</b>\n\tsecond line é 🙂 "
    assert send(room, supporter, body).message.body == body


def test_broadcast_happens_only_after_commit(django_capture_on_commit_callbacks, supporter, room):
    with (
        mock.patch.object(events, "publish_soon") as publish,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        send(room, supporter, "hello")
        assert publish.call_count == 0  # nothing before the commit
    assert len(callbacks) == 1
    group, event = publish.call_args.args
    assert group == f"room.{room.pk}"
    assert (event["kind"], event["room"], event["seq"]) == ("frame", room.pk, 1)
    assert '"body":"hello"' in event["text"]


def test_nothing_is_broadcast_when_the_transaction_rolls_back(supporter, room):
    with (
        mock.patch.object(events, "publish_soon") as publish,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        send(room, supporter)
        raise RuntimeError("rolled back")
    assert publish.call_count == 0
    assert Message.objects.count() == 0


def test_removing_a_member_tells_their_sockets(django_capture_on_commit_callbacks, supporter, room):
    with (
        mock.patch.object(events, "publish_soon") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert room_member_remove(room=room, user=supporter) is True
        assert room_member_remove(room=room, user=supporter) is False
    publish.assert_called_once_with(
        "users",
        {"kind": "control", "user": supporter.pk, "action": "membership_removed", "room": room.pk},
    )


def test_member_add_is_idempotent_and_updates_the_role(supporter, room):
    room_member_add(room=room, user=supporter, role=Membership.Role.MODERATOR)
    room_member_add(room=room, user=supporter, role=Membership.Role.MODERATOR)
    assert list(room.memberships.filter(user=supporter).values_list("role", flat=True)) == [
        "moderator"
    ]


# Selectors ----------------------------------------------------------------------------------------


def test_replay_returns_the_newest_when_limited(supporter, room):
    for n in range(10):
        send(room, supporter, f"m{n}")
    replay = selectors.replay_for_join(room_id=room.pk, since=2, limit=4)
    assert (replay.last_seq, replay.limited, replay.first_seq) == (10, True, 7)
    assert [m.seq for m in replay.messages] == [7, 8, 9, 10]
    replay = selectors.replay_for_join(room_id=room.pk, since=6, limit=4)
    assert (replay.limited, [m.seq for m in replay.messages]) == (False, [7, 8, 9, 10])


def test_rooms_with_the_newest_message_come_first(supporter, room):
    quiet = make_group_room(supporter, name="Quiet")
    busy_before = make_group_room(supporter, name="Busy before")
    for _ in range(3):
        send(busy_before, supporter)
    send(room, supporter)
    names = [r["name"] for r in selectors.rooms_for_user(user=supporter)]
    assert names == ["Room A", "Busy before", "Quiet"]
    assert quiet.last_message_at is None


def test_rooms_for_user_lists_only_their_rooms(supporter, other_supporter, room):
    make_group_room(other_supporter, name="Not Alex's")
    assert selectors.rooms_for_user(user=supporter) == [
        {"id": room.pk, "kind": "group", "name": "Room A", "role": "supporter", "last_seq": 0}
    ]


# Accounts -----------------------------------------------------------------------------------------


def test_seekers_start_with_nothing_but_a_friendly_handle():
    seeker = seeker_create()
    assert seeker.role == "seeker"
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ \d{2}", seeker.handle)
    assert (seeker.email, seeker.first_name, seeker.last_name) == ("", "", "")
    assert not seeker.has_usable_password()
    assert seeker.handle not in seeker.username


def test_seeker_handles_are_unique_even_when_the_generator_repeats():
    with mock.patch(
        "peerchat.services.users.handle_generate",
        side_effect=["Calm Otter 11", "Calm Otter 11", "Kind Wren 12"],
    ):
        first, second = seeker_create(), seeker_create()
    assert (first.handle, second.handle) == ("Calm Otter 11", "Kind Wren 12")


def test_supporter_level_belongs_to_supporters_only(db):
    with pytest.raises(ValidationError):
        staff_user_upsert(
            username="lee", role="supporter", password="long-password-1", handle="Lee"
        )
    user = staff_user_upsert(
        username="kai",
        role="moderator",
        password="long-password-1",
        handle="Kai",
        supporter_level="senior",
    )
    assert user.supporter_level == ""
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(supporter_level="peer")


def test_room_str_prefers_its_name(db):
    assert str(Room(kind="group", name="Evening group")) == "Evening group"
    assert str(Room(kind="one_to_one", pk=4)) == "One-to-one support #4"


@pytest.mark.django_db(transaction=True)
def test_a_member_removed_mid_send_gets_nothing_stored(supporter, room):
    """The membership is checked again under the room's lock, so a member removed between
    the first check and the insert (a deleted seeker's other tab) stores nothing."""
    stale = membership_get(room_id=room.pk, user=supporter)
    room_member_remove(room=room, user=supporter)
    with (
        mock.patch("peerchat.services.messages.membership_get", return_value=stale),
        pytest.raises(RoomNotFound),
    ):
        message_send(room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body="late")
    assert not Message.objects.filter(room=room).exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0
