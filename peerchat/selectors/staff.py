"""What a supporter's page shows about them: shift, training, load, chats, notes due."""

from datetime import datetime

from peerchat.frames import utc
from peerchat.models import Debrief, SupporterProfile, User
from peerchat.selectors import support as support_selectors
from peerchat.selectors.supervision import gate_status, live_bookings
from peerchat.selectors.supporters import (
    capacity_for,
    next_shift_start,
    shift_scheduled_now,
    supporters_on_shift,
)


def staff_status(*, user: User, now: datetime) -> dict:
    profile = SupporterProfile.objects.filter(user=user).select_related("current_shift").first()
    shift = profile.current_shift if profile else None
    on_shift = bool(shift and shift.ended_at is None and shift.ends_at > now)
    gate = gate_status(user=user, now=now)
    training = gate.training
    scheduled = shift_scheduled_now(user=user, now=now)
    pool = supporters_on_shift(now=now)
    me = pool.get(user.pk)
    sessions = support_selectors.sessions_for_supporter(supporter=user)
    paused_until = profile.paused_until if profile else None
    debriefs = list(Debrief.objects.filter(supporter=user, state=Debrief.State.DUE))
    booked = {
        b.debrief_id: b
        for b in live_bookings().filter(debrief__in=debriefs).select_related("slot__supervisor")
    }
    supervision = gate.supervision
    return {
        "handle": user.handle,
        "role": user.role,
        "level": user.supporter_level,
        "capacity": capacity_for(level=user.supporter_level),
        "on_shift": on_shift,
        # On shift, trained and not paused: new chats come as places free up.
        "taking_chats": bool(
            me and me.trained and (me.paused_until is None or me.paused_until <= now)
        ),
        "active": len(sessions),
        "shift": {"starts_at": utc(shift.starts_at), "ends_at": utc(shift.ends_at)}
        if on_shift
        else None,
        # Back on after a break within a shift is not a new shift: the gates don't apply.
        "can_start_shift": scheduled is not None
        and not on_shift
        and (gate.may_start or scheduled.started_at is not None),
        # Supervision (DESIGN.md §9): overdue blocks new shifts; warnings come in advance.
        "supervision": {
            "state": supervision.state,
            "due_at": utc(supervision.due_at),
            "booked_at": utc(supervision.next_booking.slot.starts_at)
            if supervision.next_booking
            else None,
        },
        "gate": {
            "may_start": gate.may_start,
            "blocks": [{"code": code, "detail": detail} for code, detail in gate.blocks],
            "warnings": gate.warnings,
        },
        "scheduled_now": {"starts_at": utc(scheduled.starts_at), "ends_at": utc(scheduled.ends_at)}
        if scheduled
        else None,
        "next_shift_at": utc(n) if (n := next_shift_start(now=now, user=user)) else None,
        "training": {
            "ok": training.ok,
            "missing": training.missing,
            "expiring": [{"module": m, "expires_on": d.isoformat()} for m, d in training.expiring],
        },
        "paused_until": utc(paused_until) if paused_until and paused_until > now else None,
        "sessions": [support_selectors.session_frame(s) for s in sessions],
        # Debriefs with a supervisor this supporter is due after an escalation (never shown to
        # seekers); the supervision pages book them.
        "debriefs_due": [
            {
                "escalation": d.escalation_id,
                "due_by": utc(d.due_by),
                "overdue": d.due_by < now,
                # The time the worker (or the supporter) booked for it, and with whom.
                "booked_at": utc(booked[d.pk].slot.starts_at) if d.pk in booked else None,
                "with": booked[d.pk].slot.supervisor.handle if d.pk in booked else None,
            }
            for d in debriefs
        ],
        "notes_due": [
            {
                "room": s.room_id,
                "seeker": {"handle": s.seeker.handle if s.seeker else None},
                "ended_at": utc(s.ended_at),
            }
            for s in support_selectors.sessions_awaiting_note(supporter=user)
        ],
    }


def transfer_targets(*, user: User, now: datetime) -> list[dict]:
    """Supporters on shift, other than `user`, who could take a chat now."""
    return [
        {
            "handle": c.user.handle,
            "level": c.user.supporter_level,
            "free": c.free,
        }
        for c in sorted(supporters_on_shift(now=now).values(), key=lambda c: c.user.handle)
        if c.user.pk != user.pk and c.can_take(now)
    ]
