"""Composition root: wires the messenger's real adapters (or the fakes a test passes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from messenger.adapters.repository import DeliveryRepository, DynamoDeliveryRepository
from messenger.channels.base import Channel
from messenger.channels.email import EmailChannel
from messenger.services import LinkSigner, Sender
from shared import aws
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


@dataclass
class MessengerContainer:
    settings: Settings
    keys: KeyStore
    deliveries: DeliveryRepository
    email: Channel
    publisher: EventPublisher
    sender: Sender
    links: LinkSigner
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def build(settings: Settings | None = None) -> MessengerContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    return MessengerContainer(
        settings=settings,
        keys=DynamoKeyStore(dynamodb, settings.platform_table),
        deliveries=DynamoDeliveryRepository(dynamodb, settings.messenger_table),
        email=EmailChannel(
            aws.client(session, "sesv2"), settings.sender_email, settings.sender_name
        ),
        publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
        sender=Sender(settings.sender_name, settings.sender_email, settings.sender_postal_address),
        links=LinkSigner(settings.public_base_url, settings.signing_secret.get_secret_value()),
    )
