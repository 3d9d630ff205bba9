"""Segmenter event handler: EventBridge rules and schedules (not routed through Mangum)."""

from __future__ import annotations

from typing import Any

from segmenter import bootstrap, services
from segmenter.bootstrap import SegmenterContainer
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import dispatch

_container: SegmenterContainer | None = None


def container() -> SegmenterContainer:
    global _container  # noqa: PLW0603 - one container per warm Lambda
    if _container is None:
        _container = bootstrap.build()
    return _container


def reset() -> None:
    global _container  # noqa: PLW0603
    _container = None


def on_message_engaged(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.MessageEngaged)
    services.record_engagement(container().profiles, envelope, detail)
    return {"recorded": envelope.type}


def nightly_recompute() -> dict[str, Any]:
    # Segment and RFM recompute arrive with the segment engine; the schedule is wired now.
    return {"recomputed_segments": 0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={"message.opened": on_message_engaged, "message.clicked": on_message_engaged},
        schedules={"nightly-recompute": nightly_recompute},
    )
