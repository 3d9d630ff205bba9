"""Messenger event handler: EventBridge rules and schedules (not routed through Mangum).
Each handler makes one call into a use case of the container."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from messenger import bootstrap, services
from messenger.services.requested import RequestedMessage
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import LazyContainer, dispatch
from shared.log import get_logger

container = LazyContainer(bootstrap.build)
_log = get_logger("kizuna.messenger.journeys")
reset = container.reset


def _journeys(envelope: EventEnvelope) -> dict[str, Any]:
    """The journeys this event enrolled, ended, resumed or converted someone in."""
    done = container().journeys.intake.received(
        envelope.shop, envelope.type, envelope.id, envelope.time, envelope.detail
    )
    return {
        k: list(v)
        for k, v in {
            "entered": done.entered,
            "exited": done.exited,
            "resumed": done.resumed,
            "converted": done.converted,
        }.items()
        if v
    }


def on_order_placed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """Keep the recipient current, credit the order to a campaign (attribution window),
    mark its coupon code redeemed, send the first-purchase welcome mail (marketing:
    consent, cap, quiet hours), then the journeys (an order enrols, ends a series, or
    reaches a goal)."""
    assert isinstance(detail, details.OrderPlaced)
    done = container().orders.placed(envelope.shop, detail, envelope.time)
    return {
        "delivery_id": done.welcome.delivery_id,
        "status": done.welcome.status,
        "reason": done.welcome.reason,
        "attributed_to": done.attributed_to,
        "coupon_redeemed": done.coupon_redeemed,
        "inserts": list(done.inserts),
        "journeys": _journeys(envelope),
    }


def on_order_imported(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """An order of imported history: kept as the person's past, nothing sent or ended."""
    assert isinstance(detail, details.OrderImported)
    kept = container().orders.imported(envelope.shop, detail, envelope.time)
    return {"order_id": detail.order_id, "status": "recorded" if kept else "known"}


def on_order_shipped(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """The shop's shipping notice (transactional) with the tracking link, once per order,
    then the journeys (a shipping date anchors the step mails)."""
    assert isinstance(detail, details.OrderShipped)
    outcome = container().shipping.shipped(envelope.shop, detail)
    return {
        "delivery_id": outcome.delivery_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "channel": outcome.channel,
        "journeys": _journeys(envelope),
    }


def on_journey_event(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """An event only journeys listen to (a cart, a view, a restock, a survey motive, the
    messenger's own tags and unsubscribes)."""
    return {"journeys": _journeys(envelope)}


def on_segment_changed(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """The messenger's own copy of segment membership (and RFM rank)."""
    assert isinstance(detail, details.SegmentMembershipChanged)
    entered = envelope.type == "segment.entered"
    applied = container().campaigns.membership_changed(
        envelope.shop, detail.segment_id, detail.customer_id, entered, envelope.time
    )
    return {
        "segment_id": detail.segment_id,
        "entered": entered,
        "applied": applied,
        "journeys": _journeys(envelope),
    }


def on_message_outcome(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """The messenger's own sends, opens and clicks: a journey's are counted on its step,
    then the journeys hear them (a click can enrol, end or convert, as a definition says)."""
    assert isinstance(detail, details.MessageSent | details.MessageEngaged)
    counted = container().journeys.outcomes.record(
        envelope.shop,
        envelope.type,
        detail.customer_id,
        detail.delivery_id,
        detail.trigger if isinstance(detail, details.MessageSent) else None,
        envelope.time,
        detail.campaign_id,
    )
    return {"delivery_id": detail.delivery_id, "counted": counted, "journeys": _journeys(envelope)}


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
    return {
        "customer_id": detail.customer.customer_id,
        "status": "recorded",
        "journeys": _journeys(envelope),
    }


def on_customer_erased(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """An admin erased the person: the messenger forgets them (idempotent)."""
    assert isinstance(detail, details.CustomerErased)
    record = container().rights.erased(envelope.shop, detail)
    return {"erasure_id": record.erasure_id, "status": record.status}


def on_customer_merged(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """Profiles proved one person: unsubscribes follow them, merged-away flows end."""
    assert isinstance(detail, details.CustomerMerged)
    done = container().merges.merged(
        envelope.shop, detail.customer_id, detail.merged_ids, envelope.time
    )
    return {
        "unsubscribes_carried": done.unsubscribes_carried,
        "exited": list(done.enrolments_ended),
    }


def journey_dispatcher() -> dict[str, Any]:
    """Every minute: due sends and retries, then campaign waves (`Dispatcher.tick`)."""
    return container().dispatcher.tick()


def journey_shards(records: list[dict[str, Any]]) -> dict[str, Any]:
    """SQS: the due shards the tick fanned out, one worker run each, and the next pages
    of restock wish lists. A message that fails is reported back (`batchItemFailures`),
    so SQS hands only that one out again."""
    failures = []
    ran = busy = 0
    for record in records:
        try:
            body = json.loads(record["body"])
            if "restock" in body:
                ran += len(container().journeys.intake.restock(body["restock"]).entered)
                continue
            run = container().journeys.dispatch.work(
                int(body["journey_shard"]), datetime.fromisoformat(body["until"])
            )
            ran += run.ran
            busy += run.busy
        except Exception as err:
            # The message id and the error's type only (never the input or a person);
            # SQS hands the message out again, and after maxReceiveCount to the DLQ.
            _log.error(
                "journey shard failed",
                extra={"message_id": record.get("messageId", ""), "error": type(err).__name__},
                exc_info=False,
            )
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"ran": ran, "busy": busy, "batchItemFailures": failures}


JOURNEY_ONLY_EVENTS = (
    "order.delivered",
    "order.cancelled",
    "order.returned",
    "cart.updated",
    "product.viewed",
    "inventory.changed",
    "survey.answered",
    "profile.tagged",
    "consent.withdrawn",
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        return journey_shards(list(event["Records"]))
    return dispatch(
        event,
        events={
            "order.placed": on_order_placed,
            "order.imported": on_order_imported,
            "order.shipped": on_order_shipped,
            "customer.upserted": on_customer_upserted,
            "customer.erased": on_customer_erased,
            "customer.merged": on_customer_merged,
            "segment.entered": on_segment_changed,
            "segment.exited": on_segment_changed,
            "message.requested": on_message_requested,
            "message.sent": on_message_outcome,
            "message.opened": on_message_outcome,
            "message.clicked": on_message_outcome,
            **dict.fromkeys(JOURNEY_ONLY_EVENTS, on_journey_event),
        },
        schedules={"journey-dispatcher": journey_dispatcher},
    )
