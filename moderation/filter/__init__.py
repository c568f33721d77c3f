"""The content filter: normalisation, evidence-combining rules, verdicts (DESIGN §7).

from moderation.filter import check
verdict = check("some text", room_kind="one_to_one")
"""

from moderation.filter.verdict import ACTIONS, CATEGORIES, ROOM_KINDS, Span, Verdict

__all__ = ["ACTIONS", "CATEGORIES", "ROOM_KINDS", "Span", "Verdict", "check"]


def check(text: str, *, room_kind: str = "one_to_one") -> Verdict:
    """Return the verdict of the current policy (files plus moderators' additions) on `text`."""
    from moderation.filter.policy import current_filter

    return current_filter().check(text, room_kind=room_kind)
