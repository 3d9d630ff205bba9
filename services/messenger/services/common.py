"""Messenger use cases: one function per command, called by a thin route or handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from messenger.domain.links import UnsubscribeRequest, read_unsubscribe, sign_unsubscribe
from messenger.domain.model import (
    ConsentState,
    Delivery,
    DeliveryStatus,
    Recipient,
    supported_locale,
)
from messenger.services.ports import DeliveryRepository, RecipientRepository
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope, derived_event_id
from shared.errors import InvalidInput
from shared.log import get_logger

Clock = Callable[[], datetime]
WELCOME_TRIGGER = "welcome"
_log = get_logger("kizuna.messenger")


def utcnow() -> datetime:
    return shared_clock.now()


@dataclass(frozen=True)
class LinkSigner:
    public_base_url: str
    secret: str

    def unsubscribe_url(self, req: UnsubscribeRequest) -> str:
        """The signed unsubscribe link. One send asks twice for the same link (the template's
        `unsubscribe_url` and the mail's List-Unsubscribe header): it is signed once."""
        return _signed_unsubscribe_url(self.public_base_url, self.secret, req)


@lru_cache(maxsize=1024)
def _signed_unsubscribe_url(public_base_url: str, secret: str, req: UnsubscribeRequest) -> str:
    return f"{public_base_url.rstrip('/')}/u/{sign_unsubscribe(secret, req)}"


@dataclass(frozen=True)
class Outcome:
    delivery_id: str
    status: str
    reason: str | None = None


def recipient_of(
    snapshot: details.CustomerSnapshot, recorded_at: datetime | None = None
) -> Recipient:
    """The messenger's view of a customer snapshot. A consent without its own time is
    dated `recorded_at` (when the event reported it)."""
    return Recipient(
        customer_id=snapshot.customer_id,
        email=snapshot.email,
        first_name=snapshot.first_name,
        last_name=snapshot.last_name,
        locale=supported_locale(snapshot.locale),
        consents=tuple(
            ConsentState(c.channel, c.category, c.granted, c.source, c.recorded_at or recorded_at)
            for c in snapshot.consents
        ),
        phone=snapshot.phone,
        line_user_id=snapshot.line_user_id,
        timezone=snapshot.timezone,
        active_hour=snapshot.active_hour,
    )


def record_customer(
    recipients: RecipientRepository,
    shop_id: str,
    snapshot: details.CustomerSnapshot,
    event_time: datetime,
) -> None:
    """Keep the messenger's recipient record current (from order.placed / customer.upserted)."""
    recipients.upsert(shop_id, recipient_of(snapshot, event_time), event_time)


def list_deliveries(
    repo: DeliveryRepository,
    shop_id: str,
    customer_id: str | None,
    limit: int,
    status: str | None = None,
    after: dict[str, str] | None = None,
) -> tuple[list[Delivery], dict[str, str] | None]:
    """One page of the delivery log (newest first) and the position after it."""
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise InvalidInput(f"unknown delivery status {status!r}", field="status")
    return repo.deliveries_page(shop_id, customer_id, limit, status, after)


def category_wide_token(secret: str, token: str) -> str:
    """The link that unsubscribes from the same category on every channel (from a topic
    link: from the whole category, every topic with it)."""
    req = read_unsubscribe(secret, token)
    if req.channel == "all" and req.topic is None:
        return token
    return sign_unsubscribe(
        secret, UnsubscribeRequest(req.shop_id, req.customer_id, "all", req.category)
    )


def read_unsubscribe_link(secret: str, token: str) -> UnsubscribeRequest:
    return read_unsubscribe(secret, token)


def unsubscribe(
    repo: DeliveryRepository,
    publisher: EventPublisher,
    secret: str,
    token: str,
    clock: Clock = utcnow,
) -> UnsubscribeRequest:
    """Honour a signed unsubscribe link (idempotent: a second click changes nothing) and
    publish `consent.withdrawn`, so the segmenter records it on the profile's consent.

    Every click publishes it again under the same event id (derived from the recorded
    unsubscribe), so a first click whose publish failed after the write is completed by
    the next one, and consumers deduplicate the rest."""
    req = read_unsubscribe(secret, token)
    at = repo.unsubscribed_at(req.shop_id, req.customer_id, req.channel, req.scope)
    if at is None:
        at = clock()
        repo.unsubscribe(req.shop_id, req.customer_id, req.channel, req.scope, at)
        _log.info(
            "unsubscribed",
            extra={
                "shop": req.shop_id,
                "channel": req.channel,
                "category": req.category,
                "topic": req.topic,
            },
        )
    publisher.publish([consent_withdrawn(req, at)])
    return req


def consent_withdrawn(req: UnsubscribeRequest, at: datetime) -> EventEnvelope:
    """The event of one recorded unsubscribe: same request and time, same id."""
    event_id = derived_event_id(
        "unsubscribed", req.customer_id, req.channel, req.scope, at.isoformat()
    )
    detail = details.ConsentWithdrawn.model_validate(
        {
            "customer_id": req.customer_id,
            "channel": req.channel,
            "category": req.category,
            "topic": req.topic,
            "withdrawn_at": at,
        }
    )
    return EventEnvelope(
        id=event_id,
        shop=req.shop_id,
        type="consent.withdrawn",
        time=at,
        detail=detail.model_dump(mode="json"),
    )
