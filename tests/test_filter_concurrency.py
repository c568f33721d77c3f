"""Moderators deciding at once, and releases racing ordinary sends (PostgreSQL only).

Only one decision may win for a held message, and a released message takes its `seq` under
the same room lock as every send, so numbers stay gapless whatever the interleaving.
"""

import uuid

import pytest

from moderation import services as moderation_services
from moderation.models import AuditEntry, Screening
from peerchat.errors import Conflict
from peerchat.models import Membership, Message, Room, User
from peerchat.services.messages import message_send
from peerchat.services.rooms import room_create
from peerchat.services.users import seeker_create, staff_user_upsert
from tests.conftest import make_supporter
from tests.test_seq_concurrency_postgres import postgres_only, run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

__all__ = ["postgres_only"]  # a fixture, used by name

HELD = "how many pills would it take"


def moderators(count: int) -> list[User]:
    return [
        staff_user_upsert(
            username=f"mod{i}",
            role=User.Role.MODERATOR,
            password="a-long-test-password",
            handle=f"Mod {i}",
        )
        for i in range(count)
    ]


def chat_room():
    supporter, seeker = make_supporter(), seeker_create()
    room = room_create(
        kind=Room.Kind.ONE_TO_ONE,
        name="",
        members=[(supporter, Membership.Role.SUPPORTER), (seeker, Membership.Role.SEEKER)],
    )
    return room, supporter, seeker


def test_only_one_of_many_moderators_decides_a_held_message():
    room, _, seeker = chat_room()
    held = message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
    staff = moderators(8)

    def decide(i):
        service = (
            moderation_services.screening_release if i % 2 else moderation_services.screening_keep
        )
        try:
            service(screening_id=held.screening.pk, moderator=staff[i])
        except Conflict as refused:
            assert refused.code == "already_reviewed"
            return False
        return True

    results = run_in_threads(8, decide)
    assert results.count(True) == 1
    screening = Screening.objects.get(pk=held.screening.pk)
    decisions = AuditEntry.objects.filter(action__in=["filter_release", "filter_keep"])
    assert decisions.count() == 1
    assert decisions.get().actor_id == screening.reviewed_by_id
    room.refresh_from_db()
    assert room.last_seq == (1 if screening.review == "released" else 0)


def test_releases_racing_sends_keep_seq_gapless():
    room, supporter, seeker = chat_room()
    waiting = [
        message_send(room_id=room.pk, sender=seeker, client_msg_id=uuid.uuid4(), body=HELD)
        for _ in range(6)
    ]
    staff = moderators(6)

    def work(i):
        if i < 6:
            moderation_services.screening_release(
                screening_id=waiting[i].screening.pk, moderator=staff[i]
            )
        else:
            message_send(
                room_id=room.pk, sender=supporter, client_msg_id=uuid.uuid4(), body=f"hello {i}"
            )

    run_in_threads(12, work)
    seqs = sorted(Message.objects.filter(room=room).values_list("seq", flat=True))
    assert seqs == list(range(1, 13))
    room.refresh_from_db()
    assert room.last_seq == 12
