"""Escalations under real concurrency on PostgreSQL: each thread has its own connection."""

import pytest

from moderation.escalations import escalation_acknowledge, escalation_raise_by
from moderation.models import Escalation, EscalationEvent
from peerchat.errors import Conflict
from peerchat.models import SupportSession, User
from peerchat.services.users import staff_user_upsert
from tests.factories import ask, on_shift_supporter
from tests.test_seq_concurrency_postgres import postgres_only, run_in_threads

__all__ = ["postgres_only"]  # the fixture, imported for its name

pytestmark = pytest.mark.django_db(transaction=True)


def _moderator(i: int) -> User:
    return staff_user_upsert(
        username=f"mod{i}",
        role=User.Role.MODERATOR,
        password="a-long-test-password",
        handle=f"Mod{i}",
    )


def _chat() -> SupportSession:
    on_shift_supporter(handle="Robin")
    seeker, _, _ = ask()
    return SupportSession.objects.select_related("seeker", "supporter").get(seeker=seeker)


def test_two_moderators_acknowledging_at_the_same_moment_exactly_one_wins(postgres_only):
    session = _chat()
    for round_ in range(5):
        moderators = [_moderator(10 * round_ + i) for i in range(2)]
        escalation = escalation_raise_by(room_id=session.room_id, user=session.seeker).escalation

        def acknowledge(i: int, escalation_id=escalation.pk, moderators=moderators):
            try:
                escalation_acknowledge(escalation_id=escalation_id, moderator=moderators[i])
            except Conflict as refused:
                return ("told", refused.code, refused.detail)
            return ("won", moderators[i].handle)

        results = run_in_threads(2, acknowledge)
        winners = [r for r in results if r[0] == "won"]
        told = [r for r in results if r[0] == "told"]
        assert len(winners) == 1 and len(told) == 1, results
        assert told[0][1] == "already_acknowledged"
        assert winners[0][1] in told[0][2]  # the other is told who took it
        escalation.refresh_from_db()
        assert escalation.acknowledged_by.handle == winners[0][1]
        assert escalation.events.filter(type="acknowledged").count() == 1
        Escalation.objects.filter(pk=escalation.pk).update(
            state="resolved", outcome="supported", resolved_at=escalation.acknowledged_at
        )


def test_a_burst_of_triggers_from_one_room_opens_one_escalation(postgres_only):
    session = _chat()
    users = [session.seeker, session.supporter]

    def raise_one(i: int):
        return escalation_raise_by(room_id=session.room_id, user=users[i % 2]).created

    created = run_in_threads(10, raise_one)
    assert created.count(True) == 1
    escalation = Escalation.objects.get()
    assert escalation.trigger_count == 10
    sequences = list(
        EscalationEvent.objects.filter(escalation=escalation).values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, 11))
