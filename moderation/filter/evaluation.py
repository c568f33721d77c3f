"""Measure a content filter against the labelled corpus (moderation/corpus/cases.jsonl).

    from moderation.filter import check
    from moderation.filter.evaluation import evaluate, load_cases
    report = evaluate(check, load_cases())
    print(report.format_table())

Definitions (DESIGN §7):

- A *positive* case (label in POSITIVE_LABELS) is **caught** when its label is among the
  verdict's categories and, for `imminent`, the verdict escalates. Recall of a category is
  caught / cases with that label. A caught case whose action is not the one expected (for
  example a method case blocked instead of held, an imminent case not delivered, a contact case
  without masked text) is listed among the failures as `wrong_action`, but still counts as caught.
- A *negative* case (label in NEGATIVE_LABELS) is a **false positive** when the verdict's action
  is not "allow" or it escalates.
- Precision of category C: cases labelled C whose verdict includes C / all cases whose verdict
  includes C (undisguised cases only).
- False-positive rate of category C: negative cases whose verdict includes C / all negative
  cases (the share of texts that should pass which C wrongly flags).
- Disguises (moderation.corpus.disguise) are applied to positive cases only; recall per disguise
  counts the cases a disguise really changed.

Summaries and `to_dict()` carry ids, labels, expected and got, never message text; texts are
added only on request (`include_text=True`, the report command's --show-text) for moderators
looking at failures on their own machine.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from moderation.corpus.disguise import DISGUISES, disguise

DEFAULT_CASES = Path(__file__).resolve().parent.parent / "corpus" / "cases.jsonl"

POSITIVE_LABELS = ("method", "encouragement", "graphic", "contact", "imminent", "links")
NEGATIVE_LABELS = (
    "coping",
    "harm_minimisation",
    "disclosure",
    "recovery",
    "scunthorpe",
    "number_lookalike",
    "ordinary",
)
LABELS = POSITIVE_LABELS + NEGATIVE_LABELS
# Talk the service exists for: it must never be flagged (DESIGN §2, §7).
PROTECTIVE_LABELS = ("coping", "harm_minimisation", "disclosure", "recovery")
ROOM_KINDS = ("one_to_one", "group")

# The action each positive label asks for (DESIGN §7); graphic depends on the room.
_EXPECTED_ACTION = {
    "method": "hold",
    "encouragement": "block",
    "contact": "mask",
    "imminent": "allow",
    "links": "hold",
}
# Imminent danger is delivered, with or without a content warning (the supporter must see it).
IMMINENT_ACTIONS = ("allow", "content_warning")


def expected_for(label: str, room_kind: str = "one_to_one") -> dict:
    """The `expect` a case with this label must carry: {"action": ..., "escalate": ...}."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}")
    if label == "graphic":
        action = "hold" if room_kind == "group" else "content_warning"
    else:
        action = _EXPECTED_ACTION.get(label, "allow")
    return {"action": action, "escalate": label == "imminent"}


def load_cases(path=None) -> list[dict]:
    """The corpus: one JSON object per line; blank lines are skipped."""
    path = Path(path) if path else DEFAULT_CASES
    cases = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name} line {number}: not JSON ({exc.msg})") from None
            if not isinstance(case, dict):
                raise ValueError(f"{path.name} line {number}: not a JSON object")
            cases.append(case)
    return cases


# Results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """`hits` out of `total`; `value` is None when there is nothing to divide by."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def to_dict(self) -> dict:
        return {"hits": self.hits, "total": self.total, "value": self.value}

    def __str__(self) -> str:
        return "-" if self.value is None else f"{self.value:.3f} ({self.hits}/{self.total})"


@dataclass(frozen=True)
class Outcome:
    """One check of one (possibly disguised) case."""

    id: str
    label: str
    room_kind: str
    disguise: str | None
    expected: dict
    action: str
    escalate: bool
    categories: tuple[str, ...]
    rule_ids: tuple[str, ...]
    masked: bool
    error: str | None
    # Only for --show-text; never part of to_dict() unless asked.
    text: str = field(repr=False, compare=False)

    @property
    def case_id(self) -> str:
        return self.id if self.disguise is None else f"{self.id}~{self.disguise}"

    @property
    def positive(self) -> bool:
        return self.label in POSITIVE_LABELS

    @property
    def caught(self) -> bool:
        """For positives: the label is among the categories (and imminent escalates)."""
        if self.error or self.label not in self.categories:
            return False
        return self.escalate if self.label == "imminent" else True

    @property
    def false_positive(self) -> bool:
        """For negatives: anything but a plain, unescalated allow."""
        return bool(self.error) or self.action != "allow" or self.escalate

    @property
    def action_ok(self) -> bool:
        if self.label == "imminent":
            return self.action in IMMINENT_ACTIONS
        if self.label == "contact" and not self.masked:
            return False
        return self.action == self.expected.get("action")

    @property
    def reason(self) -> str | None:
        """Why this outcome is a failure, or None when it isn't one."""
        if self.error:
            return "error"
        if self.positive:
            if not self.caught:
                return "missed"
            if self.label == "contact" and not self.masked:
                return "not_masked"
            if not self.action_ok:
                return "wrong_action"
            return None
        return "false_positive" if self.false_positive else None

    def to_dict(self, include_text: bool = False) -> dict:
        data = {
            "id": self.case_id,
            "label": self.label,
            "room_kind": self.room_kind,
            "disguise": self.disguise,
            "reason": self.reason,
            "expected": {"categories": [self.label] if self.positive else [], **self.expected},
            "got": {
                "action": self.action,
                "escalate": self.escalate,
                "categories": list(self.categories),
                "rule_ids": list(self.rule_ids),
            },
        }
        if self.error:
            data["got"]["error"] = self.error
        if include_text:
            data["text"] = self.text
        return data


