"""The nightly recompute runs the columnar engine, one table per time zone, and must give
every customer exactly the memberships (and entry / exit events) the per-customer
evaluation gives, on the customer's own calendar and clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmenter.bootstrap import SegmenterContainer
from segmenter.domain.membership import memberships
from segmenter.domain.segments import Op, batch
from segmenter.domain.segments.batch import ColumnarEvaluator
from shared.clock import FixedClock as Clock
from tests.conftest import ShopKeys, order_payload, segment_writer
from tests.segmenter.conftest import RecordingPublisher

EVENTS_AT = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NIGHTLY_AT = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
"""03:00 on the 23rd in Tokyo; 10:00 on the 22nd in Los Angeles, three weeks after its
clocks went back (1 November): 30 wall-clock days there would be 30 x 24 h and one hour."""
LOS_ANGELES = "America/Los_Angeles"

CUSTOM_SEGMENTS: dict[str, dict[str, Any]] = {
    "top_spenders": {"field": "m_score", "op": "gte", "value": 4},
    "ranked_well": {"field": "rfm_rank", "op": "in", "value": ["loyal", "semi_loyal"]},
    "bought_recently": {"activity": "bought", "category": "skincare", "within_days": 30},
    "ordered_this_month": {"field": "last_order_at", "op": "within_last_days", "value": 30},
    "thirty_plus": {"field": "age", "op": "gte", "value": 30},
}

# (customer, zone, birthday, order times): the orders at 17:30 UTC on 23 October are 30 x 24 h
# and half an hour old tonight, in Tokyo as in Los Angeles (whose wall clock went back since).
CUSTOMERS: list[tuple[str, str | None, str | None, list[str]]] = [
    ("tokyo-bday-yesterday", None, "1990-11-22", ["2026-10-23T17:30:00+00:00"]),
    ("tokyo-turns-30", None, "1996-11-23", ["2026-11-01T10:00:00+09:00"]),
    ("tokyo-bday-in-7", None, "1985-11-30", ["2026-09-01T10:00:00+09:00"] * 3),
    ("tokyo-regular", None, None, ["2026-10-01T10:00:00+09:00", "2026-11-15T10:00:00+09:00"]),
    ("tokyo-prospect", None, "2000-01-01", []),
    ("la-bday-today", LOS_ANGELES, "1990-11-22", ["2026-10-23T17:30:00+00:00"]),
    ("la-turns-30-tomorrow", LOS_ANGELES, "1996-11-23", ["2026-10-23T16:30:00+00:00"]),
    ("la-bday-in-8", LOS_ANGELES, "1985-11-30", ["2026-11-10T09:00:00-08:00"] * 4),
    ("la-dormant", LOS_ANGELES, None, ["2025-06-01T09:00:00-07:00"]),
]


def _given_a_shop_in_two_time_zones(api: TestClient, shop: ShopKeys, clock: Clock) -> None:
    clock.now = EVENTS_AT
    writer = segment_writer(api, shop)
    for segment_id, rule in CUSTOM_SEGMENTS.items():
        body = {"segment_id": segment_id, "name": segment_id, "rule": rule}
        assert api.post("/v1/segments", json=body, headers=writer).status_code == 201
    for customer_id, zone, birthday, orders in CUSTOMERS:
        upsert = {
            "type": "customer.upserted",
            "event_id": f"u-{customer_id}",
            "customer": {"customer_id": customer_id},
            **({"birthday": birthday} if birthday else {}),
            **({"timezone": zone} if zone else {}),
        }
        response = api.post("/v1/events", json=upsert, headers=shop.header(shop.events))
        assert response.status_code == 201, response.text
        for n, placed_at in enumerate(orders, start=1):
            body = order_payload(
                n, customer_id=customer_id, email=f"{customer_id}@example.jp", placed_at=placed_at
            )
            response = api.post("/v1/orders", json=body, headers=shop.header(shop.events))
            assert response.status_code == 201, response.text
    clock.now = NIGHTLY_AT


def _nightly_matches_per_customer(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> dict[str, frozenset[str]]:
    """Runs the nightly job and checks it against `memberships` per profile (at tonight's
    RFM); returns the memberships it wrote."""
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    before = {p.customer_id: p for p in container.profiles.iter_profiles(shop.shop_id, NIGHTLY_AT)}
    published_before = len(publisher.published)

    # When the nightly job runs
    response = api.post("/v1/segments/recompute", headers=segment_writer(api, shop))
    assert response.status_code == 200, response.text

    # Then every profile holds what the per-customer evaluator says at tonight's RFM
    after = {p.customer_id: p for p in container.profiles.iter_profiles(shop.shop_id)}
    compiled = container.cache.segments(shop.shop_id)
    known = {s.segment_id for s in compiled}
    expected_entered, expected_exited = set(), set()
    for customer_id, profile in before.items():
        rescored = replace(profile, rfm=after[customer_id].rfm)
        expected = memberships(rescored, compiled, NIGHTLY_AT)
        assert after[customer_id].segments == expected, customer_id
        expected_entered |= {(s, customer_id) for s in expected - profile.segments}
        expected_exited |= {(s, customer_id) for s in (profile.segments & known) - expected}
    # And the entries and exits published are exactly those transitions
    tonight = publisher.published[published_before:]
    entered = {
        (e.detail["segment_id"], e.detail["customer_id"])
        for e in tonight
        if e.type == "segment.entered"
    }
    exited = {
        (e.detail["segment_id"], e.detail["customer_id"])
        for e in tonight
        if e.type == "segment.exited"
    }
    assert (entered, exited) == (expected_entered, expected_exited)
    assert (response.json()["entered"], response.json()["exited"]) == (
        len(expected_entered),
        len(expected_exited),
    )
    return {customer_id: p.segments for customer_id, p in after.items()}


def test_nightly_memberships_equal_the_per_customer_answer_in_every_time_zone(
    api: TestClient, shop: ShopKeys, clock: Clock, container: SegmenterContainer
) -> None:
    # Given customers in Tokyo and Los Angeles, birthdays either side of the date line,
    # orders either side of the 30-day edge, and segments on RFM, activity and dates
    _given_a_shop_in_two_time_zones(api, shop, clock)

    # When the nightly job runs / Then it agrees with the per-customer evaluation
    members = _nightly_matches_per_customer(api, shop, container)

    # And windows are exact instants (30 x 24 h) in every zone, daylight saving or not
    for customer_id in ("tokyo-bday-yesterday", "la-bday-today"):
        assert "lapsed_30" in members[customer_id]
        assert not {"bought_recently", "ordered_this_month"} & members[customer_id]
    # And birthdays and ages follow each customer's own calendar
    assert "birthday_soon" not in members["tokyo-bday-yesterday"]
    assert "birthday_soon" in members["la-bday-today"]
    assert "birthday_soon" not in members["la-bday-in-8"]
    assert "thirty_plus" in members["tokyo-turns-30"]
    assert "thirty_plus" not in members["la-turns-30-tomorrow"]
    # And rules on RFM see tonight's scores
    assert any("top_spenders" in m for m in members.values())
    assert any("ranked_well" in m for m in members.values())
    assert "dormant" in members["la-dormant"]


def test_a_rule_the_columnar_engine_lacks_is_evaluated_per_customer(
    api: TestClient,
    shop: ShopKeys,
    clock: Clock,
    container: SegmenterContainer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the same shop, and a columnar engine that cannot judge anniversaries (as when
    # the rule language gains an operator before the batch does)
    _given_a_shop_in_two_time_zones(api, shop, clock)
    without_anniversaries = {
        ftype: ops - {Op.ANNIVERSARY_WITHIN_DAYS} for ftype, ops in batch.COLUMNAR_OPS.items()
    }
    monkeypatch.setattr(batch, "COLUMNAR_OPS", without_anniversaries)

    def cannot(*args: object) -> None:
        raise AssertionError("the columnar engine was asked for an anniversary")

    monkeypatch.setattr(ColumnarEvaluator, "_days_to_anniversary", cannot)

    # When the nightly job runs / Then birthday segments still get the per-customer answer
    members = _nightly_matches_per_customer(api, shop, container)
    assert sorted(c for c, m in members.items() if "birthday_soon" in m) == [
        "la-bday-today",
        "la-turns-30-tomorrow",
        "tokyo-bday-in-7",
        "tokyo-turns-30",
    ]
