"""Backfills of profile fields added after profiles were stored: an operator runs them
once per shop (`kizuna backfill`); running them again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from segmenter.domain.model import OrderStats
from segmenter.services.ports import OrderStore, ProfileStore


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
