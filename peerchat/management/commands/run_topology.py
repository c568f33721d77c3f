"""Run the production topology on this machine without Docker.

The same processes as docker-compose.yml: migrations first, then N daphne processes on N
ports sharing DATABASE_URL and REDIS_URL, and the durable-jobs workers (`run_worker`: one by
default, none when the worker runs inside daphne, WORKER["EMBEDDED"]), supervised (a
process that dies is started again), all stopped together on SIGTERM or Ctrl-C. The tests
use this command to start real servers.

    manage.py run_topology --ports 8001 8002          # production topology (needs REDIS_URL)
    manage.py run_topology --ports 8000                # the embedded default: one process
    manage.py run_topology --ports 8000 --workers 0    # no worker process
"""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

RESTART_DELAY_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 30.0


def _die_with_parent():
    """Ask Linux to SIGTERM this child when the supervisor dies, so no daphne is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _health_check_host() -> str:
    """A Host header Django accepts: the bind address is rarely in ALLOWED_HOSTS in production."""
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


class Command(BaseCommand):
    help = "Start N daphne processes (the production topology) and supervise them."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--ports", type=int, nargs="+", default=[8001, 8002])
        parser.add_argument("--no-migrate", action="store_true", help="Skip `migrate`.")
        parser.add_argument(
            "--no-restart", action="store_true", help="Do not restart a process that dies."
        )
        parser.add_argument(
            "--state-file",
            help="Write the ports and process ids here as JSON, updated on every restart.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="How many `manage.py run_worker` processes to run (durable jobs); 0 for none. "
            "Default: 1, or 0 when each daphne process runs its own (WORKER_EMBEDDED).",
        )

    def handle(self, *args, **options):
        ports = options["ports"]
        if len(set(ports)) != len(ports):
            raise CommandError("Each process needs its own port.")
        workers = options["workers"]
        if workers is None:
            # An embedded worker publishes through its own process's channel layer; a separate
            # process on the in-memory layer would take jobs whose live events reach nobody.
            workers = 0 if settings.WORKER.get("EMBEDDED") else 1
        if workers < 0:
            raise CommandError("--workers must be 0 or more.")
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        if len(ports) > 1 and "Redis" not in layer:
            raise CommandError(
                "Several processes must share a channel layer: set REDIS_URL "
                "(the in-memory layer only reaches sockets in its own process)."
            )
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        if "Manifest" in settings.STORAGES["staticfiles"]["BACKEND"]:
            call_command("collectstatic", interactive=False, verbosity=0)

        self.host = options["host"]
        self.state_file = options["state_file"]
        self.stopping = False
        self.processes: dict[int, subprocess.Popen] = {}
        self.workers: dict[int, subprocess.Popen] = {}
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        try:
            for port in ports:
                self._start(port)
            self._wait_ready(ports)
            for index in range(1, workers + 1):
                self._start_worker(index)
            self.stdout.write("ready: " + " ".join(f"http://{self.host}:{port}/" for port in ports))
            self.stdout.flush()
            self._supervise(restart=not options["no_restart"])
        finally:
            self._terminate_all()

    def _start(self, port: int) -> None:
        frame_limit = str(settings.PEERCHAT["WS_MAX_FRAME_BYTES"])
        command = [
            sys.executable,
            "-m",
            "daphne",
            "--bind",
            self.host,
            "--port",
            str(port),
            "--websocket-max-message-size",
            frame_limit,
            "--websocket-max-frame-size",
            frame_limit,
            "--application-close-timeout",
            "5",
            # daphne's access log records client addresses; logs here carry pseudonymous ids
            # only (DESIGN.md §11), so it is switched off.
            "--access-log",
            os.devnull,
            "config.asgi:application",
        ]
        if settings.BEHIND_PROXY:
            command[3:3] = ["--proxy-headers"]
        self.processes[port] = subprocess.Popen(  # noqa: S603 - fixed command, no shell
            command, cwd=settings.BASE_DIR, preexec_fn=_die_with_parent
        )
        self._write_state()

    def _start_worker(self, index: int) -> None:
        self.workers[index] = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=settings.BASE_DIR,
            preexec_fn=_die_with_parent,
        )
        self._write_state()

    def _wait_ready(self, ports: list[int]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for port in ports:
            while True:
                if self.processes[port].poll() is not None:
                    raise CommandError(f"daphne on port {port} exited while starting")
                request = urllib.request.Request(
                    f"http://{self.host}:{port}/healthz", headers={"Host": _health_check_host()}
                )
                try:
                    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise CommandError(f"daphne on port {port} did not become healthy")
                time.sleep(0.2)

    def _supervise(self, *, restart: bool) -> None:
        while not self.stopping:
            time.sleep(0.2)
            for port, process in list(self.processes.items()):
                code = process.poll()
                if code is None or self.stopping:
                    continue
                self.stderr.write(f"daphne on port {port} exited with {code}")
                if not restart:
                    self.stopping = True
                    break
                time.sleep(RESTART_DELAY_SECONDS)
                if not self.stopping:
                    self._start(port)
                    self.stdout.write(f"restarted daphne on port {port}")
                    self.stdout.flush()
            for index, process in list(self.workers.items()):
                code = process.poll()
                if code is None or self.stopping:
                    continue
                self.stderr.write(f"worker {index} exited with {code}")
                if not restart:
                    self.stopping = True
                    break
                time.sleep(RESTART_DELAY_SECONDS)
                if not self.stopping:
                    self._start_worker(index)
                    self.stdout.write(f"restarted worker {index}")
                    self.stdout.flush()

    def _stop(self, signum, frame):
        self.stopping = True

    def _terminate_all(self) -> None:
        # A worker finishes the job in hand on SIGTERM; one still busy after the grace period
        # is killed, and its job runs again when the lease runs out.
        everything = [*self.processes.values(), *self.workers.values()]
        for process in everything:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in everything:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        if self.state_file:
            Path(self.state_file).unlink(missing_ok=True)

    def _write_state(self) -> None:
        if not self.state_file:
            return
        state = {
            "supervisor": os.getpid(),
            "processes": [
                *({"port": port, "pid": process.pid} for port, process in self.processes.items()),
                *({"worker": index, "pid": process.pid} for index, process in self.workers.items()),
            ],
        }
        tmp = Path(self.state_file).with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)
