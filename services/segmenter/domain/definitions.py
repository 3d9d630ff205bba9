"""A segment's stored definition and the nightly change of a profile's segments: the
record types of the segments aggregate, apart from the ingest's (`records.py`), so a
segment list builds only these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from segmenter.domain.model import RfmScore


@dataclass(frozen=True)
class SegmentDefinition:
    segment_id: str
    name: str
    rule: dict[str, Any]
    description: str = ""
    builtin: bool = False
    created_at: datetime | None = None
    member_count: int | None = None
    counted_at: datetime | None = None
    """When a recompute last counted the members; every event since has kept
    `member_count` up to date (in its own transaction), so the count is live."""
    tagging: bool = False
    """A segment of listed customers whose customers the event function is still tagging:
    no recompute or event counts it until all are, so it is never `ready` with a part."""

    @property
    def status(self) -> str:
        """`ready` once a recompute counted the segment, `computing` until then."""
        return "computing" if self.member_count is None else "ready"


class MemberCounts(NamedTuple):
    """A shop's segment member counts: the last recompute's, plus every membership change
    an event made since (added in the event's own transaction, so a redelivered event,
    refused by its marker, adds nothing). A segment no recompute has counted yet is
    absent (it reads as computing). A named tuple: a segment list builds it, and a frozen
    dataclass costs a cold start about 7x as much to define."""

    counts: dict[str, int]
    counted_at: datetime | None = None


def count_deltas(
    entered: Iterable[tuple[str, str]], exited: Iterable[tuple[str, str]]
) -> dict[str, int]:
    """Segment → change in members, from (segment, customer) entries and exits; segments
    whose changes cancel out are left out."""
    deltas: dict[str, int] = {}
    for moved, sign in ((entered, 1), (exited, -1)):
        for segment_id, _ in moved:
            deltas[segment_id] = deltas.get(segment_id, 0) + sign
    return {seg: d for seg, d in deltas.items() if d}


@dataclass(frozen=True)
class DerivedChange:
    """A profile's nightly-derived fields to write (its score and segments), on the
    version they were computed from, with the segments it entered and left."""

    shop_id: str
    customer_id: str
    version: int
    rfm: RfmScore | None
    segments: frozenset[str]
    entered: tuple[str, ...] = ()
    exited: tuple[str, ...] = ()
