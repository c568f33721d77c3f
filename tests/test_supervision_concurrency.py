"""Supervision bookings under real concurrency: many threads, each with its own connection.

PostgreSQL only (CI's second pass), like tests/test_support_concurrency.py: there the threads
really run side by side and only the row locks on the people a write commits (then the slot)
keep places and calendars from being double-booked.
"""

from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from peerchat.errors import Conflict
from peerchat.models import Booking, SupervisionSlot, User
from peerchat.selectors.supervision import live_bookings
from peerchat.services.supervision.bookings import booking_create, booking_move
from peerchat.services.supervision.slots import SlotSpec, slot_publish
from peerchat.services.users import staff_user_upsert
from tests.conftest import make_supporter
from tests.test_seq_concurrency_postgres import postgres_only, run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

__all__ = ["postgres_only"]  # a fixture, used by name

ROUNDS = 5
RACERS = 8


def moderator(username: str) -> User:
    return staff_user_upsert(
        username=username,
        role=User.Role.MODERATOR,
        password="a-long-test-password",
        handle=username.title(),
    )


def senior_supervisor(username: str) -> User:
    user = make_supporter(username, level="senior")
    user.user_permissions.add(Permission.objects.get(codename="supervise"))
    return User.objects.get(pk=user.pk)


def at(days: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock time in Europe/London, `days` after today."""
    return datetime.combine(timezone.localdate() + timedelta(days=days), time(hour, minute))


def publish(supervisor: User, starts_local: datetime, **spec) -> SupervisionSlot:
    [slot] = slot_publish(
        supervisor=supervisor,
        spec=SlotSpec(starts_local=starts_local, duration_minutes=60, **spec),
    )
    return slot


def attempt(work):
    """("ok", result) or ("refused", code): what a racing request was answered."""
    try:
        return ("ok", work())
    except Conflict as refused:
        return ("refused", refused.code)


def live_in(slot: SupervisionSlot) -> int:
    return live_bookings().filter(slot=slot).count()


def test_many_supporters_racing_for_the_last_one_to_one_place_one_gets_it():
    kai = moderator("kai")
    supporters = [make_supporter(f"racer{i}") for i in range(RACERS)]
    for round_ in range(ROUNDS):
        slot = publish(kai, at(2 + round_))

        results = run_in_threads(
            RACERS,
            lambda i, slot=slot: attempt(
                lambda: booking_create(supporter=supporters[i], slot_id=slot.pk).pk
            ),
        )

        won = [r for r in results if r[0] == "ok"]
        assert len(won) == 1, results
        assert sorted(r for r in results if r[0] == "refused") == [("refused", "slot_full")] * (
            RACERS - 1
        )
        assert list(Booking.objects.filter(slot=slot).values_list("pk", flat=True)) == [won[0][1]]


def test_one_supporter_booking_two_overlapping_times_at_once_gets_one():
    alex = make_supporter("alex")
    kai, ash = moderator("kai"), moderator("ash")
    for round_ in range(ROUNDS):
        slots = [publish(kai, at(2 + round_, 10)), publish(ash, at(2 + round_, 10, 30))]

        results = run_in_threads(
            2,
            lambda i, slots=slots: attempt(
                lambda: booking_create(supporter=alex, slot_id=slots[i].pk).slot_id
            ),
        )

        assert sorted(r[0] for r in results) == ["ok", "refused"], results
        assert [r[1] for r in results if r[0] == "refused"] == ["booking_overlaps"]
        live = live_bookings().filter(supporter=alex, slot__in=slots)
        assert list(live.values_list("slot_id", flat=True)) == [
            r[1] for r in results if r[0] == "ok"
        ]


def test_a_group_of_three_with_eight_racing_supporters_takes_exactly_three():
    kai = moderator("kai")
    supporters = [make_supporter(f"racer{i}") for i in range(RACERS)]
    for round_ in range(ROUNDS):
        slot = publish(kai, at(2 + round_), kind="group", capacity=3)

        results = run_in_threads(
            RACERS,
            lambda i, slot=slot: attempt(
                lambda: booking_create(supporter=supporters[i], slot_id=slot.pk).supporter_id
            ),
        )

        won = sorted(r[1] for r in results if r[0] == "ok")
        assert len(won) == 3, results
        assert [r for r in results if r[0] == "refused"] == [("refused", "slot_full")] * 5
        assert sorted(live_bookings().filter(slot=slot).values_list("supporter_id", flat=True)) == (
            won
        )


def test_a_supervisor_publishing_two_overlapping_times_at_once_gets_one():
    supervisors = [moderator("kai"), senior_supervisor("sam")]
    for supervisor in supervisors:
        for round_ in range(ROUNDS):
            starts = [at(2 + round_, 10), at(2 + round_, 10, 30)]

            results = run_in_threads(
                2,
                lambda i, starts=starts, supervisor=supervisor: attempt(
                    lambda: publish(supervisor, starts[i]).pk
                ),
            )

            assert sorted(r[0] for r in results) == ["ok", "refused"], results
            assert [r[1] for r in results if r[0] == "refused"] == ["slot_overlaps"]
            day = SupervisionSlot.objects.filter(
                supervisor=supervisor, starts_at__date=starts[0].date()
            )
            assert list(day.values_list("pk", flat=True)) == [r[1] for r in results if r[0] == "ok"]


def test_a_move_and_a_booking_racing_for_the_last_place_never_overfill_it():
    kai, ash = moderator("kai"), moderator("ash")
    mover, booker = make_supporter("mover"), make_supporter("booker")
    for round_ in range(ROUNDS):
        old = publish(ash, at(2 + round_, 8))
        target = publish(kai, at(2 + round_, 14))
        booking = booking_create(supporter=mover, slot_id=old.pk)

        def work(i, booking=booking, target=target):
            if i == 0:
                return attempt(
                    lambda: (
                        booking_move(
                            booking_id=booking.pk, supporter=mover, to_slot_id=target.pk
                        ).supporter_id
                    )
                )
            return attempt(lambda: booking_create(supporter=booker, slot_id=target.pk).supporter_id)

        results = run_in_threads(2, work)

        assert sorted(r[0] for r in results) == ["ok", "refused"], results
        assert [r[1] for r in results if r[0] == "refused"] == ["slot_full"]
        [winner] = [r[1] for r in results if r[0] == "ok"]
        assert list(live_bookings().filter(slot=target).values_list("supporter_id", flat=True)) == [
            winner
        ]
        # The mover keeps their old place exactly when the move lost.
        assert live_in(old) == (0 if winner == mover.pk else 1)
