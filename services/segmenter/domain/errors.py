"""Why a write was refused; the service layer decides what each means for the caller."""

from __future__ import annotations

from shared.errors import Conflict


class DuplicateEvent(Conflict):
    """This event id was processed before; `published` is what was published then."""

    code = "duplicate_event"

    def __init__(self, published: list[str], subject: str | None, event_type: str | None) -> None:
        super().__init__("event already processed")
        self.published = published
        self.subject = subject
        self.event_type = event_type


class OrderAlreadyRecorded(Conflict):
    code = "order_exists"


class ConcurrentUpdate(Conflict):
    """Data changed between read and write; the caller re-reads and retries."""

    code = "concurrent_update"
