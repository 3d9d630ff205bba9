"""Composition root of the feedback service: wires the real adapters (or a test's fakes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from feedback.adapters.repository import DynamoFeedbackRepository, FeedbackRepository
from shared import aws
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


def _utcnow() -> datetime:
    return shared_clock.now()


@dataclass
class FeedbackContainer:
    settings: Settings
    keys: KeyStore
    repo: FeedbackRepository
    publisher: EventPublisher
    clock: Callable[[], datetime] = field(default=_utcnow)

    @property
    def secret(self) -> str:
        return self.settings.signing_secret.get_secret_value()

    def url(self, path: str) -> str:
        return self.settings.public_base_url.rstrip("/") + path


def build(settings: Settings | None = None) -> FeedbackContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    return FeedbackContainer(
        settings=settings,
        keys=DynamoKeyStore(dynamodb, settings.platform_table),
        repo=DynamoFeedbackRepository(dynamodb, settings.feedback_table),
        publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
    )
