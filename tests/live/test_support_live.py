"""Many seekers at once, across two daphne processes on PostgreSQL + Redis.

Seekers ask for support on both processes at the same moment; the supporters are on shift
through the real API. Capacity and "one chat per seeker" must hold, and a place freed on one
process must reach a seeker waiting on the other, live.
"""

import asyncio
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from websockets.asyncio.client import connect

from tests.live.support import session_for

pytestmark = pytest.mark.live

SEEKERS = 30
SUPPORTERS = {"supporter1": 2, "supporter2": 3, "trainee1": 1}  # demo levels: peer, senior, trainee
HTTP_TIMEOUT = 20


def csrf_headers(session: requests.Session, base: str) -> dict:
    return {"X-CSRFToken": session.cookies["csrftoken"], "Referer": base + "/"}


def post(session: requests.Session, base: str, path: str, data: dict | None = None):
    return session.post(
        base + path, json=data or {}, headers=csrf_headers(session, base), timeout=HTTP_TIMEOUT
    )


def new_seeker(base: str) -> requests.Session:
    session = requests.Session()
    session.get(base + "/api/v1/me", timeout=HTTP_TIMEOUT).raise_for_status()
    response = post(session, base, "/api/v1/seekers")
    assert response.status_code == 201, response.text
    return session


def database_rows(topology, sql: str) -> list[tuple]:
    with psycopg.connect(topology.env["DATABASE_URL"], connect_timeout=5) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def supporters_on_shift(topology):
    sessions = {name: session_for(topology, name) for name in SUPPORTERS}
    for i, session in enumerate(sessions.values()):
        base = topology.base_url(i % 2)
        response = post(session, base, "/api/v1/staff/shift", {"action": "start"})
        assert response.status_code == 200, response.text
        assert response.json()["taking_chats"], response.json()
    yield sessions
    for session in sessions.values():
        base = topology.base_url(0)
        for chat in session.get(base + "/api/v1/staff/status", timeout=HTTP_TIMEOUT).json()[
            "sessions"
        ]:
            post(session, base, f"/api/v1/support/sessions/{chat['room']}/end")
        post(session, base, "/api/v1/staff/shift", {"action": "end"})


async def test_many_seekers_at_once_on_two_processes(topology, supporters_on_shift):
    bases = [topology.base_url(0), topology.base_url(1)]
    seekers = [new_seeker(bases[i % 2]) for i in range(SEEKERS)]
    version = (
        seekers[0]
        .get(bases[0] + "/api/v1/support/intake", timeout=HTTP_TIMEOUT)
        .json()["agreement"]["version"]
    )
    barrier = threading.Barrier(SEEKERS)

    def ask(i: int) -> dict:
        barrier.wait(timeout=30)
        response = post(
            seekers[i], bases[i % 2], "/api/v1/support/requests", {"agreement_version": version}
        )
        assert response.status_code == 201, response.text
        return response.json()

    with ThreadPoolExecutor(SEEKERS) as pool:
        answers = await asyncio.to_thread(lambda: list(pool.map(ask, range(SEEKERS))))

    places = sum(SUPPORTERS.values())
    states = Counter(answer["state"] for answer in answers)
    assert states == {"active": places, "waiting": SEEKERS - places}
    load = dict(
        database_rows(
            topology,
            "SELECT u.username, count(*) FROM peerchat_supportsession s "
            "JOIN peerchat_user u ON u.id = s.supporter_id WHERE s.state = 'active' "
            "GROUP BY u.username",
        )
    )
    assert load == SUPPORTERS
    (per_seeker,) = database_rows(
        topology,
        "SELECT count(*) FROM (SELECT seeker_id FROM peerchat_supportsession "
        "GROUP BY seeker_id HAVING count(*) > 1) doubled",
    )
    assert per_seeker == (0,)
    waiting = [i for i, answer in enumerate(answers) if answer["state"] == "waiting"]
    positions = sorted(answers[i]["request"]["position"] for i in waiting)
    assert positions[0] >= 1 and len(set(positions)) <= len(positions)

    # The seeker at the front of the queue waits with a socket on process 1 ...
    current = [
        seekers[i].get(bases[i % 2] + "/api/v1/support/current", timeout=HTTP_TIMEOUT).json()
        for i in waiting
    ]
    front = next(
        i for i, state in zip(waiting, current, strict=True) if state["request"]["position"] == 1
    )
    headers = {
        "Cookie": f"sessionid={seekers[front].cookies['sessionid']}",
        "Origin": bases[1],
    }
    async with connect(topology.ws_url(1), additional_headers=headers, ping_interval=None) as ws:
        assert json.loads(await ws.recv())["authenticated"] is True
        await ws.send(json.dumps({"type": "watch", "topic": "queue"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "queue":
            pass

        # ... and a supporter on process 0 finishes a chat: the place goes to the front seeker.
        supporter = supporters_on_shift["supporter2"]
        chats = supporter.get(bases[0] + "/api/v1/staff/status", timeout=HTTP_TIMEOUT).json()[
            "sessions"
        ]
        ended = post(supporter, bases[0], f"/api/v1/support/sessions/{chats[0]['room']}/end")
        assert ended.status_code == 200

        async def matched() -> dict:
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "support" and frame["state"] == "active":
                    return frame

        frame = await asyncio.wait_for(matched(), 10)
        assert frame["session"]["supporter"]["handle"] == "Sam"
