"""Profiles and orders → the columns of the snapshot tables (plain lists, no numpy).

The snapshot is the one read of a shop's data: every report and the Parquet files come
from these columns. `SnapshotBuilder` flattens them as they are read, a chunk of rows at a
time, and hands each chunk on (to the engine's columnar tables): the pass never holds a
Python object per order, only a small `ProfileRef` per profile (what the CLV write needs).
Money is in the shop's currency unit as a float (yen have no fractions); dates are the
shop's calendar days (Asia/Tokyo).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from segmenter.domain.model import SHOP_TIMEZONE, ClvScore, Order, Profile

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


@dataclass(frozen=True)
class JourneyResult:
    """One journey's results as the messenger counts them (one version or all, so far): messages
    sent per channel, and conversions and attributed revenue of the treated group and of
    the holdout (enrolled, sent nothing)."""

    journey_id: str
    name: str
    sent: Mapping[str, int]
    """channel (email, line, sms) → messages sent"""
    treated: int
    converted: int
    revenue: float
    holdout: int
    holdout_converted: int
    holdout_revenue: float
    discount: float = 0.0
    """coupon discounts of the treated's attributed orders, where the messenger knows them"""
    version: int | None = None
    """the journey version these numbers are for; None for all versions together"""
    month: str | None = None
    """with `rank`: the numbers of the people who entered in this month (YYYY-MM, shop
    time) holding this rank then, and all they were sent and bought; None: everyone"""
    rank: str | None = None

    def fact(self) -> dict[str, Any]:
        """The pass's fact row (JSON)."""
        return {
            "source": "journey",
            "source_id": self.journey_id,
            "name": self.name,
            "version": self.version,
            **({} if self.month is None else {"month": self.month, "rank": self.rank}),
            "sent": dict(self.sent),
            "treated": self.treated,
            "converted": self.converted,
            "revenue": self.revenue,
            "holdout": self.holdout,
            "holdout_converted": self.holdout_converted,
            "holdout_revenue": self.holdout_revenue,
            "discount": self.discount,
        }


@dataclass(frozen=True, slots=True)
class ProfileRef:
    """What the pass keeps of a live profile it read: enough to write its CLV block
    conditionally on the version read, and to skip a block that did not change."""

    shop_id: str
    customer_id: str
    version: int
    clv: ClvScore | None


ChunkSink = Callable[[str, Mapping[str, list[Any]]], None]
"""Receives ``("orders" | "profiles", columns)``: one chunk of rows, the lists its own."""


class SnapshotBuilder:
    """Flattens profiles and orders in the order they are read, `chunk_rows` at a time, into
    `sink`. An order's customer is mapped to the person a merged-away profile was merged
    into at the end (`survivors`), since the order may be read before that profile."""

    def __init__(self, sink: ChunkSink, chunk_rows: int = 50_000) -> None:
        self._sink = sink
        self._chunk_rows = chunk_rows
        self._cols = SnapshotColumns()
        self.refs: list[ProfileRef] = []
        self._merged: dict[str, str] = {}
        self.orders = 0

    def add(self, item: Profile | Order) -> None:
        if isinstance(item, Profile):
            self._add_profile(item)
        else:
            self._add_order(item)

    def _add_profile(self, p: Profile) -> None:
        if p.merged_into is not None:
            self._merged[p.customer_id] = p.merged_into
            return
        self.refs.append(ProfileRef(p.shop_id, p.customer_id, p.version, p.clv))
        cols = self._cols.profiles
        cols["customer_id"].append(p.customer_id)
        cols["acquisition_channel"].append(
            p.attributes.acquisition_channel or p.stats.first_sales_channel
        )
        cols["first_offer"].append(p.stats.first_offer)
        cols["rfm_rank"].append(p.rfm.rank if p.rfm else None)
        if len(cols["customer_id"]) >= self._chunk_rows:
            self._flush("profiles")

    def _add_order(self, order: Order) -> None:
        o = self._cols.orders
        o["order_id"].append(order.order_id)
        o["customer_id"].append(order.customer_id)
        local = order.placed_at.astimezone(SHOP_TIMEZONE)
        o["placed_at"].append(local.replace(tzinfo=None))
        o["order_date"].append(local.date())
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
        self.orders += 1
        if len(o["order_id"]) >= self._chunk_rows:
            self._flush("orders")

    def _flush(self, table: str) -> None:
        columns = getattr(self._cols, table)
        self._sink(table, columns)
        setattr(self._cols, table, {c: [] for c in columns})

    def finish(self) -> dict[str, str]:
        """Hands on the last rows; returns each merged-away customer's survivor (the end of
        its merge chain, a cycle stopping where it closes)."""
        for table in ("profiles", "orders"):
            if next(iter(getattr(self._cols, table).values())):
                self._flush(table)
        survivors: dict[str, str] = {}
        for customer in self._merged:
            seen: set[str] = set()
            target = customer
            while target in self._merged and target not in seen:
                seen.add(target)
                target = self._merged[target]
            survivors[customer] = target
        return survivors
