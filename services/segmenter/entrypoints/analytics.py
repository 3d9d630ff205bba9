"""The analytics function (its own Lambda, AnalyticsFunction): the nightly schedule and
`analytics.refresh_requested` events run the pass. This is the only handler that loads
DuckDB, numpy and scipy (the CLV fit), and only when a pass runs; it is deployed as a
container image (infra/analytics.Dockerfile, services/requirements-analytics.txt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from segmenter import bootstrap
from segmenter.bootstrap import AnalyticsPorts, SegmenterContainer
from segmenter.services import analytics, clv
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import LazyContainer, dispatch
from shared.scheduled import for_each_shop

container = LazyContainer(bootstrap.build)
reset = container.reset


def _ports(c: SegmenterContainer) -> AnalyticsPorts:
    return c.analytics


def _summary(result: analytics.PassSummary) -> dict[str, Any]:
    return {
        "orders": result.orders,
        "customers": result.customers,
        "files": result.files,
        "seconds": round(result.seconds, 3),
        "clv_scored": result.clv_scored,
        "clv_refused": result.clv_refused,
        "clv_written": result.clv_written,
        "clv_params": result.clv_params,
    }


def _run(c: SegmenterContainer, shop_id: str, now: datetime) -> dict[str, Any]:
    """The pass, then (when it changed any CLV block) the segments that read CLV fields:
    the nightly recompute runs before this pass, so without it they would lag a day."""
    rate = clv.monthly_discount_rate(c.profiles, shop_id)
    result = analytics.run_pass(_ports(c), shop_id, now, monthly_discount_rate=rate)
    segments = c.segments.refresh_after_clv(shop_id, now) if result.clv_written else None
    return {**_summary(result), "segments_recomputed": segments is not None}


def on_refresh_requested(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.AnalyticsRefreshRequested)
    c = container()
    return _run(c, envelope.shop, c.clock())


def nightly_analytics() -> dict[str, Any]:
    """Every shop's snapshot and reports, each shop isolated from the others' failures."""
    c = container()
    now = c.clock()
    run = for_each_shop(
        "nightly-analytics",
        (shop.shop_id for shop in c.keys.list_shops()),
        lambda shop_id: _run(c, shop_id, now),
    )
    return {"shops": run.results, **run.report()}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={"analytics.refresh_requested": on_refresh_requested},
        schedules={"nightly-analytics": nightly_analytics},
    )
