"""Going on and off shift: the only way a supporter becomes available for chats."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from peerchat.errors import Conflict, Forbidden
from peerchat.models import Shift, SupporterProfile, User
from peerchat.selectors.supervision import gate_status, when
from peerchat.selectors.supporters import next_shift_start, shift_scheduled_now
from peerchat.services.queue import matching_run_locked, queue_changed, queue_lock


def supporter_profile_get(*, user: User) -> SupporterProfile:
    profile, _ = SupporterProfile.objects.get_or_create(user=user)
    return profile


def shift_start(*, supporter: User, now: datetime | None = None) -> Shift:
    """Go on the shift scheduled now, unless a gate is shut; start taking chats.

    Gates: required training valid, supervision not overdue (a supervisor's recorded
    exception lifts either for a while). Going back on after a break within the same
    shift is not a new shift, so it is never refused by a gate that closed meanwhile.
    """
    if supporter.role != User.Role.SUPPORTER:
        raise Forbidden("Only supporters go on shift.")
    with transaction.atomic():
        lock, now = queue_lock(now)
        profile = supporter_profile_get(user=supporter)
        profile = SupporterProfile.objects.select_for_update().get(pk=profile.pk)
        current = profile.current_shift
        if current is not None and current.ended_at is None and current.ends_at > now:
            return current  # already on shift: a second click changes nothing
        shift = shift_scheduled_now(user=supporter, now=now)
        if shift is None:
            upcoming = next_shift_start(now=now, user=supporter)
            if upcoming:
                later = f" Your next shift starts {when(upcoming)}."
            else:
                later = " You have no shifts scheduled; ask your coordinator."
            raise Conflict("You don't have a shift scheduled now." + later, code="no_shift_now")
        if shift.started_at is None:
            gate = gate_status(user=supporter, now=now)
            if not gate.may_start:
                code, detail = gate.blocks[0]
                raise Conflict(detail, code=code)
            shift.started_at = now
        # Back from a break: the shift runs on (its record keeps first on and last off).
        shift.ended_at = None
        shift.save(update_fields=["started_at", "ended_at"])
        profile.current_shift = shift
        profile.save(update_fields=["current_shift"])
        matching_run_locked(now=now)
        queue_changed(lock)
    return shift


def shift_end(*, supporter: User, now: datetime | None = None) -> bool:
    """Go off shift: no new chats from now; chats in progress carry on. Returns whether on."""
    with transaction.atomic():
        lock, now = queue_lock(now)
        profile = SupporterProfile.objects.select_for_update().filter(user=supporter).first()
        if profile is None or profile.current_shift_id is None:
            return False
        Shift.objects.filter(pk=profile.current_shift_id, ended_at__isnull=True).update(
            ended_at=now
        )
        profile.current_shift = None
        profile.save(update_fields=["current_shift"])
        queue_changed(lock)
    return True


def shifts_close_finished(*, now: datetime | None = None) -> int:
    """Take supporters whose scheduled shift is over off shift (the sweep calls this)."""
    now = now or timezone.now()
    finished = list(
        SupporterProfile.objects.filter(
            current_shift__isnull=False, current_shift__ends_at__lte=now
        ).values_list("user_id", flat=True)
    )
    if not finished:
        return 0
    with transaction.atomic():
        lock, _ = queue_lock(now)
        profiles = SupporterProfile.objects.select_for_update(of=("self",)).filter(
            user_id__in=finished, current_shift__ends_at__lte=now
        )
        count = 0
        for profile in profiles:
            Shift.objects.filter(pk=profile.current_shift_id, ended_at__isnull=True).update(
                ended_at=profile.current_shift.ends_at
            )
            profile.current_shift = None
            profile.save(update_fields=["current_shift"])
            count += 1
        if count:
            queue_changed(lock)
    return count
