"""Escalation hooks: signatures, the webhook against a real local receiver, email, enqueueing."""

import json
import logging
import time
import uuid

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from moderation.hooks import HookDelivery, HookGiveUp, HookRetry, hooks_enqueue, signing
from moderation.hooks import webhook as webhook_module
from moderation.hooks.checks import hooks_check
from moderation.hooks.email import EmailHook
from moderation.hooks.webhook import WebhookHook
from peerchat import jobs
from peerchat.jobs.models import Job
from tests.conftest import make_supporter
from tests.hook_receiver import Receiver, documented_verifier
from tests.servers import free_port

SECRET = "s" * 16 + uuid.uuid4().hex  # 48 characters
OTHER_SECRET = "o" * 40
EMAIL = "moderation.hooks.email.EmailHook"
WEBHOOK = "moderation.hooks.webhook.WebhookHook"


def event(event_type="escalation.opened", *, escalation=42, sequence=1, **changes) -> dict:
    payload = {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "sequence": sequence,
        "created_at": "2026-11-22T06:30:00Z",
        "escalation": {
            "id": escalation,
            "room": 7,
            "room_kind": "one_to_one",
            "kind": "filter",
            "state": "open",
            "stage": 0,
            "opened_at": "2026-11-22T06:30:00Z",
            "acknowledged_at": None,
            "acknowledged_by": None,
            "resolved_at": None,
            "outcome": None,
            "triggers": 1,
        },
        "console_url": f"https://chat.example.org/moderation/#escalation-{escalation}",
    }
    payload.update(changes)
    return payload


def delivery(payload: dict, *, hook="webhook", attempt=1) -> HookDelivery:
    return HookDelivery(
        event_id=payload["event_id"],
        event_type=payload["type"],
        payload=payload,
        attempt=attempt,
        key=f"hook:{hook}:{payload['event_id']}",
    )


# Signing ----------------------------------------------------------------------------------------

BODY = b'{"escalation":{"id":42},"type":"escalation.opened"}'


def test_a_signature_verifies_and_returns_its_timestamp():
    header = signing.sign(SECRET, BODY, 1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert signing.verify(SECRET, BODY, header, now=1_800_000_010) == 1_800_000_000


@pytest.mark.parametrize(
    ("now", "reason"),
    [(1_800_000_301, "too old"), (1_799_999_699, "too far in the future")],
)
def test_a_signature_outside_the_tolerance_is_refused(now, reason):
    header = signing.sign(SECRET, BODY, 1_800_000_000)
    with pytest.raises(signing.SignatureError, match=reason):
        signing.verify(SECRET, BODY, header, now=now)
    assert signing.verify(SECRET, BODY, header, now=now, tolerance=400) == 1_800_000_000


def test_a_tampered_body_or_wrong_secret_is_refused():
    header = signing.sign(SECRET, BODY, 1_800_000_000)
    with pytest.raises(signing.SignatureError, match="mismatch"):
        signing.verify(SECRET, BODY.replace(b"42", b"43"), header, now=1_800_000_000)
    with pytest.raises(signing.SignatureError, match="mismatch"):
        signing.verify(OTHER_SECRET, BODY, header, now=1_800_000_000)
    # Moving the timestamp breaks the signature too.
    moved = header.replace("t=1800000000", "t=1800000001")
    with pytest.raises(signing.SignatureError, match="mismatch"):
        signing.verify(SECRET, BODY, moved, now=1_800_000_000)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("nonsense", "garbled"),
        ("t=abc,v1=00", "bad timestamp"),
        ("v1=00", "no timestamp"),
        ("t=1800000000", "no v1"),
        ("t=1800000000,t=1800000000,v1=00", "bad timestamp"),
    ],
)
def test_a_missing_or_garbled_header_is_refused_with_a_reason(header, reason):
    with pytest.raises(signing.SignatureError, match=reason):
        signing.verify(SECRET, BODY, header, now=1_800_000_000)


def test_rotation_signs_with_each_secret_and_either_verifies():
    header = signing.sign([OTHER_SECRET, SECRET], BODY, 1_800_000_000)
    assert header.count("v1=") == 2
    assert signing.verify(SECRET, BODY, header, now=1_800_000_000)
    assert signing.verify(OTHER_SECRET, BODY, header, now=1_800_000_000)
    # A receiver that accepts old and new secrets takes a request signed with only one.
    single = signing.sign(SECRET, BODY, 1_800_000_000)
    assert signing.verify([OTHER_SECRET, SECRET], BODY, single, now=1_800_000_000)
    # Unknown schemes are ignored.
    assert signing.verify(SECRET, BODY, single + ",v0=abc", now=1_800_000_000)