@dataclass(frozen=True)
class CategoryStats:
    label: str
    precision: Rate
    recall: Rate
    fpr: Rate

    def to_dict(self) -> dict:
        return {
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
            "fpr": self.fpr.to_dict(),
        }


@dataclass
class Report:
    outcomes: list[Outcome]
    categories: dict[str, CategoryStats]
    disguise_recall: dict[str, Rate]
    disguise_recall_by_label: dict[str, dict[str, Rate]]
    negative_fpr: dict[str, Rate]
    protective_fpr: Rate
    negatives_fpr: Rate
    pairs: Rate
    counts: dict[str, int]

    @property
    def scunthorpe_fpr(self) -> Rate:
        return self.negative_fpr.get("scunthorpe", Rate(0, 0))

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.reason is not None]

    def recall(self, label: str) -> float | None:
        return self.categories[label].recall.value

    def to_dict(self, include_text: bool = False) -> dict:
        return {
            "counts": dict(self.counts),
            "categories": {label: s.to_dict() for label, s in self.categories.items()},
            "disguise_recall": {k: r.to_dict() for k, r in self.disguise_recall.items()},
            "disguise_recall_by_label": {
                kind: {label: r.to_dict() for label, r in by_label.items()}
                for kind, by_label in self.disguise_recall_by_label.items()
            },
            "negative_fpr": {label: r.to_dict() for label, r in self.negative_fpr.items()},
            "protective_fpr": self.protective_fpr.to_dict(),
            "scunthorpe_fpr": self.scunthorpe_fpr.to_dict(),
            "negatives_fpr": self.negatives_fpr.to_dict(),
            "contrast_pairs_both_right": self.pairs.to_dict(),
            "failures": [o.to_dict(include_text=include_text) for o in self.failures],
        }

    def format_table(self, include_text: bool = False) -> str:
        lines = []
        total = sum(self.counts.values())
        lines.append(f"cases: {total}  ({', '.join(f'{k} {v}' for k, v in self.counts.items())})")
        lines.append("")
        lines.append(f"{'category':<15}{'precision':>22}{'recall':>22}{'FPR':>22}")
        for label, stats in self.categories.items():
            lines.append(f"{label:<15}{stats.precision!s:>22}{stats.recall!s:>22}{stats.fpr!s:>22}")
        if self.disguise_recall:
            lines.append("")
            lines.append(f"{'disguise':<15}{'recall (positives)':>22}   worst label")
            for kind, rate in self.disguise_recall.items():
                by_label = self.disguise_recall_by_label.get(kind, {})
                worst = min(
                    (r for r in by_label.items() if r[1].total),
                    key=lambda item: item[1].value,
                    default=None,
                )
                note = f"{worst[0]} {worst[1]}" if worst else ""
                lines.append(f"{kind:<15}{rate!s:>22}   {note}")
        lines.append("")
        lines.append(f"{'negative label':<22}{'FPR':>22}")
        for label, rate in self.negative_fpr.items():
            lines.append(f"{label:<22}{rate!s:>22}")
        lines.append(f"{'protective (4 labels)':<22}{self.protective_fpr!s:>22}")
        lines.append(f"{'all negatives':<22}{self.negatives_fpr!s:>22}")
        lines.append("")
        lines.append(f"contrast pairs with both sides right: {self.pairs}")
        failures = self.failures
        plain = [o for o in failures if o.disguise is None]
        failed_plain = {o.id for o in plain}
        disguised: dict[str, list[Outcome]] = {}
        hidden = 0
        for o in failures:
            if o.disguise is None:
                continue
            if o.id in failed_plain and not include_text:
                hidden += 1
                continue
            disguised.setdefault(o.id, []).append(o)
        lines.append("")
        lines.append(
            f"failures: {len(plain)} plain, {len(failures) - len(plain)} disguised"
            + (f" ({hidden} of cases that already fail plain not listed)" if hidden else "")
        )
        for o in plain:
            lines.append(_failure_line(o))
            if include_text:
                lines.append(f"      text: {o.text!r}")
        for case_id, outcomes in disguised.items():
            if include_text:
                for o in outcomes:
                    lines.append(_failure_line(o))
                    lines.append(f"      text: {o.text!r}")
            else:
                kinds = ",".join(o.disguise for o in outcomes)
                lines.append(_failure_line(outcomes[0], f"{case_id}~{{{kinds}}}"))
        return "\n".join(lines)


