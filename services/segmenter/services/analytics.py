"""Analytics use cases: refresh on request, the pass itself, reading a report, ad spend
and message rates.

The pass (`run_pass`) imports the DuckDB engine when it runs, so this module stays light
for the API function, which only reads what the pass stored. The pass also fits the
shop's predictive CLV on the tables it built (`segmenter.services.clv.ClvHook`) and writes
each profile's ``clv`` block: only the analytics function (a container image) carries
DuckDB and scipy.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmenter.domain.analytics import SNAPSHOT_TABLES
from segmenter.domain.analytics.cells import Cell, customers_of
from segmenter.domain.analytics.snapshot import ProfileRef, SnapshotBuilder, shop_date
from segmenter.domain.analytics.views import AdSpend, Period, ReportInputs, render
from segmenter.domain.errors import JourneyResultsUnavailable
from segmenter.domain.model import ClvScore
from segmenter.services.clv import ClvHook
from segmenter.services.ports import ProfileRepository
from shared.adapters.dynamodb import Position
from shared.contracts.channels import CHANNELS
from shared.contracts.envelope import EventEnvelope
from shared.errors import InvalidInput, NotFound
from shared.log import get_logger
from shared.paging import page_after

if TYPE_CHECKING:
    from segmenter.adapters.duckdb_engine import FactsHook
    from segmenter.bootstrap import AnalyticsPorts
    from segmenter.domain.definitions import SegmentDefinition
    from segmenter.services.segments import Segments
    from shared.adapters.eventbridge import EventPublisher

_log = get_logger("kizuna.analytics")
MESSAGE_COSTS_SETTING = "analytics.message_costs"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_AD_SPEND_ROWS = 10_000


@dataclass(frozen=True)
class ReportPending:
    """The report has not been computed for this shop yet (or is being computed)."""

    status: str
    """not_computed | queued | running | failed"""
    message: str
    requested_at: str | None = None


@dataclass(frozen=True)
class ReportResult:
    name: str
    as_of: str
    computed_at: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class PassSummary:
    shop_id: str
    orders: int
    customers: int
    files: dict[str, str]
    seconds: float
    clv_scored: int = 0
    clv_refused: str | None = None
    """why the shop got no CLV model in this pass ("not enough history: …"), None when it did"""
    clv_written: int = 0
    """profiles whose clv block changed and was written"""
    clv_params: dict[str, float] = field(default_factory=dict)
    """the fitted r, alpha, a, b, p, q, gamma with n and log_likelihood; empty when refused"""


def request_refresh(
    ports: AnalyticsPorts, publisher: EventPublisher, shop_id: str, now: datetime
) -> dict[str, Any]:
    """Record the request and hand it to the analytics function (event
    `analytics.refresh_requested`); the pass runs there, not in the API."""
    status = {"status": "queued", "requested_at": now.isoformat()}
    ports.store.put_json(shop_id, "status", status)
    envelope = EventEnvelope(
        id=f"analytics-refresh-{shop_id}-{int(now.timestamp() * 1000)}",
        shop=shop_id,
        type="analytics.refresh_requested",
        time=now,
        detail={"requested_at": now.isoformat()},
    )
    publisher.publish([envelope])
    return status


def run_pass(
    ports: AnalyticsPorts,
    shop_id: str,
    now: datetime,
    hooks: Sequence[FactsHook] = (),
    monthly_discount_rate: float | None = None,
) -> PassSummary:
    """The one pass over a shop's data: read profiles and orders once, streamed a chunk at
    a time into the engine's columnar tables (no Python object per order is kept), write
    the Parquet snapshot, compute every report's facts and fit the CLV model on the same
    tables, store the facts and each profile's CLV block (`monthly_discount_rate`: the
    shop's setting `clv.monthly_discount_rate`, None for the default)."""
    from segmenter.adapters.duckdb_engine import Snapshot

    started = time.perf_counter()
    ports.store.put_json(shop_id, "status", {"status": "running", "started_at": now.isoformat()})
    try:
        as_of = shop_date(now)
        fit = ClvHook(now, monthly_discount_rate)
        with (
            tempfile.TemporaryDirectory(prefix="kizuna-analytics-") as tmp,
            Snapshot() as snapshot,
        ):
            builder = SnapshotBuilder(snapshot.append)
            for item in ports.data.scan_shop(shop_id):
                builder.add(item)
            survivors = builder.finish()
            result = snapshot.run(
                as_of,
                Path(tmp),
                survivors=survivors,
                campaigns=ports.campaigns.read(shop_id),
                hooks=(fit, *hooks),
            )
            files = {
                table: ports.store.put_table(shop_id, table, result.files[table])
                for table in SNAPSHOT_TABLES
            }
            for month, path in result.cells.items():
                ports.store.put_cells(shop_id, month, path)
            for month, path in result.cohorts.items():
                ports.store.put_cells(shop_id, month, path, "cohorts")
        computed = {
            "as_of": as_of.isoformat(),
            "computed_at": now.isoformat(),
            "orders": result.orders,
            "customers": result.customers,
            "facts": {**result.facts, **_journey_facts(ports, shop_id)},
        }
        ports.store.put_json(shop_id, "facts", computed)
        clv_written = ports.data.put_clv(_clv_changes(builder.refs, fit.scores))
    except Exception as err:
        ports.store.put_json(shop_id, "status", {"status": "failed", "error": type(err).__name__})
        raise
    ports.store.put_json(shop_id, "status", {"status": "ready", "computed_at": now.isoformat()})
    return PassSummary(
        shop_id,
        result.orders,
        result.customers,
        files,
        time.perf_counter() - started,
        clv_scored=len(fit.scores),
        clv_refused=fit.refused,
        clv_written=clv_written,
        clv_params=dict(fit.params),
    )