def test_the_snippet_in_docs_hooks_md_agrees_with_the_signer():
    verify = documented_verifier()
    now = time.time()
    header = signing.sign(SECRET, BODY, int(now))
    assert verify(SECRET, BODY, header)
    assert not verify(SECRET, BODY + b" ", header)
    assert not verify(OTHER_SECRET, BODY, header)
    assert not verify(SECRET, BODY, header, now=now + 301)
    assert verify(SECRET, BODY, signing.sign([OTHER_SECRET, SECRET], BODY, int(now)))
    assert not verify(SECRET, BODY, "garbage")


# The webhook --------------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    running = Receiver(SECRET, free_port()).start()
    yield running
    running.stop()


def webhook_settings(url: str, **changes):
    config = {"URL": url, "SECRET": SECRET, "TIMEOUT_SECONDS": 1.0, **changes}
    return override_settings(ESCALATION_WEBHOOK=config)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"URL": ""}, "ESCALATION_WEBHOOK_URL"),
        ({"SECRET": ""}, "ESCALATION_WEBHOOK_SECRET of at least 32"),
        ({"SECRET": "short-secret"}, "ESCALATION_WEBHOOK_SECRET of at least 32"),
        ({"SECRET": f"{SECRET},too-short"}, "ESCALATION_WEBHOOK_SECRET of at least 32"),
    ],
)
def test_the_webhook_refuses_to_start_without_url_or_a_long_secret(changes, message):
    with (
        webhook_settings("https://alerts.example.org/hook", **changes),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        WebhookHook()


def test_the_webhook_posts_the_signed_body_with_its_headers(receiver):
    payload = event()
    with webhook_settings(receiver.url):
        assert WebhookHook().deliver(delivery(payload)) == "HTTP 200"
    [attempt] = receiver.attempts
    assert attempt.signature_ok
    assert attempt.body == json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    assert attempt.key == payload["event_id"]
    assert attempt.event_type == "escalation.opened"
    assert signing.verify(SECRET, attempt.body, attempt.signature)
    assert receiver.processed == [payload]


def test_each_attempt_is_signed_afresh_with_the_same_body_and_key(receiver, monkeypatch):
    payload = event()
    clock = iter([int(time.time()) - 30, int(time.time())])
    monkeypatch.setattr(webhook_module, "_unix_time", lambda: next(clock))
    with webhook_settings(receiver.url):
        hook = WebhookHook()
        hook.deliver(delivery(payload, attempt=1))
        hook.deliver(delivery(payload, attempt=2))
    first, second = receiver.attempts
    assert first.body == second.body and first.key == second.key
    assert first.signature != second.signature
    assert (
        signing.verify(SECRET, second.body, second.signature)
        - signing.verify(SECRET, first.body, first.signature)
        == 30
    )
    assert receiver.duplicates == [payload["event_id"]]  # the receiver processed it once


def test_the_webhook_headers_are_exactly_these(receiver):
    seen = {}
    original = receiver.handle

    def capture(request):
        seen.update({k.lower(): v for k, v in request.headers.items()})
        original(request)

    receiver.handle = capture
    payload = event("escalation.acknowledged")
    with webhook_settings(receiver.url):
        WebhookHook().deliver(delivery(payload))
    assert seen["content-type"] == "application/json"
    assert seen["user-agent"] == "peerchat-hooks/1"
    assert seen["peerchat-event"] == "escalation.acknowledged"
    assert seen["idempotency-key"] == payload["event_id"]
    assert seen["peerchat-signature"].startswith("t=")


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "reason", "delay"),
    [
        (500, {}, HookRetry, "HTTP 500", None),
        (503, {"Retry-After": "7"}, HookRetry, "HTTP 503", 7.0),
        (408, {}, HookRetry, "HTTP 408", None),
        (429, {"Retry-After": "12"}, HookRetry, "HTTP 429", 12.0),
        (401, {}, HookGiveUp, "HTTP 401", None),
        (404, {}, HookGiveUp, "HTTP 404", None),
        (410, {}, HookGiveUp, "HTTP 410", None),
    ],
)
def test_the_answer_decides_retry_or_give_up(receiver, status, headers, outcome, reason, delay):
    receiver.mode, receiver.status, receiver.headers = "status", status, headers
    with webhook_settings(receiver.url), pytest.raises(outcome) as raised:
        WebhookHook().deliver(delivery(event()))
    assert raised.value.reason == reason
    if outcome is HookRetry:
        assert raised.value.delay == delay


def test_redirects_are_never_followed(receiver):
    receiver.mode, receiver.status = "status", 302
    receiver.headers = {"Location": receiver.url + "/elsewhere"}
    with webhook_settings(receiver.url), pytest.raises(HookGiveUp, match="302"):
        WebhookHook().deliver(delivery(event()))
    assert len(receiver.attempts) == 1


