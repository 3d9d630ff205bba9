"""What the journey store keeps about a journey besides its versions' JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JourneyHead:
    """A journey's head: its name, status and latest version, and the event types that
    enrol or concern it (read on every event, so it holds no definition)."""

    shop_id: str
    journey_id: str
    name: str
    status: str
    version: int
    enrols_on: frozenset[str]
    listens_to: frozenset[str]
    created_at: datetime
    updated_at: datetime
    rev: int = 0
