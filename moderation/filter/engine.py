"""The filter: evidence found by one automaton pass per view, combined by the policy's rules.

A rule fires when a piece of evidence from each of its groups is found within a short window
(for example a means term *and* an amount), unless protective evidence (coping, help-seeking,
harm-minimisation, recovery...) sits in the same window. Single words never decide on their own
except where the policy says so (a direct "kill yourself" needs no company).
"""

import itertools
import re
from dataclasses import dataclass

import ahocorasick

from moderation.filter import contact, normalise
from moderation.filter.verdict import ACTION_RANK, CATEGORIES, Span, Verdict

# Evidence groups the engine finds itself rather than from a term list.
NUMBER_GROUP = "number"

# Signs in the plain view that a disguise needs undoing (and what the automaton's values are).
_MARK_SPACED = "spaced"
_MARK_LEET = "leet"
_MARK_REPEAT = "repeat"
_KIND_TERM, _KIND_NUMBER, _KIND_MARK = 0, 1, 2
_TIME_UNITS = frozenset(
    (
        "min", "mins", "minute", "minutes", "hour", "hours", "hr", "hrs", "day", "days",
        "week", "weeks", "month", "months", "year", "years", "am", "pm", "o", "oclock",
        "sec", "secs", "seconds", "ago",
    )
)  # fmt: skip
_SYMBOL_IN_WORD = re.compile(r"[A-Za-z0-9][@$!|+]+[A-Za-z0-9]|(?<![^\s])[@$|+][A-Za-z]{2}")


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    # Each condition is a set of alternative groups; every condition must be met.
    conditions: tuple[frozenset[str], ...]
    unless: frozenset[str]
    action: dict  # room kind -> action
    escalate: bool
    window: int


