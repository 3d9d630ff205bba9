"""Segmenter event handler: EventBridge rules and schedules (not routed through Mangum)."""

from __future__ import annotations

from typing import Any

from segmenter import bootstrap, services
from segmenter.domain.commands import RecordPreferences
from segmenter.services import audience, segments
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import LazyContainer, dispatch
from shared.scheduled import for_each_shop

container = LazyContainer(bootstrap.build)


def reset() -> None:
    container.use(None)


def on_message_engaged(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.MessageEngaged)
    result = services.record_engagement(container().ingest, envelope, detail)
    return {"recorded": envelope.type, "duplicate": result.duplicate}


def on_consent_withdrawn(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.ConsentWithdrawn)
    result = services.record_consent_withdrawn(container().ingest, envelope, detail)
    return {"customer_id": result.customer_id, "duplicate": result.duplicate}


def on_survey_answered(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.SurveyAnswered)
    cmd = RecordPreferences(
        event_id=envelope.id,
        shop_id=envelope.shop,
        customer_id=detail.customer_id,
        preferences={k: frozenset(v) for k, v in detail.preferences.items()},
    )
    result = services.record_preferences(cmd, container().ingest)
    return {"customer_id": result.customer_id, "duplicate": result.duplicate}


def nightly_recompute() -> dict[str, Any]:
    """Every shop: RFM ranks, all segments (relative dates move overnight), recommendations.
    Each shop on its own: one that fails is logged, retried once, named in the result,
    and does not stop the shops after it."""
    c = container()
    now = c.clock()

    def recompute(shop_id: str) -> dict[str, Any]:
        summary = segments.recompute_shop(c.profiles, c.segments, c.publisher, shop_id, now)
        audience.rebuild_recommendations(c.profiles, shop_id, now)
        return {
            "profiles": summary.profiles,
            "entered": summary.entered,
            "exited": summary.exited,
            "ranks": summary.ranks,
        }

    run = for_each_shop(
        "nightly-recompute", (shop.shop_id for shop in c.keys.list_shops()), recompute
    )
    return {"shops": run.results, **run.report()}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={
            "message.opened": on_message_engaged,
            "message.clicked": on_message_engaged,
            "survey.answered": on_survey_answered,
            "consent.withdrawn": on_consent_withdrawn,
        },
        schedules={"nightly-recompute": nightly_recompute},
    )
