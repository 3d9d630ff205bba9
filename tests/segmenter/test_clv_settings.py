"""The shop's CLV discount rate: set and read over the API (validated, the field named),
handed by the analytics function to the pass, and used by the pass's CLV."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmenter.adapters.repository import DynamoProfileRepository
from segmenter.domain import clv as clv_math
from segmenter.domain.model import Order
from segmenter.domain.records import ChangeSet
from segmenter.entrypoints import analytics as analytics_handler
from segmenter.services import analytics, clv
from tests.conftest import Cloud, ShopKeys, segment_writer
from tests.segmenter.test_clv_pass import CHURN_RISK, NOW, ports, shop
from tests.segmenter.test_clv_pass import shop as fixture_shop

ROUTE = "/v1/analytics/clv-settings"


def test_the_discount_rate_is_set_read_and_validated(
    segmenter_client: TestClient, shop: ShopKeys
) -> None:
    # Given a shop that has set nothing: the default, and saying so
    r = segmenter_client.get(ROUTE, headers=shop.header(shop.reader))
    assert r.status_code == 200
    assert r.json() == {"monthly_discount_rate": 0.01, "default": True}
    # When an admin sets 2 % a month
    r = segmenter_client.put(
        ROUTE, json={"monthly_discount_rate": "0.02"}, headers=shop.header(shop.admin)
    )
    # Then it is stored and read back
    assert r.status_code == 200 and r.json() == {"monthly_discount_rate": 0.02, "default": False}
    r = segmenter_client.get(ROUTE, headers=shop.header(shop.reader))
    assert r.json() == {"monthly_discount_rate": 0.02, "default": False}
    # And a rate out of range, not a number, missing, or beside an unknown field is a 4xx
    # naming the field, and changes nothing
    for body, field in (
        ({"monthly_discount_rate": -0.01}, "monthly_discount_rate"),
        ({"monthly_discount_rate": 1.5}, "monthly_discount_rate"),
        ({"monthly_discount_rate": "NaN"}, "monthly_discount_rate"),
        ({"monthly_discount_rate": "abc"}, "monthly_discount_rate"),
        ({}, "monthly_discount_rate"),
        ({"monthly_discount_rate": 0.01, "horizon": 12}, "horizon"),
    ):
        bad = segmenter_client.put(ROUTE, json=body, headers=shop.header(shop.admin))
        assert 400 <= bad.status_code < 500 and field in bad.text, (body, bad.text)
    assert segmenter_client.get(ROUTE, headers=shop.header(shop.reader)).json() == {
        "monthly_discount_rate": 0.02,
        "default": False,
    }
    # And a reader may not change it
    r = segmenter_client.put(
        ROUTE, json={"monthly_discount_rate": "0.5"}, headers=shop.header(shop.reader)
    )
    assert r.status_code == 403


def test_the_analytics_function_hands_the_shop_rate_to_the_pass(
    segmenter_client: TestClient,
    shop: ShopKeys,
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a shop whose rate is 3 % a month
    cloud.route_rules_to_queues()
    r = segmenter_client.put(
        ROUTE, json={"monthly_discount_rate": "0.03"}, headers=shop.header(shop.admin)
    )
    assert r.status_code == 200
    seen: dict[str, Any] = {}

    def run_pass(ports: Any, shop_id: str, now: Any, **kwargs: Any) -> analytics.PassSummary:
        seen[shop_id] = kwargs.get("monthly_discount_rate")
        return analytics.PassSummary(shop_id, 0, 0, {}, 0.0)

    monkeypatch.setattr(analytics, "run_pass", run_pass)
    # When the shop asks for a refresh and the analytics function handles it
    segmenter_client.post("/v1/analytics/refresh", headers=shop.header(shop.admin))
    events = [
        e
        for e in cloud.take_events("AnalyticsFunction")
        if e["detail-type"] == "analytics.refresh_requested"
    ]
    analytics_handler.reset()
    analytics_handler.handler(events[0], None)
    # Then the pass ran with the shop's rate
    assert seen == {shop.shop_id: 0.03}


def test_a_higher_rate_discounts_every_predicted_clv_more() -> None:
    # Given the same shop scored at 0 % and at 5 % a month
    flat, steep = shop(900), shop(900)
    analytics.run_pass(ports(flat), "shop-a", NOW, monthly_discount_rate=0.0)
    analytics.run_pass(ports(steep), "shop-a", NOW, monthly_discount_rate=0.05)
    # Then every customer's CLV is lower at 5 %, by less than a year's discount
    assert flat.written.keys() == steep.written.keys() and flat.written
    for customer, score in flat.written.items():
        other = steep.written[customer]
        assert score is not None and other is not None
        assert score.predicted_clv_365d is not None and other.predicted_clv_365d is not None
        assert other.predicted_clv_365d <= score.predicted_clv_365d
        assert other.predicted_clv_365d >= score.predicted_clv_365d / 1.05**12 - 0.01


def test_the_api_default_is_the_models() -> None:
    # The API states the default without importing numpy; it is the model's own
    assert clv.DEFAULT_MONTHLY_DISCOUNT_RATE == clv_math.DEFAULT_MONTHLY_DISCOUNT_RATE


def test_churn_risk_members_follow_the_same_nights_scores(
    segmenter_client: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    """The nightly recompute (03:00) runs before the analytics pass (04:00): a segment on
    p_alive is rebuilt right after the pass, not a day later."""
    # Given a shop of 600 buyers stored in its table, and a "churn risk" segment that has
    # no members yet (no profile has a CLV block)
    repo = DynamoProfileRepository(cloud.session.client("dynamodb"), cloud.settings.segmenter_table)
    data = fixture_shop(600)
    by_customer: dict[str, list[Order]] = {}
    for order in data.orders:
        by_customer.setdefault(order.customer_id, []).append(order)
    for p in data.profiles:
        profile = replace(p, shop_id=shop.shop_id, version=1)
        repo.commit(
            ChangeSet(
                shop.shop_id,
                f"seed-{p.customer_id}",
                "seed",
                p.customer_id,
                profiles=[(profile, 0)],
                new_orders=by_customer[p.customer_id],
            )
        )
    writer = segment_writer(segmenter_client, shop)
    created = segmenter_client.post(
        "/v1/segments",
        json={"segment_id": "churn-risk", "name": "Churn risk", "rule": CHURN_RISK},
        headers=writer,
    )
    assert created.status_code == 201 and created.json()["status"] == "computing"
    # When the nightly analytics schedule runs (after the nightly recompute)
    analytics_handler.reset()
    result = analytics_handler.handler({"schedule": "nightly-analytics"}, None)
    done = result["shops"][shop.shop_id]
    assert done["clv_written"] == 600 and done["segments_recomputed"] is True
    # Then the segment's members are those whose new score says churn risk, the same night
    members = segmenter_client.get(
        "/v1/segments/churn-risk/members?limit=1000", headers=shop.header(shop.reader)
    ).json()["customer_ids"]
    stored = {p.customer_id: p for p in repo.iter_profiles(shop.shop_id)}
    expected = {
        c
        for c, p in stored.items()
        if p.clv is not None and p.clv.p_alive < 0.3 and p.stats.order_count >= 2
    }
    assert expected and set(members) == expected
