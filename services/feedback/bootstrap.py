"""Composition root of the feedback service (surveys and restock sign-ups arrive later)."""

from __future__ import annotations

from dataclasses import dataclass

from shared import aws
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


@dataclass
class FeedbackContainer:
    settings: Settings
    keys: KeyStore


def build(settings: Settings | None = None) -> FeedbackContainer:
    settings = settings or get_settings()
    dynamodb = aws.client(aws.session(settings.aws_region), "dynamodb")
    return FeedbackContainer(
        settings=settings, keys=DynamoKeyStore(dynamodb, settings.platform_table)
    )
