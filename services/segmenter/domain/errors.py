"""Why a write was refused; the service layer decides what each means for the caller."""

from __future__ import annotations

from shared.errors import Conflict


class DuplicateEvent(Conflict):
    """This event id was processed before; `envelope_json` is what was published then."""

    code = "duplicate_event"

    def __init__(self, envelope_json: str, order_id: str | None) -> None:
        super().__init__("event already processed")
        self.envelope_json = envelope_json
        self.order_id = order_id


class OrderAlreadyRecorded(Conflict):
    code = "order_exists"


class ConcurrentUpdate(Conflict):
    """The profile changed between read and write; the caller re-reads and retries."""

    code = "concurrent_update"
