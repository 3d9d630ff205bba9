"""Deliveries and the decisions around them. Pure domain: no AWS, no HTTP.

A delivery is identified by (trigger, customer, anchor): the welcome mail for a
customer's first order, day 3 of a shipping journey for one order, and so on. That
identity is what makes a message go out at most once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from messenger.channels.names import ADDRESS_FIELDS
from shared.errors import InvalidInput

TOPIC = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""An unsubscribe topic: a short slug (step_mails, newsletter, restock, birthday, cart, ...)."""
TOPICS = (
    "step_mails",
    "newsletter",
    "restock",
    "birthday",
    "cart",
    "browse",
    "winback",
    "replenishment",
    "welcome",
)
"""The topics the built-in flows use; a shop may name its own."""


def topic_scope(topic: str) -> str:
    """How a topic unsubscribe is spelt wherever a category could stand (the record, the
    recipient's unsubscribes, the segmenter's consent): ``topic:<name>``."""
    return f"topic:{topic}"


def check_topic(topic: str | None, field: str = "topic") -> str | None:
    if topic is not None and not TOPIC.fullmatch(topic):
        raise InvalidInput(
            "topic is a lowercase slug (letters, digits, underscores; up to 40)", field=field
        )
    return topic


class DeliveryStatus(StrEnum):
    SENDING = "sending"
    """Claimed before the provider call; if the process dies here it is never re-sent."""
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    """The provider refused it for good (e.g. address rejected); it is not retried."""
    DEFERRED = "deferred"
    """Waiting for a free frequency-cap slot, the end of quiet hours or the active hour."""
    RETRY_SCHEDULED = "retry_scheduled"
    """The provider failed for now; sent again at `due_at` with the same idempotency key."""
    DEAD_LETTER = "dead_letter"
    """Retries ran out, or the outcome is unknown (a provider call that raised, a claim
    left `sending` past its grace): kept for an operator to look at and redrive."""
    DROPPED = "dropped"
    """Deferred past the message's validity: never sent, with the reason recorded."""
    PACKED = "packed"
    """A package insert (同梱物) chosen for the customer's next parcel: delivered offline,
    counted like a sent message in stats, never in the frequency cap."""


RESUMABLE = frozenset({DeliveryStatus.DEFERRED, DeliveryStatus.RETRY_SCHEDULED})
NOTHING_SENT = frozenset(
    {
        DeliveryStatus.SKIPPED,
        DeliveryStatus.FAILED,
        DeliveryStatus.DEAD_LETTER,
        DeliveryStatus.DROPPED,
    }
)
"""Final states in which the person got nothing (unless the outcome is unknown)."""


class SkipReason(StrEnum):
    NOT_FIRST_ORDER = "not_first_order"
    LATE = "late"
    """Its day is past: a first order placed long before the messenger heard of it."""
    NO_ADDRESS = "no_address"
    NO_CONSENT = "no_consent"
    UNSUBSCRIBED = "unsubscribed"
    ALREADY_DELIVERED = "already_delivered"
    NO_REACHABLE_CHANNEL = "no_reachable_channel"
    CHANNEL_NOT_CONNECTED = "channel_not_connected"
    """The shop has no account on the channel (no LINE channel of its own, no platform one)."""
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"
    NOT_ENABLED = "not_enabled"
    """The shop has not turned this message on (e.g. no shipping notice saved)."""
    UNCONFIRMED = "unconfirmed"
    """Still `sending` long after its claim: the process died around the provider call."""


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
    message_id: str | None = None
    priority: int = 0
    due_at: datetime | None = None
    expires_at: datetime | None = None
    attempts: int = 0
    """Provider calls that failed for now (for backoff and the dead letter)."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    """Per-send template variables (an order, a coupon code), kept for deferred sends."""
    cap_counted: bool = False
    """Its frequency-cap slot is already reserved (a retry or a fallback does not take another)."""
    cap_slot: datetime | None = None
    """The time its claim reserved in the person's cap; given back if nothing went out."""
    outcome_unknown: bool = False
    """A provider call raised or a multicast went unconfirmed: the person may have got it,
    so its cap slot is kept and a redrive may send it twice."""
    campaign_id: str | None = None
    variant: str | None = None
    rank: str | None = None
    """The person's RFM rank when the campaign reached them (results per rank)."""
    only_channels: tuple[str, ...] = ()
    """When set, the only channels it may go on (a request naming its channel)."""
    claims: int = 0
    """How often it was claimed for a provider call (the first claim counts it as sent)."""
    topic: str | None = None
    """Its unsubscribe topic (step mails, newsletter, ...): a person who left the topic
    gets nothing of it, whatever the rest of their consent says."""
    unconfirmed_at: datetime | None = None
    """While `sending`: its claim plus the grace. A due entry for this time, written with
    the claim and removed by the write that moves it on, lets the dispatcher make a claim
    whose process died a dead letter instead of leaving it `sending` unseen."""

    @property
    def delivery_id(self) -> str:
        return self.key.delivery_id


