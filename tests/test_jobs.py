"""Durable jobs: idempotent enqueue, ordering, retries with backoff, leases, admin retry, worker."""

import logging
import os
import random
import signal
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from moderation.models import AuditEntry
from peerchat import jobs
from peerchat.jobs import services
from peerchat.jobs.models import Job
from peerchat.jobs.registry import HANDLERS
from peerchat.models import User
from tests.servers import Topology

WORKER = {
    "POLL_SECONDS": 0.1,
    "LEASE_SECONDS": 60.0,
    "RETRY_BASE_SECONDS": 5.0,
    "RETRY_MAX_SECONDS": 600.0,
    "MAX_ATTEMPTS": 15,
}


class Recorder:
    """A job handler whose behaviour each test sets: what it returns or raises, per call."""

    def __init__(self):
        self.calls: list[tuple[int, str, int]] = []  # (job id, worker-visible key, attempt)
        self.outcomes: list = []
        self.lock = threading.Lock()

    def __call__(self, job):
        with self.lock:
            self.calls.append((job.pk, job.key, job.attempts))
            outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def handler():
    recorder = Recorder()
    jobs.register("test", recorder)
    with override_settings(WORKER=WORKER):
        yield recorder
    HANDLERS.pop("test", None)


def add(key: str, ordering_key: str = "", **kwargs) -> Job:
    return jobs.enqueue(
        kind="test", key=key, payload={"n": key}, ordering_key=ordering_key, **kwargs
    )


def make_due(*jobs_: Job) -> None:
    Job.objects.filter(pk__in=[j.pk for j in jobs_]).update(run_at=timezone.now())


# Enqueueing ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_with_the_same_key_returns_the_existing_job(handler):
    first = add("k1")
    again = jobs.enqueue(kind="test", key="k1", payload={"other": True})
    assert again.pk == first.pk
    assert Job.objects.count() == 1
    assert Job.objects.get().payload == {"n": "k1"}
    assert first.state == Job.State.PENDING
    assert first.max_attempts == WORKER["MAX_ATTEMPTS"]


@pytest.mark.django_db
def test_a_job_exists_only_if_the_callers_transaction_commits(handler):
    with pytest.raises(RuntimeError), transaction.atomic():
        add("rolled-back")
        raise RuntimeError("the business change failed")
    assert not Job.objects.filter(key="rolled-back").exists()


@pytest.mark.django_db
def test_enqueue_refuses_a_kind_nobody_handles():
    with pytest.raises(ValueError, match="No handler"):
        jobs.enqueue(kind="nobody-handles-this", key="x", payload={})


@pytest.mark.django_db
def test_cancel_stops_a_pending_job_only(handler):
    job = add("c")
    assert jobs.cancel("c") is True
    assert jobs.run_due(worker_id="w") == 0
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert jobs.cancel("c") is False
    assert handler.calls == []


# Running and ordering --------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_due_runs_due_jobs_and_records_the_result(handler):
    handler.outcomes = ["HTTP 200"]
    job = add("a")
    later = add("later", run_at=timezone.now() + timedelta(minutes=5))
    assert jobs.run_due(worker_id="w1") == 1
    job.refresh_from_db()
    assert (job.state, job.result, job.attempts, job.locked_by) == ("done", "HTTP 200", 1, "w1")
    assert job.finished_at is not None and job.locked_until is None
    later.refresh_from_db()
    assert later.state == Job.State.PENDING and later.attempts == 0


@pytest.mark.django_db
def test_jobs_sharing_an_ordering_key_run_one_after_another(handler):
    first = add("e1", "escalation:1")
    second = add("e2", "escalation:1")
    other = add("o1", "escalation:2")

    claimed = services.claim(worker_id="w1")
    assert claimed.pk == first.pk
    # While the first runs, a second worker gets the other escalation's job, not the second.
    assert services.claim(worker_id="w2").pk == other.pk
    assert services.claim(worker_id="w3") is None

    # The first fails and waits for its retry: the second still waits behind it.
    handler.outcomes = [jobs.Retry("HTTP 503")]
    assert services.execute(claimed, worker_id="w1") == "pending"
    assert jobs.run_due(worker_id="w3") == 0
    second.refresh_from_db()
    assert second.state == Job.State.PENDING and second.attempts == 0

    # The retry delivers the first; only then does the second go.
    make_due(first)
    assert jobs.run_due(worker_id="w1") == 2
    assert [key for _, key, _ in handler.calls] == ["e1", "e1", "e2"]


@pytest.mark.django_db
def test_a_dead_job_does_not_hold_up_the_jobs_after_it(handler):
    first = add("e1", "escalation:1", max_attempts=1)
    add("e2", "escalation:1")
    handler.outcomes = [jobs.GiveUp("HTTP 401"), "ok"]
    assert jobs.run_due(worker_id="w") == 2
    first.refresh_from_db()
    assert first.state == Job.State.DEAD
    assert Job.objects.get(key="e2").state == Job.State.DONE


