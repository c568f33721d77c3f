"""Logs: the JSON format parses and carries its fields, and nothing a person typed or is
called ever reaches a log line, whatever happens to their messages."""

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from config.logs import JsonFormatter
from peerchat import consumers, jobs
from peerchat.models import Message, SupportSession
from tests.factories import ask, on_shift_supporter
from tests.wsclient import open_socket

ROOT = Path(__file__).resolve().parent.parent


def record(message="closing socket of user %s", *args, exc_info=None, **extra):
    logger = logging.getLogger("peerchat.consumers")
    return logger.makeRecord(
        logger.name, logging.WARNING, __file__, 1, message, args or ("u7",), exc_info, extra=extra
    )


# The JSON formatter ---------------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields():
    line = JsonFormatter().format(record(event="socket_rate_closed", user="u7", room=12))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert {key: entry[key] for key in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "peerchat.consumers",
        "message": "closing socket of user u7",
    }
    assert (entry["event"], entry["user"], entry["room"]) == ("socket_rate_closed", "u7", 12)


def test_objects_passed_as_extra_are_left_out():
    """Django's request logger passes the request, which holds the client's address."""

    class Request:
        META = {"REMOTE_ADDR": "203.0.113.9"}

        def __str__(self):
            return "203.0.113.9"

    entry = json.loads(JsonFormatter().format(record(request=Request(), status_code=404)))
    assert "request" not in entry and "203.0.113.9" not in json.dumps(entry)
    assert entry["status_code"] == 404


def test_a_traceback_stays_inside_one_line():
    try:
        raise RuntimeError("broken")
    except RuntimeError:
        line = JsonFormatter().format(record(exc_info=sys.exc_info()))
    assert "\n" not in line
    assert "RuntimeError: broken" in json.loads(line)["exception"]


def _run_with(log_format: str) -> subprocess.CompletedProcess:
    code = (
        "import django, logging; django.setup(); logging.getLogger('peerchat.test').warning("
        "'hello %s', 'u1', extra={'event': 'test_event', 'user': 'u1'})"
    )
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": "sqlite:///:memory:",
        "LOG_FORMAT": log_format,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_json_writes_one_object_per_line():
    result = _run_with("json")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "peerchat.test" in line]
    entry = json.loads(line)
    assert (entry["message"], entry["event"], entry["user"]) == ("hello u1", "test_event", "u1")


def test_log_format_plain_is_the_default_and_anything_else_is_refused():
    plain = _run_with("plain")
    assert plain.returncode == 0, plain.stderr
    assert " WARNING peerchat.test hello u1" in plain.stderr
    wrong = _run_with("xml")
    assert wrong.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json'" in wrong.stderr


# What never reaches a log ---------------------------------------------------------------------

HELD_LINK = "https://unlisted.example/"
IMMINENT = "im going to do it tonight"


def _chat() -> SupportSession:
    on_shift_supporter(f"logs-{uuid.uuid4().hex[:6]}", handle=f"Robin{uuid.uuid4().hex[:6]}")
    seeker, _, _ = ask()
    return SupportSession.objects.select_related("seeker", "supporter").get(seeker=seeker)


def send(room_id: int, body: str) -> dict:
    return {"type": "send", "room": room_id, "client_msg_id": str(uuid.uuid4()), "body": body}


async def frames_until(socket, frame_type: str, limit: int = 12) -> dict:
    for _ in range(limit):
        frame = await socket.recv()
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type} frame")


@pytest.mark.django_db(transaction=True)
async def test_no_log_line_holds_a_message_body_a_handle_or_a_note(caplog, monkeypatch):
    sentinel = f"sentinel{uuid.uuid4().hex}"
    session = await database_sync_to_async(_chat)()
    room = session.room_id
    secrets = {
        sentinel,
        session.seeker.handle,
        session.supporter.handle,
        session.supporter.username,
    }
    caplog.set_level(logging.DEBUG)  # every logger, the project's and Django's

    seeker = await open_socket(session.seeker)
    supporter = await open_socket(session.supporter)
    await seeker.join(room)
    await supporter.join(room)

    # Delivered, held by the filter, escalating, and an escalation asked for with a note.
    await seeker.send(send(room, f"hello {sentinel}"))
    assert (await frames_until(seeker, "ack"))["status"] == "delivered"
    await seeker.send(send(room, f"look at {HELD_LINK}{sentinel}"))
    assert (await frames_until(seeker, "ack"))["status"] == "held"
    await seeker.send(send(room, f"{IMMINENT} {sentinel}"))
    assert (await frames_until(seeker, "ack"))["status"] == "delivered"
    await supporter.send({"type": "escalate", "room": room, "note": f"worried {sentinel}"})
    await frames_until(supporter, "escalated")
    # A frame the server cannot parse, and one that fails on the server's side.
    await seeker.send(f'{{"type": "send", "body": "{sentinel}"')
    assert (await frames_until(seeker, "error"))["code"] == "invalid_json"

    def broken(**kwargs):
        raise RuntimeError("the filter is not answering")

    monkeypatch.setattr(consumers, "message_send", broken)
    await seeker.send(send(room, f"again {sentinel}"))
    assert (await frames_until(seeker, "error"))["code"] == "server_error"
    await database_sync_to_async(jobs.run_due)(worker_id="test-worker")
    await seeker.close()
    await supporter.close()

    stored = await database_sync_to_async(
        lambda: list(Message.objects.filter(room_id=room).values_list("body", flat=True))
    )()
    assert sum(sentinel in body for body in stored) == 3  # what was logged about was real
    lines = [JsonFormatter().format(r) for r in caplog.records]
    plain = [logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records]
    failed = [json.loads(line) for line in lines if '"frame_failed"' in line]
    assert [(f["user"], f["frame"], f["room"]) for f in failed] == [
        (f"u{session.seeker_id}", "send", room)
    ]
    for line in lines + plain:
        for secret in secrets:
            assert secret not in line, line
