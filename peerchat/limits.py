"""Abuse limits on the websocket, shared by every daphne process.

One interface (`LimitStore`), two stores: `RedisStore` when REDIS_URL is set, so a user's
sockets on different processes share their limits, and `LocalStore` (this process only) for
the embedded single process. Two kinds of limit:

- a token bucket per user for frames (`user_frame_allowed`). The Redis store takes tokens a
  few at a time (a lease) and spends them in the process, so a user's frames cost a Redis
  round trip only every few frames (see `lease_size`);
- the user's open sockets (`connection_open` / `_refresh` / `_close`), each an entry that
  expires unless its process refreshes it, so a process that dies leaks nothing for long.

If Redis does not answer, every check allows (fails open): a seeker in crisis must never be
cut off because Redis restarted. The outage is logged once, and again when it ends.
"""

import asyncio
import logging
import time
import weakref
from abc import ABC, abstractmethod

import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

# A socket's entry in its user's count lives this long unless refreshed; each socket
# refreshes it every CONNECTION_REFRESH_SECONDS, well inside the time to live.
CONNECTION_TTL_SECONDS = 90.0
CONNECTION_REFRESH_SECONDS = 30.0
# Tokens a process took from a user's shared bucket and has not spent yet are given up after
# this long, so a user whose sockets moved to another process gets them back in time.
LEASE_SECONDS = 30.0
# A process takes at most this many of a user's tokens at once (see `lease_size`).
LEASE_MAX = 10
# Connections to the limits' Redis per process.
POOL_CONNECTIONS = 50
# After a failed call, the Redis store stops asking for this long (every check allows), so
# a Redis that hangs does not hold every frame up for a timeout.
RETRY_AFTER_OUTAGE_SECONDS = 5.0


class Outage:
    """Log once when a shared store stops answering and once when it answers again."""

    def __init__(self, what: str):
        self.what = what
        self.down = False

    def failed(self, error: BaseException) -> None:
        if not self.down:
            self.down = True
            logger.warning(
                "%s unreachable (%s); its limits are not enforced until it answers again",
                self.what,
                type(error).__name__,
            )

    def answered(self) -> None:
        if self.down:
            self.down = False
            logger.warning("%s answers again; its limits are enforced", self.what)


class LimitStore(ABC):
    """Where token buckets and open connections are counted. Keys are opaque strings."""

    @abstractmethod
    async def take(self, key: str, *, rate: float, burst: int) -> bool:
        """Take one token from the bucket `key` (full at first); False when it is empty."""

    @abstractmethod
    async def connection_add(self, key: str, member: str, *, limit: int, ttl: float) -> bool:
        """Count `member` under `key` for `ttl` seconds unless `limit` live ones are there."""

    @abstractmethod
    async def connection_refresh(self, key: str, member: str, *, ttl: float) -> None:
        """Keep `member` counted for another `ttl` seconds (counted again if it had lapsed)."""

    @abstractmethod
    async def connection_remove(self, key: str, member: str) -> None:
        """Stop counting `member`."""

    async def aclose(self) -> None:  # noqa: B027 - only the Redis store holds connections
        """Release connections (tests)."""


class LocalStore(LimitStore):
    """This process's memory: the embedded default with its one daphne process."""

    def __init__(self):
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, stamp)
        self._connections: dict[str, dict[str, float]] = {}  # key -> {member: expires}

    async def take(self, key: str, *, rate: float, burst: int) -> bool:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) * rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > 10_000:
            self._forget_full_buckets(now, rate, burst)
        return allowed

    def _forget_full_buckets(self, now: float, rate: float, burst: int) -> None:
        # A bucket that has refilled is the same as no bucket: drop it, so the dict keeps
        # only users who sent frames lately.
        refill = burst / rate if rate > 0 else float("inf")
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}

    async def connection_add(self, key: str, member: str, *, limit: int, ttl: float) -> bool:
        now = time.monotonic()
        live = {m: e for m, e in self._connections.get(key, {}).items() if e > now}
        if member not in live and len(live) >= limit:
            self._connections[key] = live
            return False
        live[member] = now + ttl
        self._connections[key] = live
        return True

    async def connection_refresh(self, key: str, member: str, *, ttl: float) -> None:
        self._connections.setdefault(key, {})[member] = time.monotonic() + ttl

    async def connection_remove(self, key: str, member: str) -> None:
        members = self._connections.get(key)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._connections[key]


# Times come from Redis (TIME), so processes whose clocks differ still agree. Milliseconds.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1]: the bucket (a hash of tokens and stamp). ARGV: rate per second, burst, and how
# many tokens to take at most. Returns how many were taken: none when the bucket has less
# than one, else as many whole tokens as it has, up to the number asked for.
TAKE_SCRIPT = (
    _NOW_MS
    + """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 1000)
local taken = math.min(want, math.floor(tokens))
if taken < 0 then
  taken = 0
end
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
-- Once full again the bucket is the same as none: let it go.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return taken
"""
)

# KEYS[1]: the user's connections (a sorted set scored by expiry).
# ARGV: member, limit, ttl in ms.
CONNECTION_ADD_SCRIPT = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""
)

# KEYS[1]: the user's connections. ARGV: member, ttl in ms.
CONNECTION_REFRESH_SCRIPT = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""
)


