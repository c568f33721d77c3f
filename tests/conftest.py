"""Fixtures shared by the whole suite.

Tests that need PostgreSQL, Redis or Chromium call `unavailable(reason)` when the service is
missing: a skip with that reason on a developer's machine, a failure when
PEERCHAT_REQUIRE_SERVICES=1 (CI), so CI can never pass by skipping them.
"""

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest
from channels.layers import get_channel_layer

from peerchat.models import Membership, Room, User
from peerchat.services.rooms import room_create
from peerchat.services.users import seeker_create, staff_user_upsert

REQUIRE_SERVICES = os.environ.get("PEERCHAT_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "PEERCHAT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PEERCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
CHROMIUM = os.environ.get("PEERCHAT_TEST_CHROMIUM", "/usr/bin/chromium")


def unavailable(reason: str):
    """Skip (developer machine) or fail (CI) a test whose service is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (PEERCHAT_REQUIRE_SERVICES=1: this must not be skipped)")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL server whose user may create databases."""
    if not _reachable(POSTGRES_URL, 5432):
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL} (PEERCHAT_TEST_POSTGRES_URL)")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable(REDIS_URL, 6379):
        unavailable(f"Redis is not reachable at {REDIS_URL} (PEERCHAT_TEST_REDIS_URL)")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session", autouse=True)
def _redis_names_of_this_worker():
    """Under pytest-xdist (`-n 2`), each worker has Redis channels and keys of its own, so one
    worker's broadcasts never reach the other's sockets. (The settings are read before xdist
    names its worker, so they are changed here, before any test makes a channel layer.)"""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        from django.conf import settings

        prefix = f"{settings.CHANNEL_LAYER_PREFIX}-{worker}"
        settings.CHANNEL_LAYER_PREFIX = prefix
        config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
        if "prefix" in config:
            config["prefix"] = prefix


@pytest.fixture(autouse=True)
def _fresh_filter():
    """Each test compiles the filter policy as its own database has it."""
    from moderation.filter import policy

    policy.forget()
    yield
    policy.forget()


@pytest.fixture(autouse=True)
def _own_limits(settings):
    """Each test counts rates, sockets and sign-in failures under keys of its own."""
    settings.LIMITS = {**settings.LIMITS, "KEY_PREFIX": f"peerchat-tests-{uuid.uuid4().hex[:12]}"}


@pytest.fixture(autouse=True)
async def _empty_channel_layer():
    """Each test starts with an empty channel layer (no stale groups or messages)."""
    layer = get_channel_layer()
    await layer.flush()
    yield
    await layer.flush()


# Data -------------------------------------------------------------------------------------------


def make_supporter(username: str | None = None, *, handle: str | None = None, level="peer") -> User:
    name = username or f"supporter-{uuid.uuid4().hex[:8]}"
    return staff_user_upsert(
        username=name,
        role=User.Role.SUPPORTER,
        password="a-long-test-password",
        handle=handle or name.title(),
        supporter_level=level,
    )


def make_group_room(*users: User, name: str = "Test group") -> Room:
    return room_create(
        kind=Room.Kind.GROUP,
        name=name,
        members=[(user, Membership.Role.SUPPORTER) for user in users],
    )


@pytest.fixture
def supporter(db) -> User:
    return make_supporter("alex", handle="Alex")


@pytest.fixture
def other_supporter(db) -> User:
    return make_supporter("sam", handle="Sam", level="senior")


@pytest.fixture
def seeker(db) -> User:
    return seeker_create()


@pytest.fixture
def room(supporter, other_supporter) -> Room:
    return make_group_room(supporter, other_supporter, name="Room A")


def pytest_sessionfinish(session, exitstatus):
    """With PEERCHAT_FORBID_SKIPS=1 (CI's PostgreSQL + Redis pass) any skip fails the run."""
    if os.environ.get("PEERCHAT_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"PEERCHAT_FORBID_SKIPS=1: {len(skipped)} test(s) skipped; failing the run",
            red=True,
        )
        session.exitstatus = 1
