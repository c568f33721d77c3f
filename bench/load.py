"""Load harness for the chat path: peerchat beside bare Channels and bare `websockets`, one run.

Opens many signed-in websocket connections in rooms of a set size, sends messages at a set
rate (open loop: each message at its planned moment, whether or not earlier ones arrived), and
records, for every receiver, the time from send to receipt. Three targets run the same scenario
one after another on the same machine, so their figures can be compared as ratios:

- **peerchat**: the full path (ticket sign-in, join, parse, filter, store with its `seq`,
  broadcast through the process hub), started with `manage.py run_topology`, as in production;
- **channels**: a bare Channels broadcast consumer (bench/bare_channels.py) on the same daphne
  and channel layer: what stock Channels does with no work at all;
- **websockets**: a bare `websockets` broadcast server (bench/bare_websockets.py), one process:
  the ceiling.

Two modes: `single` (one process; SQLite and the in-memory channel layer, the embedded default)
and `redis` (two daphne processes sharing PostgreSQL and Redis; connections spread over both,
as a proxy would; the `websockets` ceiling stays one process).

    .venv/bin/python bench/load.py                    # headline: 1,000 connections, rooms of 5
    .venv/bin/python bench/load.py --quick            # a short look (CI runs this)
    .venv/bin/python bench/load.py --mode redis --room-size 2 10 50 --connections 2000

Per step it reports messages per second sent and accepted, deliveries per second, latency
p50/p95/p99/max over every delivery, deliveries missing after the drain, duplicates and
out-of-order deliveries (by `client_msg_id`, and by `seq` for peerchat), server CPU per
message and memory per idle connection (the slope of the servers' RSS between half and all of
the connections). bench/README.md says how to read it and what was measured.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

P99_TARGET_MS = 100.0
# A step whose p99 passes this, or that loses deliveries, ends the sweep for that target.
COLLAPSE_P99_MS = 2000.0
CONNECT_CONCURRENCY = 50
DEFAULT_RATES = {2: [200, 400, 800, 1600], 5: [100, 200, 400, 800], 10: [50, 100, 200, 400]}
FILLER = [
    "thanks for listening tonight, it helps to say it to someone who is not in a rush",
    "I made a cup of tea and sat by the window for a while, the rain was quite calming",
    "we talked about what to do tomorrow morning and I wrote two small things on a list",
    "my friend sent a funny video earlier and I watched it three times, it made me smile",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rates_for(room_size: int) -> list[int]:
    if room_size in DEFAULT_RATES:
        return DEFAULT_RATES[room_size]
    # Larger rooms: the same deliveries per second as rooms of 10.
    return [max(1, r * 9 // (room_size - 1)) for r in DEFAULT_RATES[10]]


# Processes ----------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def wait_http(url: str, timeout: float = 60.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.2)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Member:
    url: str
    auth: str | None = None  # the `auth` frame (peerchat), sent after `hello`
    join: str | None = None  # the `join` frame (peerchat)


@dataclass
class RoomPlan:
    room: int
    members: list[Member]


class Target:
    """A server under test: started, populated with rooms, measured, stopped."""

    name = ""
    numbered = False  # frames carry `seq` (peerchat)

    def __init__(self, mode: str, workdir: Path, args):
        self.mode, self.workdir, self.args = mode, workdir, args
        self.processes: list[subprocess.Popen] = []
        self.ports = [free_port() for _ in range(2 if mode == "redis" else 1)]
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"  # the channel layer's Redis keys
        self.log = open(workdir / f"{self.name}-{mode}.log", "w")  # noqa: SIM115 - closed in stop

    def base_env(self) -> dict:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "load-bench-" + uuid.uuid4().hex * 2,
            "DEBUG": "0",
            "HTTPS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "STATIC_ROOT": str(self.workdir / "static"),
            "DATABASE_URL": f"sqlite:///{self.workdir / 'unused.sqlite3'}",
            # Every connection signs in within the first minute or so; tickets outlive that.
            "WS_TICKET_MAX_AGE_SECONDS": "3600",
        }
        env.pop("REDIS_URL", None)
        if self.mode == "redis":
            env["REDIS_URL"] = self.args.redis_url
            env["CHANNEL_LAYER_PREFIX"] = self.prefix
        return env

    def start(self) -> None:
        raise NotImplementedError

    def plan(self, rooms: int, size: int) -> list[RoomPlan]:
        raise NotImplementedError

    def server_pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            stop_process(process)
        self.log.close()
        if self.mode == "redis":
            drop_redis_keys(self.args.redis_url, self.prefix)


class WebsocketsTarget(Target):
    name = "websockets"

    def start(self) -> None:
        port = self.ports[0]
        self.processes.append(
            subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "bare_websockets.py"), "--port", str(port)],
                cwd=ROOT,
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_port(port)

    def plan(self, rooms, size):
        ports = itertools.cycle([self.ports[0]])
        return [
            RoomPlan(r, [Member(f"ws://127.0.0.1:{next(ports)}/bench/{r}/") for _ in range(size)])
            for r in range(1, rooms + 1)
        ]


class ChannelsTarget(Target):
    name = "channels"

    def start(self) -> None:
        env = self.base_env()
        frame = str(self.args.frame_bytes)
        for port in self.ports:
            self.processes.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "daphne", "--bind", "127.0.0.1"),
                        *("--port", str(port), "--access-log", os.devnull),
                        *("--websocket-max-message-size", frame),
                        "bench.bare_channels:application",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=self.log,
                    stderr=subprocess.STDOUT,
                )
            )
        for port in self.ports:
            wait_port(port)

    def plan(self, rooms, size):
        ports = itertools.cycle(self.ports)
        return [
            RoomPlan(r, [Member(f"ws://127.0.0.1:{next(ports)}/bench/{r}/") for _ in range(size)])
            for r in range(1, rooms + 1)
        ]


class PeerchatTarget(Target):
    name = "peerchat"
    numbered = True

    def start(self) -> None:
        self.env = env = self.base_env()
        self.database = None
        if self.mode == "redis":
            self.database = f"peerchat_bench_{uuid.uuid4().hex[:10]}"
            psql(self.args.postgres_url, f'CREATE DATABASE "{self.database}"')
            env["DATABASE_URL"] = database_url(self.args.postgres_url, self.database)
        else:
            env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'peerchat.sqlite3'}"
        self.state_file = self.workdir / f"topology-{self.mode}.json"
        command = [
            *(sys.executable, "manage.py", "run_topology", "--host", "127.0.0.1"),
            *("--ports", *map(str, self.ports), "--state-file", str(self.state_file)),
        ]
        self.processes.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        )
        for port in self.ports:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)

    def plan(self, rooms, size):
        out = self.workdir / f"plan-{self.mode}.json"
        subprocess.run(
            [
                *(sys.executable, str(Path(__file__)), "populate"),
                *("--rooms", str(rooms), "--size", str(size), "--out", str(out)),
            ],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        ports = itertools.cycle(self.ports)
        plans = []
        for room in json.loads(out.read_text()):
            members = [
                Member(
                    f"ws://127.0.0.1:{next(ports)}/ws/v1/",
                    auth=json.dumps({"type": "auth", "ticket": ticket}),
                    join=json.dumps({"type": "join", "room": room["room"], "since": 0}),
                )
                for ticket in room["tickets"]
            ]
            plans.append(RoomPlan(room["room"], members))
        return plans

    def server_pids(self) -> list[int]:
        state = json.loads(self.state_file.read_text())
        return [int(p["pid"]) for p in state["processes"] if "port" in p]  # daphne only

    def stop(self) -> None:
        super().stop()
        if self.database:
            psql(self.args.postgres_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


TARGETS = {"peerchat": PeerchatTarget, "channels": ChannelsTarget, "websockets": WebsocketsTarget}


def database_url(server_url: str, name: str) -> str:
    from urllib.parse import urlparse, urlunparse

    return urlunparse(urlparse(server_url)._replace(path=f"/{name}"))


def psql(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql)


def drop_redis_keys(url: str, prefix: str) -> None:
    if not prefix:
        return
    import redis

    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


# Populating peerchat (run as a subprocess with the target's environment) -----------------------


def populate(rooms: int, size: int, out: Path) -> None:
    """Create `rooms` group rooms of `size` seekers each; write each room's sign-in tickets."""
    import django

    django.setup()
    from django.db import transaction

    from peerchat.models import Membership, Room, User
    from peerchat.tickets import ws_ticket_issue

    tag = uuid.uuid4().hex[:6]
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(
                    username=f"bench-{tag}-{i}",
                    handle=f"Bench {tag} {i}",
                    role=User.Role.SEEKER,
                    password="!unusable",  # noqa: S106 - no password: tickets sign them in
                )
                for i in range(rooms * size)
            ]
        )
        made = Room.objects.bulk_create(
            [Room(kind=Room.Kind.GROUP, name=f"Bench {tag} {r}") for r in range(rooms)]
        )
        Membership.objects.bulk_create(
            [
                Membership(room=room, user=users[r * size + k], role=Membership.Role.SEEKER)
                for r, room in enumerate(made)
                for k in range(size)
            ]
        )
    plan = [
        {
            "room": room.pk,
            "tickets": [ws_ticket_issue(user=u) for u in users[r * size : (r + 1) * size]],
        }
        for r, room in enumerate(made)
    ]
    out.write_text(json.dumps(plan))


