"""One presence write per process per interval, whatever the number of open pages.

A seeker's open page keeps their place in the queue and their chat; a supporter's keeps the
groups they facilitate open (`SUPPORT_PRESENCE_INTERVAL_SECONDS`). Each socket used to record
that with its own timer and its own database writes, so the writes grew with the number of
open pages. Here each process (event loop) keeps a count of the seekers and supporters whose
pages it holds open, and every interval records all of them at once: two UPDATEs for the
seekers and one for the supporters, however many there are.

A page that opens is recorded at once by its socket (`touch_now`); it then only joins the
beat, so nobody waits longer than one interval between records.
"""

import asyncio
import logging
import weakref
from collections import Counter

from django.conf import settings

from peerchat.db import database_sync_to_async
from peerchat.services.groups import facilitators_presence_touch
from peerchat.services.sessions import seekers_presence_touch

logger = logging.getLogger(__name__)

SEEKER, FACILITATOR = "seeker", "facilitator"
_TOUCH = {SEEKER: seekers_presence_touch, FACILITATOR: facilitators_presence_touch}


def _touch_all(open_pages: dict[str, list[int]]) -> None:
    for kind, ids in open_pages.items():
        if ids:
            _TOUCH[kind](ids)


class PresenceBeat:
    def __init__(self):
        self._open: dict[str, Counter] = {SEEKER: Counter(), FACILITATOR: Counter()}
        self._task: asyncio.Task | None = None

    async def touch_now(self, kind: str, user_id: int) -> None:
        """Record one page that just opened (the beat records it from then on)."""
        await database_sync_to_async(_TOUCH[kind])([user_id])

    def add(self, kind: str, user_id: int) -> None:
        self._open[kind][user_id] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._beat())

    def remove(self, kind: str, user_id: int) -> None:
        pages = self._open[kind]
        pages[user_id] -= 1
        if pages[user_id] <= 0:
            del pages[user_id]

    def open_pages(self) -> dict[str, list[int]]:
        return {kind: sorted(pages) for kind, pages in self._open.items()}

    async def _beat(self) -> None:
        interval = settings.SUPPORT["PRESENCE_INTERVAL_SECONDS"]
        while any(self._open.values()):
            await asyncio.sleep(interval)
            try:
                await database_sync_to_async(_touch_all)(self.open_pages())
            except Exception:  # the next beat tries again
                logger.warning(
                    "presence not recorded; trying again in %ss", interval, exc_info=True
                )


_beats: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceBeat]" = (
    weakref.WeakKeyDictionary()
)


def get_beat() -> PresenceBeat:
    """Return the presence beat of the running event loop (one per daphne process)."""
    loop = asyncio.get_running_loop()
    beat = _beats.get(loop)
    if beat is None:
        beat = _beats[loop] = PresenceBeat()
    return beat
