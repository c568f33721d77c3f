"""manage.py filter_check (JSON lines in and out) and filter_report (the corpus report)."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command

from moderation.filter.evaluation import load_cases

pytestmark = pytest.mark.django_db


def _run_check(lines) -> list[dict]:
    stdin = io.StringIO("".join(line + "\n" for line in lines))
    out = io.StringIO()
    call_command("filter_check", stdin=stdin, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_filter_check_answers_every_line_in_order_and_survives_bad_ones():
    max_chars = settings.PEERCHAT["MESSAGE_MAX_CHARS"]
    lines = [
        json.dumps({"id": "ok-1", "text": "had a nice walk today", "room_kind": "one_to_one"}),
        "this is not json",
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "number-text", "text": 42}),
        json.dumps({"id": "bad-room", "text": "hello", "room_kind": "lobby"}),
        json.dumps({"id": "too-long", "text": "a" * (max_chars + 1)}),
        '{"id": "surrogate", "text": "\\ud800"}',
        json.dumps({"id": "rtl", "text": "\u202eolleh there"}),
        json.dumps({"id": "combining", "text": "a" + "\u0301" * 500}),
        json.dumps({"id": "empty", "text": ""}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "group", "text": "see you all next week", "room_kind": "group"}),
        json.dumps({"id": 7, "text": "null room kind", "room_kind": None}),
        "[" * 100_000,
        json.dumps({"id": "last", "text": "bye for now"}),
    ]
    results = _run_check(lines)
    assert len(results) == len(lines)
    by_id = {r["id"]: r for r in results if r["id"] is not None}
    assert [r["id"] for r in results] == [
        "ok-1",
        None,
        "no-text",
        "number-text",
        "bad-room",
        "too-long",
        "surrogate",
        "rtl",
        "combining",
        "empty",
        None,
        "group",
        7,
        None,
        "last",
    ]
    for verdict_id in ("ok-1", "rtl", "combining", "empty", "group", 7, "last"):
        verdict = by_id[verdict_id]
        assert "error" not in verdict, verdict
        assert set(verdict) == {"id", "action", "escalate", "categories"}
        assert isinstance(verdict["escalate"], bool)
        assert isinstance(verdict["categories"], list)
    assert by_id["empty"]["action"] == "allow"
    assert by_id["empty"]["escalate"] is False
    for error_id, fragment in [
        ("no-text", "missing"),
        ("number-text", "string"),
        ("bad-room", "room_kind"),
        ("too-long", str(max_chars)),
        ("surrogate", "surrogate"),
    ]:
        assert set(by_id[error_id]) == {"id", "error"}
        assert fragment in by_id[error_id]["error"]
    assert "JSON" in results[1]["error"]
    assert "object" in results[10]["error"]
    assert "error" in results[13]


def test_filter_check_skips_blank_lines_and_defaults_to_one_to_one():
    results = _run_check(["", json.dumps({"id": 1, "text": "hello"}), "   "])
    assert len(results) == 1
    assert results[0]["id"] == 1 and "action" in results[0]


def test_filter_check_reads_bytes_and_reports_invalid_utf8():
    data = (
        json.dumps({"id": "a", "text": "hello"}).encode()
        + b"\n"
        + b'{"id": "b", "text": "\xff\xfe"}\n'
        + json.dumps({"id": "c", "text": "caf\u00e9"}, ensure_ascii=False).encode()
        + b"\n"
    )
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    out = io.StringIO()
    call_command("filter_check", stdin=stdin, stdout=out)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("id") for r in results] == ["a", None, "c"]
    assert "UTF-8" in results[1]["error"]
    assert "action" in results[2]


def test_filter_check_agrees_with_check():
    from moderation.filter import check

    sample = load_cases()[::25]
    lines = [
        json.dumps({"id": c["id"], "text": c["text"], "room_kind": c["room_kind"]}) for c in sample
    ]
    results = _run_check(lines)
    for case, result in zip(sample, results, strict=True):
        verdict = check(case["text"], room_kind=case["room_kind"])
        assert result == {
            "id": case["id"],
            "action": verdict.action,
            "escalate": verdict.escalate,
            "categories": list(verdict.categories),
        }


def test_filter_report_prints_ids_not_texts():
    out = io.StringIO()
    call_command("filter_report", "--disguise", "upper", stdout=out)
    table = out.getvalue()
    assert "precision" in table and "recall" in table and "FPR" in table
    assert "scunthorpe" in table and "upper" in table
    long_texts = [c["text"] for c in load_cases() if len(c["text"]) > 30]
    assert not [t for t in long_texts if t in table]


def test_filter_report_json_and_show_text():
    out = io.StringIO()
    call_command("filter_report", "--json", "--no-disguises", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report["categories"]) == {
        "method",
        "encouragement",
        "graphic",
        "contact",
        "imminent",
        "links",
    }
    assert report["disguise_recall"] == {}
    assert "scunthorpe" in report["negative_fpr"]
    assert all("text" not in f for f in report["failures"])

    out = io.StringIO()
    call_command("filter_report", "--json", "--no-disguises", "--show-text", stdout=out)
    shown = json.loads(out.getvalue())
    assert all(isinstance(f["text"], str) for f in shown["failures"])
    assert len(shown["failures"]) == len(report["failures"])
