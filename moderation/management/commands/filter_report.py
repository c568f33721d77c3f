"""How well the content filter does on the labelled corpus: a report, never a gate (exit 0).

    manage.py filter_report                # table: precision / recall / FPR, disguises, failures
    manage.py filter_report --json         # the same as JSON
    manage.py filter_report --show-text    # failures with their texts (local use by moderators)

Without --show-text the output names cases by id only, so it can go into logs and CI output.
"""

import json

from django.core.management.base import BaseCommand

from moderation.corpus.disguise import DISGUISES
from moderation.filter.evaluation import evaluate, load_cases


class Command(BaseCommand):
    help = (
        "Run the content filter over the evaluation corpus and print precision, recall and "
        "false-positive rates per category, recall per disguise and the failing case ids."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--show-text",
            action="store_true",
            help="Include the text of failing cases (contains distressing wording; for "
            "moderators on their own machine, not for logs).",
        )
        parser.add_argument(
            "--cases", default=None, help="Corpus file (default moderation/corpus/cases.jsonl)."
        )
        parser.add_argument(
            "--no-disguises", action="store_true", help="Check the plain texts only."
        )
        parser.add_argument(
            "--disguise",
            action="append",
            choices=DISGUISES,
            help="Only this disguise (repeatable; default all).",
        )

    def handle(self, *args, **options):
        from moderation.filter.policy import current_filter

        cases = load_cases(options["cases"])
        disguises = False if options["no_disguises"] else (options["disguise"] or True)
        engine = current_filter()
        report = evaluate(engine.check, cases, disguises=disguises)
        if options["json"]:
            data = report.to_dict(include_text=options["show_text"])
            data["policy_version"] = getattr(engine, "version", None) or _policy_version(engine)
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(report.format_table(include_text=options["show_text"]))


def _policy_version(engine) -> str | None:
    try:
        return engine.check("", room_kind="one_to_one").policy_version
    except Exception:  # noqa: BLE001 (the version is a nicety in a report)
        return None
