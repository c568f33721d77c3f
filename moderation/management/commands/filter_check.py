"""Check messages against the content filter: JSON lines in on stdin, JSON lines out.

    echo '{"id": 1, "text": "hello", "room_kind": "group"}' | manage.py filter_check
    {"id": 1, "action": "allow", "escalate": false, "categories": []}

One output line per input line, in order. A line that can't be checked gets
{"id": <its id, or null>, "error": "<why>"} and the run goes on. Empty lines are skipped.
"""

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

ROOM_KINDS = ("one_to_one", "group")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _lines(stream):
    """(line, None) for every line of `stream`, or (None, error) for a line that isn't UTF-8."""
    raw = getattr(stream, "buffer", None)
    if raw is None:
        for line in stream:
            yield line, None
        return
    for data in raw:
        try:
            yield data.decode("utf-8"), None
        except UnicodeDecodeError:
            yield None, "line is not valid UTF-8"


class Command(BaseCommand):
    help = (
        "Read JSON lines {id, text, room_kind} on stdin and write the filter's verdict on each "
        "as a JSON line {id, action, escalate, categories}; bad lines get {id, error}."
    )
    # call_command("filter_check", stdin=StringIO(...), stdout=...) in tests.
    stealth_options = ("stdin",)

    def handle(self, *args, **options):
        from moderation.filter.policy import current_filter

        stdin = options.get("stdin") or sys.stdin
        max_chars = settings.PEERCHAT["MESSAGE_MAX_CHARS"]
        check = current_filter().check
        for line, error in _lines(stdin):
            if line is not None and not line.strip():
                continue
            result = self._one(line, error, check, max_chars)
            # ensure_ascii: an id or error can't carry a lone surrogate into invalid output.
            self.stdout.write(json.dumps(result, ensure_ascii=True))

    def _one(self, line, error, check, max_chars) -> dict:
        if error:
            return {"id": None, "error": error}
        try:
            item = json.loads(line)
        except ValueError as exc:
            return {"id": None, "error": f"line is not JSON ({getattr(exc, 'msg', exc)})"}
        except RecursionError:
            return {"id": None, "error": "line is not JSON we can read (nested too deeply)"}
        if not isinstance(item, dict):
            return {"id": None, "error": "line is not a JSON object"}
        item_id = item.get("id")
        text = item.get("text")
        room_kind = item.get("room_kind")
        if room_kind is None:
            room_kind = "one_to_one"
        if "text" not in item:
            return {"id": item_id, "error": "text is missing"}
        if not isinstance(text, str):
            return {"id": item_id, "error": f"text must be a string, not {_json_type(text)}"}
        if room_kind not in ROOM_KINDS:
            return {
                "id": item_id,
                "error": f"room_kind must be one of {', '.join(ROOM_KINDS)}",
            }
        if len(text) > max_chars:
            return {
                "id": item_id,
                "error": f"text is longer than {max_chars} characters ({len(text)})",
            }
        if _has_lone_surrogate(text):
            return {"id": item_id, "error": "text contains an unpaired surrogate (not Unicode)"}
        try:
            verdict = check(text, room_kind=room_kind)
        except Exception as exc:  # noqa: BLE001 (one bad message must not end the run)
            return {
                "id": item_id,
                "error": f"the filter failed on this text ({type(exc).__name__})",
            }
        return {
            "id": item_id,
            "action": verdict.action,
            "escalate": bool(verdict.escalate),
            "categories": list(verdict.categories),
        }


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
