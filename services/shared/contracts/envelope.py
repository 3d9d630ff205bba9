"""The event envelope every Kizuna event travels in.

EventBridge carries it as `Detail`, with `DetailType` = `type` and `Source` =
`kizuna.<service>`. The id is the idempotency key consumers deduplicate on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EVENT_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=EVENT_ID_PATTERN, description="Idempotency key of the event.")
    shop: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64, description="e.g. order.placed")
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    version: int = Field(default=1, ge=1)
    detail: dict[str, Any]

    @classmethod
    def from_eventbridge(cls, event: dict[str, Any]) -> EventEnvelope:
        """Parse the envelope out of the event Lambda receives from an EventBridge rule."""
        return cls.model_validate(event["detail"])
