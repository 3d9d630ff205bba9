"""Messenger event handler: EventBridge rules and schedules (not routed through Mangum)."""

from __future__ import annotations

from typing import Any

from messenger import bootstrap, services
from messenger.bootstrap import MessengerContainer
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import dispatch

_container: MessengerContainer | None = None


def container() -> MessengerContainer:
    global _container  # noqa: PLW0603 - one container per warm Lambda
    if _container is None:
        _container = bootstrap.build()
    return _container


def reset() -> None:
    global _container  # noqa: PLW0603
    _container = None


def on_order_placed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.OrderPlaced)
    c = container()
    outcome = services.send_welcome(
        envelope,
        detail,
        repo=c.deliveries,
        email=c.email,
        publisher=c.publisher,
        sender=c.sender,
        links=c.links,
        clock=c.clock,
    )
    return {"delivery_id": outcome.delivery_id, "status": outcome.status, "reason": outcome.reason}


def journey_dispatcher() -> dict[str, Any]:
    # Journeys (steps that wait) arrive with the journey engine; the schedule is wired now.
    return {"due_steps": 0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={"order.placed": on_order_placed},
        schedules={"journey-dispatcher": journey_dispatcher},
    )