def test_a_slow_receiver_is_a_timeout_to_retry(receiver):
    receiver.mode, receiver.delay = "slow", 1.5
    started = time.monotonic()
    with (
        webhook_settings(receiver.url, TIMEOUT_SECONDS=0.5),
        pytest.raises(HookRetry, match="timeout"),
    ):
        WebhookHook().deliver(delivery(event()))
    assert time.monotonic() - started < 1.4


def test_a_refused_connection_is_retried():
    with (
        webhook_settings(f"http://127.0.0.1:{free_port()}/hooks"),
        pytest.raises(HookRetry, match="connection failed"),
    ):
        WebhookHook().deliver(delivery(event()))


@pytest.mark.django_db
def test_a_401_through_the_worker_leaves_a_dead_letter_saying_so(receiver):
    receiver.mode, receiver.status = "status", 401
    with webhook_settings(receiver.url), override_settings(ESCALATION_HOOKS=[WEBHOOK]):
        [job] = hooks_enqueue(
            event_id=str(uuid.uuid4()),
            event_type="escalation.opened",
            payload=event(),
            ordering_key="escalation:42",
        )
        jobs.run_due(worker_id="w")
    job.refresh_from_db()
    assert (job.state, job.attempts, job.last_error) == ("dead", 1, "HTTP 401")


# Enqueueing for every hook -------------------------------------------------------------------


@pytest.mark.django_db
def test_hooks_enqueue_adds_one_job_per_hook_with_keys_and_order():
    payload = event()
    with (
        webhook_settings("https://alerts.example.org/hook"),
        override_settings(ESCALATION_HOOKS=[EMAIL, WEBHOOK]),
    ):
        created = hooks_enqueue(
            event_id=payload["event_id"],
            event_type="escalation.opened",
            payload=payload,
            ordering_key="escalation:42",
        )
        again = hooks_enqueue(
            event_id=payload["event_id"],
            event_type="escalation.opened",
            payload=payload,
            ordering_key="escalation:42",
        )
    assert [job.pk for job in again] == [job.pk for job in created]
    assert Job.objects.count() == 2
    email_job, webhook_job = created
    assert (email_job.kind, email_job.key, email_job.ordering_key) == (
        "hook",
        f"hook:email:{payload['event_id']}",
        "hook:email:escalation:42",
    )
    assert webhook_job.key == f"hook:webhook:{payload['event_id']}"
    assert webhook_job.ordering_key == "hook:webhook:escalation:42"
    assert Job.objects.get(pk=webhook_job.pk).payload == {
        "hook": "webhook",
        "event_id": payload["event_id"],
        "event_type": "escalation.opened",
        "body": payload,
    }


@pytest.mark.django_db
def test_a_hook_that_cannot_be_loaded_does_not_stop_the_others(caplog):
    payload = event()
    with override_settings(ESCALATION_HOOKS=["moderation.hooks.nowhere.Hook", EMAIL]):
        created = hooks_enqueue(
            event_id=payload["event_id"],
            event_type="escalation.opened",
            payload=payload,
            ordering_key="escalation:42",
        )
    assert [job.key for job in created] == [f"hook:email:{payload['event_id']}"]
    assert "moderation.hooks.nowhere.Hook cannot be loaded" in caplog.text


@pytest.mark.django_db
def test_a_delivery_for_a_hook_no_longer_configured_is_a_dead_letter():
    payload = event()
    with override_settings(ESCALATION_HOOKS=[EMAIL]):
        [job] = hooks_enqueue(
            event_id=payload["event_id"],
            event_type="escalation.renotified",
            payload=payload,
            ordering_key="escalation:42",
        )
    with override_settings(ESCALATION_HOOKS=[]):
        jobs.run_due(worker_id="w")
    job.refresh_from_db()
    assert (job.state, job.last_error) == ("dead", "hook 'email' is no longer configured")


# Start-up checks -------------------------------------------------------------------------------


def test_checks_report_a_misconfigured_hook_and_a_short_lease():
    worker = {
        "POLL_SECONDS": 0.5,
        "LEASE_SECONDS": 60.0,
        "RETRY_BASE_SECONDS": 5.0,
        "RETRY_MAX_SECONDS": 600.0,
        "MAX_ATTEMPTS": 15,
    }
    with override_settings(ESCALATION_HOOKS=[EMAIL], WORKER=worker):
        assert hooks_check() == []
    with webhook_settings(""), override_settings(ESCALATION_HOOKS=[WEBHOOK], WORKER=worker):
        [error] = hooks_check()
        assert error.id == "hooks.E004" and "ESCALATION_WEBHOOK_URL" in error.msg
    with (
        webhook_settings("https://a.example.org/", TIMEOUT_SECONDS=30),
        override_settings(ESCALATION_HOOKS=[WEBHOOK], WORKER=worker),
    ):
        [error] = hooks_check()
        assert error.id == "hooks.E005" and "WORKER_LEASE_SECONDS (60)" in error.msg
    with override_settings(ESCALATION_HOOKS=["nowhere.Hook", EMAIL, EMAIL]):
        assert [e.id for e in hooks_check()] == ["hooks.E001", "hooks.E003"]


