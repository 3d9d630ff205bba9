"""Profiles and orders → the columns of the snapshot tables (plain lists, no numpy).

The snapshot is the one read of a shop's data: every report and the Parquet files come
from these columns. Money is in the shop's currency unit as a float (yen have no
fractions); dates are the shop's calendar days (Asia/Tokyo).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from segmenter.domain.model import SHOP_TIMEZONE, Order, Profile

ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "placed_at",
    "order_date",
    "status",
    "active",
    "currency",
    "total",
    "refunded",
    "revenue",
    "gross_profit",
    "discount",
    "coupon",
    "sales_channel",
    "first_sku",
)
PROFILE_COLUMNS = ("customer_id", "acquisition_channel", "first_offer", "rfm_rank")
CAMPAIGN_COLUMNS = ("source", "source_id", "name", "customer_id", "channel", "rank", "sent_date")
"""One row per person a campaign (source `campaign`; later a journey step) reached."""
ATTRIBUTED_COLUMNS = ("source_id", "order_id")
"""One row per order credited to a campaign."""


def shop_date(at: datetime) -> date:
    """The shop's calendar day of an instant."""
    return at.astimezone(SHOP_TIMEZONE).date()


def order_discount(order: Order) -> Decimal:
    """What the order took off its lines' prices (a coupon or order-level discount): the
    lines' sum less the total, never negative (shipping can make a total larger)."""
    lines = sum((ln.amount for ln in order.lines), Decimal(0))
    return max(lines - order.total, Decimal(0))


@dataclass
class SnapshotColumns:
    """Column name → values, one list per column, in the order of *_COLUMNS."""

    orders: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in ORDER_COLUMNS})
    profiles: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in PROFILE_COLUMNS})

    @property
    def order_count(self) -> int:
        return len(self.orders["order_id"])

    @property
    def profile_count(self) -> int:
        return len(self.profiles["customer_id"])


@dataclass
class CampaignColumns:
    """Who each campaign reached, and the orders credited to it."""

    records: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in CAMPAIGN_COLUMNS})
    attributed: dict[str, list[Any]] = field(
        default_factory=lambda: {c: [] for c in ATTRIBUTED_COLUMNS}
    )


def build_columns(profiles: Iterable[Profile], orders: Iterable[Order]) -> SnapshotColumns:
    """Flatten one shop's profiles and orders. A merged-away profile is left out and its
    orders are counted for the person it was merged into."""
    cols = SnapshotColumns()
    survivor: dict[str, str] = {}
    for p in profiles:
        if p.merged_into is not None:
            survivor[p.customer_id] = p.merged_into
            continue
        cols.profiles["customer_id"].append(p.customer_id)
        cols.profiles["acquisition_channel"].append(
            p.attributes.acquisition_channel or p.stats.first_sales_channel
        )
        cols.profiles["first_offer"].append(p.stats.first_offer)
        cols.profiles["rfm_rank"].append(p.rfm.rank if p.rfm else None)
    o = cols.orders
    for order in orders:
        customer = order.customer_id
        seen: set[str] = set()
        while customer in survivor and customer not in seen:
            seen.add(customer)
            customer = survivor[customer]
        o["order_id"].append(order.order_id)
        o["customer_id"].append(customer)
        o["placed_at"].append(order.placed_at.astimezone(SHOP_TIMEZONE).replace(tzinfo=None))
        o["order_date"].append(shop_date(order.placed_at))
        o["status"].append(order.status)
        o["active"].append(order.active)
        o["currency"].append(order.currency)
        o["total"].append(float(order.total))
        o["refunded"].append(float(order.refunded))
        o["revenue"].append(float(order.revenue))
        o["gross_profit"].append(float(order.gross_profit))
        o["discount"].append(float(order_discount(order)))
        o["coupon"].append(order.coupon)
        o["sales_channel"].append(order.sales_channel)
        o["first_sku"].append(order.lines[0].sku if order.lines else None)
    return cols
