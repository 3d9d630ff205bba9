"""The segmenter's record types: what its stores keep and what one event changes.

Plain data shared by the use cases, the adapters and the entrypoints' schemas (no
storage or HTTP knowledge here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmenter.domain.errors import DuplicateEvent

if TYPE_CHECKING:
    from segmenter.domain.identity import Identifier
    from segmenter.domain.model import Activity, Order, Profile


@dataclass(frozen=True)
class Product:
    sku: str
    quantity: int | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    name: str | None = None

    @property
    def in_stock(self) -> bool:
        return self.quantity is None or self.quantity > 0


@dataclass(frozen=True)
class AfterCommit:
    """Idempotent writes an event leaves for after its transaction. They are recorded in
    the event marker (inside the transaction), so a retry of the same event redoes them
    when the first delivery stopped in between; no later event can make them wrong, since
    a merged-away profile never comes back."""

    survivor: str | None = None
    merged: tuple[str, ...] = ()
    """Merged-away profiles whose orders move to the survivor."""
    identifiers: tuple[tuple[str, str], ...] = ()
    """(identifier key, merged-away owner) to point at the survivor."""
    unlisted: tuple[tuple[str, str], ...] = ()
    """(segment, merged-away customer) member items to delete."""
    spilled: tuple[tuple[str, str, bool], ...] = ()
    """(segment, customer, is a member) items that did not fit in the transaction; a retry
    checks them against the customer's segments as they are then."""

    @property
    def empty(self) -> bool:
        return not (self.merged or self.identifiers or self.unlisted or self.spilled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "survivor": self.survivor,
            "merged": list(self.merged),
            "identifiers": [list(i) for i in self.identifiers],
            "unlisted": [list(u) for u in self.unlisted],
            "spilled": [list(x) for x in self.spilled],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AfterCommit:
        if not data:
            return cls()
        return cls(
            survivor=data.get("survivor"),
            merged=tuple(data.get("merged", ())),
            identifiers=tuple((str(k), str(o)) for k, o in data.get("identifiers", ())),
            unlisted=tuple((str(g), str(c)) for g, c in data.get("unlisted", ())),
            spilled=tuple((str(g), str(c), bool(m)) for g, c, m in data.get("spilled", ())),
        )


@dataclass(frozen=True)
class EventRead:
    """What an event about a person needs first, read in one round trip."""

    owners: dict[Identifier, str]
    profile: Profile | None
    """The likely profile (the one the event names), if it exists."""
    marker: dict[str, Any] | None = None
    """The event id's marker when it was processed before (a duplicate)."""


@dataclass(frozen=True)
class BulkRead:
    """What a batch of events needs first (an import's chunk), read together."""

    markers: dict[str, dict[str, Any]]
    """Event id → its marker, for the event ids that were processed before."""
    owners: dict[Identifier, str]
    profiles: dict[str, Profile]
    orders: frozenset[str] = frozenset()
    """The order ids asked for that are stored already."""


@dataclass
class ChangeSet:
    """Everything one event changes, written atomically."""

    shop_id: str
    event_id: str
    event_type: str
    subject: str
    """What the event is about (an order id, a SKU, a customer id), checked on duplicates."""
    published: list[str] = field(default_factory=list)
    """Envelopes (JSON) published for this event, re-published if it arrives again."""
    profiles: list[tuple[Profile, int]] = field(default_factory=list)
    """(new state, version it was read at; 0 = must be new)."""
    new_orders: list[Order] = field(default_factory=list)
    updated_orders: list[tuple[Order, str]] = field(default_factory=list)
    """(new state, status it was read with)."""
    claims: list[tuple[Identifier, str, str | None]] = field(default_factory=list)
    """(identifier, new owner, owner it was read with; None = unowned)."""
    entered: list[tuple[str, str]] = field(default_factory=list)
    exited: list[tuple[str, str]] = field(default_factory=list)
    product: tuple[Product, int | None] | None = None
    """(new state, quantity it was read with; None = unknown product)."""
    activities: list[tuple[str, Activity]] = field(default_factory=list)
    """(customer, activity) the event adds, each group stored in its own small item."""
    after_commit: AfterCommit = field(default_factory=AfterCommit)
    """Writes left for after the transaction (a merge's clean-up)."""


def duplicate_of(marker: Mapping[str, Any]) -> DuplicateEvent:
    """The refusal of an event whose marker is `marker` (what it published and left)."""
    after_commit = marker.get("after_commit")
    return DuplicateEvent(
        list(marker.get("published", [])),
        marker.get("subject"),
        marker.get("type"),
        json.loads(after_commit) if after_commit else None,
    )