# Retries ----------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_inside_its_bounds():
    rng = random.Random(7)
    with override_settings(WORKER=WORKER):
        for attempts in range(1, 12):
            ceiling = min(600.0, 5.0 * 2 ** (attempts - 1))
            delays = [services.backoff_delay(attempts, rng=rng) for _ in range(200)]
            assert all(ceiling / 2 <= d <= ceiling for d in delays), attempts
            assert len(set(delays)) > 150  # jittered, not one fixed value
        assert max(services.backoff_delay(50, rng=rng) for _ in range(100)) <= 600.0


@pytest.mark.django_db
def test_a_failed_attempt_is_retried_after_the_backoff(handler):
    job = add("r")
    handler.outcomes = [jobs.Retry("HTTP 503"), jobs.Retry("HTTP 503")]
    before = timezone.now()
    jobs.run_due(worker_id="w")
    job.refresh_from_db()
    first_wait = (job.run_at - before).total_seconds()
    assert job.state == Job.State.PENDING and job.last_error == "HTTP 503"
    assert 2.5 - 0.1 <= first_wait <= 5.0 + 1  # attempt 1: between 2.5 and 5 s
    make_due(job)
    before = timezone.now()
    jobs.run_due(worker_id="w")
    job.refresh_from_db()
    second_wait = (job.run_at - before).total_seconds()
    assert 5.0 - 0.1 <= second_wait <= 10.0 + 1  # attempt 2: between 5 and 10 s
    assert job.attempts == 2


@pytest.mark.django_db
def test_retry_with_a_delay_waits_that_long_capped(handler):
    job = add("d")
    handler.outcomes = [jobs.Retry("HTTP 429", delay=7200)]
    before = timezone.now()
    jobs.run_due(worker_id="w")
    job.refresh_from_db()
    assert 599 <= (job.run_at - before).total_seconds() <= 601


@pytest.mark.django_db
def test_a_job_is_dead_after_max_attempts(handler):
    job = add("m", max_attempts=3)
    handler.outcomes = [jobs.Retry("HTTP 500")] * 3
    for _ in range(3):
        make_due(job)
        jobs.run_due(worker_id="w")
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("dead", 3)
    assert job.last_error == "HTTP 500 (after 3 attempts)"
    assert job.finished_at is not None
    make_due(job)
    assert jobs.run_due(worker_id="w") == 0
    assert len(handler.calls) == 3


@pytest.mark.django_db
def test_give_up_makes_a_dead_letter_at_once(handler):
    job = add("g")
    handler.outcomes = [jobs.GiveUp("HTTP 401")]
    jobs.run_due(worker_id="w")
    job.refresh_from_db()
    assert (job.state, job.attempts, job.last_error) == ("dead", 1, "HTTP 401")


@pytest.mark.django_db
def test_an_unexpected_error_is_retried_and_recorded_by_class_only(handler, caplog):
    job = add("u")
    handler.outcomes = [ValueError("payload text that must not be kept")]
    with caplog.at_level(logging.INFO, logger="peerchat.jobs"):
        jobs.run_due(worker_id="w")
    job.refresh_from_db()
    assert (job.state, job.last_error) == ("pending", "ValueError")
    assert "payload text" not in caplog.text
    assert f"job {job.pk} (test) attempt 1 raised ValueError" in caplog.text


# Leases -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_running_job_is_not_claimed_again_while_its_lease_holds(handler):
    add("l")
    assert services.claim(worker_id="w1") is not None
    assert services.claim(worker_id="w2") is None


