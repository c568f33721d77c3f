"""What the content filter decides about one message (DESIGN §7)."""

from dataclasses import dataclass, field

# Strongest last: a message gets the strongest action any fired rule asks for.
ACTIONS = ("allow", "mask", "content_warning", "hold", "block")
ACTION_RANK = {action: rank for rank, action in enumerate(ACTIONS)}

CATEGORIES = ("method", "encouragement", "graphic", "contact", "imminent", "links")

ROOM_KINDS = ("one_to_one", "group")


@dataclass(frozen=True)
class Span:
    """Where in the original text a rule found its evidence (for moderators only)."""

    start: int
    end: int
    rule: str


@dataclass(frozen=True)
class Verdict:
    action: str
    escalate: bool
    categories: tuple[str, ...]
    rule_ids: tuple[str, ...]
    policy_version: str
    spans: tuple[Span, ...] = ()
    # The text with contact details replaced, when any were found; None otherwise.
    masked_text: str | None = None
    # Rules that matched but were outweighed by protective evidence (coping, help-seeking...).
    protected_by: tuple[str, ...] = field(default=())

    @property
    def delivered(self) -> bool:
        return self.action in ("allow", "mask", "content_warning")