def _journey_facts(ports: AnalyticsPorts, shop_id: str) -> dict[str, Any]:
    """The messenger's journey results; a messenger that does not answer leaves the report
    without journey rows (and says why in `journeys_unavailable`) rather than failing the
    snapshot, the reports and the CLV fit with it."""
    try:
        results = ports.journeys.read(shop_id)
        return {
            "journeys": [j.fact() for j in results if j.month is None],
            "journey_cohorts": [j.fact() for j in results if j.month is not None],
        }
    except JourneyResultsUnavailable as err:
        _log.warning("journey results unavailable", extra={"shop": shop_id, "error": str(err)})
        return {"journeys": [], "journeys_unavailable": str(err)}


def _clv_changes(
    profiles: Sequence[ProfileRef], scores: dict[str, ClvScore]
) -> list[tuple[ProfileRef, ClvScore | None]]:
    """Each live profile whose stored CLV block differs from tonight's (None: a profile the
    fit no longer scores, e.g. the shop fell below a threshold, loses its old block)."""
    return [(p, scores.get(p.customer_id)) for p in profiles if scores.get(p.customer_id) != p.clv]


def report(
    ports: AnalyticsPorts,
    profiles: ProfileRepository,
    shop_id: str,
    name: str,
    period: Period,
    basis: str = "revenue",
    target_roi: float = 1.0,
) -> ReportResult | ReportPending:
    """One report from the last pass's facts, or why there is none yet."""
    computed = ports.store.get_json(shop_id, "facts")
    if computed is None:
        return _not_yet(ports, shop_id)
    inputs = ReportInputs(
        as_of=datetime.fromisoformat(computed["as_of"]).date(),
        period=period,
        basis=basis,
        ad_spend=ports.data.list_ad_spend(shop_id) if name == "channels" else (),
        message_costs=get_message_costs(profiles, shop_id) if name == "campaigns" else {},
        target_roi=target_roi,
    )
    return ReportResult(
        name, computed["as_of"], computed["computed_at"], render(name, computed["facts"], inputs)
    )


# ---------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class CellCustomers:
    """One page of a report cell's customers, as the last pass kept them."""

    cell: Cell
    as_of: str
    count: int
    customer_ids: list[str]
    next_after: str | None


def _not_yet(ports: AnalyticsPorts, shop_id: str) -> ReportPending:
    """Why the shop has no facts: never computed, queued, running or failed."""
    status = ports.store.get_json(shop_id, "status") or {}
    state = str(status.get("status", "not_computed"))
    if state == "ready":  # facts written elsewhere were lost: say so plainly
        state = "not_computed"
    messages = {
        "not_computed": "analytics have not been computed for this shop yet; "
        "POST /v1/analytics/refresh or wait for the nightly run",
        "queued": "an analytics refresh is queued for this shop",
        "running": "analytics are being computed for this shop",
        "failed": "the last analytics run failed; POST /v1/analytics/refresh to retry",
    }
    return ReportPending(
        state, messages.get(state, messages["not_computed"]), status.get("requested_at")
    )


