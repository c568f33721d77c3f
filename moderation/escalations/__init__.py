"""Escalations (DESIGN §8): raised, acknowledged, resolved; announced live, through the hooks,
and again more widely by durable timers while nobody has taken them on.

- `services`: the state machine and everything a step sets off (events, hooks, timers,
  debriefs, the seeker's crisis resources);
- `selectors`: what moderators and supporters see of an escalation.
"""

from moderation.escalations.selectors import (
    ESCALATIONS_GROUP,
    escalation_context,
    escalation_item,
    escalations_frame,
)
from moderation.escalations.services import (
    RaiseResult,
    escalation_acknowledge,
    escalation_raise,
    escalation_raise_by,
    escalation_resolve,
    escalation_timer_fire,
)

__all__ = [
    "ESCALATIONS_GROUP",
    "RaiseResult",
    "escalation_acknowledge",
    "escalation_context",
    "escalation_item",
    "escalation_raise",
    "escalation_raise_by",
    "escalation_resolve",
    "escalation_timer_fire",
    "escalations_frame",
]
