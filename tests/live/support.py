"""Helpers for the live tests: rooms, what the database holds, HTTP reads, a private Redis."""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
import requests

from tests.live.client import until
from tests.servers import Topology, free_port

HTTP_TIMEOUT_SECONDS = 10


async def connect_each(connect, topology, users, *, room: int, role: str) -> list:
    """Connect and join one client per (username, process index), named for the logs."""
    return [
        await connect(topology, user, index=index, room=room, name=f"{role} {user}@{index}")
        for user, index in users
    ]


async def send_steadily(client, sent: list, *, count: int, rate: float) -> None:
    """Send `count` messages at `rate` per second, appending each client_msg_id to `sent`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(1, count + 1):
        await asyncio.sleep(max(0.0, start + (i - 1) / rate - loop.time()))
        sent.append(await client.send_message(f"msg {i} from {client.handle}"))


def start_topology(tmp_path, **kwargs) -> Topology:
    """Start a two-process topology; on failure drop whatever was created, then re-raise."""
    topology = Topology(tmp_path, processes=2, **kwargs)
    try:
        topology.start()
    except BaseException:
        stop_topology(topology)
        raise
    return topology


def stop_topology(topology: Topology) -> None:
    """Stop the processes, drop the database, and remove the topology's keys from Redis."""
    try:
        topology.stop()
    finally:
        url, prefix = topology.env.get("REDIS_URL"), topology.env.get("CHANNEL_LAYER_PREFIX")
        if url and prefix:
            # Groups outlive their processes for a day (group_expiry); this prefix is unique
            # to this topology, so nothing of anyone else's is touched.
            with (
                contextlib.suppress(redis.RedisError),
                redis.Redis.from_url(url, socket_timeout=5) as client,
            ):
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)


_sessions: dict[tuple[str, str], requests.Session] = {}


def session_for(topology: Topology, username: str) -> requests.Session:
    """Sign `username` in once per topology; the session cookie works on every process."""
    key = (str(topology.state_file), username)
    if key not in _sessions:
        _sessions[key] = topology.login(username, 0)
    return _sessions[key]


def room_create(topology: Topology, name: str, usernames: list[str]) -> int:
    """Create a group room with these demo users through the real service; return its id."""
    code = f"""
import json
from peerchat.models import Membership, Room, User
from peerchat.services.rooms import room_create

users = User.objects.filter(username__in=json.loads({json.dumps(json.dumps(usernames))}))
room = room_create(
    kind=Room.Kind.GROUP,
    name={json.dumps(name)},
    members=[
        (u, Membership.Role.MODERATOR if u.role == "moderator" else Membership.Role.SUPPORTER)
        for u in users
    ],
)
print("room-id", room.pk, room.memberships.count())
"""
    output = topology.manage("shell", "-c", code)
    line = next(line for line in output.splitlines() if line.startswith("room-id "))
    _, room_id, members = line.split()
    assert int(members) == len(usernames), f"room {name!r} got {members} of {usernames}"
    return int(room_id)


@dataclass(frozen=True)
class Stored:
    """What PostgreSQL holds for one room, read directly (not through the server)."""

    last_seq: int
    messages: list[dict]  # in seq order: seq, username, handle, client_msg_id, body, status

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.messages]

    def by_client_msg_id(self) -> dict[str, dict]:
        return {m["client_msg_id"]: m for m in self.messages}


def stored(topology: Topology, room_id: int) -> Stored:
    with psycopg.connect(topology.env["DATABASE_URL"], connect_timeout=5) as connection:
        rows = connection.execute(
            """
            SELECT m.seq, u.username, u.handle, m.client_msg_id::text, m.body, m.status
            FROM peerchat_message m JOIN peerchat_user u ON u.id = m.sender_id
            WHERE m.room_id = %s ORDER BY m.seq, m.id
            """,
            (room_id,),
        ).fetchall()
        (last_seq,) = connection.execute(
            "SELECT last_seq FROM peerchat_room WHERE id = %s", (room_id,)
        ).fetchone()
    fields = ("seq", "username", "handle", "client_msg_id", "body", "status")
    return Stored(last_seq=last_seq, messages=[dict(zip(fields, row, strict=True)) for row in rows])


