"""Real servers for tests: the `run_topology` script, started as a person would start it.

`Topology` prepares a fresh database (SQLite file or a new PostgreSQL database), migrates it,
creates the demo accounts with `seed_demo`, then runs `manage.py run_topology` and waits
until every daphne process answers /healthz. Process ids come from the script's state file,
so a test can SIGKILL one daphne process and watch the supervisor start it again.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "live-test-password-123"
# A seeded SQLite file is copied for the next server for this long (see _sqlite_from_template).
TEMPLATE_MAX_AGE_SECONDS = 300
_sqlite_templates: dict[tuple, tuple[Path, float]] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_database_url(server_url: str, name: str) -> str:
    parsed = urlparse(server_url)
    return urlunparse(parsed._replace(path=f"/{name}"))


class Topology:
    def __init__(
        self,
        tmp_path: Path,
        *,
        processes: int = 1,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        extra_env: dict | None = None,
        workers: int | None = None,
    ):
        self.tmp_path = tmp_path
        self.ports = [free_port() for _ in range(processes)]
        self.workers = workers
        self.postgres_url = postgres_url
        self.database_name = None
        self.state_file = tmp_path / "topology.json"
        self.log_path = tmp_path / "topology.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "live-tests-" + uuid.uuid4().hex * 2,
            "DEBUG": "0",
            "HTTPS": "0",
            "STATIC_ROOT": str(tmp_path / "static"),
            "LOG_LEVEL": "WARNING",
            # The demo accounts sign in with their password alone; a test that wants
            # two-factor passes STAFF_TWO_FACTOR=1 in extra_env.
            "STAFF_TWO_FACTOR": "0",
        }
        self.env.pop("REDIS_URL", None)
        if postgres_url:
            self.database_name = f"peerchat_live_{uuid.uuid4().hex[:12]}"
            self.env["DATABASE_URL"] = _postgres_database_url(postgres_url, self.database_name)
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["CHANNEL_LAYER_PREFIX"] = f"peerchat-live-{uuid.uuid4().hex[:8]}"
            # Rate, socket and sign-in counts of its own, not those of an earlier run.
            self.env["LIMITS_KEY_PREFIX"] = f"peerchat-live-limits-{uuid.uuid4().hex[:8]}"
        self.extra_env = {k: str(v) for k, v in (extra_env or {}).items()}
        self.env.update(extra_env or {})
        self.process: subprocess.Popen | None = None

    # Life cycle ---------------------------------------------------------------------------------

    def start(self) -> "Topology":
        if self.database_name:
            self._psql(f'CREATE DATABASE "{self.database_name}"')
            self._migrate_and_seed()
        else:
            self._sqlite_from_template()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_topology",
                "--no-migrate",
                "--state-file",
                str(self.state_file),
                *(["--workers", str(self.workers)] if self.workers is not None else []),
                "--ports",
                *map(str, self.ports),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        for port in self.ports:
            self.wait_healthy(port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self._log.close()
        if self.database_name:
            self._psql(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # Helpers ------------------------------------------------------------------------------------

    def _migrate_and_seed(self) -> None:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed_demo", "--password", DEMO_PASSWORD)

    def _sqlite_from_template(self) -> None:
        """Copy a migrated, seeded SQLite file made by an earlier server of this run, if it is
        recent (the demo's shifts and groups start "now"); else make it and keep a copy.

        Migrating and seeding take about 8 s, most of a browser test's set-up.
        """
        database = Path(self.env["DATABASE_URL"].removeprefix("sqlite:///"))
        key = tuple(sorted(self.extra_env.items()))
        template = _sqlite_templates.get(key)
        if template is not None and time.monotonic() - template[1] < TEMPLATE_MAX_AGE_SECONDS:
            shutil.copyfile(template[0], database)
            return
        self._migrate_and_seed()
        folder = Path(tempfile.mkdtemp(prefix="peerchat-test-template-"))
        atexit.register(shutil.rmtree, folder, True)
        kept = folder / "db.sqlite3"
        shutil.copyfile(database, kept)
        _sqlite_templates[key] = (kept, time.monotonic())

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def _psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.postgres_url, autocommit=True) as connection:
            connection.execute(sql)

    def base_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def ws_url(self, index: int = 0) -> str:
        return f"ws://127.0.0.1:{self.ports[index]}/ws/v1/"

    def pid(self, port: int) -> int:
        state = json.loads(self.state_file.read_text())
        return next(p["pid"] for p in state["processes"] if p.get("port") == port)

    def worker_pids(self) -> list[int]:
        """Process ids of the `run_worker` processes, in the order they were started."""
        state = json.loads(self.state_file.read_text())
        workers = sorted((p["worker"], p["pid"]) for p in state["processes"] if "worker" in p)
        return [pid for _, pid in workers]

    def kill(self, index: int) -> int:
        """SIGKILL one daphne process (no clean shutdown); return its pid."""
        pid = self.pid(self.ports[index])
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_healthy(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("run_topology exited:\n" + self.log_path.read_text())
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"port {port} never became healthy:\n" + self.log_path.read_text())

    def login(self, username: str, index: int = 0) -> requests.Session:
        """Sign in through the real login form; return the session (cookies included)."""
        session = requests.Session()
        url = self.base_url(index) + "/accounts/login/"
        session.get(url, timeout=10).raise_for_status()
        response = session.post(
            url,
            data={
                "username": username,
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": url},
            allow_redirects=False,
            timeout=10,
        )
        if response.status_code != 302:
            raise RuntimeError(f"login of {username} failed: {response.status_code}")
        return session

    def ws_headers(self, session: requests.Session, index: int = 0) -> dict:
        return {
            "Cookie": f"sessionid={session.cookies['sessionid']}",
            "Origin": self.base_url(index),
        }
