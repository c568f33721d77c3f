#!/usr/bin/env python
"""Content filter benchmark: our engine against two baselines, same process, same messages.

    .venv/bin/python bench/filter_bench.py            # full run
    .venv/bin/python bench/filter_bench.py --quick    # a quick look (fewer calls)
    .venv/bin/python bench/filter_bench.py --json bench/results/filter.json

Approaches, all built from the same policy files (`load_policy_files().all_terms()`):

- engine: `Filter(load_policy_files()).check(text, room_kind="one_to_one")`, the real filter
  (normalised views, rules, contact and link detection), without the database.
- regex: ONE compiled case-insensitive alternation `\\b(?:t1|t2|...)\\b` over every term
  (re.escape'd, longest first), `.search(text)`.
- better-profanity: `profanity.load_censor_words(terms)`, then `contains_profanity(text)`.
  It is very slow on long text, so it runs on fewer calls (see --bp-calls) and says so.

Message sets built from the corpus texts and ordinary filler sentences: short (corpus texts of
at most 80 characters), typical (about 280 characters; a third are positives), everyday (about
280 characters around texts that must pass: most of a service's traffic) and long (about
2,000, the longest a message may be). Each timed call is measured with time.perf_counter_ns
after a warm-up; engine and regex calls alternate message by message so machine noise falls on
both alike. Reported:
median and p99 in microseconds per message, and the engine/regex ratio of medians. Absolute
times vary between machines; ratios within one run are what to compare (DESIGN §12).

Without timing, the script also reports what each approach catches: recall on the method and
encouragement cases, plain and disguised (moderation.corpus.disguise), and how often each flags
texts that must pass (coping, harm-minimisation, disclosure, recovery, scunthorpe). A baseline
"catches" a case when it matches anything at all; the engine when the verdict has the case's
category. Terms and message texts are never printed.
"""

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from moderation.corpus.disguise import DISGUISES, disguise  # noqa: E402
from moderation.filter.evaluation import NEGATIVE_LABELS, PROTECTIVE_LABELS, load_cases  # noqa: E402

SETS = ("short", "typical", "everyday", "long")
TYPICAL_CHARS = 280
LONG_CHARS = 2000
RECALL_LABELS = ("method", "encouragement")
PASS_LABELS = (*PROTECTIVE_LABELS, "scunthorpe")

# Everyday sentences to pad typical and long messages (nothing a filter should catch).
FILLER = (
    "had a long day at college and the bus was late again",
    "my mum made a roast and we watched a film after",
    "i have been trying to get more sleep but its hard with exams",
    "went for a walk by the river this afternoon and it was nice to get out",
    "work was busy, the new manager keeps changing the rota",
    "my little brother keeps stealing my charger which is so annoying",
    "we are thinking of getting a dog in the summer if the landlord agrees",
    "i started reading a new book and i can't put it down",
    "the weather has been awful all week, rain every single day",
    "my friend came round and we made pancakes and talked for hours",
    "i have a driving lesson on thursday and i'm nervous about roundabouts",
    "the group yesterday was good, it helped to hear other people",
    "i tried the breathing thing we talked about and it sort of worked",
    "my nan phoned and we talked about when she was young",
    "i need to tidy my room but i keep putting it off",
    "football was cancelled because the pitch was flooded",
    "i am going to try to eat breakfast tomorrow instead of skipping it",
    "my cat knocked a plant off the windowsill and looked so pleased with herself",
    "college want the essay in by friday and i have only written the intro",
    "i watched the sunset from my window and felt calm for a bit",
)


# Approaches ------------------------------------------------------------------------------------


def _load_policy():
    """The pure engine and the policy files; Django settings only if the engine insists."""
    from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured

    try:
        from moderation.filter.engine import Filter
        from moderation.filter.policy import load_policy_files

        return Filter, load_policy_files()
    except (ImproperlyConfigured, AppRegistryNotReady):
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("DEBUG", "1")  # settings refuse to load without a secret otherwise
    import django

    django.setup()
    from moderation.filter.engine import Filter
    from moderation.filter.policy import load_policy_files

    return Filter, load_policy_files()


