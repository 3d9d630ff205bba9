"""The catalog of event types: who publishes each one and its detail contract.

The SAM template's rules may only name types listed here (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from shared.contracts import details as d
from shared.contracts.envelope import EventEnvelope


@dataclass(frozen=True)
class EventType:
    name: str
    source: str
    detail: type[BaseModel]
    description: str


def _t(name: str, service: str, detail: type[BaseModel], description: str) -> EventType:
    return EventType(name, f"kizuna.{service}", detail, description)


EVENT_CATALOG: dict[str, EventType] = {
    t.name: t
    for t in (
        _t(
            "customer.upserted",
            "segmenter",
            d.CustomerUpserted,
            "A customer was created or changed.",
        ),
        _t(
            "customer.merged",
            "segmenter",
            d.CustomerMerged,
            "Profiles of one person were merged into a survivor (ids only).",
        ),
        _t(
            "customer.erased",
            "segmenter",
            d.CustomerErased,
            "A person was erased at an admin's request: every service forgets them.",
        ),
        _t("order.placed", "segmenter", d.OrderPlaced, "An order was placed and stored."),
        _t(
            "order.imported",
            "segmenter",
            d.OrderImported,
            "An order of imported history was stored (history: no purchase reacts to it).",
        ),
        _t("order.shipped", "segmenter", d.OrderShipped, "An order left the warehouse."),
        _t("order.delivered", "segmenter", d.OrderDelivered, "An order reached the customer."),
        _t("order.cancelled", "segmenter", d.OrderCancelled, "An order was cancelled."),
        _t("order.returned", "segmenter", d.OrderReturned, "An order was returned."),
        _t("cart.updated", "segmenter", d.CartUpdated, "A cart changed."),
        _t("product.viewed", "segmenter", d.ProductViewed, "A product page was viewed."),
        _t("inventory.changed", "segmenter", d.InventoryChanged, "Stock of a SKU changed."),
        _t(
            "analytics.refresh_requested",
            "segmenter",
            d.AnalyticsRefreshRequested,
            "A shop asked for its analytics snapshot and reports to be computed now.",
        ),
        _t(
            "segments.recompute_requested",
            "segmenter",
            d.SegmentsRecomputeRequested,
            "A segment was created; the segmenter's event function computes its members.",
        ),
        _t(
            "segment.entered",
            "segmenter",
            d.SegmentMembershipChanged,
            "A customer joined a segment.",
        ),
        _t("segment.exited", "segmenter", d.SegmentMembershipChanged, "A customer left a segment."),
        _t("message.sent", "messenger", d.MessageSent, "A message was handed to a provider."),
        _t("message.opened", "messenger", d.MessageEngaged, "A message was opened."),
        _t("message.clicked", "messenger", d.MessageEngaged, "A tracked link was clicked."),
        _t(
            "consent.withdrawn",
            "messenger",
            d.ConsentWithdrawn,
            "A person unsubscribed (one-click or the unsubscribe page) from a channel or all.",
        ),
        _t(
            "profile.tagged",
            "messenger",
            d.ProfileTagged,
            "A journey step tagged a person (the segmenter adds it to the profile's tags).",
        ),
        _t("survey.answered", "feedback", d.SurveyAnswered, "A survey response was accepted."),
        _t(
            "message.requested",
            "feedback",
            d.MessageRequested,
            "A service asks the messenger to send one message (idempotent on request_id).",
        ),
    )
}


class UnknownEventType(ValueError):
    pass


def parse_detail(envelope: EventEnvelope) -> BaseModel:
    """Validate an envelope's detail against its catalog contract."""
    try:
        event_type = EVENT_CATALOG[envelope.type]
    except KeyError:
        raise UnknownEventType(envelope.type) from None
    return event_type.detail.model_validate(envelope.detail)
