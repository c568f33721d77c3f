"""What the supervision services share: locking the people a write commits."""

from peerchat.models import User


def lock_people(*user_ids: int) -> dict[int, User]:
    """Lock the accounts of everyone a write commits, in id order (so writes never deadlock)."""
    ids = sorted(set(user_ids))
    return {u.pk: u for u in User.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
