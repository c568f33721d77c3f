"""Seq numbering under real concurrency: many threads, each with its own PostgreSQL connection."""

import threading
import uuid

import pytest
from django.db import connection, connections

from peerchat.models import Message, Room
from peerchat.services.messages import message_send
from tests.conftest import make_group_room, make_supporter

THREADS = 12
PER_THREAD = 15


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")


def run_in_threads(count: int, work) -> list:
    """Run `work(i)` in `count` threads released at once; return results, re-raise failures."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    failures: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            failures.append(error)
        finally:
            connections.close_all()  # each thread opened its own connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a sender thread hung"
    if failures:
        raise failures[0]
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_seqs_exactly_one_to_n(postgres_only):
    senders = [make_supporter() for _ in range(4)]
    room = make_group_room(*senders)

    def send_many(i: int) -> list[tuple[str, int]]:
        sender = senders[i % len(senders)]
        sent = []
        for n in range(PER_THREAD):
            cid = uuid.uuid4()
            result = message_send(
                room_id=room.pk, sender=sender, client_msg_id=cid, body=f"msg {n} from {i}"
            )
            assert result.created
            sent.append((str(cid), result.message.seq))
        return sent

    per_thread = run_in_threads(THREADS, send_many)
    sent = [pair for pairs in per_thread for pair in pairs]
    total = THREADS * PER_THREAD
    assert sorted(seq for _, seq in sent) == list(range(1, total + 1))
    for pairs in per_thread:  # each thread's messages are numbered in the order it sent them
        assert [seq for _, seq in pairs] == sorted(seq for _, seq in pairs)
    stored = dict(
        Message.objects.filter(room=room).values_list("client_msg_id", "seq").order_by("seq")
    )
    assert {str(cid): seq for cid, seq in stored.items()} == dict(sent)
    assert Room.objects.get(pk=room.pk).last_seq == total


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_of_one_message_store_it_once_and_skip_no_seq(postgres_only):
    alex = make_supporter()
    room = make_group_room(alex, make_supporter())
    first = message_send(room_id=room.pk, sender=alex, client_msg_id=uuid.uuid4(), body="one")
    cid = uuid.uuid4()

    results = run_in_threads(
        THREADS,
        lambda i: message_send(room_id=room.pk, sender=alex, client_msg_id=cid, body="two"),
    )
    assert [r.created for r in results].count(True) == 1
    assert {r.message.seq for r in results} == {2}
    assert {r.message.pk for r in results} == {Message.objects.get(client_msg_id=cid).pk}
    # The losers' numbers were rolled back with them: the next message is 3, not 2 + losers.
    after = message_send(room_id=room.pk, sender=alex, client_msg_id=uuid.uuid4(), body="three")
    assert (first.message.seq, after.message.seq) == (1, 3)
    assert list(
        Message.objects.filter(room=room).values_list("seq", flat=True).order_by("seq")
    ) == [
        1,
        2,
        3,
    ]
