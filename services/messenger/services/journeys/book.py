"""Journey versions by (shop, journey, version), parsed once per process: a version never
changes once stored, so a warm worker reads each at most once."""

from __future__ import annotations

from dataclasses import dataclass, field

from messenger.adapters.journeys import JourneyRepository
from messenger.domain.journeys.definition import Journey
from messenger.domain.journeys.validation import parse_journey
from shared.contracts.catalog import EVENT_CATALOG

EVENT_TYPES = frozenset(EVENT_CATALOG)
"""Every event type: a stored version is read back against these (it was checked when saved)."""
NOT_HEARD = frozenset({"message.requested", "customer.erased", "analytics.refresh_requested"})
"""Types the messenger never hands the journey intake: a request to send, an erasure
(the person is forgotten), a shop-wide refresh."""
JOURNEY_EVENTS = EVENT_TYPES - NOT_HEARD
"""What a trigger, exit, goal or wait may name: every type the messenger's events
function hands the intake (`entrypoints/events.py`, the template's rules). A type it never
hears would be accepted and never fire."""


@dataclass
class JourneyBook:
    repo: JourneyRepository
    _cache: dict[tuple[str, str, int], Journey] = field(default_factory=dict)

    def version(self, shop_id: str, journey_id: str, version: int) -> Journey | None:
        k = (shop_id, journey_id, version)
        if k not in self._cache:
            source = self.repo.version(shop_id, journey_id, version)
            if source is None:
                return None
            self._cache[k] = parse_journey(source, shop_id, EVENT_TYPES, version)
        return self._cache[k]
