"""What the supervision services share: locking the people a write commits, and asking the
worker to look again for times for debriefs that have none."""

import uuid

from django.db import transaction

from peerchat import jobs
from peerchat.models import User

OFFER_ALL_JOB = "supervision.debrief_offers"


def lock_people(*user_ids: int) -> dict[int, User]:
    """Lock the accounts of everyone a write commits, in id order (so writes never deadlock)."""
    ids = sorted(set(user_ids))
    return {u.pk: u for u in User.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def debriefs_offer_enqueue() -> None:
    """Ask the worker to look again for debriefs waiting for a time.

    One look that has not started yet will see these times too, so no second is added.
    """
    if jobs.Job.objects.filter(kind=OFFER_ALL_JOB, state=jobs.Job.State.PENDING).exists():
        return
    with transaction.atomic():
        jobs.enqueue(kind=OFFER_ALL_JOB, key=f"{OFFER_ALL_JOB}:{uuid.uuid4().hex}", payload={})


def debriefs_look_again() -> None:
    """Call inside a write that added or freed times (or made a debrief due again)."""
    transaction.on_commit(debriefs_offer_enqueue)
