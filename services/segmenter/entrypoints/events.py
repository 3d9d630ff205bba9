"""Segmenter event handler: EventBridge rules and schedules (not routed through Mangum).
Each handler makes one call into a use case of the container."""

from __future__ import annotations

from typing import Any

from segmenter import bootstrap
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.events_handler import LazyContainer, dispatch

container = LazyContainer(bootstrap.build)
reset = container.reset


def on_message_engaged(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.MessageEngaged)
    result = container().ingest.engaged(envelope, detail)
    return {"recorded": envelope.type, "duplicate": result.duplicate}


def on_consent_withdrawn(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.ConsentWithdrawn)
    result = container().ingest.consent_withdrawn(envelope, detail)
    return {"customer_id": result.customer_id, "duplicate": result.duplicate}


def on_profile_tagged(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """A journey's tag step: folded into the profile's tags."""
    assert isinstance(detail, details.ProfileTagged)
    result = container().ingest.tagged(envelope, detail)
    return {"customer_id": result.customer_id, "duplicate": result.duplicate}


def on_survey_answered(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    assert isinstance(detail, details.SurveyAnswered)
    result = container().ingest.survey_answered(envelope, detail)
    return {"customer_id": result.customer_id, "duplicate": result.duplicate}


def on_recompute_requested(envelope: EventEnvelope, detail: Any) -> dict[str, Any]:
    """A segment was created: its shop's segments recomputed here, not in the API call."""
    assert isinstance(detail, details.SegmentsRecomputeRequested)
    return container().segments.recompute_requested(envelope.shop, detail.segment_id)


def nightly_recompute() -> dict[str, Any]:
    """Every shop: RFM ranks, all segments, recommendations (`Segments.refresh_shops`)."""
    c = container()
    return c.segments.refresh_shops(shop.shop_id for shop in c.keys.list_shops())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        events={
            "message.opened": on_message_engaged,
            "message.clicked": on_message_engaged,
            "survey.answered": on_survey_answered,
            "profile.tagged": on_profile_tagged,
            "consent.withdrawn": on_consent_withdrawn,
            "segments.recompute_requested": on_recompute_requested,
        },
        schedules={"nightly-recompute": nightly_recompute},
    )
