"""Hook delivery when things go wrong, with real `manage.py run_worker` processes on PostgreSQL.

The module makes its own PostgreSQL database (migrated with `manage.py migrate`), so it runs
the same in CI's SQLite pass and its PostgreSQL pass. Events are enqueued through
`manage.py shell` (committed, as the escalation service would), delivered by real worker
processes to a real local HTTP receiver (tests/hook_receiver.py) that checks every signature
with the procedure in docs/hooks.md and deduplicates on Idempotency-Key.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from tests.hook_receiver import Receiver
from tests.servers import _postgres_database_url, free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "reliability-" + uuid.uuid4().hex  # 44 characters

ENQUEUE = """
import json, os
from django.db import transaction
from moderation.hooks import hooks_enqueue
with open(os.environ["EVENTS_FILE"]) as f:
    events = json.load(f)
with transaction.atomic():
    for e in events:
        hooks_enqueue(event_id=e["event_id"], event_type=e["type"], payload=e,
                      ordering_key=f"escalation:{e['escalation']['id']}")
"""


def psql(url: str, sql: str, *params):
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture(scope="module")
def database(postgres_url):
    name = f"peerchat_hooks_{uuid.uuid4().hex[:12]}"
    psql(postgres_url, f'CREATE DATABASE "{name}"')
    url = _postgres_database_url(postgres_url, name)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=base_env(url),
            check=True,
            timeout=120,
        )
        yield url
    finally:
        psql(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def base_env(database_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "hooks-reliability-" + uuid.uuid4().hex * 2,
        "DEBUG": "0",
        "HTTPS": "0",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        # Small numbers so failures and recoveries take seconds, not hours.
        "WORKER_POLL_SECONDS": "0.1",
        "WORKER_LEASE_SECONDS": "3",
        "WORKER_RETRY_BASE_SECONDS": "0.2",
        "WORKER_RETRY_MAX_SECONDS": "1",
        "WORKER_MAX_ATTEMPTS": "100",
        "ESCALATION_HOOKS": "moderation.hooks.webhook.WebhookHook",
        "ESCALATION_WEBHOOK_URL": "http://127.0.0.1:9/not-used",
        "ESCALATION_WEBHOOK_SECRET": SECRET,
        "ESCALATION_WEBHOOK_TIMEOUT_SECONDS": "1",
    }
    env.pop("REDIS_URL", None)
    return env


class Rig:
    """The database, the receiver and the worker processes of one test."""

    def __init__(self, database_url: str, tmp_path: Path):
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.receiver = Receiver(SECRET, free_port())
        self.env = {**base_env(database_url), "ESCALATION_WEBHOOK_URL": self.receiver.url}
        self.workers: list[subprocess.Popen] = []
        psql(database_url, "TRUNCATE jobs_job CASCADE")  # and what refers to jobs (retention runs)

    def enqueue(self, events: list[dict]) -> None:
        path = self.tmp_path / f"events-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(events))
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", ENQUEUE],
            cwd=ROOT,
            env={**self.env, "EVENTS_FILE": str(path)},
            check=True,
            timeout=60,
            capture_output=True,
        )

    def start_worker(self) -> subprocess.Popen:
        number = len(self.workers) + 1
        log = open(self.tmp_path / f"worker-{number}.log", "wb")  # noqa: SIM115 - child's
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--id", f"worker-{number}"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("worker-*.log")))

    def jobs(self) -> list[tuple]:
        return psql(
            self.database_url,
            "SELECT key, state, attempts, locked_by, last_error FROM jobs_job ORDER BY id",
        )

    def wait_until(self, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for worker in self.workers:
                code = worker.poll()
                if code not in (None, -signal.SIGKILL):
                    raise AssertionError(f"a worker exited with {code}:\n{self.logs()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; jobs {self.jobs()}\n{self.logs()}")

    def all_finished(self) -> bool:
        return not psql(
            self.database_url, "SELECT 1 FROM jobs_job WHERE state NOT IN ('done', 'dead')"
        )

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        self.receiver.stop()


@pytest.fixture
def rig(database, tmp_path):
    made = Rig(database, tmp_path)
    yield made
    made.stop()


def escalation_events(escalations: int, per_escalation: int) -> list[dict]:
    """Events of several escalations, interleaved as they would happen, numbered per escalation."""
    types = ["opened", "trigger_added", "acknowledged", "renotified", "on_call", "resolved"]
    events = []
    for sequence in range(1, per_escalation + 1):
        for escalation in range(1, escalations + 1):
            events.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "type": f"escalation.{types[(sequence - 1) % len(types)]}",
                    "sequence": sequence,
                    "created_at": "2026-11-22T06:30:00Z",
                    "escalation": {"id": escalation, "room": 100 + escalation, "state": "open"},
                    "console_url": f"https://host/moderation/#escalation-{escalation}",
                }
            )
    return events


def assert_each_processed_once_in_order(receiver: Receiver, events: list[dict]) -> None:
    processed = receiver.processed
    assert sorted(e["event_id"] for e in processed) == sorted(e["event_id"] for e in events)
    by_id = {e["event_id"]: e for e in events}
    assert all(e == by_id[e["event_id"]] for e in processed)
    sequences = defaultdict(list)
    for e in processed:
        sequences[e["escalation"]["id"]].append(e["sequence"])
    for escalation, numbers in sequences.items():
        assert numbers == sorted(numbers), f"escalation {escalation} out of order: {numbers}"
    assert all(attempt.signature_ok for attempt in receiver.attempts)
    assert all(attempt.key == json.loads(attempt.body)["event_id"] for attempt in receiver.attempts)


def test_receiver_down_then_failing_then_slow_then_healthy(rig):
    events = escalation_events(escalations=3, per_escalation=4)
    rig.enqueue(events)
    started = time.monotonic()
    rig.start_worker()
    rig.start_worker()
    receiver = rig.receiver

    # Down: nobody listens on the port, connections are refused.
    rig.wait_until(
        lambda: any(job[4] == "connection failed" and job[2] >= 2 for job in rig.jobs()),
        "refused connections to be retried",
    )
    # Up, but answering HTTP 500.
    receiver.mode = "error"
    receiver.start()
    rig.wait_until(lambda: receiver.count(500) >= 4, "HTTP 500 answers")
    # Slower than the sender's 1 s timeout: the work gets done, the sender sees a timeout.
    receiver.mode, receiver.delay = "slow", 1.6
    rig.wait_until(lambda: len(receiver.attempts) >= receiver.count(500) + 3, "slow attempts")
    rig.wait_until(
        lambda: any(job[4] == "timeout" for job in rig.jobs()), "a timeout to be recorded"
    )
    # Healthy again: everything goes through.
    receiver.mode = "ok"
    rig.wait_until(rig.all_finished, "every delivery to finish", timeout=40)

    assert {job[1] for job in rig.jobs()} == {"done"}
    assert_each_processed_once_in_order(receiver, events)
    assert len(receiver.attempts) > len(events)  # retries happened; each event counted once
    assert len(receiver.processed) == len(events)
    logs = rig.logs()
    assert "failed: connection failed" in logs and "failed: HTTP 500" in logs
    assert "failed: timeout" in logs
    assert "https://host" not in logs and events[0]["event_id"] not in logs  # ids and kinds only
    assert time.monotonic() - started < 60


def test_a_worker_killed_mid_delivery_loses_nothing_and_nothing_is_done_twice(rig):
    events = escalation_events(escalations=2, per_escalation=3)
    receiver = rig.receiver.start()
    receiver.hold_next = True
    rig.enqueue(events)
    doomed = rig.start_worker()

    assert receiver.arrived.wait(timeout=30), rig.logs()
    doomed.send_signal(signal.SIGKILL)  # mid-request: the receiver has the event, no answer sent
    doomed.wait()
    held_key = receiver.attempts[0].key
    receiver.release.set()

    rig.start_worker()
    rig.wait_until(rig.all_finished, "the new worker to finish everything")

    assert_each_processed_once_in_order(receiver, events)
    assert [a.key for a in receiver.attempts].count(held_key) == 2
    assert receiver.duplicates == [held_key]  # seen again, not processed again
    held = next(job for job in rig.jobs() if job[0].endswith(held_key))
    assert (held[1], held[2], held[3]) == ("done", 2, "worker-2")
    assert "lease of worker-1 ran out" in rig.logs()


def test_three_workers_deliver_each_event_exactly_once(rig):
    events = escalation_events(escalations=10, per_escalation=6)
    receiver = rig.receiver.start()
    receiver.mode, receiver.delay = "slow", 0.02  # a little work per request, like a real one
    workers = [rig.start_worker() for _ in range(3)]
    # All three are polling before the events arrive, so they compete for every job.
    rig.wait_until(lambda: rig.logs().count(" started (poll") == 3, "three workers to start")
    rig.enqueue(events)
    rig.wait_until(rig.all_finished, "three workers to deliver 60 events", timeout=45)

    assert len(receiver.attempts) == len(events)  # not one delivery twice
    assert receiver.duplicates == []
    assert_each_processed_once_in_order(receiver, events)
    jobs = rig.jobs()
    assert {(state, attempts) for _, state, attempts, _, _ in jobs} == {("done", 1)}
    assert len({locked_by for _, _, _, locked_by, _ in jobs}) >= 2  # they really shared it

    # SIGTERM stops a worker cleanly (exit code 0).
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    assert [worker.wait(timeout=10) for worker in workers] == [0, 0, 0]
