"""The embedded default as a person runs it: one real daphne process started by run_topology
on SQLite with the in-memory layer, spoken to by a real websocket client."""

import asyncio
import json
import uuid

import pytest
import requests
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.servers import Topology


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    topology = Topology(
        tmp_path_factory.mktemp("embedded"), processes=1, extra_env={"WS_AUTH_TIMEOUT_SECONDS": "1"}
    )
    with topology:
        yield topology


async def _recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_health_reports_database_and_channel_layer(server):
    response = requests.get(server.base_url() + "/healthz", timeout=5)
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


async def test_two_demo_users_chat_in_the_demo_room(server):
    alex = await asyncio.to_thread(server.login, "supporter1")
    sam = await asyncio.to_thread(server.login, "supporter2")
    async with (
        websockets.connect(server.ws_url(), additional_headers=server.ws_headers(alex)) as a,
        websockets.connect(server.ws_url(), additional_headers=server.ws_headers(sam)) as b,
    ):
        assert (await _recv(a))["handle"] == "Alex"
        assert (await _recv(b))["handle"] == "Sam"
        for ws in (a, b):
            await ws.send(json.dumps({"type": "join", "room": 1, "since": 0}))
            joined = await _recv(ws)
            for _ in range(joined["replayed"]):
                await _recv(ws)
        client_msg_id = str(uuid.uuid4())
        await a.send(
            json.dumps(
                {"type": "send", "room": 1, "client_msg_id": client_msg_id, "body": "hi Sam"}
            )
        )
        got = await _recv(b)
        assert (got["type"], got["body"], got["sender"]["handle"]) == ("message", "hi Sam", "Alex")
        own = [await _recv(a), await _recv(a)]
        assert {f["type"] for f in own} == {"ack", "message"}


async def test_oversized_frames_are_refused_by_the_server(server):
    alex = await asyncio.to_thread(server.login, "supporter1")
    async with websockets.connect(
        server.ws_url(), additional_headers=server.ws_headers(alex), max_size=None
    ) as ws:
        await _recv(ws)
        body = "x" * 40_000  # over WS_MAX_FRAME_BYTES (32768)
        await ws.send(
            json.dumps(
                {"type": "send", "room": 1, "client_msg_id": str(uuid.uuid4()), "body": body}
            )
        )
        with pytest.raises(ConnectionClosed):
            for _ in range(5):
                await _recv(ws)
    page = await asyncio.to_thread(
        alex.get, server.base_url() + "/api/v1/rooms/1/messages?after=0", timeout=5
    )
    assert body not in page.text
    # The next connection is served as usual.
    async with websockets.connect(
        server.ws_url(), additional_headers=server.ws_headers(alex)
    ) as ws:
        assert (await _recv(ws))["type"] == "hello"


async def test_a_foreign_origin_gets_403_at_the_handshake(server):
    alex = await asyncio.to_thread(server.login, "supporter1")
    headers = {**server.ws_headers(alex), "Origin": "https://elsewhere.example"}
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(server.ws_url(), additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403


async def test_an_unauthenticated_socket_is_closed_with_4401(server):
    async with websockets.connect(
        server.ws_url(), additional_headers={"Origin": server.base_url()}
    ) as ws:
        hello = await _recv(ws)
        assert hello["authenticated"] is False
        await ws.send(json.dumps({"type": "join", "room": 1}))
        assert (await _recv(ws))["code"] == "not_authenticated"
        assert (await _recv(ws))["code"] == "not_authenticated"  # the grace period ran out
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
        assert closed.value.rcvd.code == 4401


async def test_a_ticket_signs_in_a_client_without_cookies(server):
    alex = await asyncio.to_thread(server.login, "supporter1")
    ticket = await asyncio.to_thread(
        alex.post,
        server.base_url() + "/api/v1/ws-tickets",
        headers={"X-CSRFToken": alex.cookies["csrftoken"], "Referer": server.base_url() + "/"},
        timeout=5,
    )
    assert ticket.status_code == 201
    async with websockets.connect(
        server.ws_url(), additional_headers={"Origin": server.base_url()}
    ) as ws:
        await _recv(ws)
        await ws.send(json.dumps({"type": "auth", "ticket": ticket.json()["ticket"]}))
        hello = await _recv(ws)
        assert (hello["authenticated"], hello["handle"]) == (True, "Alex")
