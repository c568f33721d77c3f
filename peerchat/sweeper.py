"""Each daphne process sweeps now and then (see `peerchat.services.sweep.support_sweep`).

Several processes sweeping at once is safe: every change the sweep makes takes the queue
lock and re-checks what it changes. The sweep runs in its own thread so that it never
queues behind (or holds up) the socket's database calls.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def ensure_running() -> None:
    """Start this event loop's sweeper unless it runs already or is switched off."""
    interval = settings.SUPPORT["SWEEP_INTERVAL_SECONDS"]
    if interval <= 0:
        return
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(_sweep_forever(interval))


def _sweep_once():
    from peerchat.services.sweep import support_sweep

    close_old_connections()
    try:
        support_sweep()
    finally:
        close_old_connections()


async def _sweep_forever(interval: float):
    while True:
        await asyncio.sleep(interval)
        try:
            await sync_to_async(_sweep_once, thread_sensitive=False)()
        except Exception:  # a failed sweep is retried at the next interval
            logger.exception("support sweep failed")