def build_approaches(policy, filter_class) -> tuple[dict, dict]:
    """{name: callable(text) -> verdict-or-bool} and how long each took to build (ms)."""
    build_ms = {}
    start = time.perf_counter()
    engine = filter_class(policy)
    build_ms["engine"] = (time.perf_counter() - start) * 1000

    terms = policy.all_terms()
    start = time.perf_counter()
    alternation = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    pattern = re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE)
    build_ms["regex"] = (time.perf_counter() - start) * 1000

    from better_profanity import profanity

    start = time.perf_counter()
    profanity.load_censor_words(terms)
    build_ms["better_profanity"] = (time.perf_counter() - start) * 1000

    approaches = {
        "engine": lambda text: engine.check(text, room_kind="one_to_one"),
        "regex": pattern.search,
        "better_profanity": profanity.contains_profanity,
    }
    return approaches, build_ms


# Messages --------------------------------------------------------------------------------------


def _pad(rng: random.Random, core: list[str], target: int) -> str:
    """Filler sentences around the corpus texts in `core`: `target` to `target` + 60 chars."""
    parts = list(core)
    length = len(". ".join(parts))
    while length < target:
        room = target + 60 - length - 2
        fitting = [f for f in FILLER if len(f) <= room]
        if not fitting:
            break
        filler = rng.choice(fitting)
        parts.insert(rng.randrange(len(parts) + 1), filler)
        length += len(filler) + 2
    return ". ".join(parts)


def build_sets(cases: list[dict], seed: int = 12345, typical_n: int = 300, long_n: int = 100):
    rng = random.Random(seed)
    texts = [c["text"] for c in cases]
    short = [t for t in texts if len(t) <= 80]
    typical = [_pad(rng, [rng.choice(texts)], TYPICAL_CHARS) for _ in range(typical_n)]
    # What most of a service's traffic looks like: typical length, nothing to catch (the
    # corpus's coping, disclosure, recovery, ordinary... texts). "typical" is a third
    # positives, each of which also pays for its explanation (spans) and contact search.
    passing = [c["text"] for c in cases if c["label"] in NEGATIVE_LABELS]
    everyday = [_pad(rng, [rng.choice(passing)], TYPICAL_CHARS) for _ in range(typical_n)]
    long = [_pad(rng, rng.sample(texts, rng.randint(1, 3)), LONG_CHARS - 60) for _ in range(long_n)]
    return {"short": short, "typical": typical, "everyday": everyday, "long": long}


# Timing ----------------------------------------------------------------------------------------


def _summary(samples_ns: list[int]) -> dict:
    ordered = sorted(samples_ns)
    p99_index = min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))
    return {
        "calls": len(ordered),
        "median_us": statistics.median(ordered) / 1000,
        "p99_us": ordered[p99_index] / 1000,
    }


def time_set(approaches: dict, messages: list[str], iterations: int, bp_calls: int) -> dict:
    clock = time.perf_counter_ns
    engine, regex, bp = (
        approaches["engine"],
        approaches["regex"],
        approaches["better_profanity"],
    )
    warm = min(len(messages), 50)
    for text in messages[:warm]:
        engine(text)
        regex(text)
    bp(messages[0])

    engine_ns, regex_ns = [], []
    for i in range(iterations):
        text = messages[i % len(messages)]
        # Alternate which goes first, so neither always gets the warmer cache.
        if i % 2:
            t0 = clock()
            engine(text)
            t1 = clock()
            regex(text)
            t2 = clock()
            engine_ns.append(t1 - t0)
            regex_ns.append(t2 - t1)
        else:
            t0 = clock()
            regex(text)
            t1 = clock()
            engine(text)
            t2 = clock()
            regex_ns.append(t1 - t0)
            engine_ns.append(t2 - t1)

    bp_ns = []
    for i in range(min(bp_calls, iterations)):
        text = messages[i % len(messages)]
        t0 = clock()
        bp(text)
        bp_ns.append(clock() - t0)

    result = {
        "messages": len(messages),
        "mean_chars": round(statistics.mean(len(m) for m in messages), 1),
        "engine": _summary(engine_ns),
        "regex": _summary(regex_ns),
        "better_profanity": _summary(bp_ns),
    }
    result["better_profanity"]["reduced"] = len(bp_ns) < iterations
    result["engine_regex_median_ratio"] = (
        result["engine"]["median_us"] / result["regex"]["median_us"]
        if result["regex"]["median_us"]
        else None
    )
    return result


