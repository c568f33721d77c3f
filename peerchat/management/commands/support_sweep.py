"""Run the support sweep once, or keep running it (`--loop`)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from peerchat.services.sweep import support_sweep


class Command(BaseCommand):
    help = (
        "End lapsed queue places and chats, close finished shifts, and match what time allows. "
        "Every daphne process already does this; use it by hand or when that is turned off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until stopped.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between sweeps with --loop (default SUPPORT_SWEEP_INTERVAL_SECONDS, "
            "or 15 when that is 0).",
        )

    def handle(self, *args, loop=False, interval=None, **options):
        interval = interval or settings.SUPPORT["SWEEP_INTERVAL_SECONDS"] or 15
        while True:
            result = support_sweep()
            self.stdout.write(
                f"queue places lapsed: {result.requests_gone}, chats ended: "
                f"{result.sessions_ended}, shifts closed: {result.shifts_closed}, "
                f"groups closed: {result.groups_closed}, matched: {result.matched}"
            )
            if not loop:
                return
            time.sleep(interval)
