"""Backfills of what was added after data was stored (a profile field, an event other
services keep): an operator runs them once per shop (`kizuna backfill`); running them
again changes nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from segmenter.domain.model import Order, OrderStats
from segmenter.services.ingest import imported_envelope
from segmenter.services.ports import OrderStore, ProfileStore
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope

_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")
_PUBLISH_AT_ONCE = 100


@dataclass(frozen=True)
class FirstProductBackfill:
    shop_id: str
    profiles: int
    """profiles read"""
    missing: int
    """buyers without a first product before the run"""
    filled: int
    """of them, filled now (the rest: no order line, or an event changed them meanwhile,
    which sets the field itself)"""


def backfill_first_product(
    profiles: ProfileStore, orders: OrderStore, shop_id: str
) -> FirstProductBackfill:
    """Every buyer's first product (the first active order's first line's SKU) where the
    profile predates the field: from the customer's orders, as the order fold sets it. A
    profile an event wrote meanwhile is left as that event made it."""
    read = missing = filled = 0
    for profile in profiles.iter_profiles(shop_id):
        read += 1
        if profile.stats.order_count == 0 or profile.stats.first_product is not None:
            continue
        missing += 1
        first = OrderStats.of(orders.list_orders(shop_id, profile.customer_id)).first_product
        if first is not None and profiles.put_first_product(profile, first):
            filled += 1
    return FirstProductBackfill(shop_id, read, missing, filled)


@dataclass(frozen=True)
class OrdersRepublished:
    shop_id: str
    profiles: int
    """buyers read"""
    orders: int
    """their active orders, each published as `order.imported`"""


def republish_event_id(order: Order) -> str:
    """The re-publish's event id of an order: the same on every run."""
    safe = _UNSAFE.sub("", order.order_id)[:64]
    return f"backfill-imported:{safe}:{hashlib.sha256(order.order_id.encode()).hexdigest()[:16]}"


def republish_orders_as_imported(
    profiles: ProfileStore,
    orders: OrderStore,
    publisher: EventPublisher,
    shop_id: str,
    now: datetime,
) -> OrdersRepublished:
    """`order.imported` for every active order of the shop's buyers: orders imported
    before the import published it never reached the messenger (the win-back's first
    product reads its copy). A stored order does not say whether it came from an import,
    so every one is published: the messenger keeps only an order it does not hold and
    does nothing else on this event, so a live order (held since its `order.placed`) and
    a second run change nothing. A cancelled or returned order is left out (an import
    never stores one; the messenger must not take it for the person's past)."""
    buyers = published = 0
    pending: list[EventEnvelope] = []
    for profile in profiles.iter_profiles(shop_id):
        if profile.stats.order_count == 0 or profile.merged_into:
            continue
        buyers += 1
        for order in orders.list_orders(shop_id, profile.customer_id):
            if not order.active:
                continue
            event_id = republish_event_id(order)
            pending.append(imported_envelope(event_id, shop_id, order, profile, now))
            published += 1
            if len(pending) >= _PUBLISH_AT_ONCE:
                publisher.publish(pending)
                pending = []
    if pending:
        publisher.publish(pending)
    return OrdersRepublished(shop_id, buyers, published)
