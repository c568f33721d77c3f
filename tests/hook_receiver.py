"""A webhook receiver for tests, built as docs/hooks.md tells receivers to build one.

It checks every request with the verification snippet from docs/hooks.md (so the documented
procedure is what the tests exercise), deduplicates on `Idempotency-Key`, and records both
every raw attempt and the events it actually processed, in processing order. Tests switch
its `mode` to make it fail in the ways a real receiver fails.
"""

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"
SNIPPET_MARK = "<!-- tests/hook_receiver.py runs this block"


def documented_verifier():
    """Return `peerchat_signature_ok` as docs/hooks.md defines it."""
    text = DOCS.read_text()
    after = text[text.index(SNIPPET_MARK) :]
    code = re.search(r"```python\n(.*?)```", after, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["peerchat_signature_ok"]


@dataclass
class Attempt:
    key: str
    event_type: str
    signature: str
    body: bytes
    signature_ok: bool
    answer: int | None = None


class Receiver:
    """Modes: ok, error (HTTP 500), slow (waits `delay` s, then processes), hold (processes,
    then waits for `release` before answering), status (answers `status`, with `headers`)."""

    def __init__(self, secret: str, port: int):
        self.secret = secret
        self.port = port
        self.verify = documented_verifier()
        self.mode = "ok"
        self.delay = 0.0
        self.status = 200
        self.headers: dict[str, str] = {}
        self.hold_next = False
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.processed: list[dict] = []
        self.duplicates: list[str] = []
        self.seen: set[str] = set()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def count(self, answer: int | None = None) -> int:
        with self.lock:
            return sum(1 for a in self.attempts if answer is None or a.answer == answer)

    # One request --------------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        attempt = Attempt(
            key=request.headers.get("Idempotency-Key", ""),
            event_type=request.headers.get("Peerchat-Event", ""),
            signature=request.headers.get("Peerchat-Signature", ""),
            body=body,
            signature_ok=self.verify(self.secret, body, request.headers.get("Peerchat-Signature")),
        )
        with self.lock:
            self.attempts.append(attempt)
            mode, hold = self.mode, self.hold_next
            self.hold_next = False
        if not attempt.signature_ok:
            return self._answer(request, attempt, 401)
        if mode == "error":
            return self._answer(request, attempt, 500)
        if mode == "status":
            return self._answer(request, attempt, self.status, self.headers)
        if mode == "slow":
            time.sleep(self.delay)
        self._process(attempt)
        if hold:
            self.arrived.set()
            self.release.wait(timeout=30)
        self._answer(request, attempt, 200)

    def _process(self, attempt: Attempt) -> None:
        with self.lock:
            if attempt.key in self.seen:
                self.duplicates.append(attempt.key)
                return
            self.seen.add(attempt.key)
            self.processed.append(json.loads(attempt.body))

    def _answer(self, request, attempt: Attempt, status: int, headers: dict | None = None):
        attempt.answer = status
        try:
            request.send_response(status)
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass  # the sender gave up waiting (timeout) or was killed
