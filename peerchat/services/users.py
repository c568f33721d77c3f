"""Creating accounts."""

import uuid

from django.db import IntegrityError, transaction

from peerchat.handles import handle_generate
from peerchat.models import User

HANDLE_ATTEMPTS = 20


def seeker_create() -> User:
    """Create a pseudonymous seeker: no name, no email, no password, a generated handle."""
    for _ in range(HANDLE_ATTEMPTS):
        user = User(
            username=f"seeker-{uuid.uuid4().hex}",
            role=User.Role.SEEKER,
            handle=handle_generate(),
        )
        user.set_unusable_password()
        # Uniqueness is left to the database: checking first would still race.
        user.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            continue  # the handle was taken a moment ago by someone else; draw another
        return user
    raise RuntimeError("could not find a free handle")


def staff_user_upsert(
    *,
    username: str,
    role: str,
    password: str,
    handle: str,
    supporter_level: str = "",
) -> User:
    """Create or update a staff account (supporter, moderator, evaluator, admin)."""
    if role == User.Role.SEEKER:
        raise ValueError("seekers are created with seeker_create()")
    user = User.objects.filter(username=username).first() or User(username=username)
    user.role = role
    user.handle = handle
    user.supporter_level = supporter_level if role == User.Role.SUPPORTER else ""
    user.is_staff = role == User.Role.ADMIN
    user.is_superuser = role == User.Role.ADMIN
    user.is_active = True
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


def staff_user_deactivate(*, user: User, by: User | None = None) -> User:
    """Close a staff account: off shift, bookings given up, their own supervision times cancelled.

    Everyone affected is told: supervisors that places came free (the times stay open for
    others), supporters booked with a supervisor who leaves that their time is cancelled (a
    debrief among them is booked again elsewhere by the worker).
    """
    from peerchat.services.shifts import shift_end
    from peerchat.services.supervision.bookings import bookings_release_for_deactivated
    from peerchat.services.supervision.slots import slots_cancel_for_deactivated

    if user.role == User.Role.SEEKER:
        raise ValueError("seekers delete their data instead (seeker_data)")
    if user.role == User.Role.SUPPORTER:
        shift_end(supporter=user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        bookings_release_for_deactivated(supporter=user)
        slots_cancel_for_deactivated(supervisor=user, by=by)
    return user
