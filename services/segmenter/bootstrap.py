"""Composition root: wires the segmenter's real adapters (or the fakes a test passes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from segmenter.adapters.repository import DynamoProfileRepository, ProfileRepository
from shared import aws
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


@dataclass
class SegmenterContainer:
    settings: Settings
    keys: KeyStore
    profiles: ProfileRepository
    publisher: EventPublisher
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def build(settings: Settings | None = None) -> SegmenterContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    return SegmenterContainer(
        settings=settings,
        keys=DynamoKeyStore(dynamodb, settings.platform_table),
        profiles=DynamoProfileRepository(dynamodb, settings.segmenter_table),
        publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
    )
