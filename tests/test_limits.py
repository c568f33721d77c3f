"""Abuse limits: per-user frame rate and open sockets (peerchat.limits), on this process's
store and on the real Redis, sign-in and seeker-start throttles (peerchat.throttles), and
request body limits."""

import asyncio
import json
import logging
import re
import socket
import uuid

import pytest
import redis
from channels.db import database_sync_to_async
from django.test import Client

from peerchat import limits
from peerchat.models import SafetyPlan, User
from peerchat.services.users import seeker_create
from peerchat.tickets import ws_ticket_issue
from tests.conftest import make_supporter
from tests.wsclient import open_socket

PASSWORD = "a-long-test-password"


def closed_port_url() -> str:
    """A Redis URL on a local port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture(params=["local", "redis"])
def store_kind(request, settings):
    """Run a test on this process's store, then on the real Redis."""
    if request.param == "redis":
        settings.LIMITS = {**settings.LIMITS, "REDIS_URL": request.getfixturevalue("redis_url")}
    else:
        settings.LIMITS = {**settings.LIMITS, "REDIS_URL": ""}
    return request.param


@pytest.fixture
def user_rate(settings):
    """A user may send 4 frames in all (no refill during the test); each socket many more."""
    settings.PEERCHAT = {
        **settings.PEERCHAT,
        "WS_RATE_PER_SECOND": 100.0,
        "WS_RATE_BURST": 100,
        "WS_USER_RATE_PER_SECOND": 0.001,
        "WS_USER_RATE_BURST": 4,
        "WS_RATE_CLOSE_AFTER": 3,
    }


async def refused(socket) -> bool:
    """Send a ping; True when it was refused for rate, False when it was answered."""
    await socket.send({"type": "ping", "nonce": "n"})
    frame = await socket.recv()
    if frame["type"] == "pong":
        return False
    assert (frame["type"], frame["code"]) == ("error", "rate_limited"), frame
    return True


async def closed_with(socket) -> int:
    output = await socket.communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output["code"]


# The frame rate per user ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_two_sockets_of_one_user_share_the_users_rate(
    store_kind, user_rate, supporter, other_supporter
):
    first, second = await open_socket(supporter), await open_socket(supporter)
    other = await open_socket(other_supporter)
    answered = [not await refused(s) for s in (first, second, first, second)]
    assert answered == [True, True, True, True]
    # Four frames used up the user's bucket, whichever socket sent them.
    assert await refused(first)
    assert await refused(second)
    # Another user still has their whole allowance.
    for _ in range(4):
        await other.ping()
    for s in (first, second, other):
        await s.close()


@pytest.mark.django_db(transaction=True)
async def test_a_user_who_keeps_flooding_is_closed_with_4429(
    store_kind, user_rate, supporter, other_supporter
):
    flooding, quiet = await open_socket(supporter), await open_socket(supporter)
    other = await open_socket(other_supporter)
    for _ in range(4):
        await flooding.ping()
    assert await refused(flooding)
    assert await refused(flooding)
    await flooding.send({"type": "ping"})  # the third refusal in a row closes
    assert await closed_with(flooding) == 4429
    # The user's other socket is slowed, not closed; another user carries on.
    assert await refused(quiet)
    await other.ping()
    for s in (quiet, other):
        await s.close()


# Open sockets per user -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_socket_over_the_users_limit_is_closed_with_4409(
    store_kind, settings, supporter, other_supporter
):
    settings.PEERCHAT = {**settings.PEERCHAT, "WS_MAX_CONNECTIONS_PER_USER": 2}
    first, second = await open_socket(supporter), await open_socket(supporter)
    extra = await open_socket(supporter, expect_hello=False)
    error = await extra.recv_type("error")
    assert error["code"] == "too_many_connections"
    assert await closed_with(extra) == 4409
    # Another user's sockets are not counted with this one's.
    others = [await open_socket(other_supporter) for _ in range(2)]
    await first.ping()
    # Closing one socket makes room for the next.
    await first.close()
    again = await open_socket(supporter)
    await again.ping()
    for s in (second, again, *others):
        await s.close()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_signing_in_with_a_ticket_is_counted_too(store_kind, settings, supporter):
    settings.PEERCHAT = {**settings.PEERCHAT, "WS_MAX_CONNECTIONS_PER_USER": 1}
    first = await open_socket(supporter)
    anonymous = await open_socket(None)
    ticket = await database_sync_to_async(ws_ticket_issue)(user=supporter)
    await anonymous.send({"type": "auth", "ticket": ticket})
    assert (await anonymous.recv_type("error"))["code"] == "too_many_connections"
    assert await closed_with(anonymous) == 4409
    await first.ping()
    await first.close()


