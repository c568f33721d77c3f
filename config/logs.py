"""Log formats: `plain` lines for people at a terminal, `json` objects for log collectors.

`LOG_FORMAT` (config/settings.py) picks one; docs/operations.md ("Logs") lists the fields.
"""

import json
import logging
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from a call's `extra`.
_RECORD_ATTRIBUTES = frozenset(
    set(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))) | {"message", "asctime"}
)
# Plain values are copied from `extra`; objects are left out whole. Django's request logger
# passes the HttpRequest as `request`, which holds the client's address and cookies.
_SCALARS = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, then the call's plain
    `extra` fields (`user`, `room`, `event`, …) and any exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            extra = key not in _RECORD_ATTRIBUTES and not key.startswith("_")
            if extra and key not in entry and isinstance(value, _SCALARS):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def user_ref(user) -> str:
    """How logs name a person: `u<database id>`, never a handle, username or email."""
    if user is None or getattr(user, "pk", None) is None:
        return "anonymous"
    return f"u{user.pk}"
