"""The contract every messaging channel implements (one module per channel).

A channel declares what it can carry as class attributes and has one `send()` that
returns a typed result; the contract test in tests/messenger runs over every channel.
What differs per channel is the channel's to say, never the pipeline's: whether a string
is an address there (`address_problem`), the spelling it is kept under, whether its
addresses are suppressed after bounces, how a rendering becomes the provider's payload
(`outbound`, with tracking), and how many people one call reaches (`max_recipients`).
The pipeline finds a channel's class by name in `messenger.channels.kinds`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from messenger.domain.tracking import Postback, TrackedDelivery, TrackingUrls

if TYPE_CHECKING:
    from messenger.domain.rendering import Rendered
    from messenger.domain.sender import SenderIdentity


class SendStatus(StrEnum):
    SENT = "sent"
    HARD_FAILED = "hard_failed"
    """The person cannot be reached on this channel (an unknown LINE user id, a malformed
    address or number): marked unreachable there; try another channel."""
    RETRYABLE = "retryable"
    """The provider failed for now (throttled, 5xx, no connection): retry later with the
    same key."""
    REJECTED = "rejected"
    """The provider refused this message (its content, the sender's setup), not the
    person: this delivery fails on this channel (it may fall back), and the person stays
    reachable there."""


@dataclass(frozen=True)
class OutboundMessage:
    delivery_id: str
    """Idempotency key: providers that accept one get this."""
    to: str
    subject: str | None = None
    text: str = ""
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    unsubscribe_url: str | None = None
    """Set on marketing messages; each channel carries it the way its medium allows."""
    line_messages: tuple[Mapping[str, Any], ...] = ()
    """LINE message objects (text or flex); when empty the LINE channel sends `text`."""
    category: str = "marketing"
    sender_name: str | None = None
    sender_email: str | None = None
    """The shop's own sender identity (mail); None: the channel's configured default."""


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    provider_message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Tracking:
    """What a channel needs to make a delivery trackable (tracked links and the open
    pixel in mail, signed postbacks on LINE)."""

    delivery: TrackedDelivery
    postback: Postback
    urls: TrackingUrls


@dataclass(frozen=True)
class Addressing:
    """Who a payload is for, and what goes with it on every channel."""

    delivery_id: str
    to: str
    category: str
    unsubscribe_url: str | None = None
    sender: SenderIdentity | None = None
    """The shop's sender identity (mail); None: the channel's configured default."""
    tracking: Tracking | None = None
    """Track the delivery (links, pixel, postbacks); None: untracked (a test send)."""


class Channel:
    name: str = ""
    supports_html: bool = False
    supports_subject: bool = False
    max_text_length: int | None = None
    supports_idempotency_key: bool = False
    """Whether the provider deduplicates on `delivery_id` (then a resend is harmless)."""
    sandbox: bool = False
    """Records instead of delivering (mail and SMS: SES/SNS are moto in the local stack)."""

    max_recipients: int = 1
    """How many people one provider call can reach with the same content (LINE multicast)."""

    suppressible: bool = False
    """Its addresses are suppressed after bounces and complaints: a claim checks the list."""
    connect_hint: str = ""
    """How a shop without this channel gets one (said in the error of a test send)."""

    @classmethod
    def address_problem(cls, to: str) -> str | None:
        """Why `to` is not an address on this channel; None when it is one."""
        return None

    @classmethod
    def canonical_address(cls, to: str) -> str:
        """The one spelling an address is kept under (an anonymous person's identity)."""
        return to.strip()

    @classmethod
    def outbound(cls, rendered: Rendered, to: Addressing) -> OutboundMessage:
        """The provider's payload for this channel's rendering, tracked when `tracking`."""
        raise NotImplementedError

    @staticmethod
    def content_key(message: OutboundMessage) -> str:
        """What one call may carry to several people: equal keys, equal content."""
        return json.dumps(
            [message.subject, message.text, message.html, list(message.line_messages)],
            sort_keys=True,
            ensure_ascii=False,
        )

    def send(self, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def send_many(self, group_id: str, to: Sequence[str], message: OutboundMessage) -> SendResult:
        """The same content to several people in one call (only if `max_recipients` > 1)."""
        raise NotImplementedError
