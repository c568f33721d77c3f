"""The worker inside a daphne process, for the embedded default (in-memory channel layer).

The in-memory layer reaches only sockets of its own process, so a separate worker process
could record an escalation's re-notification but never show it on a moderator's page. With
`WORKER_EMBEDDED` on (the default when there is no REDIS_URL) each daphne process runs the same
loop as `manage.py run_worker` in a thread of its own, and hands the events its jobs publish
back to the process's event loop. With Redis, run `manage.py run_worker` processes instead.
"""

import asyncio
import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger("peerchat.jobs")

_lock = threading.Lock()
_thread: threading.Thread | None = None


def ensure_running() -> None:
    """Start this process's worker thread once, tied to the running event loop."""
    global _thread
    if not settings.WORKER["EMBEDDED"] or (_thread is not None and _thread.is_alive()):
        return
    loop = asyncio.get_running_loop()
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(
            target=_work, args=(loop,), name="peerchat-embedded-worker", daemon=True
        )
        _thread.start()


def _work(loop: asyncio.AbstractEventLoop) -> None:
    from peerchat.events import serving_loop
    from peerchat.jobs.services import run_due

    # Events published by jobs (an escalation widened) go out through the serving loop.
    serving_loop.set(loop)
    worker_id = f"embedded-{os.getpid()}"
    poll = settings.WORKER["POLL_SECONDS"]
    logger.info("embedded worker %s started", worker_id)
    while not loop.is_closed():
        ran = 0
        try:
            close_old_connections()
            ran = run_due(worker_id=worker_id)
        except Exception:  # the next round tries again
            logger.exception("embedded worker round failed")
        finally:
            close_old_connections()
        if not ran:
            time.sleep(poll)
