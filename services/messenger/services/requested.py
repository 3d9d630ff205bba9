"""Messages other services ask for (`message.requested`): a built-in template to a
known customer, or to a bare address (an anonymous restock sign-up), through the one
send door, at most once per request id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from messenger.channels.kinds import check_address, kind
from messenger.domain.builtin import BUILTIN_PREFIX, builtin_message
from messenger.domain.message import check_channel
from messenger.domain.model import ConsentState, Recipient
from messenger.services.ports import JourneyFacts, RecipientRepository
from messenger.services.sending import SendOutcome, SendRequest, Sends
from shared.contracts import details
from shared.errors import InvalidInput

RESTOCK_TEMPLATES = frozenset({"restock_early_access"})
"""Feedback's notice that a signed-up SKU is back (its early-access wave)."""


@dataclass(frozen=True)
class RequestedMessage:
    """Another service asks for one templated message (`message.requested`)."""

    request_id: str
    template: str
    category: str
    requested_by: str
    customer_id: str | None = None
    address: str | None = None
    channel: str | None = None
    locale: str = "ja"
    variables: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None

    @classmethod
    def of(cls, detail: details.MessageRequested) -> RequestedMessage:
        return cls(
            request_id=detail.request_id,
            template=detail.template,
            category=detail.category,
            requested_by=detail.requested_by,
            customer_id=detail.recipient.customer_id,
            address=detail.recipient.address,
            channel=detail.channel,
            locale=detail.locale,
            variables=dict(detail.variables),
            expires_at=detail.expires_at,
        )


@dataclass(frozen=True)
class RequestedSends:
    sends: Sends
    recipients: RecipientRepository
    clock: Callable[[], datetime]
    facts: JourneyFacts | None = None
    """Where a restock notice is marked told, so the back-in-stock journey never tells
    the same person about the same SKU again."""

    def send(self, shop_id: str, r: RequestedMessage) -> SendOutcome:
        """A message another service asked for, at most once per request id.

        A known customer goes through their own consent, unsubscribes and cap. A bare
        address (an anonymous restock sign-up) gets a messenger profile keyed by the
        address, with the requester as the consent source (it ran the double opt-in),
        so unsubscribes, suppression and the cap still apply to it."""
        message = builtin_message(shop_id, BUILTIN_PREFIX + r.template)
        if message is None:
            raise InvalidInput(f"unknown template {r.template!r}", field="template")
        if message.category != r.category:
            raise InvalidInput(
                f"template {r.template!r} is {message.category}, not {r.category}",
                field="category",
            )
        if r.channel is not None:
            check_channel(r.channel)
        customer_id = r.customer_id
        if customer_id is None:
            if not r.address or r.channel is None:
                raise InvalidInput("a bare address needs its channel", field="channel")
            check_address(r.channel, r.address)
            address = kind(r.channel).canonical_address(r.address)
            digest = hashlib.sha256(f"{r.channel}|{address}".encode()).hexdigest()[:24]
            customer_id = f"addr-{digest}"
            now = self.clock()
            self.recipients.upsert(
                shop_id,
                Recipient.at_address(
                    customer_id,
                    r.channel,
                    address,
                    r.locale,
                    ConsentState(r.channel, r.category, True, r.requested_by, now),
                ),
                now,
            )
        sku = r.variables.get("sku")
        if self.facts is not None and r.template in RESTOCK_TEMPLATES and sku:
            self.facts.tell(shop_id, customer_id, sku, f"request:{r.request_id}")
        return self.sends.send(
            SendRequest(
                shop_id=shop_id,
                message_id=message.message_id,
                customer_id=customer_id,
                trigger="request",
                anchor=r.request_id,
                variables=dict(r.variables),
                channels=(r.channel,) if r.channel else (),
                expires_at=r.expires_at,
            )
        )