class Filter:
    """A compiled policy. Immutable once built, so every thread may share one."""

    def __init__(self, policy):
        self.policy = policy
        self.version = policy.version
        normalise.set_stand_ins(policy.stand_ins)
        self.rules = policy.rules
        self._plain = self._automaton(normalise.term_key, markers=True)
        self._deep = self._automaton(normalise.deep_term_key, markers=False)
        self._joined = self._joined_automaton()
        self._contact = policy.contact
        self._order = {rule.id: index for index, rule in enumerate(self.rules)}
        self._by_trigger = self._index_rules()
        self._allow = Verdict(
            action="allow",
            escalate=False,
            categories=(),
            rule_ids=(),
            policy_version=self.version,
        )

    def _index_rules(self) -> dict[str, list[Rule]]:
        """Index each rule under the groups of its most specific condition.

        A rule can only fire when that condition is met, so a message whose evidence touches no
        rule's trigger (nearly every message) costs no rule evaluation at all.
        """
        sizes = {group: len(terms) for group, terms in self.policy.terms.items()}
        sizes[NUMBER_GROUP] = 10_000
        index: dict[str, list[Rule]] = {}
        for rule in self.rules:
            trigger = min(rule.conditions, key=lambda c: sum(sizes.get(g, 0) for g in c))
            for group in trigger:
                index.setdefault(group, []).append(rule)
        return index

    # Building ----------------------------------------------------------------------------

    def _automaton(self, key_of, *, markers: bool):
        automaton = ahocorasick.Automaton()
        keyed: dict[str, set[str]] = {}
        for group, terms in self.policy.terms.items():
            for term in terms:
                key = key_of(term)
                if key.strip():
                    keyed.setdefault(key, set()).add(group)
        for key, groups in keyed.items():
            automaton.add_word(key, (len(key), tuple(sorted(groups)), _KIND_TERM))
        for digit in "0123456789":
            automaton.add_word(" " + digit, (2, (), _KIND_NUMBER))
        if markers:
            letters = "abcdefghijklmnopqrstuvwxyz"
            for a, b in itertools.product(letters, repeat=2):
                key = f" {a} {b} "
                if key not in (" i m ", " i d "):  # "i'm", "i'd"
                    automaton.add_word(key, (len(key), _MARK_SPACED, _KIND_MARK))
            for a in letters:
                # "www" in a link is not a disguise; four in a row is.
                run = a * (4 if a == "w" else 3)
                automaton.add_word(run, (len(run), _MARK_REPEAT, _KIND_MARK))
                for d in "0123456789":
                    automaton.add_word(a + d, (2, _MARK_LEET, _KIND_MARK))
        automaton.make_automaton()
        return automaton

    def _joined_automaton(self):
        """Terms without spaces, for letters spaced out in the text ("k i l l")."""
        automaton = ahocorasick.Automaton()
        keyed: dict[str, set[str]] = {}
        for group, terms in self.policy.terms.items():
            for term in terms:
                key = normalise.collapse_repeats(normalise.term_key(term).replace(" ", ""))
                if len(key) >= 2:
                    keyed.setdefault(key, set()).add(group)
        for key, groups in keyed.items():
            automaton.add_word(key, (len(key), tuple(sorted(groups)), _KIND_TERM))
        if not keyed:
            automaton.add_word("\0", (1, (), _KIND_TERM))
        automaton.make_automaton()
        return automaton

    # Checking ----------------------------------------------------------------------------

    def check(self, text: str, *, room_kind: str = "one_to_one") -> Verdict:
        """Return the verdict on `text` in a room of `room_kind`."""
        ascii_text = normalise.ascii_of(text)
        view = normalise.plain_view(ascii_text)
        hits, marks = self._scan(self._plain, view)
        leet = _MARK_LEET in marks or (
            ("@" in ascii_text or "$" in ascii_text or "!" in ascii_text or "|" in ascii_text
             or "+" in ascii_text)
            and _SYMBOL_IN_WORD.search(ascii_text) is not None
        )  # fmt: skip
        collapse = _MARK_REPEAT in marks
        if leet or collapse:
            view = normalise.deep_view(ascii_text, leet=leet, collapse=collapse)
            automaton = self._deep if collapse else self._plain
            hits, _ = self._scan(automaton, view)
            if leet:
                lettered = normalise.numbers_as_letters(view)
                if lettered != view:
                    for group, found in self._scan(automaton, lettered)[0].items():
                        if group != NUMBER_GROUP:
                            hits.setdefault(group, []).extend(found)
        if _MARK_SPACED in marks:
            runs = normalise.spaced_runs(view)
            if runs:
                hits = self._scan_runs(view, runs, hits)
        fired = []
        protected = []
        for rule in self._candidates(hits):
            evidence = self._match(rule, hits)
            if evidence is None:
                continue
            if rule.unless and self._protected(rule, hits, evidence):
                protected.append(rule.id)
                continue
            fired.append((rule, evidence))
        found = (
            contact.find(
                text,
                self._contact,
                hint_ascii=ascii_text,
                hint_groups=hits,
                marks=marks | ({_MARK_LEET} if leet else set()),
            )
            if self._contact
            else []
        )
        if not fired and not found:
            if not protected:
                return self._allow
            return Verdict(
                action="allow",
                escalate=False,
                categories=(),
                rule_ids=(),
                policy_version=self.version,
                protected_by=tuple(protected),
            )
        return self._verdict(text, room_kind, (leet, collapse), fired, found, protected)

    def _candidates(self, hits) -> list[Rule]:
        """Rules whose trigger group was seen; the others cannot fire."""
        candidates = {}
        for group in hits:
            for rule in self._by_trigger.get(group, ()):
                candidates[rule.id] = rule
        if len(candidates) < 2:
            return list(candidates.values())
        return sorted(candidates.values(), key=lambda rule: self._order[rule.id])

    @staticmethod
    def _scan(automaton, view: str):
        hits: dict[str, list[tuple[int, int]]] = {}
        marks = set()
        for end, (length, groups, kind) in automaton.iter(view):
            start = end - length + 1
            if kind == _KIND_MARK:
                marks.add(groups)
                continue
            if kind == _KIND_NUMBER:
                token_end = view.find(" ", start + 1)
                token = view[start + 1 : token_end]
                if token.isdigit():
                    # "20 mins ago", "at 3 pm": a time, not an amount.
                    after = view[token_end + 1 : token_end + 8].split(" ", 1)[0]
                    if after not in _TIME_UNITS:
                        hits.setdefault(NUMBER_GROUP, []).append((start + 1, token_end))
                elif not normalise.NUMBER_WITH_UNIT.fullmatch(token):
                    marks.add(_MARK_LEET)  # "5uicide"
                continue
            # The padding spaces are not part of the evidence.
            for group in groups:
                hits.setdefault(group, []).append((start + 1, end))
        return hits, marks

    def _scan_runs(self, view: str, runs, hits) -> dict:
        """Find terms in letters spaced apart ("k y s", "w h e r e o n m y a r m").

        The run is joined up with a few words either side (a phrase may start before it) and
        searched with the automaton of terms written without spaces. Only terms that touch
        the run count, and short ones only at its edges, so a stray "i a" in ordinary text
        does not spell anything.

        Returns the hits with positions counted as if the runs were written without their
        spaces, so a rule's window means the same for spaced text (each hit keeps its real
        place in the view as a third and fourth number, for the moderators' highlight).
        """
        for run_start, run_end, letters in runs:
            before = "".join(view[max(0, run_start - 40) : run_start].split()[-4:])
            after = "".join(view[run_end : run_end + 40].split()[:4])
            joined = normalise.collapse_repeats(before + letters + after)
            first = len(normalise.collapse_repeats(before))
            if before and letters and before[-1] == letters[0]:
                first -= 1  # the two ran together when collapsed
            last = first + len(normalise.collapse_repeats(letters)) - 1
            for end, (length, groups, _) in self._joined.iter(joined):
                start = end - length + 1
                if end < first or start > last:
                    continue  # not about the spaced letters at all
                inside = first <= start and end <= last
                if length < 4:
                    whole = start == first and end == last
                    edge = inside and (start == first or end == last)
                    if not (whole or (length == 3 and edge)):
                        continue
                # Letters collapsed when joined make places inside a run approximate; a term
                # reaching either end of the run is taken to that end exactly.
                begin = run_start if start <= first else run_start + 2 * (start - first)
                finish = run_end if end >= last else run_start + 2 * (end - first) + 1
                place = (begin, finish)
                for group in groups:
                    hits.setdefault(group, []).append(place)
        # The longest of the terms starting at one place first ("pills" before "pill").
        return {
            group: [_squeezed(hit, runs) for hit in sorted(found, key=lambda h: (h[0], -h[1]))]
            for group, found in hits.items()
        }

    @staticmethod
    def _match(rule: Rule, hits) -> tuple[tuple[int, int], ...] | None:
        """Return one piece of evidence per condition, all within the rule's window."""
        options = []
        for condition in rule.conditions:
            found = [hit for group in condition for hit in hits.get(group, ())]
            if not found:
                return None
            options.append(found)
        if len(options) == 1:
            return (options[0][0],)
        for combination in itertools.islice(itertools.product(*options), 4096):
            start = min(hit[0] for hit in combination)
            end = max(hit[1] for hit in combination)
            if end - start <= rule.window:
                return combination
        return None

    @staticmethod
    def _protected(rule: Rule, hits, evidence) -> bool:
        start = min(hit[0] for hit in evidence) - rule.window
        end = max(hit[1] for hit in evidence) + rule.window
        return any(
            start <= hit[0] and hit[1] <= end
            for group in rule.unless
            for hit in hits.get(group, ())
        )

    def _verdict(self, text, room_kind, steps, fired, found, protected) -> Verdict:
        policy = self.policy
        escalate = any(rule.escalate for rule, _ in fired)
        actions = []
        categories = set()
        for rule, _ in fired:
            action = rule.action.get(room_kind, rule.action["one_to_one"])
            if escalate and action == "hold" and rule.category != "encouragement":
                # Someone in danger must be heard: the supporter sees it (DESIGN §7).
                action = policy.escalate_hold_becomes.get(room_kind, "allow")
            actions.append(action)
            categories.add(rule.category)
        contact_found = [f for f in found if f.rule.startswith("contact.")]
        link_found = [f for f in found if f.rule.startswith("links.")]
        if contact_found:
            actions.append(policy.contact_action)
            categories.add("contact")
        if link_found:
            actions.append(policy.links_action)
            categories.add("links")
        action = max(actions, key=ACTION_RANK.__getitem__) if actions else "allow"
        spans = self._spans(text, steps, fired) + tuple(Span(f.start, f.end, f.rule) for f in found)
        rule_ids = tuple(dict.fromkeys([rule.id for rule, _ in fired] + [f.rule for f in found]))
        masked = contact.mask(text, contact_found, policy.mask_text) if contact_found else None
        return Verdict(
            action=action,
            escalate=escalate,
            categories=tuple(c for c in CATEGORIES if c in categories),
            rule_ids=rule_ids,
            policy_version=self.version,
            spans=tuple(sorted(spans, key=lambda s: (s.start, s.end))),
            masked_text=masked,
            protected_by=tuple(protected),
        )

    @staticmethod
    def _spans(text, steps, fired) -> tuple[Span, ...]:
        if not fired:
            return ()
        leet, collapse = steps
        if text.isascii() and not leet and not collapse:
            origin = normalise.PlainOrigin(text)
        else:
            _, origin = normalise.mapped_view(text, leet=leet, collapse=collapse)
        spans = []
        for rule, evidence in fired:
            for hit in evidence:
                begin, end = (hit[2], hit[3]) if len(hit) > 2 else hit
                start = origin[min(begin, len(origin) - 1)]
                last = origin[min(max(end - 1, begin), len(origin) - 1)]
                spans.append(Span(start, min(len(text), last + 1), rule.id))
        return tuple(spans)


def _squeezed(hit: tuple[int, int], runs) -> tuple[int, int, int, int]:
    """The hit's place counted without the spaces inside spaced-out runs, then its real place."""
    start, end = hit[0], hit[1]
    return (_without_run_spaces(start, runs), _without_run_spaces(end, runs), start, end)


def _without_run_spaces(position: int, runs) -> int:
    removed = 0
    for run_start, run_end, _ in runs:
        if position <= run_start:
            break
        removed += (min(position, run_end) - run_start) // 2
    return position - removed
