"""The campaign ROI report and the message-cost routes against a hand-computed fixture:
a campaign sent through the messenger's real flow (segment membership, the dispatcher
tick, one customer each on LINE, mail and SMS, ranks from the rfm_* segments), orders
posted to the segmenter and credited by the messenger's own order.placed handling, then
the analytics pass. Every expected number below is worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger.domain.campaign import Touch
from messenger.entrypoints import events as messenger_events
from segmenter.entrypoints import analytics as analytics_handler
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import fake_line_server
from tests.messenger.test_campaigns import LINE_USERS, CampaignWorld

RATES = {"email": 2, "line": 3, "sms": 8}
"""Yen per message."""

# (order, customer, days after the send, line prices, total paid, coupon)
ORDERS: list[tuple[str, str, int, list[int], int, str | None]] = [
    ("o-1", "c-1", 1, [4000, 2000], 5400, "AUTUMN10"),  # 600 off
    ("o-2", "c-1", 2, [3000], 3000, None),
    ("o-3", "c-3", 1, [5000], 4500, "AUTUMN10"),  # 500 off
    ("o-5", "c-5", 1, [4000], 4000, None),  # not a recipient: never credited
]


@pytest.fixture
def cw(cloud: Cloud, shop: ShopKeys) -> Iterator[CampaignWorld]:
    with fake_line_server() as line:
        yield CampaignWorld(cloud, line, shop)


def _order_body(
    order: str, customer: str, at: str, prices: list[int], total: int, coupon: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt-{order}",
        "order_id": order,
        "placed_at": at,
        "currency": "JPY",
        "total": str(total),
        "items": [
            {"sku": f"SKU-{i}", "quantity": 1, "unit_price": str(p)} for i, p in enumerate(prices)
        ],
        "customer": {"customer_id": customer},
    }
    if coupon:
        body["coupon"] = coupon
    return body


def test_campaign_roi_per_rank_from_message_rates_and_coupon_discounts(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient, cw: CampaignWorld
) -> None:
    cloud.route_rules_to_queues()
    # Given four recipients, one reachable channel each, two ranks (from the rfm_* segments)
    cw.customer("c-1", email=None, phone=None, line_user_id=LINE_USERS["c-1"])
    cw.customer("c-2", email="c-2@example.jp", phone=None, line_user_id=None)
    cw.customer("c-3", email=None, phone="090-1111-2222", line_user_id=None)
    cw.customer("c-4", email="c-4@example.jp", phone=None, line_user_id=None)
    cw.enter("vip", "c-1", "c-2", "c-3", "c-4")
    cw.enter("rfm_loyal", "c-1", "c-2")
    cw.enter("rfm_general", "c-3", "c-4")
    cw.message(
        "autumn",
        name="Autumn sale",
        email={"subject": "秋の感謝祭", "html": "<p>秋の感謝祭</p>", "text": "秋の感謝祭"},
        line={"text": "秋の感謝祭"},
        sms={"text": "秋の感謝祭"},
        coupon=None,
        recommendations=0,
    )
    # When the campaign goes out in one dispatcher tick
    cw.campaign(
        campaign_id="autumn",
        name="Autumn sale",
        variants=[{"name": "A", "message_id": "autumn"}],
        wave_interval_minutes=0,
    )
    summary = cw.tick()["campaigns"]["autumn"]
    assert summary["status"] == "completed" and summary["processed"] == 4
    sent_at = cw.clock.now
    # And c-1 and c-3 open it (the touch an open or click records), and c-5, who never
    # got it, orders too
    repo = cw.container.adapters.campaign_repo
    for customer in ("c-1", "c-3"):
        repo.touch("acme", customer, Touch("autumn", "A", f"d-{customer}", sent_at))
    # When the orders arrive at the segmenter, and its order.placed reaches the messenger
    cw.clock.now = sent_at + timedelta(days=3)
    for order, customer, days, prices, total, coupon in ORDERS:
        at = (sent_at + timedelta(days=days)).isoformat()
        r = segmenter_client.post(
            "/v1/orders",
            json=_order_body(order, customer, at, prices, total, coupon),
            headers=shop.header(shop.events),
        )
        assert r.status_code == 201, r.text
    credited = {}
    for event in cloud.take_events("MessengerEventsFunction"):
        if event["detail-type"] == "order.placed":
            result = messenger_events.handler(event, None)
            credited[event["detail"]["detail"]["order_id"]] = result["attributed_to"]
    assert credited == {"o-1": "autumn", "o-2": "autumn", "o-3": "autumn", "o-5": None}

    # And the shop's message rates are set (and read back)
    r = segmenter_client.put(
        "/v1/analytics/message-costs",
        json={"email": "2", "line": "3"},
        headers=shop.header(shop.admin),
    )
    assert r.status_code == 200 and r.json() == {"email": 2.0, "line": 3.0}
    bad = segmenter_client.put(
        "/v1/analytics/message-costs", json={"sms": -1}, headers=shop.header(shop.admin)
    )
    assert bad.status_code == 422 and "sms" in bad.text
    r = segmenter_client.get("/v1/analytics/message-costs", headers=shop.header(shop.reader))
    assert r.json() == {"email": 2.0, "line": 3.0}

    # When the analytics pass runs
    segmenter_client.post("/v1/analytics/refresh", headers=shop.header(shop.admin))
    refresh = [
        e
        for e in cloud.take_events("AnalyticsFunction")
        if e["detail-type"] == "analytics.refresh_requested"
    ]
    analytics_handler.handler(refresh[0], None)

    def report() -> dict[str, dict[str, Any]]:
        r = segmenter_client.get("/v1/analytics/campaigns", headers=shop.header(shop.reader))
        assert r.status_code == 200, r.text
        return {row["rank"]: row for row in r.json()["rows"]}

    # Then with no SMS rate, the general rank's and the total's cost is unknown, named
    rows = report()
    assert rows["general"]["cost"] is None and rows["general"]["roi"] is None
    assert rows["general"]["unpriced_channels"] == "sms"
    assert rows["(all)"]["unpriced_channels"] == "sms"
    assert rows["loyal"]["unpriced_channels"] is None

    # When SMS gets its rate too
    r = segmenter_client.put(
        "/v1/analytics/message-costs", json=RATES, headers=shop.header(shop.admin)
    )
    assert r.json() == {"email": 2.0, "line": 3.0, "sms": 8.0}
    rows = report()
    # Then by hand:
    # loyal   c-1 (LINE 3) + c-2 (mail 2): message cost 5; c-1 converted with o-1 5400
    #         (600 off) and o-2 3000: revenue 8400, discount 600, cost 605,
    #         ROI (8400 - 605) / 605 = 12.8843
    # general c-3 (SMS 8) + c-4 (mail 2): message cost 10; c-3 converted with o-3 4500
    #         (500 off): revenue 4500, discount 500, cost 510, ROI (4500 - 510) / 510 = 7.8235
    # (all)   sent 4, converted 2, orders 3, revenue 12900, message cost 15,
    #         discount 1100, cost 1115, ROI (12900 - 1115) / 1115 = 10.5695
    want = {
        "loyal": (2, 1, 2, 8400, 5, 600, 605, 0.5, 12.8843),
        "general": (2, 1, 1, 4500, 10, 500, 510, 0.5, 7.8235),
        "(all)": (4, 2, 3, 12900, 15, 1100, 1115, 0.5, 10.5695),
    }
    assert set(rows) == set(want)
    for rank, (sent, conv, orders, revenue, msg, discount, cost, rate, roi) in want.items():
        got = rows[rank]
        assert (got["source"], got["source_id"], got["name"]) == (
            "campaign",
            "autumn",
            "Autumn sale",
        )
        assert (got["sent"], got["converted"], got["orders"]) == (sent, conv, orders), rank
        assert (got["revenue"], got["message_cost"], got["discount"]) == (revenue, msg, discount)
        assert (got["cost"], got["conversion_rate"], got["roi"]) == (cost, rate, roi), rank
        assert got["unpriced_channels"] is None
