"""Keep local state across restarts with moto's request recorder.

moto has no persistence; its recorder appends every request it serves to a JSONL file
and can replay that file into a fresh server. Replaying everything would be wrong for
the local stack: the pollers' ReceiveMessage/DeleteMessage calls would consume events
again, and replayed PutEvents would deliver events a second time (their effects are
already in the recorded DynamoDB writes). So the stack records only requests that change
state and are not event plumbing, and compacts older recordings the same way on start.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

__all__ = [
    "CompactResult",
    "compact_recording",
    "install_record_filter",
    "is_replayable",
    "request_action",
]

logger = logging.getLogger("kizuna.local")

_SKIPPED_ACTIONS = frozenset(
    {
        # SQS consumption: the pollers redo it after a restart, on messages still queued.
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "PurgeQueue",
        # EventBridge deliveries: their effects are already in the recorded writes.
        "PutEvents",
        # Reads that change nothing.
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)
_READ_PREFIXES = ("Get", "List", "Describe")


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value)
    return None


def request_action(headers: Mapping[str, Any], body: str | None) -> str | None:
    """The API action of a recorded request: from `X-Amz-Target` (JSON) or `Action=` (query)."""
    target = _header(headers, "X-Amz-Target")
    if target:
        return target.rpartition(".")[2]
    if body and "Action=" in body:
        actions = parse_qs(body).get("Action")
        if actions:
            return actions[0]
    return None


def _skipped(action: str | None, url: str) -> bool:
    if "/moto-api/" in url:
        return True
    if action is None:
        return False  # REST-style APIs (SES v2): kept, replaying them is harmless
    return action in _SKIPPED_ACTIONS or action.startswith(_READ_PREFIXES)


def is_replayable(entry: Mapping[str, Any]) -> bool:
    """Whether a recorded request should be replayed into a fresh server."""
    body = entry.get("body")
    text: str | None = body if isinstance(body, str) and not entry.get("body_encoded") else None
    if entry.get("body_encoded") and isinstance(body, str):
        import base64

        try:
            text = base64.b64decode(body).decode("utf-8", errors="replace")
        except ValueError:
            text = None
    headers = entry.get("headers") or {}
    return not _skipped(request_action(headers, text), str(entry.get("url", "")))


@dataclass(frozen=True)
class CompactResult:
    """What compaction kept and dropped (counts only: the lines hold personal data)."""

    kept: int
    dropped: int
    corrupt: int


def compact_recording(path: Path) -> CompactResult:
    """Rewrite the recording with only replayable requests; unreadable lines are dropped."""
    if not path.exists():
        return CompactResult(0, 0, 0)
    kept: list[str] = []
    dropped = corrupt = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            corrupt += 1
            continue
        if isinstance(entry, dict) and is_replayable(entry):
            kept.append(line)
        else:
            dropped += 1
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    tmp.replace(path)
    return CompactResult(len(kept), dropped, corrupt)


def install_record_filter(recorder: Any) -> None:
    """Wrap moto's recorder so it skips event plumbing and writes one request at a time.

    moto's server is threaded and the recorder appends without a lock, so concurrent
    large requests could interleave in the file; pollers would also add a line per poll.
    The wrapper is an instance attribute, installed once per process.
    """
    if getattr(recorder, "_kizuna_filtered", False):
        return
    original = recorder._record_request
    lock = threading.Lock()

    def record(request: Any, body: bytes | None = None) -> None:
        if not recorder._user_enabled:
            return
        headers = request.headers
        target = headers.get("X-Amz-Target")
        action = str(target).rpartition(".")[2] if target else None
        if action is None and request.method == "POST":
            content_type = str(headers.get("Content-Type", ""))
            if content_type.startswith("application/x-www-form-urlencoded"):
                action = request.args.get("Action") or None
        if _skipped(action, str(getattr(request, "raw_url", "") or request.path)):
            return
        with lock:
            original(request, body)

    recorder._record_request = record
    recorder._kizuna_filtered = True