# Email ------------------------------------------------------------------------------------------


@pytest.fixture
def moderators(db):
    from peerchat.models import User
    from peerchat.services.users import staff_user_upsert

    made = []
    for name, email, active in [
        ("mod-a", "a@example.org", True),
        ("mod-b", "b@example.org", True),
        ("mod-c", "", True),
        ("mod-d", "d@example.org", False),
    ]:
        user = staff_user_upsert(
            username=name,
            role=User.Role.MODERATOR,
            password="a-long-test-password",
            handle=name.title(),
        )
        User.objects.filter(pk=user.pk).update(email=email, is_active=active)
        made.append(user)
    supporter = make_supporter("sup-e")
    User.objects.filter(pk=supporter.pk).update(email="e@example.org")
    return made


ON_CALL = override_settings(
    ESCALATION_EMAIL={
        "EVENTS": {"escalation.renotified": ["moderators"], "escalation.on_call": ["on_call"]},
        "ON_CALL": ["oncall@example.org", "second@example.org"],
    },
    DEFAULT_FROM_EMAIL="Peerchat <alerts@chat.example.org>",
)


@pytest.mark.django_db
def test_renotified_emails_every_active_moderator_with_an_address(moderators):
    payload = event("escalation.renotified", stage=1)
    with ON_CALL:
        assert EmailHook().deliver(delivery(payload, hook="email")) == "sent to 2"
    [message] = mail.outbox
    assert message.bcc == ["a@example.org", "b@example.org"]
    assert message.to == []
    assert message.subject == "Escalation #42 is waiting for a moderator"
    assert "Escalation: #42" in message.body
    assert "Room: #7 (one-to-one chat)" in message.body
    assert "https://chat.example.org/moderation/#escalation-42" in message.body
    assert "State: open" in message.body
    for moderator in moderators:
        assert moderator.handle not in message.body


@pytest.mark.django_db
def test_on_call_emails_the_on_call_list(moderators):
    payload = event("escalation.on_call")
    with ON_CALL:
        EmailHook().deliver(delivery(payload, hook="email"))
    [message] = mail.outbox
    assert message.bcc == ["oncall@example.org", "second@example.org"]
    assert "on-call" in message.subject


@pytest.mark.django_db
def test_other_events_are_accepted_and_skipped(moderators):
    with ON_CALL:
        for event_type in [
            "escalation.opened",
            "escalation.trigger_added",
            "escalation.acknowledged",
            "escalation.resolved",
        ]:
            assert EmailHook().deliver(delivery(event(event_type), hook="email")) == "skipped"
    assert mail.outbox == []


@pytest.mark.django_db
def test_nobody_to_write_to_is_recorded_and_logged(caplog):
    with (
        override_settings(
            ESCALATION_EMAIL={"EVENTS": {"escalation.on_call": ["on_call"]}, "ON_CALL": []}
        ),
        caplog.at_level(logging.WARNING),
    ):
        result = EmailHook().deliver(delivery(event("escalation.on_call"), hook="email"))
    assert result == "no recipients"
    assert "nobody to write to about escalation.on_call" in caplog.text


@pytest.mark.django_db
def test_a_retried_email_keeps_its_message_id(moderators):
    payload = event("escalation.renotified")
    with ON_CALL:
        EmailHook().deliver(delivery(payload, hook="email", attempt=1))
        EmailHook().deliver(delivery(payload, hook="email", attempt=2))
    first, second = mail.outbox
    expected = f"<hook.email.{payload['event_id']}@chat.example.org>"
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"] == expected
    assert first.message()["Message-ID"] == expected


@pytest.mark.django_db
def test_an_email_escalation_event_goes_through_the_worker_end_to_end(moderators):
    payload = event("escalation.renotified")
    with ON_CALL, override_settings(ESCALATION_HOOKS=[EMAIL]):
        hooks_enqueue(
            event_id=payload["event_id"],
            event_type=payload["type"],
            payload=payload,
            ordering_key="escalation:42",
        )
        assert jobs.run_due(worker_id="w") == 1
    job = Job.objects.get()
    assert (job.state, job.result) == ("done", "sent to 2")
    assert len(mail.outbox) == 1
    assert job.finished_at <= timezone.now()
