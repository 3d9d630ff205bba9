"""A segment's member count is live: the last recount plus every entry and exit an event
made since, added in the event's own transaction, so a redelivered event adds nothing;
`counted_at` says when the recount was. Read over real HTTP (uvicorn on a local port)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from segmenter.bootstrap import SegmenterContainer
from shared.clock import FixedClock as Clock
from tests.browser import served
from tests.conftest import Cloud, ShopKeys, order_payload, segment_writer
from tests.segmenter.test_ingest_reliability import YUI, YUI_BY_PHONE, YUI_LINKED

ONE_ORDER = {"all": [{"field": "order_count", "op": "eq", "value": 1}]}


def _order(http: httpx.Client, shop: ShopKeys, n: int, customer_id: str) -> int:
    body = order_payload(n, customer_id=customer_id, email=f"{customer_id}@example.jp")
    return http.post("/v1/orders", json=body, headers=shop.header(shop.events)).status_code


def _segment(http: httpx.Client, shop: ShopKeys, segment_id: str) -> dict[str, Any]:
    got = http.get(f"/v1/segments/{segment_id}", headers=shop.header(shop.reader))
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def _members(http: httpx.Client, shop: ShopKeys, segment_id: str) -> list[str]:
    got = http.get(f"/v1/segments/{segment_id}/members", headers=shop.header(shop.reader))
    ids: list[str] = got.json()["customer_ids"]
    return ids


def test_events_move_the_count_once_however_often_they_arrive(
    api: TestClient, shop: ShopKeys, clock: Clock, cloud: Cloud, container: SegmenterContainer
) -> None:
    """Given a segment "one order" counted by its recompute with one member (a)
    When b's first order arrives twice, then b's second order arrives three times
    Then over HTTP the count reads 2 after the first, 1 after the second (b left), always
    the size of the member list, and `counted_at` stays the recount's time
    When the segment is recounted later
    Then the count is the same and `counted_at` moves to the recount."""
    cloud.route_rules_to_queues()
    with served(api.app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert _order(http, shop, 1, "a") == 201
        writer = segment_writer(api, shop)
        created = http.post(
            "/v1/segments",
            json={"segment_id": "one-order", "name": "One order", "rule": ONE_ORDER},
            headers=writer,
        )
        assert created.status_code == 201, created.text
        assert created.json()["counted_at"] is None
        counted_at = clock.now
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "one-order")["member_count"] == 1
        clock.advance(hours=3)

        assert [_order(http, shop, 1, "b") for _ in range(2)] == [201, 200]
        entered = _segment(http, shop, "one-order")
        assert (entered["member_count"], sorted(_members(http, shop, "one-order"))) == (
            2,
            ["a", "b"],
        )
        assert entered["counted_at"] == counted_at.isoformat().replace("+00:00", "Z")

        assert [_order(http, shop, 2, "b") for _ in range(3)] == [201, 200, 200]
        left = _segment(http, shop, "one-order")
        assert (left["member_count"], _members(http, shop, "one-order")) == (1, ["a"])
        assert left["counted_at"] == entered["counted_at"]
        listed = http.get("/v1/segments", headers=shop.header(shop.reader)).json()
        assert {s["segment_id"]: s["member_count"] for s in listed}["one-order"] == 1

        clock.advance(hours=1)
        recount = http.post("/v1/segments/recompute", headers=writer)
        assert recount.status_code == 200, recount.text
        after = _segment(http, shop, "one-order")
        assert after["member_count"] == 1
        assert after["counted_at"] == clock.now.isoformat().replace("+00:00", "Z")


def test_an_erasure_takes_the_person_out_of_the_count_once(
    api: TestClient, shop: ShopKeys, cloud: Cloud, container: SegmenterContainer
) -> None:
    """Given a counted segment "one order" with a and b
    When b is erased, and the erasure asked again
    Then the count is 1 (a), not 0."""
    cloud.route_rules_to_queues()
    with served(api.app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert [_order(http, shop, 1, c) for c in ("a", "b")] == [201, 201]
        http.post(
            "/v1/segments",
            json={"segment_id": "one-order", "name": "One order", "rule": ONE_ORDER},
            headers=segment_writer(api, shop),
        )
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "one-order")["member_count"] == 2

        admin = shop.header(shop.admin)
        assert [http.delete("/v1/customers/b", headers=admin).status_code for _ in "12"] == [
            202,
            202,
        ]

        assert _segment(http, shop, "one-order")["member_count"] == 1
        assert _members(http, shop, "one-order") == ["a"]


def test_a_merge_counts_the_person_once(
    api: TestClient, shop: ShopKeys, cloud: Cloud, container: SegmenterContainer
) -> None:
    """Given Yui known twice (c-1 by email, c-2 by phone), both in a counted segment
    "buyers" of 2
    When an order naming both ids links them, and arrives again
    Then the merged-away profile left the count: 1, the survivor alone, twice over."""
    cloud.route_rules_to_queues()
    buyers = {"all": [{"field": "order_count", "op": "gte", "value": 1}]}
    with served(api.app) as url, httpx.Client(base_url=url, timeout=30) as http:
        events = shop.header(shop.events)
        for body in (_event("A-1", YUI), _event("A-2", YUI_BY_PHONE)):
            assert http.post("/v1/events", json=body, headers=events).status_code == 201
        http.post(
            "/v1/segments",
            json={"segment_id": "buyers", "name": "Buyers", "rule": buyers},
            headers=segment_writer(api, shop),
        )
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "buyers")["member_count"] == 2

        linking = _event("A-3", YUI_LINKED)
        statuses = [http.post("/v1/events", json=linking, headers=events).status_code for _ in "12"]

        assert statuses == [201, 200]
        assert _members(http, shop, "buyers") == ["c-1"]
        assert _segment(http, shop, "buyers")["member_count"] == 1


def _event(order_id: str, customer: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "order.placed",
        "event_id": f"e-{order_id}",
        "order_id": order_id,
        "placed_at": "2026-11-11T10:00:00+09:00",
        "total": "3980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980", "category": "skincare"}],
        "customer": customer,
    }


def _count_items(cloud: Cloud, shop: ShopKeys) -> dict[str, int]:
    """The shop's counts partition as stored: sort key -> the segment's number there."""
    got = cloud.dynamodb.query(
        TableName=cloud.settings.segmenter_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop.shop_id}#SEGCOUNT"}},
    )
    return {
        item["sk"]["S"]: int(item.get("n#one-order", {}).get("N", "0")) for item in got["Items"]
    }


def test_many_buyers_count_on_separate_shards_and_a_recount_folds_them_in(
    api: TestClient, shop: ShopKeys, clock: Clock, cloud: Cloud
) -> None:
    """Given a segment "one order" counted with no member
    When twenty customers' first orders arrive
    Then the count reads 20 over HTTP, and the events added to more than one shard of the
    counts (a busy shop's events do not all name one item, which would cancel concurrent
    transactions)
    When the segment is recounted
    Then the count still reads 20, all of it in the recount's own item (the shards' deltas
    taken back out)
    When one more first order arrives
    Then it reads 21, the delta kept on its shard."""
    cloud.route_rules_to_queues()
    with served(api.app) as url, httpx.Client(base_url=url, timeout=30) as http:
        writer = segment_writer(api, shop)
        created = http.post(
            "/v1/segments",
            json={"segment_id": "one-order", "name": "One order", "rule": ONE_ORDER},
            headers=writer,
        )
        assert created.status_code == 201, created.text
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "one-order")["member_count"] == 0
        assert _count_items(cloud, shop) == {"COUNTS": 0}

        assert {_order(http, shop, 1, f"buyer-{n}") for n in range(20)} == {201}
        assert _segment(http, shop, "one-order")["member_count"] == 20
        stored = _count_items(cloud, shop)
        assert stored["COUNTS"] == 0 and len(stored) > 2, stored
        assert sum(stored.values()) == 20

        clock.advance(hours=1)
        assert http.post("/v1/segments/recompute", headers=writer).status_code == 200
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "one-order")["member_count"] == 20
        recounted = _count_items(cloud, shop)
        assert recounted["COUNTS"] == 20 and set(recounted.values()) == {20, 0}, recounted

        assert _order(http, shop, 1, "buyer-20") == 201
        assert _segment(http, shop, "one-order")["member_count"] == 21
        assert sum(_count_items(cloud, shop).values()) == 21
