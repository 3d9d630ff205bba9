"""The journal of the local state: requests replayed into a fresh moto after a snapshot.

moto has no persistence; its recorder appends every request it serves to a JSONL file
and can replay that file into a fresh server. Replaying everything would be wrong for
the local stack: the pollers' ReceiveMessage/DeleteMessage calls would consume events
again, and replayed PutEvents would deliver events a second time (their effects are
already in the recorded DynamoDB writes). So the stack records only requests that change
state and are not event plumbing, and compacts older recordings the same way on start.

DynamoDB requests are not moto's recorder's to write: it records a request *before*
moto applies it, so a request killed before its answer (or refused) would be replayed as
if it had happened. They are journaled by `ops.local.moto_dynamodb` after they were
applied, in the recorder's format, into the same file (`journal_entry`). A snapshot
(`ops.local.persistence`) then holds every table, and `compact_recording(...,
after_snapshot=True)` drops what the snapshot holds, so a restart replays only what came
after it.
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
_DYNAMODB_TARGET = "DynamoDB_"
_SANDBOX_SENDS = frozenset({"SendEmail", "SendRawEmail", "Publish"})
"""Mail and SMS a snapshot archives (the sandbox list), so they are not replayed after it."""
_SESV2_SEND_PATH = "/v2/email/outbound-emails"

_file_lock = threading.Lock()
"""One writer at a time for the recording file: moto's recorder and the DynamoDB journal."""


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


def _skipped(action: str | None, url: str, target: str | None = None) -> bool:
    if "/moto-api/" in url:
        return True
    if target is not None and target.startswith(_DYNAMODB_TARGET):
        return True  # journaled after it was applied, see journal_entry
    if action is None:
        return False  # REST-style APIs (SES v2): kept, replaying them is harmless
    return action in _SKIPPED_ACTIONS or action.startswith(_READ_PREFIXES)


def _text_body(entry: Mapping[str, Any]) -> str | None:
    body = entry.get("body")
    if entry.get("body_encoded") and isinstance(body, str):
        import base64

        try:
            return base64.b64decode(body).decode("utf-8", errors="replace")
        except ValueError:
            return None
    return body if isinstance(body, str) else None


def _in_snapshot(entry: Mapping[str, Any]) -> bool:
    """Whether a snapshot holds this request's effect: DynamoDB writes, mail and SMS sent."""
    headers = entry.get("headers") or {}
    target = _header(headers, "X-Amz-Target") or ""
    if target.startswith(_DYNAMODB_TARGET):
        return True
    if _SESV2_SEND_PATH in str(entry.get("url", "")):
        return True
    return request_action(headers, _text_body(entry)) in _SANDBOX_SENDS


def journal_entry(handler: Any) -> dict[str, Any]:
    """A DynamoDB request moto applied, in the recorder's format (so it replays alike)."""
    body = handler.raw_body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return {
        "headers": {k: str(v) for k, v in dict(handler.headers).items()},
        "method": handler.method,
        "url": handler.uri,
        "body": body or "",
        "body_encoded": False,
    }


def append_entry(path: Path, entry: Mapping[str, Any]) -> None:
    """Append one request to the recording, flushed before the request is answered."""
    line = json.dumps(entry)
    with _file_lock, path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()


def is_replayable(entry: Mapping[str, Any]) -> bool:
    """Whether a recorded request should be replayed into a fresh server (DynamoDB requests
    in the file were journaled after they were applied, so they are)."""
    headers = entry.get("headers") or {}
    return not _skipped(request_action(headers, _text_body(entry)), str(entry.get("url", "")))


@dataclass(frozen=True)
class CompactResult:
    """What compaction kept and dropped (counts only: the lines hold personal data)."""

    kept: int
    dropped: int
    corrupt: int


def compact_recording(path: Path, *, after_snapshot: bool = False) -> CompactResult:
    """Rewrite the recording with only replayable requests; unreadable lines are dropped.

    With `after_snapshot`, also drop what a snapshot just taken holds (call it while no
    DynamoDB call can run, see `moto_dynamodb.exclusive`)."""
    with _file_lock:
        return _compact(path, after_snapshot)


def _compact(path: Path, after_snapshot: bool) -> CompactResult:
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
        if (
            isinstance(entry, dict)
            and is_replayable(entry)
            and not (after_snapshot and _in_snapshot(entry))
        ):
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
        url = str(getattr(request, "raw_url", "") or request.path)
        if _skipped(action, url, str(target) if target else None):
            return
        with _file_lock:
            original(request, body)

    recorder._record_request = record
    recorder._kizuna_filtered = True
