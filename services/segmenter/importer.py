"""Import historical orders from a CSV file through the normal order ingest.

Each parsed order goes through `record_order` as a historical command, so an
imported order lands exactly like a live one (same transaction, same profile fold) but
publishes `order.imported`, not `order.placed`: a two-year-old order must not trigger a
welcome mail, end a journey or count as a conversion, yet the messenger must know the
person's past (the win-back names their first product). The events of a transaction are
published once it committed (not kept on the markers: those keep no personal data, and
a re-run reads no more for them); an order found imported before is published again,
built from the profile the batch read, so a re-run completes an import that crashed
between a commit and its publish. Consumers write nothing twice (same event ids).

Orders are read and written in batches (`BATCH_ORDERS` at a time): one read for the
batch's event markers, identifier owners, profiles and stored orders, then one transaction per up to
100 items holding several orders, each with the conditions `record_order` would write
(the order and its marker must be new, the profile at the version read, each claim on
the owner read). A customer's orders in a batch fold into one profile write. Whatever a
batch cannot decide alone (a merge of two profiles, a profile merged away, a marker with
work left, an order stored already) and every order of a transaction a condition refused
go through `record_order` one by one, which tells a duplicate from a conflict exactly as
a single event does.

Re-running a file changes nothing: every order's event id is derived from its content,
so a re-run is a duplicate. When the event marker has expired (after 90 days) or the
storefront already sent the order live, the stored order is compared with the file's:
equal content counts as a duplicate, different content as a conflict (never overwritten).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from segmenter.domain.commands import RecordOrder
from segmenter.domain.errors import ConcurrentUpdate, OrderAlreadyRecorded
from segmenter.domain.identity import Identifier, identifiers_of, resolve
from segmenter.domain.model import Attributes, Profile
from segmenter.domain.order_import import (
    OrderCsvParser,
    OrderFormat,
    ParsedOrder,
    RejectedOrder,
    RowError,
    SkippedOrder,
    UnreadableFile,
    order_digest,
)
from segmenter.domain.records import ChangeSet
from segmenter.services.ingest import Clock, Ingest, imported_envelope, record_order
from segmenter.services.ports import MAX_TRANSACTION_ITEMS, ProfileRepository
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope
from shared.errors import Conflict
from shared.log import get_logger

DEFAULT_MAX_ERRORS = 100
BATCH_ORDERS = 100
"""Orders read together; their writes go in transactions of up to 100 items."""
_log = get_logger("kizuna.segmenter.import")


@dataclass
class ImportSummary:
    """What an import did. `errors` keeps the first `max_errors` only (memory stays flat
    on a file full of bad rows); `error_count` counts them all."""

    rows_read: int = 0
    orders_imported: int = 0
    duplicates_skipped: int = 0
    orders_rejected: int = 0
    orders_conflicting: int = 0
    orders_skipped: int = 0
    """Cancelled, refunded or voided orders, left out on purpose."""
    completed: bool = True
    """False when the file became unreadable part way (the rest was not read)."""
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    max_errors: int = DEFAULT_MAX_ERRORS

    @property
    def all_loaded(self) -> bool:
        """Every order of the file is now in Kizuna (imported now or before) or skipped."""
        return self.completed and not self.orders_rejected and not self.orders_conflicting

    def add_errors(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            self.error_count += 1
            if len(self.errors) < self.max_errors:
                self.errors.append(error)

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "rows_read": self.rows_read,
            "orders_imported": self.orders_imported,
            "duplicates_skipped": self.duplicates_skipped,
            "orders_rejected": self.orders_rejected,
            "orders_conflicting": self.orders_conflicting,
            "orders_skipped": self.orders_skipped,
            "error_count": self.error_count,
            "completed": self.completed,
        }


Progress = Callable[[ImportSummary], None]


def utcnow() -> datetime:
    return shared_clock.now()


def _record(
    parsed: ParsedOrder,
    shop_id: str,
    repo: ProfileRepository,
    publisher: EventPublisher,
    clock: Clock,
    summary: ImportSummary,
) -> None:
    cmd = RecordOrder(
        event_id=parsed.event_id,
        shop_id=shop_id,
        order=parsed.order,
        contact=parsed.contact,
        consents=parsed.consents,
        historical=True,
    )
    try:
        result = record_order(cmd, Ingest.historical(repo, publisher, clock))
    except OrderAlreadyRecorded:
        stored = repo.get_order(shop_id, parsed.order.order_id)
        if stored is not None and order_digest(stored) == order_digest(parsed.order):
            summary.duplicates_skipped += 1
            return
        summary.orders_conflicting += 1
        summary.add_errors(
            [
                RowError(
                    parsed.line,
                    "order already recorded with different content (its rows are not "
                    "contiguous in the file, it changed since an earlier import, or the "
                    "storefront sent it live); the stored order is kept",
                )
            ]
        )
        return
    except Conflict as err:
        summary.orders_conflicting += 1
        summary.add_errors([RowError(parsed.line, err.message)])
        return
    if result.duplicate:
        summary.duplicates_skipped += 1
    else:
        summary.orders_imported += 1


def import_orders(
    lines: Iterable[str],
    fmt: OrderFormat | str,
    shop_id: str,
    repo: ProfileRepository,
    publisher: EventPublisher,
    *,
    clock: Clock = utcnow,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: Progress | None = None,
    progress_every: int = 200,
) -> ImportSummary:
    """Stream `lines` (text lines of the CSV, header first) into the shop's profiles.

    Raises `ImportFormatError` before writing anything if the header does not fit the
    format. An AWS failure (`DependencyFailed`) stops the import; running it again
    resumes, since everything already written is skipped as a duplicate."""
    parser = OrderCsvParser(lines, fmt)
    summary = ImportSummary(max_errors=max_errors)
    batch: list[ParsedOrder] = []
    for n, item in enumerate(parser, start=1):
        summary.rows_read = parser.rows_read
        if isinstance(item, ParsedOrder):
            batch.append(item)
            if len(batch) >= BATCH_ORDERS:
                _record_batch(batch, shop_id, repo, publisher, clock, summary)
                batch = []
        elif isinstance(item, RejectedOrder):
            summary.orders_rejected += 1
            summary.add_errors(item.errors)
        elif isinstance(item, SkippedOrder):
            summary.orders_skipped += 1
        elif isinstance(item, UnreadableFile):
            summary.completed = False
            summary.add_errors([item.error])
        if progress is not None and n % progress_every == 0:
            progress(summary)
    _record_batch(batch, shop_id, repo, publisher, clock, summary)
    summary.rows_read = parser.rows_read
    if progress is not None:
        progress(summary)
    _log.info("orders imported", extra={"shop": shop_id, **summary.as_dict()})
    return summary


@dataclass
class _Transaction:
    """Orders planned into one transaction: a change per order, and per customer the
    profile as folded so far with the version it was read at."""

    changes: list[tuple[str, ChangeSet]] = field(default_factory=list)
    """(customer id, change) per order, in file order."""
    orders: list[ParsedOrder] = field(default_factory=list)
    profiles: dict[str, tuple[Profile, int]] = field(default_factory=dict)
    items: int = 0
    keys: set[str] = field(default_factory=set)
    """Order and event ids in it: an item may appear only once in a transaction."""
    envelopes: list[EventEnvelope] = field(default_factory=list)
    """Its `order.imported` events, published once it committed."""


class _Batch:
    """One chunk of the file: read once, planned in memory, written in few transactions.

    What was read can go stale (a refused transaction, an order that took the single
    path); that is never unsafe, since every write is conditional on what was read: a
    stale plan is refused and its orders go one by one. Customers of a refused
    transaction take the single path for the rest of the chunk."""

    def __init__(
        self,
        batch: list[ParsedOrder],
        shop_id: str,
        repo: ProfileRepository,
        record: Callable[[ParsedOrder], None],
        summary: ImportSummary,
        now: datetime,
        publisher: EventPublisher,
    ) -> None:
        self.shop_id = shop_id
        self.repo = repo
        self.publisher = publisher
        self.record = record
        self.summary = summary
        self.now = now
        self.wanted = [identifiers_of(p.order.customer_id, p.contact) for p in batch]
        identifiers = [i for ids in self.wanted for i in ids]
        read = repo.load_many(
            shop_id,
            [p.event_id for p in batch],
            identifiers,
            [i.value for i in identifiers if i.kind == "ext"],
            [p.order.order_id for p in batch],
        )
        found = dict(read.profiles)
        unread = sorted({c for c in read.owners.values() if c not in found})
        if unread:
            found |= repo.load_many(shop_id, [], [], unread).profiles
        self.markers = read.markers
        self.stored_orders = read.orders
        self.owners = dict(read.owners)
        self.profiles = {c: (p, p.version) for c, p in found.items()}
        self.owned = set(read.owners.values())
        """Customers some identifier pointed at when read (their profile must exist)."""
        self.tainted: set[str] = set()
        self.txn = _Transaction()
        self.republish: list[EventEnvelope] = []
        """The `order.imported` of orders imported before (`_republish_imported`)."""

    def run(self, batch: list[ParsedOrder]) -> None:
        for parsed, ids in zip(batch, self.wanted, strict=True):
            marker = self.markers.get(parsed.event_id)
            if marker is not None and _plain_duplicate(marker, parsed):
                self.summary.duplicates_skipped += 1
                self._republish_imported(parsed, ids)
                continue
            single = marker is not None or parsed.order.order_id in self.stored_orders
            planned = None if single else self._plan(parsed, ids)
            if planned is None:
                self.flush()
                self.record(parsed)
                continue
            customer_id, change, needed = planned
            keys = {f"o:{parsed.order.order_id}", f"e:{parsed.event_id}"}
            if self.txn.items + needed > MAX_TRANSACTION_ITEMS or self.txn.keys & keys:
                self.flush()
                planned = self._plan(parsed, ids)
                if planned is None:
                    self.record(parsed)
                    continue
                customer_id, change, needed = planned
            self._add(parsed, customer_id, change, needed, keys)
        self.flush()
        if self.republish:
            self.publisher.publish(self.republish)

    def _republish_imported(self, parsed: ParsedOrder, ids: list[Identifier]) -> None:
        """An order imported before: its `order.imported` once more, from the profile
        this batch read (no request more), so a re-run completes an import that crashed
        between a commit and its publish. The consumers write nothing twice."""
        if not ids:
            return
        customer_id = resolve(ids, self.owners)
        found = self.profiles.get(customer_id)
        if found is None or found[0].merged_into:
            return
        order = replace(parsed.order, customer_id=customer_id)
        self.republish.append(
            imported_envelope(parsed.event_id, self.shop_id, order, found[0], self.now)
        )

    def _plan(
        self, parsed: ParsedOrder, ids: list[Identifier]
    ) -> tuple[str, ChangeSet, int] | None:
        """The order's change as `record_order` would write it, or None when it needs
        the single path (no identifier, a merge, a merged or unknown profile)."""
        if not ids:
            return None
        customer_id = resolve(ids, self.owners)
        merges = any(self.owners.get(i, customer_id) != customer_id for i in ids)
        if merges or customer_id in self.tainted:
            return None
        current = self.txn.profiles.get(customer_id) or self.profiles.get(customer_id)
        if current is None:
            if customer_id in self.owned:
                return None  # an owner whose profile was not found: let the single path see
            fresh = Profile(self.shop_id, customer_id, attributes=Attributes(created_at=self.now))
            current = (fresh, 0)
        profile, version = current
        if profile.merged_into:
            return None
        claims = [
            (i, customer_id, self.owners.get(i))
            for i in dict.fromkeys(ids)
            if self.owners.get(i) != customer_id
        ]
        order = replace(parsed.order, customer_id=customer_id)
        claimed = profile.identifiers | {i.key for i, _, _ in claims}
        folded = (
            replace(profile, identifiers=claimed)
            .with_contact(parsed.contact, parsed.consents)
            .with_order(order)
        )
        added = folded.new_activities(profile)
        envelope = imported_envelope(parsed.event_id, self.shop_id, order, folded, self.now)
        change = ChangeSet(
            shop_id=self.shop_id,
            event_id=parsed.event_id,
            event_type="order.placed",
            subject=order.order_id,
            new_orders=[order],
            claims=claims,
            activities=[(customer_id, a) for a in added],
        )
        fresh_in_txn = customer_id not in {c for c, _ in self.txn.changes}
        groups = len({(a.kind, a.at, a.ref) for a in added})  # one activity item each
        needed = 2 + len(claims) + groups + (1 if fresh_in_txn else 0)
        self._pending = (folded, version)
        self._pending_event = envelope
        return customer_id, change, needed

    def _add(
        self, parsed: ParsedOrder, customer_id: str, change: ChangeSet, needed: int, keys: set[str]
    ) -> None:
        txn = self.txn
        txn.changes.append((customer_id, change))
        txn.orders.append(parsed)
        txn.profiles[customer_id] = self._pending
        txn.items += needed
        txn.keys |= keys
        txn.envelopes.append(self._pending_event)
        for identifier, owner, _ in change.claims:
            self.owners[identifier] = owner

    def flush(self) -> None:
        """Commit the planned transaction; if a condition refuses it, its orders go one
        by one and its customers take the single path for the rest of the chunk."""
        txn, self.txn = self.txn, _Transaction()
        if not txn.changes:
            return
        last = {customer_id: i for i, (customer_id, _) in enumerate(txn.changes)}
        for customer_id, i in last.items():
            txn.changes[i][1].profiles = [txn.profiles[customer_id]]
        try:
            self.repo.commit_many([change for _, change in txn.changes])
        except ConcurrentUpdate:
            self.tainted |= set(last)
            for parsed in txn.orders:
                self.record(parsed)
            return
        self.summary.orders_imported += len(txn.orders)
        self.publisher.publish(txn.envelopes)
        for customer_id, (profile, version) in txn.profiles.items():
            self.profiles[customer_id] = (profile, version + 1)


def _plain_duplicate(marker: dict[str, object], parsed: ParsedOrder) -> bool:
    """Whether the marker is this order's, imported before, with nothing left to redo."""
    return (
        marker.get("type") == "order.placed"
        and marker.get("subject") == parsed.order.order_id
        and not marker.get("after_commit")
    )


def _record_batch(
    batch: list[ParsedOrder],
    shop_id: str,
    repo: ProfileRepository,
    publisher: EventPublisher,
    clock: Clock,
    summary: ImportSummary,
) -> None:
    """`record_order` for each order of `batch`, with one read and few transactions."""
    if not batch:
        return

    def record(parsed: ParsedOrder) -> None:
        _record(parsed, shop_id, repo, publisher, clock, summary)

    _Batch(batch, shop_id, repo, record, summary, clock(), publisher).run(batch)
