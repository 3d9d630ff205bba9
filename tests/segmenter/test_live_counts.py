"""A segment's member count is live: the last recount plus every entry and exit an event
made since, added in the event's own transaction, so a redelivered event adds nothing;
`counted_at` says when the recount was. Read over real HTTP (uvicorn on a local port)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import httpx
from fastapi.testclient import TestClient

from segmenter.adapters.repository import DynamoProfileRepository, count_update
from segmenter.bootstrap import SegmenterContainer
from shared.clock import FixedClock as Clock
from tests.browser import served
from tests.conftest import Cloud, ShopKeys, order_payload, segment_writer
from tests.segmenter.test_ingest_reliability import YUI, YUI_BY_PHONE, YUI_LINKED

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ONE_ORDER = {"all": [{"field": "order_count", "op": "eq", "value": 1}]}


def _order(http: httpx.Client, shop: ShopKeys, n: int, customer_id: str) -> int:
    body = order_payload(n, customer_id=customer_id, email=f"{customer_id}@example.jp")
    return http.post("/v1/orders", json=body, headers=shop.header(shop.events)).status_code


def _save_segment(
    http: httpx.Client, api: TestClient, shop: ShopKeys, rule: dict[str, Any], segment_id: str
) -> dict[str, Any]:
    """POST /v1/segments, answered 201: the saved segment."""
    created = http.post(
        "/v1/segments",
        json={"segment_id": segment_id, "name": segment_id.title(), "rule": rule},
        headers=segment_writer(api, shop),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


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
        assert _save_segment(http, api, shop, ONE_ORDER, "one-order")["counted_at"] is None
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
        _save_segment(http, api, shop, ONE_ORDER, "one-order")
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
        _save_segment(http, api, shop, buyers, "buyers")
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


def _count_items(cloud: Cloud, shop: ShopKeys) -> dict[str, dict[str, int]]:
    """The shop's counts partition as stored: sort key -> its numbers for "one-order"."""
    got = cloud.dynamodb.query(
        TableName=cloud.settings.segmenter_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop.shop_id}#SEGCOUNT"}},
    )
    return {
        item["sk"]["S"]: {
            name: int(item[f"{name}#one-order"]["N"])
            for name in ("n", "taken")
            if f"{name}#one-order" in item
        }
        for item in got["Items"]
    }


def _shards_sum(stored: dict[str, dict[str, int]]) -> int:
    return sum(v.get("n", 0) for sk, v in stored.items() if sk != "COUNTS")


def test_many_buyers_count_on_separate_shards_and_a_recount_takes_them_in(
    api: TestClient, shop: ShopKeys, clock: Clock, cloud: Cloud
) -> None:
    """Given a segment "one order" counted with no member
    When twenty customers' first orders arrive
    Then the count reads 20 over HTTP, and the events added to more than one shard of the
    counts (a busy shop's events do not all name one item, which would cancel concurrent
    transactions)
    When the segment is recounted
    Then the count still reads 20: the recount's 20, less the 20 it took from the shards,
    plus the shards' 20 (which nobody writes back)
    When one more first order arrives
    Then it reads 21."""
    cloud.route_rules_to_queues()
    with served(api.app) as url, httpx.Client(base_url=url, timeout=30) as http:
        writer = segment_writer(api, shop)
        _save_segment(http, api, shop, ONE_ORDER, "one-order")
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "one-order")["member_count"] == 0
        assert _count_items(cloud, shop) == {"COUNTS": {"n": 0}}

        assert {_order(http, shop, 1, f"buyer-{n}") for n in range(20)} == {201}
        assert _segment(http, shop, "one-order")["member_count"] == 20
        stored = _count_items(cloud, shop)
        assert len(stored) > 2 and _shards_sum(stored) == 20, stored

        clock.advance(hours=1)
        assert http.post("/v1/segments/recompute", headers=writer).status_code == 200
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "one-order")["member_count"] == 20
        recounted = _count_items(cloud, shop)
        assert recounted["COUNTS"] == {"n": 20, "taken": 20}, recounted
        assert _shards_sum(recounted) == 20

        assert _order(http, shop, 1, "buyer-20") == 201
        assert _segment(http, shop, "one-order")["member_count"] == 21


class _RecountInBetween:
    """A DynamoDB client on which another recount runs (whole) between this recount's read
    of the shards and its put: two recounts overlapping."""

    def __init__(self, client: Any, other: Callable[[], None]) -> None:
        self._client = client
        self._other: Callable[[], None] | None = other

    def put_item(self, **kwargs: Any) -> Any:
        if self._other is not None and kwargs["Item"]["pk"]["S"].endswith("#SEGCOUNT"):
            other, self._other = self._other, None
            other()
        return self._client.put_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_overlapping_recounts_leave_the_count_whole_and_a_late_one_changes_nothing(
    cloud: Cloud, clock: Clock
) -> None:
    """Given a segment counted 10 by a recount, then an event's +3 on a shard (13)
    When two recounts of 13 overlap (the second runs whole between the first's read of
    the shards and its put)
    Then the count reads 13, not 10 (neither takes the event's 3 twice)
    When a recount from an hour before (a run redriven late) puts 5
    Then the count still reads 13, counted at the later recount's time."""
    client, table = cloud.dynamodb, cloud.settings.segmenter_table
    counts = DynamoProfileRepository(client, table)
    before = clock.now
    counts.put_member_counts("acme", {"seg": 10}, before)
    client.update_item(**count_update(table, "acme", {"seg": 3}, shard_by="event-1")["Update"])
    assert counts.get_member_counts("acme").counts == {"seg": 13}

    clock.advance(hours=1)
    later = clock.now
    second = DynamoProfileRepository(client, table)
    in_between = _RecountInBetween(
        client, lambda: second.put_member_counts("acme", {"seg": 13}, later)
    )
    overlapped = DynamoProfileRepository(cast("DynamoDBClient", in_between), table)
    overlapped.put_member_counts("acme", {"seg": 13}, later)
    assert counts.get_member_counts("acme") == ({"seg": 13}, later)

    counts.put_member_counts("acme", {"seg": 5}, before)
    assert counts.get_member_counts("acme") == ({"seg": 13}, later)
