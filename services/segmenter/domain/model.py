"""The customer profile and the orders that shape it. Pure domain: no AWS, no HTTP.

A profile is recomputed from its previous state and one event, so the segmenter can
keep it current on every event with one read and one write.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

Channel = str  # "email" | "line" | "sms"
ConsentCategory = str  # "marketing" | "transactional"


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None = None
    list_price: Decimal | None = None
    unit_cost: Decimal | None = None

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    placed_at: datetime
    currency: str
    total: Decimal
    lines: tuple[OrderLine, ...]
    sales_channel: str | None = None
    coupon: str | None = None


@dataclass(frozen=True)
class Consent:
    """An opt-in or opt-out for one channel and category, with its provenance."""

    channel: Channel
    category: ConsentCategory
    granted: bool
    source: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    phone: str | None = None
    line_user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str = "ja"

    def merged_with(self, newer: Contact) -> Contact:
        """Newer non-empty values win; nothing known is forgotten."""
        return Contact(
            email=newer.email or self.email,
            phone=newer.phone or self.phone,
            line_user_id=newer.line_user_id or self.line_user_id,
            first_name=newer.first_name or self.first_name,
            last_name=newer.last_name or self.last_name,
            locale=newer.locale or self.locale,
        )


@dataclass(frozen=True)
class Profile:
    shop_id: str
    customer_id: str
    contact: Contact = field(default_factory=Contact)
    consents: tuple[Consent, ...] = ()
    order_count: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    revenue: Decimal = Decimal(0)
    categories: frozenset[str] = frozenset()
    version: int = 0
    """Optimistic-concurrency counter: a write only lands on the version it read."""

    @property
    def f_stage(self) -> str:
        return f"F{self.order_count}" if self.order_count else "F0"

    @property
    def average_order_value(self) -> Decimal:
        if not self.order_count:
            return Decimal(0)
        return (self.revenue / self.order_count).quantize(Decimal("0.01"))

    def consent_for(self, channel: Channel, category: ConsentCategory) -> Consent | None:
        for consent in self.consents:
            if consent.channel == channel and consent.category == category:
                return consent
        return None

    def with_contact(self, contact: Contact, consents: tuple[Consent, ...]) -> Profile:
        return replace(
            self,
            contact=self.contact.merged_with(contact),
            consents=merge_consents(self.consents, consents),
        )

    def with_order(self, order: Order) -> Profile:
        """The profile after one more order."""
        first = self.first_order_at
        last = self.last_order_at
        return replace(
            self,
            order_count=self.order_count + 1,
            first_order_at=order.placed_at if first is None else min(first, order.placed_at),
            last_order_at=order.placed_at if last is None else max(last, order.placed_at),
            revenue=self.revenue + order.total,
            categories=self.categories | {ln.category for ln in order.lines if ln.category},
        )


def merge_consents(
    current: tuple[Consent, ...], incoming: tuple[Consent, ...]
) -> tuple[Consent, ...]:
    """The latest recorded decision per (channel, category) wins, whatever order they arrive in."""
    by_key = {(c.channel, c.category): c for c in current}
    for consent in incoming:
        existing = by_key.get((consent.channel, consent.category))
        if existing is None or consent.recorded_at >= existing.recorded_at:
            by_key[(consent.channel, consent.category)] = consent
    return tuple(sorted(by_key.values(), key=lambda c: (c.channel, c.category)))
