"""JSON logging that never writes personal data.

Lambda ships stdout to CloudWatch, where logs are kept long and read widely, so a
filter scrubs email addresses and phone numbers from every message and drops any
`extra` field whose name says it holds personal data.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

PERSONAL_FIELDS = frozenset(
    {
        "email",
        "phone",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "address",
        "line_user_id",
        "to",
        "recipient",
        "postal_code",
        "birthday",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Not inside ids: a digit run glued to letters, '-' or '.' (UUIDs, hashes, dates) is left alone.
_PHONE = re.compile(r"(?<![\w.-])\+?\d[\d\s().-]{7,}\d(?![\w.-])")
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """Remove anything that looks like an email address or phone number."""
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if key.lower() in PERSONAL_FIELDS:
                payload[key] = REDACTED
            elif isinstance(value, str):
                payload[key] = scrub(value)
            elif isinstance(value, int | float | bool) or value is None:
                payload[key] = value
            else:
                payload[key] = scrub(json.dumps(value, default=str, ensure_ascii=False))
        if record.exc_info and record.exc_info[0] is not None:
            # The exception class only: messages and tracebacks may quote personal data.
            payload["exception"] = record.exc_info[0].__name__
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str | None = None, stream: Any = None) -> None:
    """Route the `kizuna` loggers through the JSON formatter (idempotent).

    The level comes from `KIZUNA_LOG_LEVEL` (default INFO)."""
    level = level or os.environ.get("KIZUNA_LOG_LEVEL", "INFO")
    root = logging.getLogger("kizuna")
    if any(getattr(h, "_kizuna", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._kizuna = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("kizuna") else f"kizuna.{name}")