# The client fleet ---------------------------------------------------------------------------------


@dataclass
class Step:
    target: str
    mode: str
    connections: int
    room_size: int
    rate: int
    duration: float
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    send_rate: float = 0.0
    delivery_rate: float = 0.0
    expected: int = 0
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    ack_p99_ms: float = 0.0
    client_lag_ms: float = 0.0
    server_cpu_ms_per_msg: float = 0.0
    # The same, less what the servers use idle (timers, presence, refreshes) over the step.
    server_cpu_ms_per_msg_net: float = 0.0
    client_cpu_share: float = 0.0
    errors: dict = field(default_factory=dict)

    @property
    def meets_target(self) -> bool:
        return (
            self.missing == 0
            and self.duplicates == 0
            and self.out_of_order == 0
            and self.refused == 0
            and self.send_rate >= 0.95 * self.rate
            and self.p99_ms <= P99_TARGET_MS
        )

    @property
    def collapsed(self) -> bool:
        return self.missing > 0 or self.p99_ms > COLLAPSE_P99_MS


class Connection:
    __slots__ = ("index", "last_seq", "member", "room", "seen", "ws")

    def __init__(self, index: int, room: int, member: Member):
        self.index, self.room, self.member = index, room, member
        self.ws = None
        self.seen: set[str] = set()
        self.last_seq = 0


