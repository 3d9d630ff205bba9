"""Why a write was refused; the service layer decides what each means for the caller."""

from __future__ import annotations

from typing import Any

from shared.errors import Conflict


class DuplicateEvent(Conflict):
    """This event id was processed before; `published` is what was published then, and
    `after_commit` the idempotent writes it left for after its transaction (redone by the
    retry, in case the first delivery stopped in between)."""

    code = "duplicate_event"

    def __init__(
        self,
        published: list[str],
        subject: str | None,
        event_type: str | None,
        after_commit: dict[str, Any] | None = None,
    ) -> None:
        super().__init__("event already processed")
        self.published = published
        self.subject = subject
        self.event_type = event_type
        self.after_commit = after_commit


class OrderAlreadyRecorded(Conflict):
    code = "order_exists"


class ConcurrentUpdate(Conflict):
    """Data changed between read and write; the caller re-reads and retries."""

    code = "concurrent_update"


class SegmentLimitReached(Conflict):
    code = "segment_limit"


class JourneyResultsUnavailable(Exception):
    """The messenger did not answer (down, refused the token, said something unreadable):
    the pass goes on without journey rows and says why."""
