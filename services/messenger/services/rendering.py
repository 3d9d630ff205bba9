"""Rendering a message for one person on one channel (with the shop's sender, coupon,
recommendations and the signed unsubscribe link in the context), the preview of every
channel, and a test send to a staff address."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from messenger.channels.base import Addressing, SendStatus
from messenger.channels.kinds import check_address, kind
from messenger.domain.links import unsubscribe_request
from messenger.domain.message import Message, check_channel
from messenger.domain.model import Recipient, supported_locale
from messenger.domain.rendering import (
    Rendered,
    render_channel,
)
from messenger.services.carriers import Carriers
from messenger.services.common import LinkSigner
from messenger.services.messages import MessageLibrary
from messenger.services.ports import RecipientRepository, RecommendationSource
from messenger.services.sending import SendOutcome
from shared.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class ChannelPreview:
    channel: str
    rendered: Rendered


@dataclass(frozen=True)
class Rendering:
    library: MessageLibrary
    recipients: RecipientRepository
    carriers: Carriers
    links: LinkSigner
    recommendations: RecommendationSource
    clock: Callable[[], datetime]

    def context(
        self,
        message: Message,
        recipient: Recipient,
        channel: str,
        variables: Mapping[str, Any],
        shop_id: str,
        topic: str | None = None,
    ) -> dict[str, Any]:
        coupon = None
        code = variables.get("coupon_code") or (message.coupon.code if message.coupon else None)
        if code:
            coupon = {
                "code": str(code),
                "description": message.coupon.description if message.coupon else None,
                "expires_at": (
                    message.coupon.expires_at.isoformat()
                    if message.coupon and message.coupon.expires_at
                    else None
                ),
            }
        recommended = (
            self.recommendations.recommend(shop_id, recipient.customer_id, message.recommendations)
            if message.recommendations
            else []
        )
        context: dict[str, Any] = {k: v for k, v in variables.items() if k != "coupon_code"}
        context.update(
            {
                "customer": {
                    "first_name": recipient.first_name,
                    "last_name": recipient.last_name,
                },
                "sender": vars(self.library.sender_of(shop_id)),
                "coupon": coupon,
                "recommendations": [vars(r) for r in recommended[: message.recommendations]],
                "unsubscribe_url": self.links.unsubscribe_url(
                    unsubscribe_request(
                        shop_id, recipient.customer_id, channel, message.category, topic
                    )
                ),
                "channel": channel,
                "locale": _locale(recipient),
                "vars": dict(variables),
            }
        )
        return context

    def render(
        self,
        message: Message,
        recipient: Recipient,
        channel: str,
        variables: Mapping[str, Any],
        shop_id: str,
        topic: str | None = None,
    ) -> Rendered:
        context = self.context(message, recipient, channel, variables, shop_id, topic)
        return render_channel(message, channel, context, _locale(recipient))

    def preview(
        self,
        shop_id: str,
        message_id: str,
        customer_id: str,
        variables: Mapping[str, Any],
        channel: str | None = None,
    ) -> list[ChannelPreview]:
        """Every channel's rendering for one customer (or one channel); sends nothing."""
        message = self.library.get(shop_id, message_id)
        if channel is not None:
            check_channel(channel)
        recipient = self.recipients.get(shop_id, customer_id)
        if recipient is None:
            raise NotFound(
                f"no customer {customer_id!r} known to the messenger", field="customer_id"
            )
        wanted = [channel] if channel else list(message.channels)
        return [
            ChannelPreview(c, self.render(message, recipient, c, variables, shop_id))
            for c in wanted
        ]

    def test_send(
        self, shop_id: str, message_id: str, channel: str, to: str, customer_id: str | None
    ) -> SendOutcome:
        """Send one rendering to a staff address (not a customer: no consent, no cap)."""
        check_channel(channel)
        message = self.library.get(shop_id, message_id)
        recipient = (
            self.recipients.get(shop_id, customer_id) if customer_id else None
        ) or Recipient(
            customer_id="test",
            email=None,
            first_name="Test",
            last_name="Kizuna",
            locale="ja",
            consents=(),
        )
        check_address(channel, to)
        carrier = self.carriers.carrier(shop_id, channel)
        if carrier is None:
            raise InvalidInput(
                f"this shop has no {channel} channel{kind(channel).connect_hint}", field="channel"
            )
        rendered = self.render(message, recipient, channel, {}, shop_id)
        delivery_id = f"test-{self.clock().timestamp():.6f}"
        result = carrier.send(
            kind(channel).outbound(
                rendered,
                Addressing(
                    delivery_id, to, message.category, sender=self.library.sender_of(shop_id)
                ),
            )
        )
        if result.status is not SendStatus.SENT:
            return SendOutcome(delivery_id, "failed", result.error, channel)
        return SendOutcome(delivery_id, "sent", None, channel)


def _locale(recipient: Recipient) -> str:
    return supported_locale(recipient.locale)