@dataclass(frozen=True)
class ConsentState:
    channel: str
    category: str
    granted: bool
    source: str | None
    recorded_at: datetime | None = None


LOCALES = ("ja", "en")
"""The locales messages are written in; anything else reads Japanese."""


def supported_locale(locale: str | None) -> str:
    return locale if locale in LOCALES else "ja"


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    locale: str
    consents: tuple[ConsentState, ...]
    phone: str | None = None
    line_user_id: str | None = None
    timezone: str | None = None
    active_hour: int | None = None
    unreachable: frozenset[str] = frozenset()
    """Channels that hard-failed or were blocked (LINE unfollow, bounced mail)."""
    unsubscribed: frozenset[tuple[str, str]] = frozenset()
    """(channel, category) pairs the person unsubscribed from; channel "all" covers every one."""
    cap_times: tuple[datetime, ...] = ()
    """When the marketing messages counted by the frequency cap were sent."""
    cap_version: int = 0
    rank: str | None = None
    """RFM rank (loyal, semi_loyal, general, dormant) from the `rfm_*` segments, if known."""

    def address(self, channel: str) -> str | None:
        field = ADDRESS_FIELDS.get(channel)
        return getattr(self, field) if field else None

    @classmethod
    def at_address(
        cls, customer_id: str, channel: str, address: str, locale: str, consent: ConsentState
    ) -> Recipient:
        """A person known only by one address (an anonymous sign-up)."""
        bare = cls(customer_id, None, None, None, supported_locale(locale), (consent,))
        fields: dict[str, Any] = {ADDRESS_FIELDS[channel]: address}
        return replace(bare, **fields)

    def is_unsubscribed(self, channel: str, category: str, topic: str | None = None) -> bool:
        """Left this channel's category, every channel's, or (for a topic) the topic."""
        scopes = [category] if topic is None else [category, topic_scope(topic)]
        return any(
            (channel, s) in self.unsubscribed or ("all", s) in self.unsubscribed for s in scopes
        )

    def has_opt_in(self, channel: str, category: str) -> bool:
        """Marketing needs a recorded opt-in: granted, with the source it came from."""
        return any(
            c.channel == channel and c.category == category and c.granted and bool(c.source)
            for c in self.consents
        )


WELCOME_LATE_AFTER = timedelta(hours=24)
"""A first order placed longer ago than this gets no welcome: a storefront replaying its
history, or an `order.placed` held up for days, must not thank a buyer for an order they
placed long ago. The same day as the journeys' late sends (`LATE_SEND_AFTER`): each
message goes on its day or not at all."""


def welcome_skip_reason(
    is_first_order: bool, placed_at: datetime, now: datetime
) -> SkipReason | None:
    """Why an order gets no first-purchase welcome, or None to send one (the channel,
    consent, cap and quiet hours are the send path's, as for any message)."""
    if not is_first_order:
        return SkipReason.NOT_FIRST_ORDER
    if now - placed_at > WELCOME_LATE_AFTER:
        return SkipReason.LATE
    return None


def merge_consents(
    stored: tuple[ConsentState, ...], incoming: tuple[ConsentState, ...]
) -> tuple[ConsentState, ...]:
    """Newer records win per (channel, category); an older event never undoes a newer one."""
    merged = {(c.channel, c.category): c for c in stored}
    for c in incoming:
        old = merged.get((c.channel, c.category))
        if (
            old is None
            or old.recorded_at is None
            or c.recorded_at is None
            or c.recorded_at >= old.recorded_at
        ):
            merged[(c.channel, c.category)] = c
    return tuple(sorted(merged.values(), key=lambda c: (c.channel, c.category)))
