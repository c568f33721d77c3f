"""Private calendar feeds: making, replacing and revoking a staff user's secret link.

The link's token is the only credential a calendar app has (it sends no cookies), so only
its SHA-256 is kept: a copy of the database does not give anyone the links.
"""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from peerchat.errors import Forbidden
from peerchat.models import CalendarFeed, User
from peerchat.selectors.calendar import feed_allowed

# A fetch is recorded at most this often: calendar apps poll, and every poll would be a write.
FETCH_RECORD_INTERVAL = timedelta(minutes=1)
# What `secrets.token_urlsafe(32)` makes (43 characters), with room to spare; anything else
# is refused before it reaches the database.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,100}")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def calendar_feed_reset(*, user: User, now: datetime | None = None) -> str:
    """Make a new link for `user`'s feed, replacing any old one; return its raw token.

    The token is shown once and not kept: the old link stops working at once.
    """
    if not feed_allowed(user):
        raise Forbidden("Calendar links are for supporters, moderators and admins.")
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        feed = CalendarFeed.objects.select_for_update().filter(user=user).first()
        feed = feed or CalendarFeed(user=user)
        feed.token_hash = _token_hash(token)
        feed.created_at = now
        feed.last_fetched_at = None
        feed.full_clean(validate_unique=False)  # the hash is fresh; the database checks it
        feed.save()
    return token


def calendar_feed_revoke(*, user: User) -> bool:
    """Turn `user`'s feed off; return whether there was one."""
    deleted, _ = CalendarFeed.objects.filter(user=user).delete()
    return deleted > 0


def calendar_feed_user(*, token: str, now: datetime | None = None) -> User | None:
    """Return whose feed `token` opens, and record the fetch.

    None for an unknown or revoked token, and for a user who may no longer have a feed
    (deactivated, or moved to a role without one).

    Looking up the hash, not the token, means a timing difference in the index lookup tells
    nothing about the token itself.
    """
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    feed = CalendarFeed.objects.select_related("user").filter(token_hash=_token_hash(token)).first()
    if feed is None or not feed_allowed(feed.user):
        return None
    now = now or timezone.now()
    # One conditional write, so two apps polling at once still record it once a minute.
    CalendarFeed.objects.filter(pk=feed.pk).exclude(
        last_fetched_at__gt=now - FETCH_RECORD_INTERVAL
    ).update(last_fetched_at=now)
    return feed.user
