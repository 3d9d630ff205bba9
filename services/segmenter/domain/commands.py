"""Commands the segmenter accepts: imperative, one per use case. Each carries the
storefront's event id, which makes it idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from segmenter.domain.model import Attributes, Consent, Contact, Order, OrderLine


@dataclass(frozen=True)
class CustomerRef:
    """How an event names a person: any of storefront id, email, phone, LINE user id."""

    customer_id: str | None = None
    contact: Contact = field(default_factory=Contact)


@dataclass(frozen=True)
class RecordOrder:
    """Store an order and fold it into its customer's profile."""

    event_id: str
    shop_id: str
    order: Order
    contact: Contact
    consents: tuple[Consent, ...]
    historical: bool = False
    """Imported history (CSV): stored and folded into the profile, published as
    `order.imported`, not `order.placed`, so a two-year-old order never triggers a
    welcome mail, ends a journey or counts as a conversion."""


@dataclass(frozen=True)
class UpsertCustomer:
    event_id: str
    shop_id: str
    customer: CustomerRef
    attributes: Attributes
    consents: tuple[Consent, ...]


@dataclass(frozen=True)
class ChangeOrderStatus:
    """Shipped, delivered, cancelled or returned."""

    event_id: str
    shop_id: str
    order_id: str
    status: str
    at: datetime
    amount: Decimal | None = None
    """For a return or refund: the money given back. None, or all that is left of the
    order, is a whole-order return; less is a partial refund (the order stays active)."""
    carrier: str | None = None
    tracking_number: str | None = None
    """A shipment's carrier and slip number, passed on in `order.shipped` (shipping notice)."""


@dataclass(frozen=True)
class UpdateCart:
    event_id: str
    shop_id: str
    customer: CustomerRef
    cart_id: str
    lines: tuple[OrderLine, ...]
    at: datetime


@dataclass(frozen=True)
class RecordView:
    event_id: str
    shop_id: str
    customer: CustomerRef
    sku: str
    category: str | None
    at: datetime


@dataclass(frozen=True)
class ChangeInventory:
    event_id: str
    shop_id: str
    sku: str
    quantity: int
    category: str | None = None
    tags: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class RecordPreferences:
    """Survey-derived preferences (from `survey.answered`)."""

    event_id: str
    shop_id: str
    customer_id: str
    preferences: dict[str, frozenset[str]]
