"""`kizuna backfill`: profiles and restock sign-ups stored before `first_product` and the
restock SKU list existed get them, over real HTTP and DynamoDB (in-process moto); a
second run changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from messenger.entrypoints import events as messenger_events
from ops.cli import app
from segmenter.bootstrap import build
from segmenter.importer import import_orders
from shared.adapters.eventbridge import EventPublisher
from shared.clock import FixedClock
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys, order_payload


def _order(n: int, customer: str, day: str, skus: list[str]) -> dict[str, Any]:
    items = [{"sku": s, "quantity": 1, "unit_price": "1000"} for s in skus]
    return order_payload(
        n,
        customer_id=customer,
        email=f"{customer}@example.jp",
        placed_at=f"{day}T10:00:00+09:00",
        items=items,
        total="1000",
    )


def _profile_item(cloud: Cloud, customer: str) -> dict[str, Any]:
    got = cloud.session.client("dynamodb").get_item(
        TableName=cloud.settings.segmenter_table,
        Key={"pk": {"S": f"SHOP#acme#CUST#{customer}"}, "sk": {"S": "PROFILE"}},
    )
    item: dict[str, Any] = got["Item"]
    return item


def _listed(client: TestClient, shop: ShopKeys) -> dict[str, dict[str, int]]:
    r = client.get("/v1/restock/skus", params={"limit": 100}, headers=shop.header(shop.admin))
    assert r.status_code == 200, r.text
    return {row["sku"]: row["signups"] for row in r.json()}


def _backfill() -> str:
    result = CliRunner().invoke(app, ["backfill", "--shop", "acme"])
    assert result.exit_code == 0, result.output
    return result.output


def test_backfill_fills_first_products_and_the_restock_sku_list_once(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient
) -> None:
    """Given c1 (first order: A then B, later C) and c2 (first order D), and three
    restock sign-ups for two SKUs, stored as data was before `first_product` and the SKU
    list existed (the profiles' field and the list's counts removed)
    When `kizuna backfill --shop acme` runs, and runs again
    Then c1's first product is A and c2's D (a rule on it counts them), the SKU list
    counts each SKU's sign-ups, and the second run writes nothing (same profile versions,
    nothing filled or fixed)."""
    from feedback.entrypoints.api import app as feedback_app

    feedback = TestClient(feedback_app)
    events = shop.header(shop.events)
    for n, (customer, day, skus) in enumerate(
        [
            ("c1", "2026-10-01", ["SKU-A", "SKU-B"]),
            ("c1", "2026-10-20", ["SKU-C"]),
            ("c2", "2026-10-05", ["SKU-D"]),
        ]
    ):
        r = segmenter_client.post("/v1/orders", json=_order(n, customer, day, skus), headers=events)
        assert r.status_code == 201, r.text
    for sku, email in (
        ("SERUM-30", "a@example.jp"),
        ("SERUM-30", "b@example.jp"),
        ("MASK", "a@example.jp"),
    ):
        body = {"sku": sku, "channel": "email", "email": email}
        r = feedback.post("/v1/restock/signups", json=body, headers=shop.header(shop.admin))
        assert r.status_code in (201, 202), r.text
    assert _listed(feedback, shop) == {
        "SERUM-30": {"pending": 2, "active": 0, "unsubscribed": 0},
        "MASK": {"pending": 1, "active": 0, "unsubscribed": 0},
    }
    dynamodb = cloud.session.client("dynamodb")
    for customer in ("c1", "c2"):
        dynamodb.update_item(
            TableName=cloud.settings.segmenter_table,
            Key={"pk": {"S": f"SHOP#acme#CUST#{customer}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression="REMOVE #stats.#first",
            ExpressionAttributeNames={"#stats": "stats", "#first": "first_product"},
        )
    for sku in ("SERUM-30", "MASK"):
        dynamodb.delete_item(
            TableName=cloud.settings.feedback_table,
            Key={"pk": {"S": "SHOP#acme#RESTOCK#SKUS"}, "sk": {"S": sku}},
        )
    reader = shop.header(shop.reader)
    assert segmenter_client.get("/v1/customers/c1", headers=reader).json()["first_product"] is None
    assert _listed(feedback, shop) == {}

    # When the backfill runs
    out = _backfill()
    assert "first_product: profiles 2, missing 2, filled 2" in out, out
    assert "restock_skus: skus 2, fixed 2, moved 0" in out, out
    assert "feedback_person_index: unindexed 0, indexed 0" in out, out

    # Then the profiles have their first products, and rules read them
    for customer, sku in (("c1", "SKU-A"), ("c2", "SKU-D")):
        body = segmenter_client.get(f"/v1/customers/{customer}", headers=reader).json()
        assert body["first_product"] == sku
    rule = {"all": [{"field": "first_product", "op": "eq", "value": "SKU-A"}]}
    r = segmenter_client.post(
        "/v1/segments/preview", json={"rule": rule, "sample": 10}, headers=reader
    )
    assert r.json() == {"count": 1, "sample_customer_ids": ["c1"]}
    assert _listed(feedback, shop) == {
        "SERUM-30": {"pending": 2, "active": 0, "unsubscribed": 0},
        "MASK": {"pending": 1, "active": 0, "unsubscribed": 0},
    }

    # And a second run changes nothing
    versions = {c: _profile_item(cloud, c)["version"] for c in ("c1", "c2")}
    out = _backfill()
    assert "first_product: profiles 2, missing 0, filled 0" in out, out
    assert "restock_skus: skus 2, fixed 0, moved 0" in out, out
    assert {c: _profile_item(cloud, c)["version"] for c in ("c1", "c2")} == versions


def test_a_backfill_of_a_shop_the_stack_does_not_have_says_so(cloud: Cloud, shop: ShopKeys) -> None:
    """Given a stack holding acme
    When `kizuna backfill --shop acmee` runs (a typo)
    Then it exits 1 naming the unknown shop, instead of backfilling nothing silently."""
    result = CliRunner().invoke(app, ["backfill", "--shop", "acmee"])
    assert result.exit_code == 1, result.output
    assert "no shop 'acmee'" in result.output


class _Unpublished(EventPublisher):
    """How an import stored orders before it published `order.imported`: no event left."""

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        pass


CSV_HEADER = (
    "order_id,customer_id,email,phone,first_name,last_name,placed_at,currency,total,sku,"
    "category,quantity,unit_price,list_price,unit_cost,sales_channel,coupon,"
    "accepts_email_marketing,status\n"
)


def _everything(cloud: Cloud, *tables: str) -> list[dict[str, Any]]:
    """Every item of the tables, in key order."""
    dynamodb = cloud.session.client("dynamodb")
    found: list[dict[str, Any]] = []
    for table in tables:
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = dynamodb.scan(**kwargs)
            found += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(found, key=lambda i: json.dumps(i, sort_keys=True))


def _kept_order(cloud: Cloud, customer: str, order_id: str) -> dict[str, Any] | None:
    """The messenger's copy of an order (the journeys' order store), as its facts."""
    got = cloud.session.client("dynamodb").get_item(
        TableName=cloud.settings.journeys_table,
        Key={"pk": {"S": f"CUST#acme#{customer}"}, "sk": {"S": f"O#{order_id}"}},
    )
    item = got.get("Item")
    return json.loads(item["facts"]["S"]) if item else None


def _delivered(cloud: Cloud) -> list[dict[str, Any]]:
    """What the bus brought the messenger's events function, handed to it as Lambda would."""
    return [messenger_events.handler(e, None) for e in cloud.take_events("MessengerEventsFunction")]


