"""/healthz on every process of the production topology."""

import asyncio

import pytest

from tests.live.support import healthz

pytestmark = pytest.mark.live


async def test_every_process_reports_database_and_channel_layer(topology):
    for index in range(len(topology.ports)):
        assert await asyncio.to_thread(healthz, topology, index) == (
            200,
            {"status": "ok", "database": "ok", "channel_layer": "ok"},
        ), f"process {index}"
