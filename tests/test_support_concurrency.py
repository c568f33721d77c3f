"""Matching under real concurrency: many threads, each with its own database connection.

PostgreSQL only (CI's second pass): there the threads really run side by side and only the
queue lock keeps matching right. The test database of SQLite is shared in-memory, whose table
locks fail at once instead of waiting. tests/live/test_support_live.py does the same across two
daphne processes.
"""

from collections import Counter

import pytest
from django.db.models import Count

from peerchat.models import Shift, SupportRequest, SupportSession
from peerchat.selectors.supporters import capacity_for
from peerchat.services.queue import matching_run
from peerchat.services.shifts import shift_end, shift_start
from peerchat.services.users import seeker_create
from tests.conftest import make_supporter
from tests.factories import ask, on_shift_supporter, schedule, train
from tests.test_seq_concurrency_postgres import postgres_only, run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

__all__ = ["postgres_only"]  # a fixture, used by name

SEEKERS = 40


def assert_matching_invariants():
    """No supporter over capacity; no seeker in two chats; each match made once."""
    load = Counter(
        SupportSession.objects.filter(state="active").values_list("supporter__pk", flat=True)
    )
    levels = dict(SupportSession.objects.values_list("supporter__pk", "supporter__supporter_level"))
    for supporter_id, active in load.items():
        assert active <= capacity_for(level=levels[supporter_id]), (supporter_id, active)
    per_seeker = SupportSession.objects.values("seeker").annotate(n=Count("pk"))
    assert all(row["n"] == 1 for row in per_seeker)
    matched = SupportRequest.objects.filter(state="matched")
    assert matched.count() == SupportSession.objects.count()
    assert all(hasattr(request, "session") for request in matched)
    assert (
        SupportRequest.objects.filter(state="waiting").values("seeker").annotate(n=Count("pk"))
    ).filter(n__gt=1).count() == 0


def test_many_seekers_at_once_never_overfill_anyone():
    supporters = [
        on_shift_supporter(level="trainee"),
        on_shift_supporter(level="peer"),
        on_shift_supporter(level="peer"),
        on_shift_supporter(level="senior"),
    ]
    places = sum(capacity_for(level=s.supporter_level) for s in supporters)
    seekers = [seeker_create() for _ in range(SEEKERS)]

    results = run_in_threads(SEEKERS, lambda i: ask(seekers[i])[2])
    assert all(results)  # every seeker got a place in the queue
    assert_matching_invariants()
    assert SupportSession.objects.filter(state="active").count() == places
    assert SupportRequest.objects.filter(state="waiting").count() == SEEKERS - places


def test_one_seeker_asking_from_many_tabs_at_once_gets_one_place():
    seeker = seeker_create()
    results = run_in_threads(12, lambda i: ask(seeker)[1].pk)
    assert len(set(results)) == 1
    assert SupportRequest.objects.filter(seeker=seeker).count() == 1


def test_one_seeker_asking_from_many_tabs_with_supporters_free_gets_one_chat():
    on_shift_supporter(level="senior")
    on_shift_supporter(level="senior")
    seeker = seeker_create()
    run_in_threads(12, lambda i: ask(seeker))
    assert SupportSession.objects.filter(seeker=seeker).count() == 1
    assert_matching_invariants()


def test_going_off_shift_mid_match_takes_no_chat_afterwards():
    leaving = on_shift_supporter(level="senior")
    staying = on_shift_supporter(level="trainee")
    seekers = [seeker_create() for _ in range(20)]

    def work(i):
        if i == 10:
            return shift_end(supporter=leaving)
        return ask(seekers[i if i < 10 else i - 1])

    run_in_threads(21, work)
    shift = Shift.objects.get(supporter=leaving)
    assert shift.ended_at is not None
    late = SupportSession.objects.filter(supporter=leaving, started_at__gt=shift.ended_at)
    assert not late.exists()
    assert_matching_invariants()
    assert staying.pk


def test_supporters_coming_on_shift_while_matchers_run_stay_within_capacity():
    supporters = []
    for level in ("trainee", "peer", "senior", "peer"):
        supporter = make_supporter(level=level)
        train(supporter)
        schedule(supporter)
        supporters.append(supporter)
    seekers = [seeker_create() for _ in range(12)]
    for seeker in seekers:
        ask(seeker)

    def work(i):
        if i < len(supporters):
            return shift_start(supporter=supporters[i])
        return matching_run()

    run_in_threads(len(supporters) + 6, work)
    assert_matching_invariants()
    assert SupportSession.objects.filter(state="active").count() == 8  # 1 + 2 + 3 + 2


def test_supporters_coming_free_at_once_never_share_a_seeker():
    """Matching is automatic, so "two supporters accepting the same seeker" is two supporters
    becoming free at the same moment, each starting a match: exactly one gets the seeker."""
    supporters = []
    for _ in range(8):
        supporter = make_supporter(level="senior")
        train(supporter)
        schedule(supporter)
        supporters.append(supporter)
    seeker, request, _ = ask()
    run_in_threads(len(supporters), lambda i: shift_start(supporter=supporters[i]))
    assert SupportSession.objects.filter(seeker=seeker).count() == 1
    request.refresh_from_db()
    assert request.state == "matched"
    assert_matching_invariants()