async def until_all_delivered(senders, clients, last_seq: int) -> None:
    """Wait until every sender's messages are acknowledged and every client shows `seq`s up
    to `last_seq`, then a moment more for anything that would arrive twice."""
    await until(
        lambda: all(c.check() and not c.outbox for c in senders),
        timeout=30,
        what=lambda: {s.name: len(s.outbox) for s in senders},
    )
    await asyncio.gather(*(c.wait_for_seq(last_seq, timeout=30) for c in clients))
    await asyncio.sleep(0.3)


def assert_sent_stored_once(db: Stored, sent: dict, senders, *, typed_order: bool) -> dict:
    """Numbered 1..N without gaps, everything sent stored, each sender's acks carrying the
    stored `seq` (and with `typed_order`, rising in the order typed). Returns the stored
    messages by `client_msg_id`."""
    assert db.seqs == list(range(1, db.last_seq + 1))
    by_cid = db.by_client_msg_id()
    assert {cid for cids in sent.values() for cid in cids} <= set(by_cid)
    for sender in senders:
        cids = sent[sender.name]
        seqs = [sender.acks[cid]["seq"] for cid in cids]
        assert seqs == [by_cid[cid]["seq"] for cid in cids], sender.name
        if typed_order:
            assert seqs == sorted(seqs), f"{sender.name}'s messages were reordered"
    return by_cid


def assert_everyone_shows_what_is_stored(db: Stored, clients) -> list[tuple]:
    """Every client shows exactly the stored messages, once each, in `seq` order, and saw
    nothing out of order on the way. Returns them as (seq, client_msg_id, body, handle)."""
    expected = [(m["seq"], m["client_msg_id"], m["body"], m["handle"]) for m in db.messages]
    for client in clients:
        shown = [
            (m["seq"], m["client_msg_id"], m["body"], m["sender"]["handle"])
            for m in client.messages
        ]
        assert shown == expected, client.name
        assert client.anomalies == [], client.name
    return expected


def page_messages(topology: Topology, session, room_id: int, index: int = 0) -> list[dict]:
    """Read a room's whole history the way a client pages it: `?after=` until `has_more` ends."""
    messages, after = [], 0
    for _ in range(1000):
        response = session.get(
            f"{topology.base_url(index)}/api/v1/rooms/{room_id}/messages",
            params={"after": after},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = page["next_after"]
    raise AssertionError("paging never ended")


def healthz(topology: Topology, index: int) -> tuple[int, dict]:
    response = requests.get(f"{topology.base_url(index)}/healthz", timeout=HTTP_TIMEOUT_SECONDS)
    return response.status_code, response.json()


class RedisServer:
    """A private, throwaway redis-server on a free loopback port that a test may kill."""

    def __init__(self, directory: Path):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> "RedisServer":
        assert not self.running
        # setpriv has Linux SIGKILL the server if the thread that started it dies, so a test
        # run that is killed leaves no redis-server behind (start it from the main thread).
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "KILL"] if setpriv else []
        self.process = subprocess.Popen(
            [
                *prefix,
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if not self.running or time.monotonic() > deadline:
                self.kill()
                log = self.directory / "redis.log"
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start:\n"
                    + (log.read_text() if log.exists() else "")
                )
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no save): every key and connection is gone."""
        if self.running:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=10)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class PostgresServer:
    """A private, throwaway PostgreSQL cluster on a free loopback port that a test may crash.

    As root (CI) it runs as the `postgres` user, which initdb and postgres require.
    """

    def __init__(self):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        self.bin = bins[-1] if bins else None
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="peerchat-pg-"))
        self.directory.chmod(0o755)  # the postgres user must reach its data directory
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> "PostgresServer":
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def crash(self) -> None:
        """Stop at once, as a crash would: no checkpoint, every connection cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