# What each catches -----------------------------------------------------------------------------


def _engine_caught(verdict, label: str) -> bool:
    if label not in verdict.categories:
        return False
    return bool(verdict.escalate) if label == "imminent" else True


def _engine_flagged(verdict) -> bool:
    return verdict.action != "allow" or bool(verdict.escalate)


def catch_rates(approaches: dict, cases: list[dict], bp_max: int | None) -> dict:
    """Recall on method/encouragement (plain, disguised) and flag rate on texts that must pass."""
    positives = [c for c in cases if c["label"] in RECALL_LABELS]
    plain = [(c, c["text"]) for c in positives]
    disguised = []
    for case in positives:
        for kind in DISGUISES:
            text = disguise(case, kind)
            if text is not None:
                disguised.append((case, text, kind))
    passing = [c for c in cases if c["label"] in PASS_LABELS]

    def rate(hits, total):
        return {"hits": hits, "total": total, "value": hits / total if total else None}

    results = {}
    for name, run in approaches.items():
        limit = bp_max if name == "better_profanity" else None

        def sample(items, limit=limit):
            if limit is None or len(items) <= limit:
                return items
            step = len(items) / limit
            return [items[int(i * step)] for i in range(limit)]

        if name == "engine":

            def caught(case, text, run=run):
                return _engine_caught(run(text), case["label"])

            def flagged(text, run=run):
                return _engine_flagged(run(text))
        else:

            def caught(case, text, run=run):
                return bool(run(text))

            def flagged(text, run=run):
                return bool(run(text))

        plain_s = sample(plain)
        disguised_s = sample(disguised)
        passing_s = sample(passing)
        per_kind = {}
        for kind in DISGUISES:
            these = [(c, t) for c, t, k in disguised_s if k == kind]
            per_kind[kind] = rate(sum(caught(c, t) for c, t in these), len(these))
        results[name] = {
            "plain_recall": rate(sum(caught(c, t) for c, t in plain_s), len(plain_s)),
            "disguised_recall": rate(
                sum(caught(c, t) for c, t, _ in disguised_s), len(disguised_s)
            ),
            "disguised_recall_by_kind": per_kind,
            "flag_rate_on_passing": rate(
                sum(flagged(c["text"]) for c in passing_s), len(passing_s)
            ),
            "sampled": limit is not None
            and (len(plain_s), len(disguised_s), len(passing_s))
            != (len(plain), len(disguised), len(passing)),
        }
    return results


# Report ----------------------------------------------------------------------------------------

_NAMES = {"engine": "engine", "regex": "regex", "better_profanity": "better-profanity"}


def _fmt_rate(r: dict) -> str:
    return "-" if r["value"] is None else f"{r['value']:.3f} ({r['hits']}/{r['total']})"


