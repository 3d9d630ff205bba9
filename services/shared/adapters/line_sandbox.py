"""The sandbox LINE channel's outbox: one JSON object per would-be push, appended to a file.

LINE has no moto backend, so locally the messenger's LINE channel writes here instead of
calling LINE; the local stack (`ops.local.sandbox`) reads the file back. It lives on the
ground floor because the messenger writes it, and imports neither moto nor AWS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["LINE_SANDBOX_ENV", "record_line_message"]

LINE_SANDBOX_ENV = "KIZUNA_LINE_SANDBOX_FILE"
"""Environment variable naming the JSONL file the sandbox LINE channel appends to."""

_line_lock = threading.Lock()


def record_line_message(path: Path, to: str, body: str, raw: Mapping[str, Any]) -> None:
    """Append one would-be push (e.g. the request JSON) to the file: the LINE extension point."""
    line = json.dumps({"to": to, "body": body, "raw": dict(raw)}, ensure_ascii=False)
    with _line_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