class Fleet:
    """Every connection of one target, and what each one received."""

    def __init__(self, target: Target, plans: list[RoomPlan]):
        self.target = target
        self.rooms: list[list[Connection]] = []
        self.connections: list[Connection] = []
        for plan in plans:
            members = []
            for member in plan.members:
                conn = Connection(len(self.connections), plan.room, member)
                self.connections.append(conn)
                members.append(conn)
            self.rooms.append(members)
        self.sent_at: dict[str, float] = {}
        self.sender_of: dict[str, Connection] = {}
        self.acked: dict[str, float] = {}
        self.refused: set[str] = set()
        self.latencies: list[float] = []
        self.ack_latencies: list[float] = []
        self.duplicates = 0
        self.out_of_order = 0
        self.errors: dict[str, int] = {}
        self.readers: list[asyncio.Task] = []
        self.lost_sockets = 0
        self.idle_cpu = 0.0  # cores, measured by run_target

    async def connect_all(self, upto: int | None = None) -> None:
        """Open (and sign in, and join) the connections not yet open, up to `upto`."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(conn: Connection) -> None:
            async with gate:
                await self._open(conn)

        pending = [c for c in self.connections[:upto] if c.ws is None]
        await asyncio.gather(*(one(c) for c in pending))

    async def _open(self, conn: Connection) -> None:
        from websockets.asyncio.client import connect

        ws = await connect(
            conn.member.url,
            origin="http://127.0.0.1",
            compression=None,
            max_size=2**20,
            open_timeout=30,
            ping_interval=None,
        )
        if conn.member.auth:
            await self._expect(ws, "hello")
            await ws.send(conn.member.auth)
            hello = await self._expect(ws, "hello")
            if not hello.get("authenticated"):
                raise RuntimeError(f"connection {conn.index} was not signed in: {hello}")
            await ws.send(conn.member.join)
            joined = await self._expect(ws, "joined")
            conn.last_seq = int(joined.get("last_seq") or 0)
        conn.ws = ws
        self.readers.append(asyncio.get_running_loop().create_task(self._read(conn)))

    @staticmethod
    async def _expect(ws, kind: str) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame.get("type") == kind:
                return frame
            if frame.get("type") == "error":
                raise RuntimeError(f"expected {kind}, got {frame}")

    async def _read(self, conn: Connection) -> None:
        clock = time.perf_counter
        try:
            async for text in conn.ws:
                now = clock()
                frame = json.loads(text)
                kind = frame.get("type")
                if kind in ("message", "send"):
                    cid = frame["client_msg_id"]
                    sender = self.sender_of.get(cid)
                    if sender is conn or sender is None:
                        continue  # its own message, or one from before this step
                    if cid in conn.seen:
                        self.duplicates += 1
                        continue
                    conn.seen.add(cid)
                    self.latencies.append(now - self.sent_at[cid])
                    seq = frame.get("seq")
                    if seq is not None:
                        if seq <= conn.last_seq:
                            self.out_of_order += 1
                        conn.last_seq = max(conn.last_seq, seq)
                elif kind == "ack":
                    cid = frame["client_msg_id"]
                    if cid not in self.acked:
                        self.acked[cid] = now
                        self.ack_latencies.append(now - self.sent_at[cid])
                elif kind == "error":
                    code = frame.get("code", "?")
                    self.errors[code] = self.errors.get(code, 0) + 1
                    if "client_msg_id" in frame:
                        self.refused.add(frame["client_msg_id"])
        except Exception:  # noqa: BLE001 - a socket that dies is counted, not fatal
            self.lost_sockets += 1

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(
            *(c.ws.close() for c in self.connections if c.ws is not None), return_exceptions=True
        )
        await asyncio.gather(*self.readers, return_exceptions=True)

    # One step -------------------------------------------------------------------------------

    async def step(self, *, rate: int, duration: float, drain: float, mode: str) -> Step:
        total = max(1, round(rate * duration))
        self.sent_at.clear()
        self.sender_of.clear()
        self.acked.clear()
        self.refused.clear()
        self.latencies, self.ack_latencies = [], []
        self.duplicates = self.out_of_order = 0
        self.errors = {}
        for conn in self.connections:
            conn.seen.clear()
        pids = self.target.server_pids()
        cpu_before = sum(cpu_seconds(p) for p in pids)
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        loop = asyncio.get_running_loop()
        clock = time.perf_counter
        room_count = len(self.rooms)
        numbered = self.target.numbered
        lag = 0.0
        start = loop.time()
        wall_start = clock()
        for i in range(total):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag = max(lag, -delay)
                if i % 20 == 0:
                    await asyncio.sleep(0)
            members = self.rooms[i % room_count]
            # Round-robin over each room's members, shifted by the room's place so that
            # consecutive messages come from sockets on different processes (members are
            # spread over the processes in turn): the load is shared as a proxy would share it.
            sender = members[(i // room_count + i % room_count) % len(members)]
            cid = str(uuid.uuid4())
            frame = {
                "type": "send",
                "room": sender.room,
                "client_msg_id": cid,
                "body": f"{FILLER[i % len(FILLER)]} ({i})",
            }
            self.sent_at[cid] = clock()
            self.sender_of[cid] = sender
            await sender.ws.send(json.dumps(frame))
        send_seconds = clock() - wall_start
        # Drain: wait until every expected delivery arrived, or the drain time is up.
        deadline = clock() + drain
        while clock() < deadline:
            if numbered and len(self.acked) + len(self.refused) < total:
                await asyncio.sleep(0.05)
                continue
            if self._delivered() >= self._expected(numbered):
                break
            await asyncio.sleep(0.05)
        elapsed = clock() - wall_start
        cpu_after = sum(cpu_seconds(p) for p in pids)
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (client_after.ru_utime + client_after.ru_stime) - (
            client_before.ru_utime + client_before.ru_stime
        )
        expected = self._expected(numbered)
        delivered = self._delivered()
        lat = sorted(self.latencies)
        acks = sorted(self.ack_latencies)
        accepted = len(self.acked) if numbered else total
        return Step(
            target=self.target.name,
            mode=mode,
            connections=sum(1 for c in self.connections if c.ws is not None),
            room_size=len(self.rooms[0]),
            rate=rate,
            duration=duration,
            sent=total,
            accepted=accepted,
            refused=len(self.refused),
            send_rate=total / send_seconds if send_seconds else 0.0,
            delivery_rate=delivered / elapsed if elapsed else 0.0,
            expected=expected,
            delivered=delivered,
            missing=max(0, expected - delivered),
            duplicates=self.duplicates,
            out_of_order=self.out_of_order,
            p50_ms=percentile(lat, 50),
            p95_ms=percentile(lat, 95),
            p99_ms=percentile(lat, 99),
            max_ms=lat[-1] * 1000 if lat else 0.0,
            ack_p99_ms=percentile(acks, 99),
            client_lag_ms=lag * 1000,
            server_cpu_ms_per_msg=(cpu_after - cpu_before) * 1000 / total,
            server_cpu_ms_per_msg_net=max(0.0, cpu_after - cpu_before - self.idle_cpu * elapsed)
            * 1000
            / total,
            client_cpu_share=client_cpu / elapsed if elapsed else 0.0,
            errors=dict(self.errors),
        )

    def _expected(self, numbered: bool) -> int:
        size = len(self.rooms[0])
        count = len(self.acked) if numbered else len(self.sent_at)
        return count * (size - 1)

    def _delivered(self) -> int:
        return len(self.latencies)

    def memory_kib(self) -> int:
        return sum(rss_kib(p) for p in self.target.server_pids())


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))
    return values[index] * 1000


# Running scenarios --------------------------------------------------------------------------------


@dataclass
class Memory:
    target: str
    mode: str
    connections: int
    kib_per_connection: float
    rss_mib: float
    idle_cpu: float = 0.0  # cores the servers use with every connection open and no traffic


async def run_target(target: Target, args, mode: str, size: int, rates: list[int]):
    rooms = max(1, args.connections // size)
    target.start()
    try:
        # Warm up: the first connection after start pays for imports and connection pools.
        fleet = Fleet(target, target.plan(rooms, size))
        half = len(fleet.connections) // 2
        await fleet.connect_all(upto=half)
        await asyncio.sleep(1.0)
        rss_half = fleet.memory_kib()
        await fleet.connect_all()
        await asyncio.sleep(1.0)
        rss_all = fleet.memory_kib()
        opened = len(fleet.connections) - half
        pids = target.server_pids()
        cpu_before, idle_start = sum(cpu_seconds(p) for p in pids), time.perf_counter()
        await asyncio.sleep(args.idle_seconds)
        idle_cpu = (sum(cpu_seconds(p) for p in pids) - cpu_before) / (
            time.perf_counter() - idle_start
        )
        memory = Memory(
            target=target.name,
            mode=mode,
            connections=len(fleet.connections),
            kib_per_connection=(rss_all - rss_half) / opened if opened else 0.0,
            rss_mib=rss_all / 1024,
            idle_cpu=idle_cpu,
        )
        fleet.idle_cpu = idle_cpu
        steps = []
        try:
            # A short warm-up step, not reported: caches, pools and the JIT-less interpreter's
            # first calls.
            await fleet.step(rate=min(rates), duration=1.0, drain=args.drain, mode=mode)
            for rate in rates:
                step = await fleet.step(
                    rate=rate, duration=args.duration, drain=args.drain, mode=mode
                )
                steps.append(step)
                print(format_step(step), flush=True)
                if step.collapsed:
                    break
        finally:
            await fleet.close()
        return memory, steps
    finally:
        target.stop()


def format_step(s: Step) -> str:
    flag = "ok " if s.meets_target else "   "
    return (
        f"{flag}{s.mode:6} {s.target:10} conns={s.connections:<5} room={s.room_size:<3} "
        f"rate={s.rate:<5} sent/s={s.send_rate:7.1f} deliv/s={s.delivery_rate:8.1f} "
        f"p50={s.p50_ms:7.1f} p95={s.p95_ms:7.1f} p99={s.p99_ms:7.1f} max={s.max_ms:7.1f} ms "
        f"missing={s.missing} dup={s.duplicates} order={s.out_of_order} "
        f"refused={s.refused} cpu/msg={s.server_cpu_ms_per_msg:.2f}ms "
        f"(net {s.server_cpu_ms_per_msg_net:.2f}) "
        f"client={s.client_cpu_share:.0%}"
    )


def best_rate(steps: list[Step], target: str, mode: str, size: int) -> int:
    ok = [
        s.rate
        for s in steps
        if (s.target, s.mode, s.room_size) == (target, mode, size) and s.meets_target
    ]
    return max(ok, default=0)


def report(steps: list[Step], memory: list[Memory], args) -> str:
    lines = [
        f"# Load harness report ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"{args.connections} connections, {args.duration:g} s per step, drain {args.drain:g} s; "
        f"p99 target {P99_TARGET_MS:g} ms. `ok` = every delivery arrived once and in order, "
        f"nothing refused, the planned rate was kept, p99 within target.",
        "",
        "| mode | target | room | rate | sent/s | deliveries/s | p50 ms | p95 ms | p99 ms | "
        "max ms | missing | dup | order | server CPU ms/msg (net of idle) | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        lines.append(
            f"| {s.mode} | {s.target} | {s.room_size} | {s.rate} | {s.send_rate:.0f} | "
            f"{s.delivery_rate:.0f} | {s.p50_ms:.1f} | {s.p95_ms:.1f} | {s.p99_ms:.1f} | "
            f"{s.max_ms:.0f} | {s.missing} | {s.duplicates} | {s.out_of_order} | "
            f"{s.server_cpu_ms_per_msg:.2f} ({s.server_cpu_ms_per_msg_net:.2f}) | "
            f"{'yes' if s.meets_target else 'no'} |"
        )
    lines += [
        "",
        "## Highest rate meeting the target, and ratios",
        "",
        "| mode | room | peerchat | channels | websockets | peerchat ÷ channels | "
        "peerchat ÷ websockets |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, size in sorted({(s.mode, s.room_size) for s in steps}):
        best = {t: best_rate(steps, t, mode, size) for t in TARGETS}
        ratio = lambda a, b: f"{a / b:.2f}" if b else "-"  # noqa: E731
        lines.append(
            f"| {mode} | {size} | {best['peerchat']} | {best['channels']} | "
            f"{best['websockets']} | {ratio(best['peerchat'], best['channels'])} | "
            f"{ratio(best['peerchat'], best['websockets'])} |"
        )
    lines += [
        "",
        "## Idle connections: memory (RSS slope) and CPU, all server processes",
        "",
        "| mode | target | connections | KiB per connection | RSS MiB | idle CPU (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for m in memory:
        lines.append(
            f"| {m.mode} | {m.target} | {m.connections} | {m.kib_per_connection:.1f} | "
            f"{m.rss_mib:.0f} | {m.idle_cpu:.3f} |"
        )
    return "\n".join(lines) + "\n"


async def run(args) -> tuple[list[Step], list[Memory]]:
    steps: list[Step] = []
    memory: list[Memory] = []
    workdir = Path(tempfile.mkdtemp(prefix="peerchat-load-"))
    try:
        for mode in args.mode:
            for size in args.room_size:
                rates = args.rates or rates_for(size)
                for name in args.target:
                    target = TARGETS[name](mode, workdir, args)
                    mem, done = await run_target(target, args, mode, size, rates)
                    memory.append(mem)
                    steps.extend(done)
    finally:
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return steps, memory


def write_outputs(steps: list[Step], memory: list[Memory], args) -> None:
    text = report(steps, memory, args)
    print()
    print(text)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "steps": [{**asdict(s), "meets_target": s.meets_target} for s in steps],
                    "memory": [asdict(m) for m in memory],
                },
                indent=2,
            )
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    pop = sub.add_parser("populate", help="(internal) create rooms and tickets for peerchat")
    pop.add_argument("--rooms", type=int, required=True)
    pop.add_argument("--size", type=int, required=True)
    pop.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--mode", nargs="+", choices=["single", "redis"], default=None)
    parser.add_argument("--target", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--room-size", type=int, nargs="+", default=None)
    parser.add_argument("--rates", type=int, nargs="+", default=None, help="messages/s steps")
    parser.add_argument("--duration", type=float, default=None, help="seconds per step")
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument(
        "--idle-seconds", type=float, default=3.0, help="idle CPU measured this long"
    )
    parser.add_argument("--frame-bytes", type=int, default=32768)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PEERCHAT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("PEERCHAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
    )
    parser.add_argument("--report", help="write the Markdown report here")
    parser.add_argument("--json", help="write every step as JSON here")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "populate":
        populate(args.rooms, args.size, args.out)
        return 0
    random.seed(args.seed)
    quick = args.quick
    args.mode = args.mode or (["single", "redis"])
    args.connections = args.connections or (100 if quick else 1000)
    args.room_size = args.room_size or [5]
    args.duration = args.duration or (3.0 if quick else 10.0)
    if quick and not args.rates:
        args.rates = [50]
    steps, memory = asyncio.run(run(args))
    write_outputs(steps, memory, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
