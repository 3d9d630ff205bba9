"""The segmenter's ports, one per aggregate: the use cases take only the ones they use.

`segmenter.adapters.repository.DynamoProfileRepository` implements them all on the one
table; a test's fake implements the ports its use case takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from segmenter.domain.definitions import DerivedChange, MemberCounts, SegmentDefinition
from shared.adapters.dynamodb import Position

if TYPE_CHECKING:
    from pathlib import Path

    from segmenter.domain.analytics.snapshot import JourneyResult
    from segmenter.domain.identity import Identifier
    from segmenter.domain.membership import RfmInputs
    from segmenter.domain.model import Activity, Order, Profile
    from segmenter.domain.records import AfterCommit, BulkRead, ChangeSet, EventRead, Product
    from segmenter.domain.segments.stored import StoredProfiles

MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on the items of one TransactWriteItems: what one `commit_many` may hold."""


class ProfileStore:
    """Profiles and the identifiers that point at them."""

    def load(
        self, shop_id: str, identifiers: Sequence[Identifier], likely_customer: str | None
    ) -> tuple[dict[Identifier, str], Profile | None]:
        """Owners of the identifiers, and the likely profile if it exists (one round trip)."""
        raise NotImplementedError

    def load_for_event(
        self,
        shop_id: str,
        event_id: str,
        identifiers: Sequence[Identifier],
        likely_customer: str | None,
    ) -> EventRead:
        """`load`, plus the event id's marker if it was seen before. This default (for fakes)
        does not read the marker: the commit still refuses a duplicate."""
        from segmenter.domain.records import EventRead

        owners, profile = self.load(shop_id, identifiers, likely_customer)
        return EventRead(owners, profile)

    def get_profile(self, shop_id: str, customer_id: str) -> Profile | None:
        raise NotImplementedError

    def get_profiles(self, shop_id: str, customer_ids: Sequence[str]) -> list[Profile]:
        raise NotImplementedError

    def owner_of(self, shop_id: str, identifier: Identifier) -> str | None:
        raise NotImplementedError

    def iter_profiles(self, shop_id: str, now: datetime | None = None) -> Iterator[Profile]:
        """The shop's live profiles; given `now`, each with its kept activity history."""
        raise NotImplementedError

    def load_activities(
        self, shop_id: str, profile: Profile, windows: Mapping[str, int | None], now: datetime
    ) -> tuple[Activity, ...]:
        """The profile's kept history of the kinds in `windows`, each over its window in
        days (None: all that is kept)."""
        raise NotImplementedError

    def move_activities(self, shop_id: str, from_customer: str, to_customer: str) -> None:
        """Every activity of `from_customer` (merged away) now belongs to `to_customer`."""
        raise NotImplementedError

    def list_profiles(
        self, shop_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Profile], str | None]:
        raise NotImplementedError

    def move_identifiers(
        self, shop_id: str, identifiers: Sequence[tuple[Identifier, str]], to_customer: str
    ) -> None:
        """Point each (identifier, owner it had) at `to_customer`, unless it moved since."""
        raise NotImplementedError

    def update_derived(self, changes: Sequence[DerivedChange]) -> list[DerivedChange]:
        """Write nightly-derived fields (RFM, segments) of profiles unchanged since read
        (still at the change's version); returns those written (a profile an event changed
        meanwhile is left to that event)."""
        raise NotImplementedError

    def put_first_product(self, profile: Profile, sku: str) -> bool:
        """Set the profile's first product if it is still the version read (a backfill of
        profiles stored before the field existed); False when an event changed it since."""
        raise NotImplementedError

    def add_tag(self, shop_id: str, customer_id: str, tag: str) -> bool:
        """Put `tag` on the live profile, once; False when it has no profile or already
        had the tag (a retry changes nothing twice)."""
        raise NotImplementedError