# The Redis store as two processes see it -----------------------------------------------------


@pytest.fixture
def two_processes(redis_url):
    """Two Redis stores on the same Redis, as two daphne processes have, and a unique key."""
    return limits.RedisStore(redis_url), limits.RedisStore(redis_url), f"test:{uuid.uuid4().hex}"


async def test_two_processes_share_one_users_socket_count(two_processes, redis_url):
    web1, web2, key = two_processes
    assert await web1.connection_add(key, "a", limit=3, ttl=60)
    assert await web2.connection_add(key, "b", limit=3, ttl=60)
    assert await web1.connection_add(key, "c", limit=3, ttl=60)
    assert not await web2.connection_add(key, "d", limit=3, ttl=60)
    assert not await web1.connection_add(key, "e", limit=3, ttl=60)
    # A socket already counted may be counted again (a refresh), and closing makes room.
    assert await web2.connection_add(key, "b", limit=3, ttl=60)
    await web1.connection_remove(key, "b")
    assert await web2.connection_add(key, "d", limit=3, ttl=60)
    ttl_ms = redis.Redis.from_url(redis_url).pttl(key)
    assert 0 < ttl_ms <= 60_000  # the count itself expires
    await web1.aclose()
    await web2.aclose()


async def test_a_dead_processs_sockets_stop_counting_after_their_time(two_processes):
    dead, alive, key = two_processes
    assert await dead.connection_add(key, "dead-1", limit=2, ttl=0.4)
    assert await alive.connection_add(key, "alive-1", limit=2, ttl=0.4)
    assert not await alive.connection_add(key, "alive-2", limit=2, ttl=0.4)
    # The dead process refreshes nothing; the live one keeps its socket counted.
    await asyncio.sleep(0.25)
    await alive.connection_refresh(key, "alive-1", ttl=0.4)
    await asyncio.sleep(0.25)
    assert await alive.connection_add(key, "alive-2", limit=2, ttl=0.4)
    assert not await alive.connection_add(key, "alive-3", limit=2, ttl=0.4)
    await dead.aclose()
    await alive.aclose()


async def test_two_processes_share_one_token_bucket(two_processes, redis_url):
    web1, web2, key = two_processes
    taken = [await store.take(key, rate=0.001, burst=3) for store in (web1, web2, web1, web2)]
    assert taken == [True, True, True, False]
    assert await web1.take(key + ":someone-else", rate=0.001, burst=3)
    assert redis.Redis.from_url(redis_url).pttl(key) > 0  # the bucket expires
    await web1.aclose()
    await web2.aclose()


async def test_processes_take_a_users_tokens_a_few_at_a_time_and_never_more_than_the_bucket(
    two_processes, redis_url
):
    """A lease: one Redis round trip buys a process several frames, yet the two processes
    together let through exactly the burst, however their frames interleave."""
    web1, web2, key = two_processes
    burst = 120  # the default: leases of 10
    assert limits.lease_size(burst) == 10
    assert await web1.take(key, rate=0.001, burst=burst)
    tokens = float(redis.Redis.from_url(redis_url).hget(key, "tokens"))
    assert tokens == pytest.approx(burst - 10, abs=0.01)
    for _ in range(9):  # spent from the lease: Redis is not asked
        assert await web1.take(key, rate=0.001, burst=burst)
    assert float(redis.Redis.from_url(redis_url).hget(key, "tokens")) == tokens
    allowed = 10
    for store in [web2, web1, web2, web2, web1] * 40:
        allowed += await store.take(key, rate=0.001, burst=burst)
    assert allowed == burst
    await web1.aclose()
    await web2.aclose()


async def test_a_lease_not_spent_in_time_is_given_up(two_processes, monkeypatch):
    web1, _, key = two_processes
    monkeypatch.setattr(limits, "LEASE_SECONDS", 0.05)
    assert await web1.take(key, rate=0.001, burst=30)  # takes 3, spends 1
    await asyncio.sleep(0.1)
    # The two left over are gone: the next frame asks Redis, which has 27.
    for _ in range(27):
        assert await web1.take(key, rate=0.001, burst=30)
    assert not await web1.take(key, rate=0.001, burst=30)
    await web1.aclose()


async def test_the_bucket_refills_at_its_rate(two_processes):
    web1, web2, key = two_processes
    assert await web1.take(key, rate=20, burst=1)
    assert not await web2.take(key, rate=20, burst=1)
    await asyncio.sleep(0.1)  # two tokens' worth of time, capped at the burst of one
    assert await web2.take(key, rate=20, burst=1)
    assert not await web1.take(key, rate=20, burst=1)
    await web1.aclose()
    await web2.aclose()


