"""Building support data through the real services: trained supporters on shift, requests."""

import importlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.apps import apps
from django.utils import timezone

from peerchat.models import (
    Room,
    Shift,
    SupportRequest,
    SupportSession,
    TrainingModule,
    TrainingRecord,
    User,
)
from peerchat.selectors.support import agreement_current
from peerchat.services.queue import support_request_create
from peerchat.services.shifts import shift_start
from peerchat.services.users import seeker_create
from tests.conftest import make_supporter


def ensure_defaults() -> None:
    """Restore the rows the data migration made (agreements, training modules, queue row).

    Transactional tests empty every table when they finish, data-migration rows included.
    """
    for name in ("0003_support_defaults", "0006_agreement_moderators_present"):
        importlib.import_module(f"peerchat.migrations.{name}").forwards(apps, None)


def train(user: User, *, completed_days_ago: int = 10) -> None:
    """Give `user` a current completion of every module their level requires."""
    ensure_defaults()
    today = timezone.localdate()
    for module in TrainingModule.objects.all():
        if user.supporter_level in module.required_levels:
            TrainingRecord.objects.create(
                supporter=user,
                module=module,
                completed_on=today - timedelta(days=completed_days_ago),
            )


def schedule(user: User, *, hours_before: float = 1, hours_after: float = 4) -> Shift:
    now = timezone.now()
    return Shift.objects.create(
        supporter=user,
        starts_at=now - timedelta(hours=hours_before),
        ends_at=now + timedelta(hours=hours_after),
    )


def on_shift_supporter(username: str | None = None, *, level: str = "peer", **kwargs) -> User:
    """A trained supporter with a shift now, gone on shift."""
    user = make_supporter(username, level=level, **kwargs)
    train(user)
    schedule(user)
    shift_start(supporter=user)
    return user


def agreement_version() -> int:
    ensure_defaults()
    return agreement_current(kind=Room.Kind.ONE_TO_ONE).version


def ask(seeker: User | None = None, **kwargs):
    """A seeker (new unless given) asks for support; returns (seeker, request, created)."""
    seeker = seeker or seeker_create()
    request, created = support_request_create(
        seeker=seeker, agreement_version=agreement_version(), **kwargs
    )
    return seeker, request, created


# History, written straight into the tables with past times (for the evaluators' figures) -----


def london(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/London"))


def make_request(agreement, at: datetime, **fields) -> SupportRequest:
    request = SupportRequest.objects.create(agreement=agreement, **fields)
    SupportRequest.objects.filter(pk=request.pk).update(created_at=at, seen_at=at)
    request.created_at = at
    return request


def make_session(request: SupportRequest, supporter: User, *, wait: timedelta, length=None):
    matched = request.created_at + wait
    SupportRequest.objects.filter(pk=request.pk).update(
        state=SupportRequest.State.MATCHED, matched_at=matched, closed_at=matched
    )
    room = Room.objects.create(kind=Room.Kind.ONE_TO_ONE)
    session = SupportSession.objects.create(room=room, request=request, supporter=supporter)
    ended = {}
    if length is not None:
        ended = {
            "state": SupportSession.State.ENDED,
            "ended_at": matched + length,
            "end_reason": SupportSession.EndReason.SEEKER_ENDED,
        }
    SupportSession.objects.filter(pk=session.pk).update(started_at=matched, **ended)
    return session
