"""A journey's tag step reaches the profile: `profile.tagged` is folded into the
profile's tags, which rules read, and the person's segments follow at once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from segmenter.bootstrap import SegmenterContainer
from segmenter.entrypoints import events as segmenter_events
from shared.clock import FixedClock as Clock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import ShopKeys, segment_writer
from tests.segmenter.conftest import RecordingPublisher
from tests.segmenter.test_ingest_reliability import _accepted, _members, _order, _profile


def _tagged(container: SegmenterContainer, clock: Clock, customer_id: str) -> dict[str, Any]:
    envelope = EventEnvelope(
        id="tagged-e1-s1",
        shop="acme",
        type="profile.tagged",
        time=clock.now,
        detail=details.ProfileTagged(
            customer_id=customer_id, tag="cart_reminded", journey_id="cart"
        ).model_dump(mode="json"),
    )
    segmenter_events.container.use(container)
    try:
        return segmenter_events.handler({"detail": envelope.model_dump(mode="json")}, None)
    finally:
        segmenter_events.reset()


def test_a_tag_joins_the_profile_and_its_segment_once(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, clock: Clock
) -> None:
    """Given a customer and a segment of people tagged `cart_reminded`
    When a journey's tag step tags them, and the event is delivered again
    Then the profile shows the tag, they are in the segment, and there is one
    `segment.entered` event."""
    _accepted(api, shop, _order("A-1", "e-a1", {"customer_id": "c-1"}))
    rule = {"field": "tags", "op": "contains", "value": "cart_reminded"}
    created = api.post(
        "/v1/segments",
        json={"segment_id": "reminded", "name": "Reminded", "rule": rule},
        headers=segment_writer(api, shop),
    )
    assert created.status_code == 201, created.text
    assert _members(api, shop, "reminded") == []
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    before = len(publisher.published)

    first = _tagged(container, clock, "c-1")
    again = _tagged(container, clock, "c-1")

    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert _profile(api, shop, "c-1")["tags"] == ["cart_reminded"]
    assert _members(api, shop, "reminded") == ["c-1"]
    entered = [e for e in publisher.published[before:] if e.type == "segment.entered"]
    # (a duplicate publishes the recorded events again, with their ids: consumers dedupe)
    assert {(e.id, e.detail["segment_id"]) for e in entered} == {(entered[0].id, "reminded")}


def test_a_tag_for_someone_unknown_records_nothing(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, clock: Clock
) -> None:
    """Given no profile c-404
    When a tag for them arrives
    Then it is acknowledged (nothing to retry) and no profile is made up."""
    done = _tagged(container, clock, "c-404")
    assert done["duplicate"] is False
    response = api.get("/v1/customers/c-404", headers=shop.header(shop.reader))
    assert response.status_code == 404
