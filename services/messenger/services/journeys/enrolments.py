"""Enrolments the console asks for: a segment's members put into a journey on demand (the
marketer's "these customers, into that journey", without waiting for anyone to enter a
segment), and a person's journeys (the profile's).

Only a journey triggered by entering a segment takes people this way: its steps need
nothing from a trigger event (no order, cart or SKU), so a person put in by hand runs it
exactly as one who entered its segment would. Each person goes through the same door as
a `segment.entered` event (entry filter, holdout draw, re-entry rule), one page of
members per call, so a call is bounded and a repeat changes nothing: the re-entry guard
refuses whoever is already in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from messenger.domain.journeys.definition import JourneyStatus
from messenger.domain.journeys.enrolment import Enrolment
from messenger.services.journeys.book import JourneyBook
from messenger.services.journeys.intake import JourneyIntake
from messenger.services.ports import JourneyRepository
from shared.errors import Conflict, InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.journeys")
PAGE = 100
"""Members enrolled per call: each one's first step may send at once."""


@dataclass(frozen=True)
class EnrolledPage:
    journey_id: str
    segment_id: str
    entered: int
    """Put into the journey by this call (holdout included)."""
    not_entered: int
    """Already in it, or refused by its entry filter or re-entry rule."""
    next_after: str | None
    """The last member of this page when more may follow: pass it as `after`."""


@dataclass(frozen=True)
class SegmentEnrolments:
    repo: JourneyRepository
    book: JourneyBook
    intake: JourneyIntake
    has_segment: Callable[[str, str], bool]
    members: Callable[[str, str, str | None, int], list[str]]
    clock: Callable[[], datetime]

    def enrol(
        self, shop_id: str, journey_id: str, segment_id: str, after: str | None
    ) -> EnrolledPage:
        head = self.repo.head(shop_id, journey_id)
        if head is None:
            raise NotFound(f"no journey {journey_id!r}", field="journey_id")
        if head.status != JourneyStatus.ACTIVE:
            raise Conflict(
                f"journey {journey_id!r} is {head.status}; resume it first", field="status"
            )
        journey = self.book.version(shop_id, journey_id, head.version)
        if journey is None or journey.trigger.segment is None:
            raise InvalidInput(
                "only a journey triggered by entering a segment takes people on demand "
                "(its steps need no order, cart or product from a trigger event)",
                field="journey_id",
            )
        if not self.has_segment(shop_id, segment_id):
            raise NotFound(f"no members known for segment {segment_id!r}", field="segment_id")
        page = self.members(shop_id, segment_id, after, PAGE)
        now = self.clock()
        entered = 0
        for customer_id in page:
            detail = {"customer_id": customer_id, "segment_id": journey.trigger.segment}
            event_id = f"enrol:{segment_id}:{customer_id}"
            entered += self.intake.enrol(journey, customer_id, event_id, now, detail)
        _log.info(
            "segment enrolled",
            extra={"journey_id": journey_id, "segment_id": segment_id, "entered": entered},
        )
        more = page[-1] if len(page) == PAGE else None
        return EnrolledPage(journey_id, segment_id, entered, len(page) - entered, more)

    def of_customer(self, shop_id: str, customer_id: str) -> list[Enrolment]:
        """Every journey the person entered (or was drawn into the holdout of, or is
        scheduled for), newest first."""
        found = self.repo.enrolments_of(shop_id, customer_id)
        return sorted(found, key=lambda e: (e.entered_at, e.journey_id), reverse=True)
