"""Segmenter use cases: one function per command, called by a thin route or handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from segmenter.adapters.repository import ProfileRepository
from segmenter.domain.commands import RecordOrder
from segmenter.domain.errors import ConcurrentUpdate, DuplicateEvent
from segmenter.domain.model import Order, Profile
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import Conflict, DependencyFailed, NotFound
from shared.log import get_logger

Clock = Callable[[], datetime]
MAX_WRITE_ATTEMPTS = 8
_log = get_logger("kizuna.segmenter")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OrderRecorded:
    event_id: str
    order_id: str
    customer_id: str
    duplicate: bool
    profile: Profile | None


def order_placed_envelope(cmd: RecordOrder, profile: Profile, now: datetime) -> EventEnvelope:
    contact = profile.contact
    detail = details.OrderPlaced(
        order_id=cmd.order.order_id,
        customer=details.CustomerSnapshot(
            customer_id=profile.customer_id,
            email=contact.email,
            phone=contact.phone,
            line_user_id=contact.line_user_id,
            first_name=contact.first_name,
            last_name=contact.last_name,
            locale=contact.locale,
            consents=[
                details.ConsentSnapshot(
                    channel=c.channel,
                    category=c.category,
                    granted=c.granted,
                    source=c.source,
                    recorded_at=c.recorded_at,
                )
                for c in profile.consents
            ],
        ),
        placed_at=cmd.order.placed_at,
        currency=cmd.order.currency,
        total=cmd.order.total,
        items=[
            details.LineItem(
                sku=ln.sku,
                category=ln.category,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                list_price=ln.list_price,
            )
            for ln in cmd.order.lines
        ],
        sales_channel=cmd.order.sales_channel,
        order_count=profile.order_count,
        is_first_order=profile.order_count == 1,
    )
    return EventEnvelope(
        id=cmd.event_id,
        shop=cmd.shop_id,
        type="order.placed",
        time=now,
        detail=detail.model_dump(mode="json"),
    )


def record_order(
    cmd: RecordOrder,
    repo: ProfileRepository,
    publisher: EventPublisher,
    clock: Clock = utcnow,
) -> OrderRecorded:
    """Store the order, fold it into the profile and publish `order.placed`, once per event id.

    A duplicate re-publishes what was published the first time: if the first attempt
    crashed after writing but before publishing, the retry completes it, and consumers
    deduplicate on the event id.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = repo.get_profile(cmd.shop_id, cmd.order.customer_id) or Profile(
            shop_id=cmd.shop_id, customer_id=cmd.order.customer_id
        )
        updated = current.with_contact(cmd.contact, cmd.consents).with_order(cmd.order)
        envelope = order_placed_envelope(cmd, updated, clock())
        try:
            repo.record_order(
                cmd.event_id, cmd.order, updated, current.version, envelope.model_dump_json()
            )
        except ConcurrentUpdate:
            continue
        except DuplicateEvent as dup:
            if dup.order_id != cmd.order.order_id:
                raise Conflict(
                    "event id was already used for a different order", field="event_id"
                ) from None
            if not cmd.historical:
                publisher.publish([EventEnvelope.model_validate_json(dup.envelope_json)])
            _log.info("duplicate order event", extra={"event_id": cmd.event_id})
            return OrderRecorded(
                cmd.event_id,
                cmd.order.order_id,
                cmd.order.customer_id,
                True,
                repo.get_profile(cmd.shop_id, cmd.order.customer_id),
            )
        if not cmd.historical:
            publisher.publish([envelope])
        _log.info(
            "order recorded",
            extra={"event_id": cmd.event_id, "shop": cmd.shop_id, "f_stage": updated.f_stage},
        )
        return OrderRecorded(
            cmd.event_id, cmd.order.order_id, cmd.order.customer_id, False, updated
        )
    raise DependencyFailed("profile kept changing concurrently; retry the request")


def get_profile(repo: ProfileRepository, shop_id: str, customer_id: str) -> Profile:
    profile = repo.get_profile(shop_id, customer_id)
    if profile is None:
        raise NotFound("customer not found", field="customer_id")
    return profile


def get_order(repo: ProfileRepository, shop_id: str, order_id: str) -> Order:
    order = repo.get_order(shop_id, order_id)
    if order is None:
        raise NotFound("order not found", field="order_id")
    return order


def list_customer_orders(repo: ProfileRepository, shop_id: str, customer_id: str) -> list[Order]:
    get_profile(repo, shop_id, customer_id)
    return repo.list_orders(shop_id, customer_id)


def record_engagement(
    repo: ProfileRepository, envelope: EventEnvelope, detail: details.MessageEngaged
) -> None:
    kind = envelope.type.removeprefix("message.")
    repo.record_engagement(envelope.shop, detail.customer_id, detail.channel, kind, envelope.time)
