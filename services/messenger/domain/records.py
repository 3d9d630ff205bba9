"""The records the messenger's ports exchange with its use cases: what a claim answered,
a frequency-cap reservation, a due-queue entry, a recommended item. Plain data, so the
use cases read them without importing a storage adapter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from messenger.domain.model import DeliveryKey


class ClaimResult(StrEnum):
    CLAIMED = "claimed"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    ALREADY_DELIVERED = "already_delivered"
    CAP_CONFLICT = "cap_conflict"
    """Another send for the same person changed the cap counter first: read it again."""


@dataclass(frozen=True)
class CapUpdate:
    """Reserve a frequency-cap slot: the counter must still be at `version`."""

    version: int
    times: tuple[datetime, ...]


class DueKind(StrEnum):
    SEND = "send"
    """A deferred send or a retry: sent when due."""
    UNCONFIRMED = "unconfirmed"
    """A claim's watch: if the delivery is still `sending` when due, its process died."""


@dataclass(frozen=True)
class DueEntry:
    due_at: datetime
    key: DeliveryKey
    priority: int
    kind: DueKind = DueKind.SEND


@dataclass(frozen=True)
class Recommendation:
    sku: str
    name: str
    url: str | None = None
    image_url: str | None = None
    price: str | None = None
