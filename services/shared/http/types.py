"""Field types every service's request schemas share (pydantic lives here, at the edge).

`Timestamp` is the one type of every instant a client sends: an ISO 8601 date-time with
a UTC offset, between 1970-01-01T00:00:00Z (inclusive) and 2100-01-01T00:00:00Z
(exclusive). The window is fixed, not relative to the clock, so a request valid today
is valid tomorrow; it keeps every instant convertible to UTC and to any time zone, and
every date sum the domain makes (intervals, waits, expiry) inside Python's range, so an
instant like `0001-01-01T00:00:00+14:00` is a 422 naming the field, never a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The first instant a request may carry."""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""The first instant past the window (exclusive)."""
WINDOW = "between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z (exclusive)"


def _in_window(value: datetime) -> datetime:
    if not (EARLIEST <= value < LATEST):
        raise ValueError(f"must be {WINDOW}")
    try:
        value.astimezone(UTC)
    except OverflowError:  # pragma: no cover - the window already excludes it
        raise ValueError(f"must be {WINDOW}") from None
    return value


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_in_window),
    Field(description=f"ISO 8601 date-time with a UTC offset, {WINDOW}."),
]
"""An aware date-time inside the window every service accepts."""


class Schema(BaseModel):
    """Base of every request and response model: its validator and serializer are built
    on first use (`defer_build`), not at import, so a cold start builds only the models
    its first request touches."""

    model_config = ConfigDict(defer_build=True)
