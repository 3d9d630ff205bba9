"""Messenger event handler: EventBridge rules and schedules (not routed through Mangum).
Each handler makes one call into a use case of the container."""

from __future__ import annotations

from typing import Any

from messenger import bootstrap, services
from messenger.services.requested import RequestedMessage
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import LazyContainer, dispatch

container = LazyContainer(bootstrap.build)
reset = container.reset


def on_order_placed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """Keep the recipient current, credit the order to a campaign (attribution window),
    mark its coupon code redeemed, and send the first-purchase welcome mail (marketing:
    consent, cap, quiet hours)."""
    assert isinstance(detail, details.OrderPlaced)
    done = container().orders.placed(envelope.shop, detail, envelope.time)
    return {
        "delivery_id": done.welcome.delivery_id,
        "status": done.welcome.status,
        "reason": done.welcome.reason,
        "attributed_to": done.attributed_to,
        "coupon_redeemed": done.coupon_redeemed,
        "inserts": list(done.inserts),
    }


def on_order_shipped(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """The shop's shipping notice (transactional) with the tracking link, once per order."""
    assert isinstance(detail, details.OrderShipped)
    outcome = container().shipping.shipped(envelope.shop, detail)
    return {
        "delivery_id": outcome.delivery_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "channel": outcome.channel,
    }


def on_segment_changed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """The messenger's own copy of segment membership (and RFM rank)."""
    assert isinstance(detail, details.SegmentMembershipChanged)
    entered = envelope.type == "segment.entered"
    applied = container().campaigns.membership_changed(
        envelope.shop, detail.segment_id, detail.customer_id, entered, envelope.time
    )
    return {"segment_id": detail.segment_id, "entered": entered, "applied": applied}


def on_message_requested(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """Another service asks for a templated message (idempotent on its request id)."""
    assert isinstance(detail, details.MessageRequested)
    outcome = container().requested.send(envelope.shop, RequestedMessage.of(detail))
    return {
        "delivery_id": outcome.delivery_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "channel": outcome.channel,
    }


def on_customer_upserted(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.CustomerUpserted)
    recipients = container().adapters.recipients
    services.record_customer(recipients, envelope.shop, detail.customer, envelope.time)
    return {"customer_id": detail.customer.customer_id, "status": "recorded"}


def journey_dispatcher() -> dict[str, Any]:
    """Every minute: due sends and retries, then campaign waves (`Dispatcher.tick`)."""
    return container().dispatcher.tick()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={
            "order.placed": on_order_placed,
            "order.shipped": on_order_shipped,
            "customer.upserted": on_customer_upserted,
            "segment.entered": on_segment_changed,
            "segment.exited": on_segment_changed,
            "message.requested": on_message_requested,
        },
        schedules={"journey-dispatcher": journey_dispatcher},
    )