def format_results(results: dict) -> str:
    lines = [
        f"content filter bench  ({'quick' if results['quick'] else 'full'} run, "
        f"python {results['python']}, {results['cpus']} cpus)",
        "build (ms): " + ", ".join(f"{_NAMES[k]} {v:.1f}" for k, v in results["build_ms"].items()),
        "",
        "time per message, microseconds (median / p99)",
        f"{'set':<9}{'msgs':>6}{'chars':>8}  {'engine':>19}  {'regex':>19}  "
        f"{'better-profanity':>27}  {'engine/regex':>12}",
    ]
    for name in SETS:
        s = results["sets"][name]
        bp = s["better_profanity"]
        bp_text = f"{bp['median_us']:.1f} / {bp['p99_us']:.1f}"
        if bp["reduced"]:
            bp_text += f" ({bp['calls']} calls)"
        ratio = s["engine_regex_median_ratio"]
        lines.append(
            f"{name:<9}{s['messages']:>6}{s['mean_chars']:>8.0f}  "
            f"{s['engine']['median_us']:>8.1f} / {s['engine']['p99_us']:<8.1f}  "
            f"{s['regex']['median_us']:>8.1f} / {s['regex']['p99_us']:<8.1f}  "
            f"{bp_text:>27}  {'-' if ratio is None else f'{ratio:.2f}x':>12}"
        )
    calls = results["sets"]["short"]["engine"]["calls"]
    lines.append(
        f"(engine and regex: {calls} timed calls per set; better-profanity: "
        f"{results['bp_calls']} per set, it is too slow for more)"
    )
    lines += [
        "",
        "what each catches (no timing): method + encouragement cases, texts that must pass",
        f"{'approach':<18}{'plain recall':>20}{'disguised recall':>22}{'flags passing texts':>24}",
    ]
    for name, r in results["catches"].items():
        note = "  (sampled)" if r["sampled"] else ""
        lines.append(
            f"{_NAMES[name]:<18}{_fmt_rate(r['plain_recall']):>20}"
            f"{_fmt_rate(r['disguised_recall']):>22}{_fmt_rate(r['flag_rate_on_passing']):>24}"
            f"{note}"
        )
    lines.append("")
    lines.append("disguised recall by kind")
    header = f"{'disguise':<13}" + "".join(f"{_NAMES[n]:>20}" for n in results["catches"])
    lines.append(header)
    for kind in DISGUISES:
        row = f"{kind:<13}"
        for r in results["catches"].values():
            row += f"{_fmt_rate(r['disguised_recall_by_kind'][kind]):>20}"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer calls, for a quick look.")
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="Timed engine and regex calls per set (default 3000, --quick 300).",
    )
    parser.add_argument(
        "--bp-calls",
        type=int,
        default=None,
        help="Timed better-profanity calls per set (default 100, --quick 20).",
    )
    parser.add_argument(
        "--bp-sample",
        type=int,
        default=None,
        help="Cases better-profanity checks for the catch rates (default all, --quick 100).",
    )
    parser.add_argument("--json", metavar="PATH", help="Also write the results as JSON here.")
    parser.add_argument("--seed", type=int, default=12345, help="Seed for building messages.")
    args = parser.parse_args(argv)

    iterations = args.iterations or (300 if args.quick else 3000)
    bp_calls = args.bp_calls if args.bp_calls is not None else (20 if args.quick else 100)
    bp_calls = max(1, bp_calls)
    bp_sample = args.bp_sample if args.bp_sample is not None else (100 if args.quick else None)

    filter_class, policy = _load_policy()
    approaches, build_ms = build_approaches(policy, filter_class)
    cases = load_cases()
    sets = build_sets(cases, seed=args.seed, typical_n=100 if args.quick else 300)

    results = {
        "quick": args.quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "corpus_cases": len(cases),
        "terms": len(policy.all_terms()),
        "policy_version": getattr(policy, "version", None),
        "iterations": iterations,
        "bp_calls": bp_calls,
        "build_ms": build_ms,
        "sets": {
            name: time_set(approaches, messages, iterations, bp_calls)
            for name, messages in sets.items()
        },
        # better-profanity takes milliseconds on a short text: in --quick it sees a sample.
        "catches": catch_rates(approaches, cases, bp_max=bp_sample),
    }
    print(format_results(results))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
