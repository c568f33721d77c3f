"""An escalation survives Redis restarting: the moderator's page recovers and shows it, and
its durable timer still fires (issue 5's reliability tests).

The topology: two daphne processes and a `run_worker` process on PostgreSQL, with a Redis of
the module's own that the test kills (SIGKILL: every group and queued event is lost) and
starts again, empty. The supporter asks for urgent help over HTTP; the moderator watches the
`escalations` topic on the other process.
"""

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect

from tests.live.support import session_for, start_topology, stop_topology

pytestmark = pytest.mark.live

ROOM = 1  # the demo group room: supporter1, supporter2, trainee1, moderator
RENOTIFY_AFTER = 14  # seconds: after Redis is back and the hubs have re-joined their groups


@pytest.fixture(scope="module")
def escalation_topology(tmp_path_factory, postgres_url, private_redis):
    topology = start_topology(
        tmp_path_factory.mktemp("escalations"),
        postgres_url=postgres_url,
        redis_url=private_redis.url,
        extra_env={
            "ESCALATION_RENOTIFY_AFTER_SECONDS": str(RENOTIFY_AFTER),
            "ESCALATION_ON_CALL_AFTER_SECONDS": "3600",
        },
    )
    yield topology
    stop_topology(topology)


class Watcher:
    """A moderator's console socket: watches `escalations`, keeps every frame."""

    def __init__(self, topology, session, index: int):
        self.topology, self.session, self.index = topology, session, index
        self.frames: list[dict] = []
        self._task: asyncio.Task | None = None

    async def start(self) -> "Watcher":
        self.ws = await connect(
            self.topology.ws_url(self.index),
            additional_headers=self.topology.ws_headers(self.session, self.index),
        )
        await self.ws.send(json.dumps({"type": "watch", "topic": "escalations"}))
        self._task = asyncio.get_running_loop().create_task(self._read())
        await self.wait_for(lambda f: f["type"] == "escalations", "the first snapshot")
        return self

    async def _read(self) -> None:
        async for text in self.ws:
            self.frames.append(json.loads(text))

    async def wait_for(self, predicate, what: str, *, after: int = 0, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames[after:]:
                if predicate(frame):
                    return frame
            if time.monotonic() > deadline:
                types = [f["type"] for f in self.frames]
                raise AssertionError(f"timed out waiting for {what}; got {types}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            self._task.cancel()


def _escalate(topology, username: str) -> dict:
    session = session_for(topology, username)
    response = session.post(
        f"{topology.base_url(0)}/api/v1/rooms/{ROOM}/escalate",
        json={"note": "worried about someone in the group"},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": topology.base_url(0)},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def _item(frame: dict, escalation_id: int) -> dict | None:
    if frame["type"] == "escalation":
        return frame["item"] if frame["item"]["id"] == escalation_id else None
    if frame["type"] == "escalations":
        return next((i for i in frame["items"] if i["id"] == escalation_id), None)
    return None


async def test_redis_restart_while_an_escalation_is_open(escalation_topology, private_redis):
    topology = escalation_topology
    moderator = await Watcher(topology, session_for(topology, "moderator"), 1).start()
    try:
        raised = await asyncio.to_thread(_escalate, topology, "supporter1")
        escalation_id = raised["escalation"]["id"]
        opened = await moderator.wait_for(
            lambda f: f["type"] == "escalation" and f["event"] == "opened",
            "the escalation, live",
        )
        assert opened["item"]["id"] == escalation_id and opened["item"]["state"] == "open"

        before_outage = len(moderator.frames)
        private_redis.kill()
        await asyncio.sleep(1.0)
        private_redis.start()

        # The moderator's process re-joins its groups and sends the snapshot again: the
        # escalation opened before the outage is still there, still open.
        snapshot = await moderator.wait_for(
            lambda f: f["type"] == "escalations",
            "the snapshot sent again after Redis came back",
            after=before_outage,
        )
        item = _item(snapshot, escalation_id)
        assert item is not None and item["state"] == "open", snapshot

        # The durable timer fires (the worker) and reaches the page through the new Redis.
        renotified = await moderator.wait_for(
            lambda f: (i := _item(f, escalation_id)) is not None and i["stage"] == 1,
            "the re-notification",
            after=before_outage,
            timeout=RENOTIFY_AFTER + 30,
        )
        assert renotified["type"] == "escalation" and renotified["event"] == "renotified", (
            renotified
        )
    finally:
        await moderator.close()