# Redis unreachable: fail open --------------------------------------------------------------


async def test_an_unreachable_redis_allows_everything_and_says_so_once(caplog):
    store = limits.RedisStore(closed_port_url())
    with caplog.at_level(logging.WARNING, logger="peerchat.limits"):
        assert all([await store.take("k", rate=0.001, burst=1) for _ in range(5)])
        assert all([await store.connection_add("c", str(n), limit=1, ttl=60) for n in range(3)])
        await store.connection_refresh("c", "0", ttl=60)
        await store.connection_remove("c", "0")
    warnings = [r.getMessage() for r in caplog.records if r.name == "peerchat.limits"]
    assert len(warnings) == 1, warnings
    assert "unreachable (ConnectionError)" in warnings[0]
    await store.aclose()


async def test_the_store_says_when_redis_answers_again(redis_url, caplog, monkeypatch):
    monkeypatch.setattr(limits, "RETRY_AFTER_OUTAGE_SECONDS", 0.0)
    store = limits.RedisStore(closed_port_url())
    with caplog.at_level(logging.WARNING, logger="peerchat.limits"):
        assert await store.take("k", rate=0.001, burst=1)
        store.url = redis_url  # Redis is back (a new client for the next call)
        store._clients.clear()
        key = f"test:{uuid.uuid4().hex}"
        assert await store.take(key, rate=0.001, burst=1)
        assert not await store.take(key, rate=0.001, burst=1)  # enforced again
    messages = [r.getMessage() for r in caplog.records if r.name == "peerchat.limits"]
    assert len(messages) == 2 and "answers again" in messages[1], messages
    await store.aclose()


@pytest.mark.django_db(transaction=True)
async def test_sockets_keep_working_when_the_limits_redis_is_down(settings, supporter):
    settings.LIMITS = {**settings.LIMITS, "REDIS_URL": closed_port_url()}
    settings.PEERCHAT = {
        **settings.PEERCHAT,
        "WS_USER_RATE_PER_SECOND": 0.001,
        "WS_USER_RATE_BURST": 1,
        "WS_MAX_CONNECTIONS_PER_USER": 1,
    }
    sockets = [await open_socket(supporter) for _ in range(2)]
    for s in sockets:
        for _ in range(3):
            await s.ping()
        await s.close()


# Sign-in throttling --------------------------------------------------------------------------


@pytest.fixture
def login_limits(settings):
    settings.LIMITS = {
        **settings.LIMITS,
        "LOGIN_FAILURES_PER_USERNAME": 3,
        "LOGIN_FAILURES_PER_ADDRESS": 5,
        "LOGIN_WINDOW_SECONDS": 900,
    }


