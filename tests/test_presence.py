"""Open pages' presence is recorded by one beat per process, not by a timer per socket."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from peerchat import presence
from peerchat.models import SupportRequest, SupportSession
from tests.factories import ask, on_shift_supporter
from tests.wsclient import open_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def test_one_beat_records_any_number_of_pages_in_three_statements(db):
    supporter = on_shift_supporter("robin", handle="Robin")
    chats = [ask()[0] for _ in range(2)]  # two in chats with Robin (a peer holds two)
    waiting = [ask()[0] for _ in range(3)]  # three still waiting
    beat = presence.PresenceBeat()
    for seeker in chats + waiting:
        beat._open[presence.SEEKER][seeker.pk] += 1
    beat._open[presence.FACILITATOR][supporter.pk] += 1
    before_requests = dict(SupportRequest.objects.values_list("seeker_id", "seen_at"))
    before_sessions = dict(SupportSession.objects.values_list("seeker_id", "seeker_seen_at"))
    with CaptureQueriesContext(connection) as queries:
        presence._touch_all(beat.open_pages())
    assert [q["sql"].split()[0] for q in queries.captured_queries] == [
        "UPDATE",
        "UPDATE",
        "UPDATE",
    ]
    for seeker in waiting:
        request = SupportRequest.objects.get(seeker=seeker, state=SupportRequest.State.WAITING)
        assert request.seen_at > before_requests[seeker.pk]
    for seeker in chats:
        session = SupportSession.objects.get(seeker=seeker)
        assert session.seeker_seen_at > before_sessions[seeker.pk]


async def test_pages_join_the_beat_while_open_and_leave_it_when_the_last_one_closes(settings):
    settings.SUPPORT = {**settings.SUPPORT, "PRESENCE_INTERVAL_SECONDS": 0.05}
    await db(on_shift_supporter)()
    seeker, _, _ = await db(ask)()
    first, second = await open_socket(seeker), await open_socket(seeker)
    beat = presence.get_beat()
    assert beat.open_pages()[presence.SEEKER] == [seeker.pk]
    session = await db(SupportSession.objects.get)(seeker=seeker)
    await first.close()
    await second.nothing(0.3)  # one page still open: the beat keeps recording it
    refreshed = await db(SupportSession.objects.get)(pk=session.pk)
    assert refreshed.seeker_seen_at > session.seeker_seen_at
    assert beat.open_pages()[presence.SEEKER] == [seeker.pk]
    await second.close()
    assert beat.open_pages()[presence.SEEKER] == []
    last = (await db(SupportSession.objects.get)(pk=session.pk)).seeker_seen_at
    await asyncio.sleep(0.3)  # no page open: nothing more is recorded
    assert (await db(SupportSession.objects.get)(pk=session.pk)).seeker_seen_at == last
