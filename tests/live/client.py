"""A small protocol-v1 websocket client that behaves like the real one.

It signs in with a session cookie, joins one room with `since`, shows each `message` once in
`seq` order (a duplicate is dropped, a gap makes it re-join with `since=<last seq>`), keeps
every sent message in an outbox until its `ack` arrives, and when its socket dies it connects
to another daphne process, resumes with `since`, and re-sends the outbox with the same
`client_msg_id`s, as a browser behind a load balancer would.

Everything the server does that a correct server never does (a duplicate or a gap on one
socket, a frame of another room, an ack that changes its seq) is recorded in `anomalies`, so
tests can assert the server's guarantees and not only the client's repairs.
"""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

CONNECT_TIMEOUT_SECONDS = 5.0
RECONNECT_PAUSE_SECONDS = 0.2
MAX_CONNECT_FAILURES = 100
# A `send` answered with one of these is sent again, unchanged, after a pause (protocol.md);
# `rate_limited` names the send it refused when the frame was a well-formed `send`.
RETRIED_ERRORS = {"server_error", "rate_limited"}
RETRY_PAUSE_SECONDS = 0.5


class ClientFailure(AssertionError):
    """The server answered in a way no retry can repair (e.g. not signed in)."""


async def until(predicate: Callable[[], bool], *, timeout: float, what) -> None:
    """Wait until `predicate()` holds; fail with `what` (a string or callable) after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {detail}")
        await asyncio.sleep(0.02)


class ChatClient:
    """One person's tab: one socket at a time, one room, resuming by `seq`."""

    def __init__(
        self,
        topology,
        session,
        *,
        name: str,
        index: int,
        room: int | None,
        failover: bool = True,
    ):
        self.topology = topology
        self.session = session
        self.name = name
        self.index = index  # the daphne process this client is (or was last) connected to
        self.room = room
        self.failover = failover

        self.handle: str | None = None
        self.last_seq = 0  # highest seq shown, in order
        self.messages: list[dict] = []  # every message shown, in order, once
        self.frames: list[dict] = []  # every frame received, on every socket
        self.joins: list[dict] = []  # `joined` frames
        self.acks: dict[str, dict] = {}  # client_msg_id -> first ack
        self.errors: list[dict] = []
        self.refused: dict[str, dict] = {}  # client_msg_id -> error frame
        self.anomalies: list[str] = []
        self.sockets: list[dict] = []  # per socket: process index and the seqs it delivered
        self.outbox: dict[str, dict] = {}  # client_msg_id -> send frame, until acked
        self.resent: list[str] = []  # client_msg_ids sent again on a later socket
        self._sent: dict[str, dict] = {}  # every send frame, by client_msg_id
        self._ever_sent: set[str] = set()

        self._ws: ClientConnection | None = None
        self._ready = False  # join sent and outbox flushed on the current socket
        self._sent_here: set[str] = set()
        self._rejoin_since: int | None = None
        self._closing = False
        self._failure: BaseException | None = None
        self._task: asyncio.Task | None = None
        self._retries: set[asyncio.Task] = set()

    # Life cycle -------------------------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> "ChatClient":
        self._task = asyncio.get_running_loop().create_task(self._run())
        if self.room is None:
            await until(
                lambda: self.check() and self.connected,
                timeout=timeout,
                what=f"{self.name} to connect",
            )
        else:
            await until(
                lambda: self.check() and self._ready and bool(self.joins),
                timeout=timeout,
                what=f"{self.name} to join room {self.room}",
            )
        return self

    async def close(self) -> None:
        self._closing = True
        for task in list(self._retries):
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 3)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 3)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def reconnections(self) -> int:
        return max(0, len(self.sockets) - 1)

    def drop(self) -> bool:
        """Lose the network under the current socket, as a phone going through a tunnel does:
        no close handshake, and whatever was in flight either way is gone. The client then
        reconnects (to the next process) as after any other loss. False when not connected."""
        ws = self._ws
        if ws is None:
            return False
        ws.transport.abort()
        return True

    def check(self) -> bool:
        """Raise what stopped this client for good, if anything did."""
        if self._failure is not None:
            raise self._failure
        return True

    # Sending ----------------------------------------------------------------------------------

    async def send_message(self, body: str, client_msg_id: str | None = None) -> str:
        """Queue a message in the outbox and send it now if the socket is up (like a real UI)."""
        cid = client_msg_id or str(uuid.uuid4())
        self.outbox[cid] = self._sent[cid] = {
            "type": "send",
            "room": self.room,
            "client_msg_id": cid,
            "body": body,
        }
        if self._ready:
            await self._send_outboxed(cid)
        return cid

    def forget_ack(self, cid: str) -> dict:
        """Act as if the ack of `cid` was lost with the socket: the message is re-sent first."""
        ack = self.acks.pop(cid)
        self.outbox = {cid: self._sent[cid], **self.outbox}
        return ack

    async def send_frame(self, frame: dict) -> int:
        """Send any frame on the current socket; return the index its answers start after."""
        mark = len(self.frames)
        if self._ws is None:
            raise AssertionError(f"{self.name} is not connected")
        await self._ws.send(json.dumps(frame))
        return mark

    async def wait_frame(self, predicate, *, after: int = 0, timeout: float = 10.0) -> dict:
        """Return the first frame received after index `after` that satisfies `predicate`."""
        found: list[dict] = []

        def seen() -> bool:
            self.check()
            found[:] = [f for f in self.frames[after:] if predicate(f)][:1]
            return bool(found)

        await until(seen, timeout=timeout, what=f"a matching frame at {self.name}")
        return found[0]

    async def wait_for_seq(self, seq: int, timeout: float = 20.0) -> None:
        await until(
            lambda: self.check() and self.last_seq >= seq,
            timeout=timeout,
            what=lambda: f"{self.name} to show seq {seq} (has {self.last_seq})",
        )

    async def _send_outboxed(self, cid: str) -> None:
        frame = self.outbox.get(cid)
        ws = self._ws
        if frame is None or ws is None:
            return
        self._sent_here.add(cid)
        if cid in self._ever_sent:
            self.resent.append(cid)
        self._ever_sent.add(cid)
        # A socket that dies here keeps the frame in the outbox; the next socket re-sends it.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))

    # The connection loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        process_count = len(self.topology.ports)
        failures = 0
        while not self._closing:
            try:
                ws = await asyncio.wait_for(self._connect(self.index), CONNECT_TIMEOUT_SECONDS)
            except (OSError, InvalidHandshake, TimeoutError) as error:
                failures += 1
                if not self._may_fail_over() or failures > MAX_CONNECT_FAILURES:
                    self._failure = ClientFailure(
                        f"{self.name} could not connect to process {self.index}: {error!r}"
                    )
                    return
                self.index = (self.index + 1) % process_count
                await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
                continue
            failures = 0
            try:
                await self._serve(ws)
            except ClientFailure as failure:
                self._failure = failure
                return
            except ConnectionClosed:
                pass
            finally:
                self._ws = None
                self._ready = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 2)
            if self._closing:
                return
            if not self._may_fail_over():
                self._failure = ClientFailure(
                    f"{self.name}'s socket to process {self.index} closed"
                    + ("" if self.sockets else " before its hello")
                )
                return
            # The process behind this socket went away: try the next one first.
            self.index = (self.index + 1) % process_count

    def _may_fail_over(self) -> bool:
        # The first socket must reach the process the test asked for; later ones move on.
        return self.failover and bool(self.sockets)

    async def _connect(self, index: int) -> ClientConnection:
        return await connect(
            self.topology.ws_url(index),
            additional_headers=self.topology.ws_headers(self.session, index),
            open_timeout=CONNECT_TIMEOUT_SECONDS,
            close_timeout=2,
            ping_interval=None,
        )

    async def _serve(self, ws: ClientConnection) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_SECONDS))
        if hello.get("type") != "hello" or not hello.get("authenticated"):
            raise ClientFailure(f"{self.name} was not signed in: {hello}")
        self.handle = hello["handle"]
        self._ws = ws
        self._sent_here = set()
        self._rejoin_since = None
        self.sockets.append({"index": self.index, "seqs": []})
        if self.room is not None:
            await ws.send(json.dumps({"type": "join", "room": self.room, "since": self.last_seq}))
            # Messages typed while offline go out in the order they were typed, before new ones.
            while pending := [cid for cid in self.outbox if cid not in self._sent_here]:
                for cid in pending:
                    await self._send_outboxed(cid)
        self._ready = True
        async for raw in ws:
            await self._on_frame(json.loads(raw))

    # Frames -----------------------------------------------------------------------------------

    async def _on_frame(self, frame: dict) -> None:
        self.frames.append(frame)
        kind = frame.get("type")
        if kind == "message":
            await self._on_message(frame)
        elif kind == "joined":
            self.joins.append(frame)
            if frame.get("limited"):
                self.anomalies.append(f"join replay was limited: {frame}")
            if frame.get("room") == self.room and frame.get("since") == self._rejoin_since:
                self._rejoin_since = None
        elif kind == "ack":
            cid = frame["client_msg_id"]
            first = self.acks.setdefault(cid, frame)
            if first["seq"] != frame["seq"]:
                self.anomalies.append(f"ack for {cid} changed seq {first['seq']} -> {frame['seq']}")
            self.outbox.pop(cid, None)
        elif kind == "error":
            self.errors.append(frame)
            cid = frame.get("client_msg_id")
            if cid in self.outbox and frame.get("code") in RETRIED_ERRORS:
                # Like the real client: the same frame again after a pause (protocol.md).
                self._retry_later(cid)
            elif cid is None and frame.get("code") == "rate_limited":
                # A frame other than a send (or one that did not parse) was refused: like the
                # real client, send again what is still unacknowledged, after a pause.
                for pending in self.outbox:
                    self._retry_later(pending)
            elif cid in self.outbox:
                self.refused[cid] = frame
                self.outbox.pop(cid)

    def _retry_later(self, cid: str) -> None:
        async def retry():
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            if cid in self.outbox and self._ready:
                self.resent.append(cid)
                ws = self._ws
                if ws is not None:
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(json.dumps(self.outbox[cid]))

        task = asyncio.get_running_loop().create_task(retry())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _on_message(self, frame: dict) -> None:
        seq = frame["seq"]
        if frame.get("room") != self.room:
            self.anomalies.append(f"message of room {frame.get('room')} reached {self.name}")
            return
        self.sockets[-1]["seqs"].append(seq)
        if self._rejoin_since is not None:
            return  # the replay after our re-join brings these again, in order
        if seq <= self.last_seq:
            self.anomalies.append(
                f"duplicate seq {seq} on socket {len(self.sockets)} (shown up to {self.last_seq})"
            )
            return
        if seq > self.last_seq + 1:
            self.anomalies.append(
                f"gap on socket {len(self.sockets)}: seq {seq} after {self.last_seq}"
            )
            self._rejoin_since = self.last_seq
            await self._ws.send(
                json.dumps({"type": "join", "room": self.room, "since": self.last_seq})
            )
            return
        self.last_seq = seq
        self.messages.append(frame)