def _cell_ids(
    ports: AnalyticsPorts, shop_id: str, cell: Cell
) -> tuple[str, list[str]] | ReportPending:
    """The pass's as-of day and the cell's sorted customer ids, or why there are none yet
    (a 404 naming the month when the pass kept none for it)."""
    computed = ports.store.get_json(shop_id, "facts")
    if computed is None:
        return _not_yet(ports, shop_id)
    cohorts = [
        str(r["month"]) for r in computed["facts"].get("retention", ()) if not r["month_offset"]
    ]
    rows: list[dict[str, Any]] = []
    for month in cell.months(cohorts):
        got = ports.store.get_cells(shop_id, month, cell.kind)
        if got is None:
            raise NotFound(f"the last analytics pass has no customers for {month}", field="month")
        rows += got
    return str(computed["as_of"]), customers_of(rows, cell)


def cell_customers(
    ports: AnalyticsPorts, shop_id: str, cell: Cell, limit: int, after: str | None
) -> CellCustomers | ReportPending:
    """A page of the customers behind `cell` at its month's end, or why not yet."""
    got = _cell_ids(ports, shop_id, cell)
    if isinstance(got, ReportPending):
        return got
    as_of, ids = got
    found, next_after = page_after(ids, limit, after)
    return CellCustomers(cell, as_of, len(ids), found, next_after)


def save_cell_segment(
    ports: AnalyticsPorts,
    segments: Segments,
    shop_id: str,
    cell: Cell,
    segment_id: str,
    name: str,
    description: str,
) -> SegmentDefinition | ReportPending:
    """The cell's customers as a segment of listed customers (tagged with the cell and
    the pass's day, so the same cell of another pass is another tag)."""
    got = _cell_ids(ports, shop_id, cell)
    if isinstance(got, ReportPending):
        return got
    as_of, ids = got
    tag = f"cell:{cell.report}:{cell.where}:{cell.name}@{as_of}"
    return segments.create_for_customers(shop_id, segment_id, name, description, tag, ids)


# ---------------------------------------------------------------------------- ad spend


def put_ad_spend(ports: AnalyticsPorts, shop_id: str, entries: Sequence[AdSpend]) -> int:
    ports.data.put_ad_spend(shop_id, entries)
    return len(entries)


def ad_spend_page(
    ports: AnalyticsPorts, shop_id: str, limit: int, after: Position | None
) -> tuple[list[AdSpend], Position | None]:
    """One page of the entered ad spend, by channel then month, and where the next starts."""
    return ports.data.ad_spend_page(shop_id, limit, after)


def parse_ad_spend_csv(text: str) -> list[AdSpend]:
    """`channel,month,amount` with a header (month YYYY-MM, amount ≥ 0). A bad row is
    refused whole, naming its line and column; nothing is stored."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("channel", "month", "amount") if c not in header]
    if missing:
        raise InvalidInput(
            f"the CSV header must name channel, month and amount (missing {', '.join(missing)})",
            field="header",
        )
    out: list[AdSpend] = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        out.append(
            ad_spend_entry(
                row.get("channel", ""),
                row.get("month", ""),
                row.get("amount", ""),
                f"line {number}",
            )
        )
        if len(out) > MAX_AD_SPEND_ROWS:
            raise InvalidInput(f"at most {MAX_AD_SPEND_ROWS} rows per upload", field="body")
    return out


def ad_spend_entry(channel: str, month: str, amount: str, where: str) -> AdSpend:
    if not channel or len(channel) > 64:
        raise InvalidInput(f"{where}: channel must be 1-64 characters", field=f"{where}.channel")
    if not _MONTH.match(month):
        raise InvalidInput(f"{where}: month must be YYYY-MM", field=f"{where}.month")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise InvalidInput(f"{where}: amount must be a number", field=f"{where}.amount") from None
    if not value.is_finite() or value < 0 or value > Decimal("1e13"):
        raise InvalidInput(f"{where}: amount must be between 0 and 10^13", field=f"{where}.amount")
    return AdSpend(channel, month, float(value))


# ---------------------------------------------------------------------------- message rates


def get_message_costs(profiles: ProfileRepository, shop_id: str) -> dict[str, float]:
    stored = profiles.get_setting(shop_id, MESSAGE_COSTS_SETTING) or {}
    return {k: float(v) for k, v in stored.items() if k in CHANNELS}


def set_message_costs(
    profiles: ProfileRepository, shop_id: str, costs: dict[str, Decimal]
) -> dict[str, float]:
    profiles.put_setting(shop_id, MESSAGE_COSTS_SETTING, {k: str(v) for k, v in costs.items()})
    return get_message_costs(profiles, shop_id)
