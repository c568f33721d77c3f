"""The policy as data: versioned files in moderation/policy/, plus moderators' additions.

Files: `policy.toml` (version, rules, actions per room kind, contact and link settings),
`terms/<group>.txt` (one term or phrase per line; `#` starts a comment) and `stand_ins.toml`
(emoji read as words). Moderators add terms to any group, and domains to the link allow-list,
in the database (`moderation.PolicyTerm`); every change bumps `PolicyState.revision`.

Each process keeps one compiled `Filter` and, at most every `FILTER["RELOAD_SECONDS"]`, asks the
database for the revision (one indexed single-row read); a new revision is compiled and used from
the next message on, on every process, without a restart. Every verdict names the version it was
made under: the files' version, then `+db.N` for the database revision.
"""

import functools
import re
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from moderation.filter.contact import ContactPolicy
from moderation.filter.engine import NUMBER_GROUP, Filter, Rule
from moderation.filter.verdict import ACTIONS, CATEGORIES, ROOM_KINDS

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"

# Moderators may add to these as well as to every term group.
ALLOWED_DOMAIN_GROUP = "allowed_domain"


class PolicyError(ValueError):
    """The policy files are inconsistent; the message says where."""


@dataclass(frozen=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    terms: dict[str, tuple[str, ...]]
    stand_ins: dict[str, str]
    contact: ContactPolicy | None
    contact_action: str = "mask"
    links_action: str = "hold"
    mask_text: str = "[contact details hidden]"
    escalate_hold_becomes: dict = field(default_factory=dict)
    descriptions: dict = field(default_factory=dict)

    def all_terms(self) -> list[str]:
        """Every term of every group (for baselines and checks; never shown to seekers)."""
        return sorted({term for terms in self.terms.values() for term in terms})

    def groups(self) -> list[str]:
        return sorted(self.terms)

    def with_additions(self, additions: dict[str, list[str]], revision: int) -> "Policy":
        """Return this policy with moderators' terms (and allowed domains) added."""
        terms = {group: tuple(items) for group, items in self.terms.items()}
        domains = list(self.contact.allowed_domains) if self.contact else []
        for group, items in additions.items():
            if group == ALLOWED_DOMAIN_GROUP:
                domains += [item.lower().strip() for item in items]
            elif group in terms:
                terms[group] = tuple(dict.fromkeys(terms[group] + tuple(items)))
        contact = self.contact
        if contact is not None:
            contact = ContactPolicy(
                allowed_numbers=contact.allowed_numbers,
                allowed_domains=tuple(dict.fromkeys(domains)),
                platform_pattern=_platform_pattern(terms.get("platform", ())),
                region=contact.region,
            )
        version = f"{self.version}+db.{revision}" if revision else self.version
        return Policy(
            version=version,
            rules=self.rules,
            terms=terms,
            stand_ins=self.stand_ins,
            contact=contact,
            contact_action=self.contact_action,
            links_action=self.links_action,
            mask_text=self.mask_text,
            escalate_hold_becomes=self.escalate_hold_becomes,
            descriptions=self.descriptions,
        )


def _read_terms(path: Path) -> tuple[str, ...]:
    terms = []
    for line in path.read_text("utf-8").splitlines():
        term = line.split("#", 1)[0].strip()
        if term:
            terms.append(term)
    return tuple(dict.fromkeys(terms))


def _platform_pattern(platforms) -> re.Pattern | None:
    """ "add me on snap", "my insta is ...": a platform named as a way to be reached."""
    if not platforms:
        return None
    names = "|".join(re.escape(p) for p in sorted(platforms, key=len, reverse=True))
    return re.compile(
        rf"\b(?:(?:add|find|follow|message|msg|dm|text|hit)\s+me\s+(?:up\s+)?(?:on|at)\s+(?:{names})"
        rf"(?:\s*(?::|-|is|its|it's)?\s*@?[a-z0-9_.]{{3,30}})?"
        rf"|my\s+(?:{names})\s*(?::|is|'s|s)?\s*(?:is\s+)?@?[a-z0-9_.]{{3,30}}"
        rf"|\b(?:{names})\W+(?:mines|mine is|its|it's|is)\s+@?[a-z0-9_.]{{3,30}}"
        rf"|\b(?:{names})\s+me\s+(?:at|on)\s+@?[a-z0-9_.]{{3,30}})",
        re.IGNORECASE,
    )


def _action(value, where: str) -> dict:
    if isinstance(value, str):
        value = {kind: value for kind in ROOM_KINDS}
    if not isinstance(value, dict) or "one_to_one" not in value:
        raise PolicyError(f"{where}: action must be an action or a table by room kind")
    for kind, action in value.items():
        if kind not in ROOM_KINDS or action not in ACTIONS:
            raise PolicyError(f"{where}: unknown room kind or action {kind!r}={action!r}")
    return value


def load_policy_files(directory: Path | None = None) -> Policy:
    """Read and check the policy files (pure: no database)."""
    directory = Path(directory or POLICY_DIR)
    data = tomllib.loads((directory / "policy.toml").read_text("utf-8"))
    terms = {path.stem: _read_terms(path) for path in sorted((directory / "terms").glob("*.txt"))}
    stand_ins = {}
    stand_ins_path = directory / "stand_ins.toml"
    if stand_ins_path.exists():
        stand_ins = tomllib.loads(stand_ins_path.read_text("utf-8")).get("stand_ins", {})
    known_groups = set(terms) | {NUMBER_GROUP}
    default_window = int(data.get("window", 48))
    rules = []
    seen = set()
    for index, raw in enumerate(data.get("rules", [])):
        where = f"rules[{index}] ({raw.get('id', '?')})"
        rule_id = raw.get("id")
        if not rule_id or rule_id in seen:
            raise PolicyError(f"{where}: every rule needs a unique id")
        seen.add(rule_id)
        if raw.get("category") not in CATEGORIES:
            raise PolicyError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        conditions = tuple(frozenset(part.split("|")) for part in raw.get("all", []))
        unless = frozenset(raw.get("unless", []))
        for group in set().union(*conditions, unless) if conditions else unless:
            if group not in known_groups:
                raise PolicyError(f"{where}: no term list for group {group!r}")
        if not conditions:
            raise PolicyError(f"{where}: a rule needs at least one condition in 'all'")
        rules.append(
            Rule(
                id=rule_id,
                category=raw["category"],
                conditions=conditions,
                unless=unless,
                action=_action(raw.get("action", "allow"), where),
                escalate=bool(raw.get("escalate", False)),
                window=int(raw.get("window", default_window)),
            )
        )
    contact_data = data.get("contact", {})
    links_data = data.get("links", {})
    contact = ContactPolicy(
        allowed_numbers=frozenset(
            re.sub(r"\D", "", str(n)) for n in contact_data.get("allowed_numbers", [])
        ),
        allowed_domains=tuple(d.lower() for d in links_data.get("allowed_domains", [])),
        platform_pattern=_platform_pattern(terms.get("platform", ())),
        region=contact_data.get("region", "GB"),
    )
    escalate = data.get("escalate", {})
    return Policy(
        version=str(data["version"]),
        rules=tuple(rules),
        terms=terms,
        stand_ins=stand_ins,
        contact=contact,
        contact_action=_action(contact_data.get("action", "mask"), "contact")["one_to_one"],
        links_action=_action(links_data.get("action", "hold"), "links")["one_to_one"],
        mask_text=contact_data.get("mask_text", "[contact details hidden]"),
        escalate_hold_becomes=_action(escalate.get("hold_becomes", "allow"), "escalate"),
        descriptions=data.get("descriptions", {}),
    )


# The process's current filter ------------------------------------------------------------------

_lock = threading.Lock()
_state = {"revision": None, "filter": None, "checked": 0.0}


def current_filter() -> Filter:
    """Return the filter for the current policy, rebuilt when moderators changed it."""
    from django.conf import settings

    interval = settings.FILTER["RELOAD_SECONDS"]
    now = time.monotonic()
    compiled = _state["filter"]
    if compiled is not None and now - _state["checked"] < interval:
        return compiled
    from moderation.models import PolicyState

    revision = PolicyState.current_revision()
    with _lock:
        if _state["filter"] is None or _state["revision"] != revision:
            _state["filter"] = Filter(_policy_at(revision))
            _state["revision"] = revision
        _state["checked"] = now
        return _state["filter"]


def _policy_at(revision: int) -> Policy:
    from moderation.models import PolicyTerm

    additions: dict[str, list[str]] = {}
    for group, term in PolicyTerm.objects.active().values_list("group", "term"):
        additions.setdefault(group, []).append(term)
    return policy_files().with_additions(additions, revision)


@functools.cache
def policy_files() -> Policy:
    """The policy files as this process read them once (they change only with a release)."""
    return load_policy_files()


def forget() -> None:
    """Drop the compiled filter so the next call rebuilds it (tests, and after a change here)."""
    with _lock:
        _state.update(revision=None, filter=None, checked=0.0)
