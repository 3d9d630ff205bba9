"""Composition root of the console: the key store the sign-in checks keys against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared import aws
from shared import clock as shared_clock
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


@dataclass(frozen=True)
class ConsoleContainer:
    settings: Settings
    keys: KeyStore
    clock: Callable[[], datetime] = shared_clock.now


def build(settings: Settings | None = None) -> ConsoleContainer:
    settings = settings or get_settings()
    dynamodb = aws.client(aws.session(settings.aws_region), "dynamodb")
    return ConsoleContainer(settings, DynamoKeyStore(dynamodb, settings.platform_table))