@pytest.fixture(params=["locmem", "redis"])
def cache_kind(request, settings):
    """Sign-in throttles on the process's own cache, then on Redis (as production has it)."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": request.getfixturevalue("redis_url"),
            }
        }
    return request.param


def sign_in(username, password=PASSWORD, address="10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": username, "password": password}
    )


def alert_of(response) -> str:
    text = response.content.decode()
    start = text.index('role="alert">') + len('role="alert">')
    return " ".join(text[start : text.index("</p>", start)].split())


@pytest.mark.django_db
def test_sign_in_failures_for_a_username_are_refused_for_a_while(cache_kind, login_limits):
    make_supporter("alex")
    for _ in range(3):
        assert sign_in("alex", "wrong").status_code == 200
    response = sign_in("alex")  # the right password, but too late
    assert response.status_code == 429
    assert "too many sign-in attempts" in alert_of(response)
    minutes = re.search(r"wait about (\d+) minutes|wait about a minute", alert_of(response))
    assert minutes and int(minutes.group(1) or 1) <= 15, alert_of(response)
    assert 0 < int(response["Retry-After"]) <= 900
    assert "sessionid" not in response.cookies
    # However it is typed, and from another address.
    assert sign_in("  ALEX ", address="10.0.0.2").status_code == 429
    # Another username from the same address is not refused.
    make_supporter("sam")
    assert sign_in("sam").status_code == 302


@pytest.mark.django_db
def test_a_refusal_does_not_tell_whether_the_username_exists(cache_kind, login_limits):
    make_supporter("alex")
    for name in ("alex", "nobody-by-this-name"):
        for n in range(3):
            sign_in(name, "wrong", address=f"10.0.1.{n}")
    real, unknown = sign_in("alex"), sign_in("nobody-by-this-name")
    assert real.status_code == unknown.status_code == 429
    assert alert_of(real) == alert_of(unknown)


@pytest.mark.django_db
def test_signing_in_resets_the_usernames_count(cache_kind, login_limits):
    make_supporter("alex")
    for _ in range(2):
        sign_in("alex", "wrong")
    assert sign_in("alex").status_code == 302
    for _ in range(2):
        assert sign_in("alex", "wrong").status_code == 200
    assert sign_in("alex").status_code == 302


@pytest.mark.django_db
def test_failures_from_one_address_are_refused_whatever_the_username(cache_kind, login_limits):
    make_supporter("alex")
    for n in range(5):
        sign_in(f"guess-{n}", "wrong", address="10.0.0.9")
    assert sign_in("alex", address="10.0.0.9").status_code == 429
    assert sign_in("alex", address="10.0.0.10").status_code == 302


@pytest.mark.django_db
def test_sign_in_failures_are_counted_in_redis_for_every_process(login_limits, settings, redis_url):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    make_supporter("alex")
    sign_in("alex", "wrong")
    sign_in("alex", "wrong")
    prefix = settings.LIMITS["KEY_PREFIX"]
    raw = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in raw.scan_iter(f"*{prefix}:*"))
    assert len(keys) == 2  # one count per username, one per address
    assert all(b"alex" not in k.encode() and b"10.0.0.1" not in k.encode() for k in keys)
    assert sorted(int(raw.get(k)) for k in keys) == [2, 2]
    assert all(0 < raw.ttl(k) <= 900 + 60 for k in keys)


@pytest.mark.django_db
def test_sign_in_is_not_throttled_when_the_cache_is_unreachable(login_limits, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": closed_port_url(),
        }
    }
    make_supporter("alex")
    for _ in range(5):
        assert sign_in("alex", "wrong").status_code == 200
    assert sign_in("alex").status_code == 302


# Starting as a seeker --------------------------------------------------------------------------


@pytest.fixture
def seeker_limit(settings):
    settings.LIMITS = {**settings.LIMITS, "SEEKER_STARTS_PER_ADDRESS": 3}


@pytest.mark.django_db
def test_new_seeker_accounts_per_address_are_limited(seeker_limit):
    me = Client(REMOTE_ADDR="10.1.0.1")
    assert me.post("/api/v1/seekers").status_code == 201
    for _ in range(2):
        assert Client(REMOTE_ADDR="10.1.0.1").post("/api/v1/seekers").status_code == 201
    refused = Client(REMOTE_ADDR="10.1.0.1").post("/api/v1/seekers")
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_requests"
    assert "try again in about" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    assert User.objects.filter(role=User.Role.SEEKER).count() == 3
    # Someone already started keeps their account; another address is not affected.
    assert me.post("/api/v1/seekers").status_code == 200
    assert Client(REMOTE_ADDR="10.1.0.2").post("/api/v1/seekers").status_code == 201


@pytest.mark.django_db
def test_the_start_form_without_script_says_when_to_try_again(seeker_limit):
    for _ in range(3):
        assert Client(REMOTE_ADDR="10.1.0.3").post("/support/").status_code == 302
    response = Client(REMOTE_ADDR="10.1.0.3").post("/support/")
    assert response.status_code == 429
    assert "Please try again in about" in response.content.decode()
    assert "116 123" in response.content.decode()  # the crisis numbers are on the page
    assert User.objects.filter(role=User.Role.SEEKER).count() == 3


# Request bodies ------------------------------------------------------------------------------


@pytest.fixture
def seeker_client(db):
    client = Client()
    client.force_login(seeker_create())
    return client


def test_an_oversized_api_body_gets_413_in_the_apis_shape(seeker_client, settings):
    body = json.dumps({"warning_signs": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = seeker_client.put("/api/v1/safety-plan", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in response.json()["detail"]
    assert not SafetyPlan.objects.exists()


def test_the_largest_plan_fits_the_body_limit_however_it_is_encoded(seeker_client):
    # Every field full of characters outside the BMP, escaped as \\uXXXX surrogate pairs.
    plan = dict.fromkeys(SafetyPlan.FIELDS, "\U0001f331" * 2000)
    body = json.dumps(plan, ensure_ascii=True)
    response = seeker_client.put("/api/v1/safety-plan", body, content_type="application/json")
    assert response.status_code == 200, response.content[:200]


def test_too_many_form_fields_get_400_in_the_apis_shape(seeker_client, settings):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(role=User.Role.SEEKER))
    client.cookies["csrftoken"] = "a" * 32  # so the CSRF check goes on to read the form
    fields = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.post(
        "/api/v1/ws-tickets", fields, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "too_many_fields"


def test_an_oversized_form_to_a_page_gets_413(db, settings):
    body = "username=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32
    response = client.post(
        "/accounts/login/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
