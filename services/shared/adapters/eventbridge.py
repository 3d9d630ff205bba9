"""Publishes Kizuna events to the EventBridge bus.

PutEvents takes at most 10 entries per call and may fail some entries while
accepting others, so failed entries alone are retried with backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shared.contracts.envelope import EventEnvelope
from shared.errors import DependencyFailed
from shared.log import get_logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

MAX_ENTRIES_PER_CALL = 10
_log = get_logger("kizuna.eventbridge")


class EventPublisher:
    """The port: publish envelopes. Fakes in tests subclass this."""

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        raise NotImplementedError


class EventBridgePublisher(EventPublisher):
    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus = bus_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._sleep = sleep

    def _entry(self, envelope: EventEnvelope) -> dict[str, Any]:
        from shared.contracts.catalog import EVENT_CATALOG  # the contracts: on first publish

        source = EVENT_CATALOG[envelope.type].source
        return {
            "Source": source,
            "DetailType": envelope.type,
            "Detail": envelope.model_dump_json(),
            "EventBusName": self._bus,
            "Time": envelope.time,
        }

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        entries = [self._entry(e) for e in envelopes]
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            self._put_batch(entries[start : start + MAX_ENTRIES_PER_CALL])

    def _put_batch(self, batch: list[dict[str, Any]]) -> None:
        pending = batch
        for attempt in range(1, self._max_attempts + 1):
            response = self._client.put_events(Entries=pending)  # type: ignore[arg-type]
            if not response.get("FailedEntryCount"):
                return
            results = response["Entries"]
            pending = [e for e, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            codes = sorted({str(r.get("ErrorCode")) for r in results if r.get("ErrorCode")})
            _log.warning(
                "put_events entries failed",
                extra={"failed": len(pending), "codes": codes, "attempt": attempt},
            )
            if attempt < self._max_attempts:
                self._sleep(self._base_delay * 2 ** (attempt - 1))
        types = sorted({json.loads(e["Detail"])["type"] for e in pending})
        raise DependencyFailed(f"could not publish {len(pending)} event(s) of type {types}")
