"""Run the retention purge now, in this process: `manage.py retention_purge`.

For catching up when the purge is overdue (docs/operations.md, "Data retention"); the worker
runs it on its own every RETENTION_PURGE_EVERY_MINUTES. Safe beside a running worker. The run
is recorded like the worker's and shown at /admin/ → Retention runs.
"""

from django.core.management.base import BaseCommand

from moderation.retention.kinds import BY_KEY
from moderation.retention.services import retention_purge


class Command(BaseCommand):
    help = "Clear message bodies and notes older than the retention periods, now."

    def add_arguments(self, parser):
        parser.add_argument(
            "--budget",
            type=float,
            default=None,
            help="Stop after this many seconds and leave the rest (default: until done).",
        )

    def handle(self, *args, budget=None, **options):
        complete = False
        while not complete:
            run = retention_purge(
                worker="manage.py retention_purge",
                budget_seconds=budget if budget is not None else 3600.0,
            )
            for key, n in run.purged.items():
                self.stdout.write(f"cleared {n}: {BY_KEY[key].label}")
            for key, n in run.held_back.items():
                self.stdout.write(
                    f"kept back {n} (safeguarding hold or open escalation): {BY_KEY[key].label}"
                )
            complete = run.complete or budget is not None
        self.stdout.write(
            f"retention run {run.pk}: {'done' if run.complete else 'stopped at its budget'}"
        )
