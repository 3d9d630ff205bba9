"""Journey versions by (shop, journey, version), parsed once per process: a version never
changes once stored, so a warm worker reads each at most once."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from datetime import date

from messenger.domain.journeys.definition import Journey
from messenger.domain.journeys.validation import parse_journey
from messenger.services.ports import JourneyRepository
from shared.contracts.catalog import EVENT_CATALOG

EVENT_TYPES = frozenset(EVENT_CATALOG)
"""Every event type: a stored version is read back against these (it was checked when saved)."""
NOT_HEARD = frozenset(
    {
        "message.requested",
        "order.imported",
        "customer.erased",
        "customer.merged",
        "analytics.refresh_requested",
        "segments.recompute_requested",
    }
)
"""Types the messenger never hands the journey intake as an event: a request to send, an
imported order (history, kept as the person's past by `services/orders.py`: it must not
end, convert or start anything), an erasure (the person is forgotten), a merge (its own
use case, `services/merges.py`, ends the merged-away ids' enrolments), a shop-wide
refresh."""
ABOUT_NO_PERSON = frozenset({"inventory.changed"})
"""Heard, but about a SKU, not a person: it triggers (everyone on the SKU's wish list
enters), but no enrolment can exit, convert or stop waiting on it."""
JOURNEY_EVENTS = EVENT_TYPES - NOT_HEARD
"""What a trigger, exit, goal or wait may name: every type the messenger's events
function hands the intake (`entrypoints/events.py`, the template's rules). A type it never
hears would be accepted and never fire."""


def date_fields(event_type: str) -> frozenset[str]:
    """The date fields a date trigger can read on this event's detail: its own, and its
    `customer` snapshot's (where `intake` looks for them). A field no event carries
    (`expected_next_order_at`, which stays in the segmenter) would never fire."""
    detail = EVENT_CATALOG[event_type].detail
    found = set(_dates(detail.model_fields))
    customer = detail.model_fields.get("customer")
    snapshot = getattr(customer.annotation, "model_fields", None) if customer else None
    if isinstance(snapshot, dict):
        found |= _dates(snapshot)
    return frozenset(found)


def _dates(fields: dict[str, typing.Any]) -> set[str]:
    found = set()
    for name, f in fields.items():
        kinds = [k for k in typing.get_args(f.annotation) or (f.annotation,) if k is not None]
        if any(
            isinstance(k, type)
            and (issubclass(k, date) or k.__name__ in ("AwareDatetime", "NaiveDatetime"))
            for k in kinds
        ):
            found.add(name)
    return found


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
