"""Add weeks of finished demo history after `seed_demo`, so the evaluator's figures show data."""

from django.core.management.base import BaseCommand, CommandError

from peerchat.demo_history import DemoHistoryError, demo_history_seed


class Command(BaseCommand):
    help = (
        "Add weeks of finished, made-up history (chats, screenings, escalations, shifts, "
        "supervision) ending four days ago, once. Run seed_demo first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--weeks", type=int, default=26, help="Weeks of history (default 26).")
        parser.add_argument(
            "--seed", type=int, default=7, help="Random seed: the same seed, the same history."
        )

    def handle(self, *args, **options):
        try:
            made = demo_history_seed(weeks=options["weeks"], seed=options["seed"])
        except DemoHistoryError as error:
            raise CommandError(str(error)) from error
        if made.get("already_seeded"):
            self.stdout.write("Demo history is already there: nothing added.")
            return
        self.stdout.write(
            f"Demo history, {made['first_day']} to {made['last_day']} ({made['weeks']} weeks): "
            f"{made['requests']} support requests ({made['matched']} matched, {made['left']} "
            f"left, {made['gone']} gone), {made['messages']} messages, {made['screenings']} "
            f"screened, {made['escalations']} escalations (all resolved, debriefed), "
            f"{made['shifts']} shifts, {made['supervision_bookings']} supervision bookings, "
            f"{made['group_meetings']} groups."
        )
        self.stdout.write(
            "Requests by week: " + ", ".join(str(n) for n in made["requests_by_week"]) + "."
        )
