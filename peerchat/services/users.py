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
