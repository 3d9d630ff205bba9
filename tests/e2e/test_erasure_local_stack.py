"""An erasure reaches the local stack's state folder: the journal of requests and the
snapshot no longer hold the erased person once the services have forgotten her."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.local import persistence
from ops.local.stack import LocalStack
from tests.conftest import order_payload
from tests.e2e.stack import open_shop, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, aws_credentials: None) -> Iterator[LocalStack]:
    with running_stack(tmp_path / "state") as local:
        yield local


def _state_text(state: Path) -> str:
    """What the state folder keeps besides the sandbox's outbox: the journal (request
    bodies decoded), the snapshot and the queued events."""
    parts: list[str] = []
    for line in (state / "moto-recording.jsonl").read_text().splitlines():
        entry = json.loads(line)
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", errors="replace")
        parts.append(json.dumps({**entry, "body": body}, ensure_ascii=False))
    snapshot, pending = state / persistence.SNAPSHOT_FILE, state / persistence.PENDING_FILE
    if snapshot.exists():
        parts.append(gzip.decompress(snapshot.read_bytes()).decode())
    if pending.exists():
        parts.append(pending.read_text())
    return "\n".join(parts)


def test_after_an_erasure_the_journal_and_snapshot_hold_nothing_of_her(
    stack: LocalStack,
) -> None:
    """Given Hanako's and Taro's first orders through the running local stack
    When the admin erases Hanako and the stack drains
    Then, the stack still running, the state folder's journal, snapshot and queued events
    no longer hold Hanako's email, and still hold Taro's."""
    admin, events = open_shop("acme", ("storefront", ["events:write"]))
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)
    for customer, email in (("c-1", "hanako@example.jp"), ("c-2", "taro@example.jp")):
        body = order_payload(1, customer_id=customer, email=email)
        assert http.post("/v1/orders", json=body, headers=_bearer(events)).status_code == 201
    stack.drain(timeout=60)
    assert stack.state_dir is not None
    assert "hanako@example.jp" in _state_text(stack.state_dir)

    erased = http.delete("/v1/customers/c-1", headers=_bearer(admin))
    assert erased.status_code == 202, erased.text
    stack.drain(timeout=60)

    kept = _state_text(stack.state_dir)
    assert "hanako@example.jp" not in kept
    assert "taro@example.jp" in kept
    assert stack.failures() == []
    http.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