def _failure_line(o: Outcome, name: str | None = None) -> str:
    got = f"{o.action}{' +escalate' if o.escalate else ''} [{','.join(o.categories)}]"
    if o.error:
        got = f"error {o.error}"
    want = o.expected.get("action", "?")
    if o.expected.get("escalate"):
        want += " +escalate"
    name = name or o.case_id
    return f"  {name:<34} {o.reason:<15} expected {want:<20} got {got}"


# Running ---------------------------------------------------------------------------------------


def _run(check_fn: Callable, case: dict, text: str, kind: str | None) -> Outcome:
    label = case["label"]
    room_kind = case.get("room_kind") or "one_to_one"
    expected = case.get("expect") or expected_for(label, room_kind)
    try:
        verdict = check_fn(text, room_kind=room_kind)
    except Exception as exc:  # noqa: BLE001 (a crash on one case is a result, not the end)
        return Outcome(
            id=case["id"],
            label=label,
            room_kind=room_kind,
            disguise=kind,
            expected=expected,
            action="",
            escalate=False,
            categories=(),
            rule_ids=(),
            masked=False,
            error=type(exc).__name__,
            text=text,
        )
    masked_text = getattr(verdict, "masked_text", None)
    return Outcome(
        id=case["id"],
        label=label,
        room_kind=room_kind,
        disguise=kind,
        expected=expected,
        action=verdict.action,
        escalate=bool(verdict.escalate),
        categories=tuple(verdict.categories),
        rule_ids=tuple(getattr(verdict, "rule_ids", ()) or ()),
        masked=masked_text is not None and masked_text != text,
        error=None,
        text=text,
    )


def evaluate(
    check_fn: Callable,
    cases: Iterable[dict],
    disguises: bool | Iterable[str] = True,
) -> Report:
    """Run `check_fn(text, room_kind=...)` over the cases (and disguises of the positives).

    `disguises`: True for every kind in DISGUISES, False for none, or an iterable of kinds.
    """
    cases = list(cases)
    if disguises is True:
        kinds = DISGUISES
    elif not disguises:
        kinds = ()
    else:
        kinds = tuple(disguises)
        unknown = set(kinds) - set(DISGUISES)
        if unknown:
            raise ValueError(f"unknown disguises: {', '.join(sorted(unknown))}")

    plain: list[Outcome] = []
    disguised: list[Outcome] = []
    for case in cases:
        plain.append(_run(check_fn, case, case["text"], None))
        if case["label"] in POSITIVE_LABELS:
            for kind in kinds:
                text = disguise(case, kind)
                if text is not None:
                    disguised.append(_run(check_fn, case, text, kind))

    counts = Counter(case["label"] for case in cases)
    positives = [o for o in plain if o.positive]
    negatives = [o for o in plain if not o.positive]

    categories = {}
    for label in POSITIVE_LABELS:
        labelled = [o for o in positives if o.label == label]
        flagged = [o for o in plain if label in o.categories]
        categories[label] = CategoryStats(
            label=label,
            precision=Rate(sum(o.label == label for o in flagged), len(flagged)),
            recall=Rate(sum(o.caught for o in labelled), len(labelled)),
            fpr=Rate(sum(label in o.categories for o in negatives), len(negatives)),
        )

    disguise_recall = {}
    by_label: dict[str, dict[str, Rate]] = {}
    for kind in kinds:
        these = [o for o in disguised if o.disguise == kind]
        disguise_recall[kind] = Rate(sum(o.caught for o in these), len(these))
        by_label[kind] = {}
        for label in POSITIVE_LABELS:
            of_label = [o for o in these if o.label == label]
            if of_label:
                by_label[kind][label] = Rate(sum(o.caught for o in of_label), len(of_label))

    negative_fpr = {}
    for label in NEGATIVE_LABELS:
        of_label = [o for o in negatives if o.label == label]
        negative_fpr[label] = Rate(sum(o.false_positive for o in of_label), len(of_label))
    protective = [o for o in negatives if o.label in PROTECTIVE_LABELS]

    by_id = {o.id: o for o in plain}
    pair_of = {case["id"]: case.get("pair") for case in cases}
    pair_results = []
    for o in positives:
        other = by_id.get(pair_of.get(o.id))
        if other is not None and not other.positive:
            pair_results.append(o.caught and not other.false_positive)

    return Report(
        outcomes=plain + disguised,
        categories=categories,
        disguise_recall=disguise_recall,
        disguise_recall_by_label=by_label,
        negative_fpr=negative_fpr,
        protective_fpr=Rate(sum(o.false_positive for o in protective), len(protective)),
        negatives_fpr=Rate(sum(o.false_positive for o in negatives), len(negatives)),
        pairs=Rate(sum(pair_results), len(pair_results)),
        counts={label: counts[label] for label in LABELS if counts[label]},
    )