@pytest.mark.django_db
def test_when_a_lease_runs_out_another_worker_takes_the_job(handler):
    job = add("l")
    claimed = services.claim(worker_id="w1")
    assert claimed.locked_until > timezone.now() + timedelta(seconds=59)
    Job.objects.filter(pk=job.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    retaken = services.claim(worker_id="w2")
    assert retaken.pk == job.pk
    assert (retaken.attempts, retaken.locked_by) == (2, "w2")
    assert retaken.last_error == "worker lost (lease ran out)"


@pytest.mark.django_db
def test_a_worker_presumed_dead_cannot_overwrite_the_newer_attempt(handler):
    job = add("s")
    stale = services.claim(worker_id="w1")
    Job.objects.filter(pk=job.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    fresh = services.claim(worker_id="w2")
    handler.outcomes = ["delivered by w2", jobs.GiveUp("HTTP 401")]
    assert services.execute(fresh, worker_id="w2") == "done"
    # The first worker comes back to life and finishes its old attempt: nothing is recorded.
    assert services.execute(stale, worker_id="w1") == "lost"
    job.refresh_from_db()
    assert (job.state, job.result, job.locked_by, job.attempts) == (
        "done",
        "delivered by w2",
        "w2",
        2,
    )


@pytest.mark.django_db
def test_a_lease_lost_on_the_last_attempt_makes_a_dead_letter(handler):
    job = add("x", max_attempts=1)
    services.claim(worker_id="w1")
    Job.objects.filter(pk=job.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert services.claim(worker_id="w2") is None
    job.refresh_from_db()
    assert (job.state, job.last_error) == ("dead", "worker lost during the last attempt")


# Admin --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_retries_dead_letters_and_audits_it(handler, client):
    admin = User.objects.create_superuser("root", password="a-long-admin-password")
    dead = add("dead", max_attempts=4)
    done = add("done")
    Job.objects.filter(pk=dead.pk).update(
        state=Job.State.DEAD, attempts=4, last_error="HTTP 401", finished_at=timezone.now()
    )
    Job.objects.filter(pk=done.pk).update(state=Job.State.DONE, attempts=1)
    client.force_login(admin)
    url = reverse("admin:jobs_job_changelist")

    listing = client.get(url, {"attention": "dead"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [Job.objects.get(pk=dead.pk)]

    response = client.post(
        url, {"action": "retry_selected", "_selected_action": [dead.pk, done.pk]}, follow=True
    )
    assert response.status_code == 200
    dead.refresh_from_db()
    assert (dead.state, dead.attempts, dead.max_attempts) == ("pending", 0, 4)
    assert dead.run_at <= timezone.now() and dead.finished_at is None
    assert Job.objects.get(pk=done.pk).state == Job.State.DONE  # a done job is left alone
    entry = AuditEntry.objects.get(action="job_retried")
    assert (entry.actor, entry.detail) == (admin, {"job": dead.pk, "kind": "test"})
    assert jobs.run_due(worker_id="w") == 1


@pytest.mark.django_db
def test_admin_shows_jobs_read_only(handler, client):
    admin = User.objects.create_superuser("root", password="a-long-admin-password")
    job = add("ro")
    client.force_login(admin)
    page = client.get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get(reverse("admin:jobs_job_add")).status_code == 403


# The worker command ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_worker_once_runs_what_is_due_and_exits(handler):
    add("w1")
    add("w2", "k")
    add("w3", "k")
    call_command("run_worker", "--once", "--id", "test-worker")
    assert set(Job.objects.values_list("state", flat=True)) == {"done"}
    assert set(Job.objects.values_list("locked_by", flat=True)) == {"test-worker"}
    assert [key for _, key, _ in handler.calls] == ["w1", "w2", "w3"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_run_topology_supervises_its_workers_and_they_run_jobs(tmp_path):
    topology = Topology(tmp_path, processes=1, workers=2)
    with topology:
        deadline = time.monotonic() + 20
        while len(topology.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # workers start once daphne answers /healthz
        first, second = topology.worker_pids()
        assert _alive(first) and _alive(second)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while first in topology.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        restarted = topology.worker_pids()
        assert first not in restarted and second in restarted
        assert all(_alive(pid) for pid in restarted)

        # The topology's workers run jobs enqueued by the application (here: an event the
        # email hook accepts and skips, so no mail server is needed).
        topology.manage(
            "shell",
            "-c",
            "from moderation.hooks import hooks_enqueue; hooks_enqueue(event_id='e1', "
            "event_type='escalation.opened', payload={}, ordering_key='escalation:1')",
        )
        database = sqlite3.connect(tmp_path / "db.sqlite3")
        deadline = time.monotonic() + 30
        hook_job = "SELECT state, result FROM jobs_job WHERE kind = 'hook'"
        while (row := database.execute(hook_job).fetchone()) != (
            "done",
            "skipped",
        ):
            assert time.monotonic() < deadline, (row, topology.log_path.read_text())
            time.sleep(0.1)
        database.close()
    assert not any(_alive(pid) for pid in restarted)  # stopped together with the supervisor


# PostgreSQL: many workers at once ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_run_each_job_once_and_in_order_postgres(handler):
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    keys = [f"chain{c}:{n}" for n in range(8) for c in range(10)]
    with transaction.atomic():
        for key in keys:
            add(key, key.split(":")[0])
    barrier = threading.Barrier(8)
    failures = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            while jobs.run_due(worker_id=f"t{i}", limit=5):
                pass
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    ran = [key for _, key, _ in handler.calls]
    assert sorted(ran) == sorted(keys)  # every job exactly once
    for chain in range(10):
        mine = [int(k.split(":")[1]) for k in ran if k.startswith(f"chain{chain}:")]
        assert mine == sorted(mine)
    assert len({worker for worker in Job.objects.values_list("locked_by", flat=True)}) > 1
