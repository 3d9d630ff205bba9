"""The event envelope every Kizuna event travels in.

EventBridge carries it as `Detail`, with `DetailType` = `type` and `Source` =
`kizuna.<service>`. The id is the idempotency key consumers deduplicate on.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared import clock as shared_clock

EVENT_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


def derived_event_id(*parts: str) -> str:
    """A deterministic id for an event caused by another one (so a retry derives the same
    id and consumers deduplicate it); hashed when the readable form would be too long."""
    readable = ":".join(parts)
    if len(readable) <= 128 and re.match(EVENT_ID_PATTERN, readable):
        return readable
    return "h-" + hashlib.sha256(readable.encode()).hexdigest()


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=EVENT_ID_PATTERN, description="Idempotency key of the event.")
    shop: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64, description="e.g. order.placed")
    time: AwareDatetime = Field(default_factory=shared_clock.now)
    version: int = Field(default=1, ge=1)
    detail: dict[str, Any]

    @classmethod
    def from_eventbridge(cls, event: dict[str, Any]) -> EventEnvelope:
        """Parse the envelope out of the event Lambda receives from an EventBridge rule."""
        return cls.model_validate(event["detail"])
