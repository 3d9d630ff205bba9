"""The contract every messaging channel implements (one module per channel).

A channel declares what it can carry as class attributes and has one `send()` that
returns a typed result; the contract test in tests/messenger runs over every channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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

    def send(self, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def send_many(self, group_id: str, to: Sequence[str], message: OutboundMessage) -> SendResult:
        """The same content to several people in one call (only if `max_recipients` > 1)."""
        raise NotImplementedError
