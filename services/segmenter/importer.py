"""Import historical orders from a CSV file through the normal order ingest.

Each parsed order goes through `record_order` as a historical command, so an
imported order lands exactly like a live one (same transaction, same profile fold) but
publishes no `order.placed`: a two-year-old order must not trigger a welcome mail.

Re-running a file changes nothing: every order's event id is derived from its content,
so a re-run is a duplicate. When the event marker has expired (after 90 days) or the
storefront already sent the order live, the stored order is compared with the file's:
equal content counts as a duplicate, different content as a conflict (never overwritten).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from segmenter.domain.commands import RecordOrder
from segmenter.domain.errors import OrderAlreadyRecorded
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
from segmenter.services.ingest import Clock, Ingest, record_order
from segmenter.services.ports import ProfileRepository
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventPublisher
from shared.errors import Conflict
from shared.log import get_logger

DEFAULT_MAX_ERRORS = 100
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
    for n, item in enumerate(parser, start=1):
        summary.rows_read = parser.rows_read
        if isinstance(item, ParsedOrder):
            _record(item, shop_id, repo, publisher, clock, summary)
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
    summary.rows_read = parser.rows_read
    if progress is not None:
        progress(summary)
    _log.info("orders imported", extra={"shop": shop_id, **summary.as_dict()})
    return summary
