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
    if c.recipients is not None:
        services.record_customer(c.recipients, envelope.shop, detail.customer, envelope.time)
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


def on_customer_upserted(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.CustomerUpserted)
    c = container()
    assert c.recipients is not None
    services.record_customer(c.recipients, envelope.shop, detail.customer, envelope.time)
    return {"customer_id": detail.customer.customer_id, "status": "recorded"}


def journey_dispatcher() -> dict[str, Any]:
    """Every minute: deferred sends (cap, quiet hours, active hour) and retries that are due.
    Journey steps join them when the journey engine arrives."""
    outcomes = container().messaging.dispatch_due()
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    return {"due_steps": len(outcomes), "by_status": by_status}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={"order.placed": on_order_placed, "customer.upserted": on_customer_upserted},
        schedules={"journey-dispatcher": journey_dispatcher},
    )