def lease_size(burst: int) -> int:
    """How many of a user's tokens a process takes from Redis at once.

    A tenth of the burst, at most LEASE_MAX, so that tokens a process holds unspent never
    cost the user's other sockets much of their burst; with a burst under 20, one at a time,
    exactly as a single shared bucket. Tokens are taken before they are spent, so a lease
    never lets more frames through than the bucket gave: at most, tokens taken a while ago
    are spent now, so one user's frames in any stretch of time can exceed the bucket's
    allowance by the unspent leases, `lease_size(burst) - 1` per process.
    """
    return max(1, min(LEASE_MAX, burst // 10))


class RedisStore(LimitStore):
    """Redis, shared by every process; each call is one atomic script (one round trip).

    redis-py's asyncio client belongs to the event loop it was made on, so there is one per
    loop (daphne has one; tests make a new loop per test).
    """

    def __init__(self, url: str, *, timeout: float = 0.5):
        self.url, self.timeout = url, timeout
        self.outage = Outage("the limits' Redis")
        self._skip_until = 0.0
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # Bucket key -> (tokens taken from Redis and not yet spent, when they are given up).
        self._leases: dict[str, tuple[int, float]] = {}

    def _client(self) -> tuple:
        """This loop's client and its scripts (EVALSHA, loaded again if Redis lost them)."""
        loop = asyncio.get_running_loop()
        made = self._clients.get(loop)
        if made is None:
            # A thousand sockets signing in at once ask at once: beyond the pool's
            # connections a call waits (up to the timeout) instead of failing, which
            # would leave every limit off for RETRY_AFTER_OUTAGE_SECONDS.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self.url,
                max_connections=POOL_CONNECTIONS,
                timeout=self.timeout,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
            )
            client = redis.asyncio.Redis.from_pool(pool)  # closed with the client
            scripts = {
                "take": client.register_script(TAKE_SCRIPT),
                "add": client.register_script(CONNECTION_ADD_SCRIPT),
                "refresh": client.register_script(CONNECTION_REFRESH_SCRIPT),
            }
            made = self._clients[loop] = (client, scripts)
        return made

    async def _call(self, script: str | None, keys: list, args: list, *, when_down):
        """Run one script (or ZREM when `script` is None); `when_down` if Redis fails."""
        if time.monotonic() < self._skip_until:
            return when_down
        try:
            client, scripts = self._client()
            if script is None:
                result = await client.zrem(keys[0], *args)
            else:
                result = await scripts[script](keys=keys, args=args)
        except Exception as error:  # noqa: BLE001 - any failure: allow, log once
            self._skip_until = time.monotonic() + RETRY_AFTER_OUTAGE_SECONDS
            self.outage.failed(error)
            return when_down
        self.outage.answered()
        return result

    async def take(self, key: str, *, rate: float, burst: int) -> bool:
        now = time.monotonic()
        held, until = self._leases.get(key, (0, 0.0))
        if held > 0 and now < until:
            self._leases[key] = (held - 1, until)
            return True
        taken = int(await self._call("take", [key], [rate, burst, lease_size(burst)], when_down=1))
        if taken <= 1:
            self._leases.pop(key, None)
        else:
            if len(self._leases) > 10_000:
                self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
            self._leases[key] = (taken - 1, now + LEASE_SECONDS)
        return taken > 0

    async def connection_add(self, key: str, member: str, *, limit: int, ttl: float) -> bool:
        ttl_ms = int(ttl * 1000)
        return bool(await self._call("add", [key], [member, limit, ttl_ms], when_down=1))

    async def connection_refresh(self, key: str, member: str, *, ttl: float) -> None:
        await self._call("refresh", [key], [member, int(ttl * 1000)], when_down=None)

    async def connection_remove(self, key: str, member: str) -> None:
        await self._call(None, [key], [member], when_down=None)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        made = self._clients.pop(loop, None)
        if made is not None:
            await made[0].aclose()


_stores: dict[tuple, LimitStore] = {}


def get_store() -> LimitStore:
    """The store for the current settings: Redis when REDIS_URL is set, else this process."""
    config = settings.LIMITS
    identity = (config["REDIS_URL"], config["REDIS_TIMEOUT_SECONDS"])
    store = _stores.get(identity)
    if store is None:
        if config["REDIS_URL"]:
            store = RedisStore(config["REDIS_URL"], timeout=config["REDIS_TIMEOUT_SECONDS"])
        else:
            store = LocalStore()
        store = _stores[identity] = store
    return store


def _key(kind: str, user_id: int) -> str:
    return f"{settings.LIMITS['KEY_PREFIX']}:{kind}:u{int(user_id)}"


async def user_frame_allowed(*, user_id: int) -> bool:
    """Take a token from the user's frame bucket, shared by all their sockets."""
    limits = settings.PEERCHAT
    return await get_store().take(
        _key("frames", user_id),
        rate=limits["WS_USER_RATE_PER_SECOND"],
        burst=limits["WS_USER_RATE_BURST"],
    )


async def connection_open(*, user_id: int, connection_id: str) -> bool:
    """Count a newly signed-in socket; False when the user has the most sockets allowed."""
    return await get_store().connection_add(
        _key("sockets", user_id),
        connection_id,
        limit=settings.PEERCHAT["WS_MAX_CONNECTIONS_PER_USER"],
        ttl=CONNECTION_TTL_SECONDS,
    )


async def connection_refresh(*, user_id: int, connection_id: str) -> None:
    await get_store().connection_refresh(
        _key("sockets", user_id), connection_id, ttl=CONNECTION_TTL_SECONDS
    )


async def connection_close(*, user_id: int, connection_id: str) -> None:
    await get_store().connection_remove(_key("sockets", user_id), connection_id)