class EventStore:
    """Processed events: one event's changes written at once, its marker read back."""

    def get_event(self, shop_id: str, event_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def commit(self, change: ChangeSet) -> AfterCommit | None:
        """Write the change atomically; returns the work left for after it (None: none)."""
        raise NotImplementedError


class OrderStore:
    """Orders."""

    def get_order(self, shop_id: str, order_id: str) -> Order | None:
        raise NotImplementedError

    def list_orders(self, shop_id: str, customer_id: str) -> list[Order]:
        raise NotImplementedError

    def orders_page(
        self, shop_id: str, customer_id: str, limit: int, after: Position | None
    ) -> tuple[list[Order], Position | None]:
        """One page of a customer's orders, oldest first, and where the next one starts."""
        raise NotImplementedError

    def move_orders(self, shop_id: str, from_customer: str, to_customer: str) -> None:
        """Every order of `from_customer` (merged away) now belongs to `to_customer`."""
        raise NotImplementedError


class SegmentStore:
    """Segment definitions, materialised membership and member counts."""

    def list_segments(self, shop_id: str) -> list[SegmentDefinition]:
        raise NotImplementedError

    def segments_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SegmentDefinition], Position | None]:
        """One page of the shop's own segment definitions by id, and where the next starts."""
        raise NotImplementedError

    def put_segment(self, shop_id: str, segment: SegmentDefinition) -> None:
        raise NotImplementedError

    def mark_tagged(self, shop_id: str, segment_id: str) -> None:
        """Its listed customers are all tagged: recomputes count it from now on. A segment
        deleted meanwhile stays deleted."""
        raise NotImplementedError

    def delete_segment(self, shop_id: str, segment_id: str) -> None:
        raise NotImplementedError

    def segment_members(
        self, shop_id: str, segment_id: str, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        raise NotImplementedError

    def set_memberships(
        self, shop_id: str, entered: Sequence[tuple[str, str]], exited: Sequence[tuple[str, str]]
    ) -> None:
        raise NotImplementedError

    def get_member_counts(self, shop_id: str) -> MemberCounts:
        raise NotImplementedError

    def put_member_counts(self, shop_id: str, counts: dict[str, int], counted_at: datetime) -> None:
        """A recount: replaces every count and what events added to them since the last."""
        raise NotImplementedError

    def forget_member_count(self, shop_id: str, segment_id: str) -> None:
        """The segment's count is not known (yet): it reads as computing."""
        raise NotImplementedError


class SegmentLists:
    """The customer ids of a segment of listed customers, kept as one object from the API
    call until the event function has tagged them all."""

    def put_listed(
        self, shop_id: str, segment_id: str, tag: str, customer_ids: Sequence[str]
    ) -> None:
        raise NotImplementedError

    def get_listed(self, shop_id: str, segment_id: str) -> tuple[str, list[str]] | None:
        """(tag, customer ids); None when no list is kept for the segment."""
        raise NotImplementedError

    def delete_listed(self, shop_id: str, segment_id: str) -> None:
        raise NotImplementedError


class AnalyticsStore(SegmentLists):
    """The analytics bucket: the pass's snapshot tables, its facts and status, the
    months' drill-down files, and the saved lists of customers. Test fakes subclass it."""

    def put_table(self, shop_id: str, table: str, path: Path) -> str:
        raise NotImplementedError

    def put_json(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        raise NotImplementedError

    def put_cells(self, shop_id: str, month: str, path: Path, kind: str = "cells") -> None:
        """A month's drill-down file (JSON lines), replacing the last pass's; `kind`
        ``cells`` (month ends) or ``cohorts`` (first-purchase months)."""
        raise NotImplementedError

    def get_cells(
        self, shop_id: str, month: str, kind: str = "cells"
    ) -> list[dict[str, Any]] | None:
        """A month's drill-down rows; None when the last pass kept none for the month."""
        raise NotImplementedError

    def get_json(self, shop_id: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError


class JourneyResults:
    """The messenger's journey results, for the ROI report. Test fakes subclass it; it
    raises `JourneyResultsUnavailable` when they cannot be read."""

    def read(self, shop_id: str) -> list[JourneyResult]:
        raise NotImplementedError


class ProductStore:
    """Products (stock, category, tags) and the shop's recommendation model."""

    def get_product(self, shop_id: str, sku: str) -> Product | None:
        raise NotImplementedError

    def get_products(self, shop_id: str, skus: Sequence[str]) -> dict[str, Product]:
        raise NotImplementedError

    def get_reco_model(self, shop_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def put_reco_model(self, shop_id: str, model: dict[str, Any]) -> None:
        raise NotImplementedError


class SettingStore:
    """A shop's settings by name (RFM config, CLV inputs, message costs)."""

    def get_setting(self, shop_id: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def put_setting(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        raise NotImplementedError


class ProfileRepository(
    ProfileStore, EventStore, OrderStore, SegmentStore, ProductStore, SettingStore
):
    """Every port of the segmenter's one table, for the adapter that implements them all
    and the callers that still take the whole of it (the importer, the analytics)."""

    def load_many(
        self,
        shop_id: str,
        event_ids: Sequence[str],
        identifiers: Sequence[Identifier],
        customer_ids: Sequence[str],
        order_ids: Sequence[str] = (),
    ) -> BulkRead:
        """Markers, identifier owners, profiles and which orders exist, for a batch, in as
        few round trips as the store allows. This default (for fakes) reads no markers:
        the commit still refuses a duplicate."""
        owners, _ = self.load(shop_id, identifiers, None)
        profiles = {c: p for c in customer_ids if (p := self.get_profile(shop_id, c)) is not None}
        orders = frozenset(o for o in order_ids if self.get_order(shop_id, o) is not None)
        return BulkRead({}, owners, profiles, orders)

    def commit_many(self, changes: Sequence[ChangeSet]) -> None:
        """Write several events' changes atomically, together (all or none). Raises
        `ConcurrentUpdate` when any condition fails: the caller redoes them one by one,
        which tells a duplicate from a conflict. None may leave after-commit work. This
        default (for fakes) commits them one after the other."""
        for change in changes:
            self.commit(change)


class ScanSegments:
    """The table read as DynamoDB parallel-scan segments: what one nightly fan-out child
    reads. A customer's profile and activity items share a partition key, so they fall
    in the same segment."""

    def segment_profiles(self, segment: int, total: int, now: datetime) -> dict[str, list[Profile]]:
        """The live profiles of scan segment `segment` of `total`, by shop, each with its
        activity history kept at `now`."""
        raise NotImplementedError

    def segment_columns(self, segment: int, total: int, now: datetime) -> dict[str, StoredProfiles]:
        """`segment_profiles` as columns (`segments.stored`), read straight from the
        items' attribute values: no profile object per customer."""
        raise NotImplementedError

    def segment_rfm_inputs(self, segment: int, total: int) -> dict[str, RfmInputs]:
        """What RFM reads of the live profiles of scan segment `segment`, by shop, read
        straight from the items (a projection: no profile object per customer)."""
        raise NotImplementedError


class NightlyRuns:
    """What a nightly fan-out run keeps between its steps (the analytics bucket's
    `nightly/<run>/`): JSON records and named numpy arrays."""

    def put_json(self, run: str, name: str, value: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def get_json(self, run: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def put_arrays(self, run: str, name: str, arrays: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def get_arrays(self, run: str, name: str) -> dict[str, Any] | None:
        raise NotImplementedError


class PersonalDataStore:
    """Everything the table holds on a person, for disclosure and erasure."""

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        """The stored profiles and orders of these ids, as JSON-ready dicts."""
        raise NotImplementedError

    def erase(self, shop_id: str, customer_id: str, anonymous_id: str) -> Iterator[dict[str, int]]:
        """Remove the person's items, keep their orders' amounts under `anonymous_id`;
        idempotent. Yields, step by step as each completes, how many items of each kind
        it removed this time (a retried step that finds nothing yields 0), so the caller
        can log what is done before a later step fails."""
        raise NotImplementedError
