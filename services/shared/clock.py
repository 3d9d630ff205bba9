"""The one clock every Kizuna service reads.

Services never call `datetime.now()` themselves: their containers and use cases default
to `shared.clock.now`, which asks the clock installed here. A test installs one
`FixedClock` with `use()` and every service (segmenter, messenger, feedback, the
importer, the CLI) sees the same instant, so no test depends on today's date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Anything that answers the current time as an aware UTC datetime."""


def system_now() -> datetime:
    """The machine's clock, in UTC: the default outside tests."""
    return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until a test moves it (`clock.now = …`, `advance`)."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("a clock needs an aware datetime")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class OffsetClock:
    """Another clock moved forward by an offset that only grows: the local stack's
    `kizuna local clock advance 30d`, which lets a 30-day journey run in seconds."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        self.offset += delta
        return self()


_current: Clock = system_now


def now() -> datetime:
    """The current time as the installed clock says (the system clock by default)."""
    return _current()


def current() -> Clock:
    """The installed clock itself (to wrap it, e.g. in an `OffsetClock`)."""
    return _current


def use(clock: Clock) -> None:
    """Install `clock` for every service in this process."""
    global _current  # noqa: PLW0603 - one process-wide clock is the point of this module
    _current = clock


def reset() -> None:
    """Back to the system clock."""
    use(system_now)
