"""Snapshots of the local state, so a restart replays only what came after the last one.

A stack with a state folder keeps there:

- `snapshot.json.gz`: every DynamoDB table's items, a consistent cut (no DynamoDB call
  runs while it is taken), one JSON line `{"table": ..., "item": ...}` per item, written
  and read one item at a time;
- `moto-recording.jsonl`: the journal, requests since the snapshot
  (see `ops.local.recording`);
- `pending-events.jsonl`: events that sat in the functions' queues at the snapshot, sent
  again on start;
- `sandbox-archive.jsonl`: mail and SMS sent before the snapshot (what
  `kizuna local sandbox` lists).

The stack takes a snapshot when it stops and every few minutes while it runs. A start
loads the snapshot straight into moto's backend (no HTTP, no copy per item), replays the
journal, and re-sends the pending events: handlers are idempotent on the event id, so an
event handled after the snapshot and sent again changes nothing.

moto internals read here (moto 5.2.5, pinned): `dynamodb_backends[account][region].tables`
with `Table.put_item(attrs)`, and each table's items as JSON through
`moto_dynamodb.stored_items_json` (the form they rest in); and
`sqs_backends[account][region].queues[name]._messages` with `Message.body`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ops.local import moto_dynamodb
from ops.local.sandbox import SandboxMessage

SNAPSHOT_FILE = "snapshot.json.gz"
PENDING_FILE = "pending-events.jsonl"
ARCHIVE_FILE = "sandbox-archive.jsonl"


def _dynamodb(account: str, region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def write_snapshot(path: Path, account: str, region: str) -> int:
    """Every table's items into `path` (atomically); the number of items. Call it inside
    `moto_dynamodb.exclusive()` together with the journal's compaction."""
    backend = _dynamodb(account, region)
    return _write_lines(
        path,
        (
            (name, attrs)
            for name, table in backend.tables.items()
            for attrs in moto_dynamodb.stored_items_json(table)
        ),
    )


def write_items(path: Path, items: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """(table, item) pairs into a snapshot file, one JSON line each, streamed (a shop's
    history as one JSON document was several times its items' size in memory at every
    snapshot and every start); the number written."""
    return _write_lines(
        path,
        (
            (name, json.dumps(attrs, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            for name, attrs in items
        ),
    )


def _write_lines(path: Path, items: Iterable[tuple[str, bytes]]) -> int:
    """(table, the item's JSON) pairs as the snapshot's lines, into `path` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    written = 0
    names: dict[str, bytes] = {}
    with tmp.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as zipped:
            buffer = io.BufferedWriter(zipped, buffer_size=1 << 20)
            for name, attrs in items:
                if name not in names:
                    names[name] = b'{"table":' + json.dumps(name).encode("utf-8") + b',"item":'
                buffer.write(names[name] + attrs + b"}\n")
                written += 1
            buffer.flush()
        raw.flush()
        os.fsync(raw.fileno())
    tmp.replace(path)
    return written


def read_items(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (table, item) pairs of a snapshot file, one at a time; also reads the first
    format (one JSON document `{"tables": {name: [item, ...]}}`)."""
    with gzip.open(path, "rb") as lines:
        for line in lines:
            entry = json.loads(line)
            if "tables" in entry:  # the first format: the whole file was this one line
                for name, items in entry["tables"].items():
                    for attrs in items:
                        yield name, attrs
                continue
            yield entry["table"], entry["item"]


def load_snapshot(path: Path, account: str, region: str) -> int:
    """Put the snapshot's items into the tables that exist, one decoded item at a time;
    the number of items loaded."""
    if not path.exists():
        return 0
    backend = _dynamodb(account, region)
    loaded = 0
    with moto_dynamodb.exclusive():
        for name, attrs in read_items(path):
            table = backend.tables.get(name)
            if table is None:
                continue  # a table the template no longer declares
            table.put_item(attrs)
            loaded += 1
    return loaded


def queued_events(account: str, region: str, queue_names: list[str]) -> list[dict[str, str]]:
    """Every message in the functions' queues, visible or being handled, without taking it."""
    from moto.sqs.models import sqs_backends

    queues = sqs_backends[account][region].queues
    found = []
    for name in queue_names:
        queue = queues.get(name)
        for message in list(getattr(queue, "_messages", []) if queue is not None else []):
            found.append({"queue": name, "body": str(message.body)})
    return found


def write_pending(path: Path, events: list[dict[str, str]]) -> None:
    lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
    _write_atomically(path, lines.encode("utf-8"))


def read_pending(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "queue" in entry and "body" in entry:
            events.append({"queue": str(entry["queue"]), "body": str(entry["body"])})
    return events


def archive_sandbox(path: Path, messages: list[SandboxMessage]) -> int:
    """Append the messages the archive lacks (by id); how many were added."""
    known = {m["id"] for m in read_archive(path)}
    fresh = [m for m in messages if m["id"] not in known]
    if fresh:
        with path.open("a", encoding="utf-8") as handle:
            for message in fresh:
                handle.write(json.dumps(message, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return len(fresh)


def read_archive(path: Path | None) -> list[SandboxMessage]:
    if path is None or not path.exists():
        return []
    found: list[SandboxMessage] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and {"channel", "id", "to", "body"} <= entry.keys():
            found.append(
                SandboxMessage(
                    channel=entry["channel"],
                    id=str(entry["id"]),
                    to=str(entry["to"]),
                    subject=entry.get("subject"),
                    body=str(entry["body"]),
                    raw=entry.get("raw"),
                )
            )
    return found
