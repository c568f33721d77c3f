"""Reads about supporters: training, shifts, capacity, and who can take a chat now."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from peerchat.models import (
    GateException,
    Shift,
    SupporterProfile,
    SupportSession,
    TrainingModule,
    TrainingRecord,
    User,
)


def capacity_for(*, level: str) -> int:
    """Concurrent one-to-one chats allowed at `level` (0 for an unknown level)."""
    return int(settings.SUPPORT["CAPACITY_BY_LEVEL"].get(level, 0))


@dataclass(frozen=True)
class TrainingStatus:
    ok: bool
    missing: list[str]  # names of required modules not completed or expired
    expiring: list[tuple[str, date]]  # required modules that expire within 30 days


def training_status(*, user: User, today: date) -> TrainingStatus:
    """Whether `user` holds every module their level requires, valid on `today`."""
    required = [
        module
        for module in TrainingModule.objects.all()
        if user.supporter_level in (module.required_levels or [])
    ]
    records = TrainingRecord.objects.filter(supporter=user, module__in=required).select_related(
        "module"
    )
    valid_until: dict[int, date | None] = {}
    for record in records:
        if record.completed_on > today:
            continue
        expires = record.expires_on
        if expires is None and record.module.valid_days:
            expires = record.completed_on + timedelta(days=record.module.valid_days)
        if expires is not None and expires < today:
            continue
        best = valid_until.get(record.module_id, date.min)
        if best is None:
            continue  # already holds a completion that never expires
        valid_until[record.module_id] = expires if expires is None else max(best, expires)
    missing = [module.name for module in required if module.pk not in valid_until]
    soon = today + timedelta(days=30)
    expiring = [
        (module.name, valid_until[module.pk])
        for module in required
        if valid_until.get(module.pk) is not None and valid_until[module.pk] <= soon
    ]
    return TrainingStatus(ok=not missing, missing=missing, expiring=expiring)


def shift_scheduled_now(*, user: User, now: datetime) -> Shift | None:
    """The scheduled shift a supporter may be on now (early start allowed), if any.

    A shift the supporter went off earlier (a break) can be gone back on until it ends.
    """
    early = timedelta(minutes=settings.SUPPORT["SHIFT_EARLY_START_MINUTES"])
    return (
        Shift.objects.filter(supporter=user, starts_at__lte=now + early, ends_at__gt=now)
        .order_by("starts_at")
        .first()
    )


def next_shift_start(*, now: datetime, user: User | None = None) -> datetime | None:
    """When the next scheduled shift (`user`'s, or anyone's) starts.

    For anyone's, a shift scheduled now that nobody has gone on yet counts too: its start
    may be in the past ("due now").
    """
    if user is not None:
        return (
            Shift.objects.filter(supporter=user, starts_at__gt=now, ended_at__isnull=True)
            .order_by("starts_at")
            .values_list("starts_at", flat=True)
            .first()
        )
    being_worked = SupporterProfile.objects.filter(current_shift__isnull=False).values(
        "current_shift"
    )
    return (
        Shift.objects.filter(ends_at__gt=now)
        .filter(Q(starts_at__gt=now, ended_at__isnull=True) | Q(starts_at__lte=now))
        .exclude(pk__in=being_worked)
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )


@dataclass
class Candidate:
    """A supporter on shift now, as matching sees them."""

    user: User
    capacity: int
    active: int
    paused_until: datetime | None
    last_assigned_at: datetime | None
    trained: bool
    missing_training: list[str] = field(default_factory=list)

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.active)

    def can_take(self, now: datetime) -> bool:
        return (
            self.trained
            and self.free > 0
            and (self.paused_until is None or self.paused_until <= now)
        )


def supporters_on_shift(*, now: datetime) -> dict[int, Candidate]:
    """Every supporter on a current shift, by user id, with what matching needs.

    On shift means: went on shift from their page, that shift is not over, and its scheduled
    window (with the early start) covers `now`. Training, pause and capacity decide whether
    they can take a chat (`Candidate.can_take`).
    """
    early = timedelta(minutes=settings.SUPPORT["SHIFT_EARLY_START_MINUTES"])
    profiles = (
        SupporterProfile.objects.filter(
            user__is_active=True,
            user__role=User.Role.SUPPORTER,
            current_shift__isnull=False,
            current_shift__ended_at__isnull=True,
            current_shift__starts_at__lte=now + early,
            current_shift__ends_at__gt=now,
        )
        .select_related("user")
        .annotate(
            active=Count(
                "user__supported_sessions",
                filter=Q(user__supported_sessions__state=SupportSession.State.ACTIVE),
            )
        )
    )
    today = now.date()
    pool = {}
    profiles = list(profiles)
    excepted = training_excepted(user_ids=[p.user_id for p in profiles], now=now)
    for profile in profiles:
        status = training_status(user=profile.user, today=today)
        pool[profile.user_id] = Candidate(
            user=profile.user,
            capacity=capacity_for(level=profile.user.supporter_level),
            active=profile.active,
            paused_until=profile.paused_until,
            last_assigned_at=profile.last_assigned_at,
            # A supervisor's recorded exception lets them take chats while training is renewed.
            trained=status.ok or profile.user_id in excepted,
            missing_training=status.missing,
        )
    return pool


def training_excepted(*, user_ids: list[int], now: datetime) -> set[int]:
    """Supporters with a live exception for training to renew (`GateException`)."""
    if not user_ids:
        return set()
    return set(
        GateException.objects.filter(
            supporter_id__in=user_ids,
            gate=GateException.Gate.TRAINING,
            starts_at__lte=now,
            expires_at__gt=now,
            revoked_at__isnull=True,
        ).values_list("supporter_id", flat=True)
    )
