"""A segment of the customers another service listed (a campaign's or a journey's
drill-down): saved like an analytics cell, tagged by the event function."""

from __future__ import annotations

from fastapi.testclient import TestClient

from segmenter.adapters.analytics_data import DynamoAnalyticsData
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload, segment_writer


def _order(api: TestClient, shop: ShopKeys, customer_id: str) -> None:
    body = order_payload(1, customer_id=customer_id, email=f"{customer_id}@example.jp")
    r = api.post("/v1/orders", json=body, headers=shop.header(shop.events))
    assert r.status_code == 201, r.text


def _members(api: TestClient, shop: ShopKeys, segment_id: str) -> list[str]:
    r = api.get(f"/v1/segments/{segment_id}/members", headers=shop.header(shop.reader))
    assert r.status_code == 200, r.text
    return sorted(r.json()["customer_ids"])


def test_listed_customers_become_a_segment_of_exactly_them(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given four customers of acme and one of another shop with an id acme also lists
    When a marketer saves three of acme's ids (one twice), an id of nobody and the other
    shop's id as a listed segment
    Then the answer is at once (tagging), and once the event function ran its members are
    exactly acme's three listed customers; the other shop's customer is not tagged."""
    cloud.route_rules_to_queues()
    for c in ("c-1", "c-2", "c-3", "c-4"):
        _order(api, shop, c)
    other = make_shop(cloud, "other")
    _order(api, other, "x-9")
    writer = segment_writer(api, shop)
    body = {
        "segment_id": "clicked-spring-a",
        "name": "Spring A: clicked",
        "customer_ids": ["c-3", "c-1", "c-2", "c-1", "nobody", "x-9"],
    }

    r = api.post("/v1/segments/listed", json=body, headers=writer)

    assert r.status_code == 201, r.text
    assert r.json()["status"] == "computing" and r.json()["rule"]["all"][0]["field"] == "tags"
    cloud.deliver("SegmenterEventsFunction")
    assert _members(api, shop, "clicked-spring-a") == ["c-1", "c-2", "c-3"]
    data = DynamoAnalyticsData(cloud.session.client("dynamodb"), cloud.settings.segmenter_table)
    assert [set(p.tags) for p in data.read_shop("other")[0]] == [set()]
    # And the same id again is a 409 naming it
    r = api.post("/v1/segments/listed", json=body, headers=writer)
    assert r.status_code == 409 and "segment_id" in r.text


def test_a_bad_listed_segment_is_refused_naming_the_field(api: TestClient, shop: ShopKeys) -> None:
    """Given a writer and a read-only key
    When a listed segment comes with no ids, an id that is no id, or from the reader
    Then each is refused (422 naming `customer_ids`, 403), and no segment exists."""
    writer = segment_writer(api, shop)
    base = {"segment_id": "s1", "name": "S1"}
    for ids in ([], ["bad id with spaces"], "c-1"):
        r = api.post("/v1/segments/listed", json={**base, "customer_ids": ids}, headers=writer)
        assert r.status_code == 422 and "customer_ids" in r.text, (ids, r.text)
    r = api.post(
        "/v1/segments/listed",
        json={**base, "customer_ids": ["c-1"]},
        headers=shop.header(shop.reader),
    )
    assert r.status_code == 403
    r = api.get("/v1/segments/s1", headers=shop.header(shop.reader))
    assert r.status_code == 404
