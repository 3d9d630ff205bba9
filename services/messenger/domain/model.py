"""Deliveries and the decisions around them. Pure domain: no AWS, no HTTP.

A delivery is identified by (trigger, customer, anchor): the welcome mail for a
customer's first order, day 3 of a shipping journey for one order, and so on. That
identity is what makes a message go out at most once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    SENDING = "sending"
    """Claimed before the provider call; if the process dies here it is never re-sent."""
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    """The provider refused it for good (e.g. address rejected); it is not retried."""


class SkipReason(StrEnum):
    NOT_FIRST_ORDER = "not_first_order"
    NO_ADDRESS = "no_address"
    NO_CONSENT = "no_consent"
    UNSUBSCRIBED = "unsubscribed"
    ALREADY_DELIVERED = "already_delivered"


@dataclass(frozen=True)
class DeliveryKey:
    shop_id: str
    trigger: str
    customer_id: str
    anchor: str

    @property
    def delivery_id(self) -> str:
        raw = f"{self.shop_id}|{self.trigger}|{self.customer_id}|{self.anchor}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Delivery:
    key: DeliveryKey
    channel: str
    category: str
    status: DeliveryStatus
    created_at: datetime
    sent_at: datetime | None = None
    provider_message_id: str | None = None
    skip_reason: str | None = None

    @property
    def delivery_id(self) -> str:
        return self.key.delivery_id


@dataclass(frozen=True)
class ConsentState:
    channel: str
    category: str
    granted: bool
    source: str | None


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    locale: str
    consents: tuple[ConsentState, ...]

    def has_opt_in(self, channel: str, category: str) -> bool:
        """Marketing needs a recorded opt-in: granted, with the source it came from."""
        return any(
            c.channel == channel and c.category == category and c.granted and bool(c.source)
            for c in self.consents
        )


def welcome_skip_reason(recipient: Recipient, is_first_order: bool) -> SkipReason | None:
    """Why a first-purchase welcome mail must not go to this customer, or None to send it."""
    if not is_first_order:
        return SkipReason.NOT_FIRST_ORDER
    if not recipient.email:
        return SkipReason.NO_ADDRESS
    if not recipient.has_opt_in("email", "marketing"):
        return SkipReason.NO_CONSENT
    return None