def test_backfill_publishes_orders_imported_before_the_event_existed_once(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient, clock: FixedClock
) -> None:
    """Given h1's two orders imported the old way (stored, no `order.imported` published:
    the messenger does not hold them), and c1's live order (the messenger holds it since
    its `order.placed`)
    When `kizuna backfill --shop acme` runs and the bus brings what it published
    Then the messenger holds h1's orders (first SERUM-30) and c1's as `order.placed` left
    it; and when it runs again, the same events arrive and change nothing in the
    messenger's or the journeys' tables; nothing was mailed."""
    cloud.route_rules_to_queues()
    first = (clock.now - timedelta(days=600)).isoformat()
    last = (clock.now - timedelta(days=400)).isoformat()
    person = "h1,h1@example.jp,,Hanako,山田"
    lines = [
        CSV_HEADER,
        f"H-1,{person},{first},JPY,3980,SERUM-30,skincare,1,3980,,,web,,yes,\n",
        f"H-2,{person},{last},JPY,4980,CREAM-50,skincare,1,4980,,,web,,yes,\n",
    ]
    c = build(cloud.settings)
    stored = import_orders(lines, "generic", "acme", c.profiles, _Unpublished())
    assert stored.orders_imported == 2
    day = (clock.now - timedelta(days=30)).date().isoformat()
    live = _order(7, "c1", day, ["SKU-L"])
    r = segmenter_client.post("/v1/orders", json=live, headers=shop.header(shop.events))
    assert r.status_code == 201, r.text
    placed = _delivered(cloud)
    assert [p["reason"] for p in placed if "attributed_to" in p] == ["late"]  # no welcome
    live_id = live["order_id"]
    held_live = _kept_order(cloud, "c1", live_id)
    assert held_live is not None
    assert _kept_order(cloud, "h1", "H-1") is None and _kept_order(cloud, "h1", "H-2") is None
    mailed = len(cloud.sent_mail())

    # When the backfill runs and its events arrive
    out = _backfill()
    assert "order_imported: profiles 2, orders 3" in out, out
    kept = _delivered(cloud)

    # Then the messenger holds h1's orders, and c1's as it was
    assert sorted((k["order_id"], k["status"]) for k in kept) == [
        ("H-1", "recorded"),
        ("H-2", "recorded"),
        (live_id, "known"),
    ]
    h1 = _kept_order(cloud, "h1", "H-1")
    assert h1 is not None and h1["order.skus"] == ["SERUM-30"]
    assert _kept_order(cloud, "h1", "H-2") is not None
    assert _kept_order(cloud, "c1", live_id) == held_live

    # And a second run publishes the same orders and changes nothing
    tables = (cloud.settings.messenger_table, cloud.settings.journeys_table)
    before = _everything(cloud, *tables)
    out = _backfill()
    assert "order_imported: profiles 2, orders 3" in out, out
    again = _delivered(cloud)
    assert sorted(k["status"] for k in again) == ["known", "known", "known"]
    assert _everything(cloud, *tables) == before
    assert len(cloud.sent_mail()) == mailed == 0
