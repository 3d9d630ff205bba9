"""Messenger event handler: EventBridge rules and schedules (not routed through Mangum)."""

from __future__ import annotations

from typing import Any

from messenger import bootstrap, services
from messenger.bootstrap import MessengerContainer
from messenger.domain.builtin import WELCOME
from messenger.domain.model import SkipReason
from messenger.services.requested import RequestedMessage
from messenger.services.sending import SendOutcome, SendRequest
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import dispatch
from shared.log import get_logger

_log = get_logger("kizuna.messenger.events")

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
    """Keep the recipient current, credit the order to a campaign (attribution window),
    and send the first-purchase welcome mail (marketing: consent, cap, quiet hours)."""
    assert isinstance(detail, details.OrderPlaced)
    c = container()
    services.record_customer(c.adapters.recipients, envelope.shop, detail.customer, envelope.time)
    customer_id = detail.customer.customer_id
    credited = c.campaigns.order_placed(
        envelope.shop, customer_id, detail.order_id, detail.total, detail.placed_at
    )
    if not detail.is_first_order:
        outcome = SendOutcome("", "skipped", SkipReason.NOT_FIRST_ORDER.value)
    else:
        outcome = c.pipeline.send(
            SendRequest(
                shop_id=envelope.shop,
                message_id=WELCOME,
                customer_id=customer_id,
                trigger=services.WELCOME_TRIGGER,
                anchor="first-order",
                variables={
                    "order": {
                        "order_id": detail.order_id,
                        "lines": [{"sku": i.sku, "quantity": i.quantity} for i in detail.items],
                        "total": str(detail.total),
                        "currency": detail.currency,
                    }
                },
            )
        )
    return {
        "delivery_id": outcome.delivery_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "attributed_to": credited,
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
    outcome = container().requested.send(
        envelope.shop,
        RequestedMessage(
            request_id=detail.request_id,
            template=detail.template,
            category=detail.category,
            requested_by=detail.requested_by,
            customer_id=detail.recipient.customer_id,
            address=detail.recipient.address,
            channel=detail.channel,
            locale=detail.locale,
            variables=dict(detail.variables),
            expires_at=detail.expires_at,
        ),
    )
    return {
        "delivery_id": outcome.delivery_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "channel": outcome.channel,
    }


def on_customer_upserted(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.CustomerUpserted)
    c = container()
    services.record_customer(c.adapters.recipients, envelope.shop, detail.customer, envelope.time)
    return {"customer_id": detail.customer.customer_id, "status": "recorded"}


def journey_dispatcher() -> dict[str, Any]:
    """Every minute: deferred sends (cap, quiet hours, active hour) and retries that are
    due, then the waves of scheduled and running campaigns (a bounded slice each tick).
    Journey steps join them when the journey engine arrives. Each step runs even when
    the one before it failed (logged, and named in the summary)."""
    c = container()
    errors: dict[str, str] = {}
    outcomes: list[SendOutcome] = []
    campaigns: dict[str, Any] = {}
    try:
        outcomes = c.due.dispatch()
    except Exception as err:
        errors["due_steps"] = _step_failed("due_steps", err)
    shops: dict[str, Any] = {}
    try:
        run = c.campaigns.tick()  # each shop isolated: one failing shop is named, not fatal
        campaigns = {k: v for ran in run.results.values() for k, v in ran.items()}
        if run.failed:
            shops = run.report()
    except Exception as err:
        errors["campaigns"] = _step_failed("campaigns", err)
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    summary = {
        "due_steps": len(outcomes),
        "by_status": by_status,
        "campaigns": campaigns,
        **({"campaign_shops": shops} if shops else {}),
    }
    return {**summary, "errors": errors} if errors else summary


def _step_failed(step: str, err: Exception) -> str:
    """Log a failed dispatcher step by its name and error type only (no personal data)."""
    _log.error("dispatcher step failed", extra={"step": step, "error": type(err).__name__})
    return type(err).__name__


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={
            "order.placed": on_order_placed,
            "customer.upserted": on_customer_upserted,
            "segment.entered": on_segment_changed,
            "segment.exited": on_segment_changed,
            "message.requested": on_message_requested,
        },
        schedules={"journey-dispatcher": journey_dispatcher},
    )
