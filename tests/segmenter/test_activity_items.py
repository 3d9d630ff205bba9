"""Activity items beside the profile follow the person: a cancelled order's purchase
leaves the history, a merge brings the merged-away person's history along."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Cloud, ShopKeys
from tests.segmenter.test_ingest_reliability import (
    YUI,
    YUI_BY_PHONE,
    YUI_LINKED,
    _accepted,
    _order,
)

BOUGHT_SERUM = {"activity": "bought", "sku": "SERUM-30", "within_days": 90, "count_gte": 2}
VIEWED_TWICE = {"activity": "viewed", "sku": "SERUM-30", "within_days": 30, "count_gte": 2}


def _matches(api: TestClient, shop: ShopKeys, customer_id: str) -> list[bool]:
    response = api.post(
        f"/v1/customers/{customer_id}/matches",
        json={"rules": [BOUGHT_SERUM, VIEWED_TWICE]},
        headers=shop.header(shop.reader),
    )
    assert response.status_code == 200, response.text
    return list(response.json()["matches"])


def _activity_keys(cloud: Cloud, customer_id: str) -> list[str]:
    items = cloud.dynamodb.query(
        TableName=cloud.settings.segmenter_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :act)",
        ExpressionAttributeValues={
            ":pk": {"S": f"SHOP#acme#CUST#{customer_id}"},
            ":act": {"S": "ACT#"},
        },
    )["Items"]
    return sorted(i["sk"]["S"].split("#")[1] for i in items)


def _view(event_id: str, customer: dict[str, str]) -> dict[str, object]:
    return {
        "type": "product.viewed",
        "event_id": event_id,
        "customer": customer,
        "sku": "SERUM-30",
        "viewed_at": "2026-11-20T10:00:00+09:00",
    }


def test_a_cancelled_order_leaves_the_purchase_history(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given a customer with two serum orders (bought twice in 90 days)
    When one is cancelled
    Then the rule no longer holds and only one purchase item is left."""
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    _accepted(api, shop, _order("A-2", "e-a2", YUI, placed_at="2026-11-12T10:00:00+09:00"))
    assert _matches(api, shop, "c-1") == [True, False]

    cancel = {
        "type": "order.cancelled",
        "event_id": "e-can",
        "order_id": "A-2",
        "at": "2026-11-13T10:00:00+09:00",
    }
    _accepted(api, shop, cancel)

    assert _matches(api, shop, "c-1") == [False, False]
    assert _activity_keys(cloud, "c-1") == ["bought"]


def test_a_merge_brings_the_other_profiles_history(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given c-1 who viewed the serum once and c-2 (same person, by phone) who viewed it once
    When an order links the two
    Then the survivor has both views (the two-views rule holds) and c-2 keeps no item."""
    _accepted(api, shop, _view("v-1", YUI))
    _accepted(api, shop, _view("v-2", YUI_BY_PHONE))
    assert _matches(api, shop, "c-1") == [False, False]

    _accepted(api, shop, _order("A-1", "e-a1", YUI_LINKED))

    assert _matches(api, shop, "c-1") == [False, True]
    assert _activity_keys(cloud, "c-2") == []
    assert _activity_keys(cloud, "c-1") == ["bought", "viewed", "viewed"]
