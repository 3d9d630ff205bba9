"""In-memory fakes that subclass the messenger's real ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from messenger.adapters.repository import DeliveryRepository
from messenger.channels.base import Channel, OutboundMessage, SendResult, SendStatus
from messenger.domain.model import Delivery, DeliveryStatus, SkipReason
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope


class FakeDeliveries(DeliveryRepository):
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], Delivery] = {}
        self.unsubscribed: set[tuple[str, str, str, str]] = set()
        self.unsubscribed_times: dict[tuple[str, str, str, str], datetime] = {}

    def _k(self, d: Delivery) -> tuple[str, str, str, str]:
        return (d.key.shop_id, d.key.customer_id, d.key.trigger, d.key.anchor)

    def claim(self, delivery: Delivery) -> SkipReason | None:
        k = delivery.key
        if (k.shop_id, k.customer_id, delivery.channel, delivery.category) in self.unsubscribed:
            return SkipReason.UNSUBSCRIBED
        if self._k(delivery) in self.rows:
            return SkipReason.ALREADY_DELIVERED
        self.rows[self._k(delivery)] = delivery
        return None

    def release(self, delivery: Delivery) -> None:
        self.rows.pop(self._k(delivery), None)

    def mark_sent(self, delivery: Delivery, provider_message_id: str | None, at: datetime) -> None:
        self.rows[self._k(delivery)] = replace(
            delivery,
            status=DeliveryStatus.SENT,
            sent_at=at,
            provider_message_id=provider_message_id,
        )

    def mark_failed(self, delivery: Delivery, error: str, at: datetime) -> None:
        self.rows[self._k(delivery)] = replace(
            delivery, status=DeliveryStatus.FAILED, skip_reason=error
        )

    def record_skip(self, delivery: Delivery) -> None:
        self.rows.setdefault(self._k(delivery), delivery)

    def list_deliveries(
        self, shop_id: str, customer_id: str | None, limit: int, status: str | None = None
    ) -> list[Delivery]:
        return [
            d
            for d in self.rows.values()
            if d.key.shop_id == shop_id and (status is None or d.status.value == status)
        ][:limit]

    def unsubscribe(
        self, shop_id: str, customer_id: str, channel: str, category: str, at: datetime
    ) -> None:
        self.unsubscribed.add((shop_id, customer_id, channel, category))
        self.unsubscribed_times[(shop_id, customer_id, channel, category)] = at

    def is_unsubscribed(self, shop_id: str, customer_id: str, channel: str, category: str) -> bool:
        return (shop_id, customer_id, channel, category) in self.unsubscribed

    def unsubscribed_at(
        self, shop_id: str, customer_id: str, channel: str, category: str
    ) -> datetime | None:
        return self.unsubscribed_times.get((shop_id, customer_id, channel, category))


class ScriptedChannel(Channel):
    """Answers each send with the next scripted status; 'crash' raises after accepting."""

    name = "email"
    supports_html = True
    supports_subject = True

    def __init__(self, script: Sequence[str]) -> None:
        self.script = list(script)
        self.accepted: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        step = self.script.pop(0) if self.script else "sent"
        if step in ("sent", "crash"):
            self.accepted.append(message)
        if step == "crash":
            raise SystemExit("process died after the provider accepted the mail")
        if step == "sent":
            return SendResult(SendStatus.SENT, provider_message_id=f"m-{len(self.accepted)}")
        return SendResult(SendStatus(step), error="scripted")


class RecordingPublisher(EventPublisher):
    def __init__(self) -> None:
        self.published: list[EventEnvelope] = []

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.published.extend(envelopes)
