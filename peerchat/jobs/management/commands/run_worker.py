"""Run durable jobs until stopped: `manage.py run_worker [--once] [--poll SECONDS] [--id NAME]`.

Any number of workers may run at once, on any machines sharing the database. SIGTERM or
Ctrl-C stops the worker after the job in hand; a worker that is killed outright loses
nothing: its job runs again when the lease runs out.
"""

import logging
import os
import signal
import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from peerchat import jobs

logger = logging.getLogger("peerchat.jobs")

BATCH = 50


class Command(BaseCommand):
    help = "Run due durable jobs (escalation hooks and other work that must not be lost)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run the jobs due now, then exit.")
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Seconds to wait when nothing is due (default WORKER_POLL_SECONDS).",
        )
        parser.add_argument(
            "--id",
            dest="worker_id",
            default=None,
            help="Name recorded on the jobs this worker holds (default host:pid). Unique.",
        )

    def handle(self, *args, once=False, poll=None, worker_id=None, **options):
        poll = poll if poll is not None else settings.WORKER["POLL_SECONDS"]
        worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = False
        if not once:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        logger.info("worker %s started (poll %.2f s)", worker_id, poll)
        ran_total = 0
        while not self.stopping:
            close_old_connections()
            try:
                ran = jobs.run_due(worker_id=worker_id, limit=BATCH, stop=lambda: self.stopping)
            except Exception as error:
                if once:
                    raise
                logger.warning("worker %s: claiming failed: %s", worker_id, type(error).__name__)
                ran = 0
            finally:
                close_old_connections()
            ran_total += ran
            if once and ran < BATCH:
                break
            if ran == 0:
                self._sleep(poll)
        logger.info("worker %s stopped", worker_id)
        if once:
            self.stdout.write(f"jobs run: {ran_total}")

    def _sleep(self, seconds: float) -> None:
        # Short naps, so a stop signal is acted on within a tenth of a second.
        deadline = time.monotonic() + seconds
        while not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(0.1, remaining))

    def _stop(self, signum, frame):
        self.stopping = True
