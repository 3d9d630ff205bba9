"""POST /v1/events and /v1/events/batch: every storefront event type, idempotent, and a
profile that stays right through cancellations, returns and identity merges."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from segmenter.bootstrap import SegmenterContainer
from shared.adapters.dynamodb import RequestCounter
from tests.conftest import Cloud, ShopKeys, order_payload
from tests.segmenter.conftest import RecordingPublisher


def _event(type_: str, event_id: str, **body: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": event_id, **body}


def _order(n: int, customer: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body = order_payload(n, **overrides)
    if customer is not None:
        body["customer"] = customer
    return {"type": "order.placed", **body}


def _profile(api: TestClient, shop: ShopKeys, customer_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/customers/{customer_id}", headers=shop.header(shop.reader))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_customer_upsert_sets_attributes_and_consent(api: TestClient, shop: ShopKeys) -> None:
    # When a storefront registers a customer
    response = api.post(
        "/v1/events",
        json=_event(
            "customer.upserted",
            "cu-1",
            customer={
                "customer_id": "c-1",
                "email": "Hanako@Example.jp",
                "phone": "090-1234-5678",
                "first_name": "Hanako",
                "consents": [{"channel": "sms", "granted": True, "source": "signup_form"}],
            },
            birthday="1990-02-14",
            gender="female",
            prefecture="東京都",
            acquisition_channel="instagram",
        ),
        headers=shop.header(shop.events),
    )
    # Then the profile has them, normalised
    assert response.status_code == 201, response.text
    profile = _profile(api, shop, "c-1")
    assert profile["email"] == "hanako@example.jp"
    assert profile["phone"] == "+819012345678"
    assert profile["birthday"] == "1990-02-14"
    assert profile["age_band"] == "30s"
    assert profile["prefecture"] == "東京都"
    assert profile["acquisition_channel"] == "instagram"
    assert profile["f_stage"] == "F0"
    assert [(c["channel"], c["source"]) for c in profile["consents"]] == [("sms", "signup_form")]


def test_profile_statistics_follow_orders(api: TestClient, shop: ShopKeys) -> None:
    # Given three orders: one at a discount, at night JST, with costs known
    bodies = [
        _order(
            1,
            placed_at="2026-09-01T22:00:00+09:00",
            total="4000",
            items=[
                {
                    "sku": "SERUM-30",
                    "quantity": 1,
                    "unit_price": "4000",
                    "unit_cost": "1000",
                    "category": "skincare",
                }
            ],
        ),
        _order(
            2,
            placed_at="2026-10-01T22:30:00+09:00",
            total="3000",
            items=[
                {
                    "sku": "SHAMPOO",
                    "quantity": 1,
                    "unit_price": "3000",
                    "list_price": "4000",
                    "category": "haircare",
                }
            ],
        ),
        _order(
            3,
            placed_at="2026-10-31T22:00:00+09:00",
            total="2000",
            items=[
                {"sku": "SERUM-30", "quantity": 1, "unit_price": "2000", "category": "skincare"}
            ],
        ),
    ]
    for body in bodies:
        assert (
            api.post("/v1/events", json=body, headers=shop.header(shop.events)).status_code == 201
        )

    # Then the profile's derived fields are what a marketer expects
    p = _profile(api, shop, "c-1")
    assert p["f_stage"] == "F3"
    assert p["revenue"] == "9000"
    assert p["gross_profit"] == "8000"  # cost known on one line only
    assert p["average_order_value"] == "3000.00"
    assert p["average_interval_days"] == 30.0
    assert p["expected_next_order_at"].startswith("2026-11-30")
    assert p["categories"] == ["haircare", "skincare"]
    assert p["sale_ratio"] == 0.333
    assert p["buyer_type"] == "full_price"
    assert p["active_hour"] == 22
    assert p["active_period"] == "night"


def test_a_partial_refund_lowers_revenue_and_gross_profit_once(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    # Given two shipped orders of 3980 (one line costing 1000 on the second)
    items = [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980", "unit_cost": "1000"}]
    api.post("/v1/events", json=_order(1), headers=shop.header(shop.events))
    api.post("/v1/events", json=_order(2, items=items), headers=shop.header(shop.events))
    ship = _event("order.shipped", "ship-2", order_id="ord-c-1-2", at="2026-11-13T12:00:00+09:00")
    api.post("/v1/events", json=ship, headers=shop.header(shop.events))
    before = _profile(api, shop, "c-1")
    assert (before["revenue"], before["gross_profit"]) == ("7960", "6960")

    # When 980 of the second order is refunded, and the storefront retries the event
    refund = _event(
        "order.returned",
        "refund-2a",
        order_id="ord-c-1-2",
        at="2026-11-20T12:00:00+09:00",
        amount="980",
    )
    first = api.post("/v1/events", json=refund, headers=shop.header(shop.events))
    retried = api.post("/v1/events", json=refund, headers=shop.header(shop.events))

    # Then revenue and gross profit both drop by 980, once; the order stays, still shipped
    assert (first.status_code, retried.status_code) == (201, 200)
    p = _profile(api, shop, "c-1")
    assert (p["order_count"], p["revenue"], p["gross_profit"]) == (2, "6980", "5980")
    assert p["average_order_value"] == "3490.00"
    order = api.get("/v1/orders/ord-c-1-2", headers=shop.header(shop.reader)).json()
    assert (order["status"], order["total"], order["refunded"]) == ("shipped", "3980", "980")

    # When a second refund would give back more than is left, it is refused by name
    too_much = {**refund, "event_id": "refund-2b", "amount": "3001"}
    response = api.post("/v1/events", json=too_much, headers=shop.header(shop.events))
    assert response.status_code == 409
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["amount"]

    # When the rest (3000) is refunded, the order is returned and leaves the profile
    rest = {**refund, "event_id": "refund-2c", "amount": "3000"}
    assert api.post("/v1/events", json=rest, headers=shop.header(shop.events)).status_code == 201
    p = _profile(api, shop, "c-1")
    assert (p["order_count"], p["revenue"], p["gross_profit"]) == (1, "3980", "3980")
    order = api.get("/v1/orders/ord-c-1-2", headers=shop.header(shop.reader)).json()
    assert order["status"] == "returned"

    # And an amount on another event type names the field
    shipped = _event(
        "order.shipped", "ship-1", order_id="ord-c-1-1", at="2026-11-21T12:00:00+09:00", amount="1"
    )
    response = api.post("/v1/events", json=shipped, headers=shop.header(shop.events))
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["order.shipped.amount"]


def test_cancel_and_return_take_the_order_back_out(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    for n in (1, 2):
        api.post("/v1/events", json=_order(n), headers=shop.header(shop.events))
    ship = _event("order.shipped", "ship-2", order_id="ord-c-1-2", at="2026-11-13T12:00:00+09:00")
    assert api.post("/v1/events", json=ship, headers=shop.header(shop.events)).status_code == 201
    assert _profile(api, shop, "c-1")["last_shipped_at"].startswith("2026-11-13")

    # When the second order is returned and the first cancelled
    ret = _event("order.returned", "ret-2", order_id="ord-c-1-2", at="2026-11-20T12:00:00+09:00")
    cancel = _event(
        "order.cancelled", "can-1", order_id="ord-c-1-1", at="2026-11-12T12:00:00+09:00"
    )
    assert api.post("/v1/events", json=ret, headers=shop.header(shop.events)).status_code == 201
    assert api.post("/v1/events", json=cancel, headers=shop.header(shop.events)).status_code == 201

    # Then the profile counts no order, and the order shows its status
    p = _profile(api, shop, "c-1")
    assert (p["order_count"], p["revenue"], p["categories"]) == (0, "0", [])
    order = api.get("/v1/orders/ord-c-1-2", headers=shop.header(shop.reader)).json()
    assert order["status"] == "returned"
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert {"order.shipped", "order.returned", "order.cancelled"} <= set(publisher.types())

    # And an impossible transition or unknown order is refused clearly
    again = _event(
        "order.shipped", "ship-again", order_id="ord-c-1-1", at="2026-11-21T12:00:00+09:00"
    )
    assert api.post("/v1/events", json=again, headers=shop.header(shop.events)).status_code == 409
    missing = _event("order.shipped", "ship-x", order_id="nope", at="2026-11-21T12:00:00+09:00")
    response = api.post("/v1/events", json=missing, headers=shop.header(shop.events))
    assert response.status_code == 404
    assert response.json()["error"]["fields"][0]["field"] == "order_id"


def test_views_carts_and_inventory(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    view = _event(
        "product.viewed",
        "v-1",
        customer={"email": "aoi@example.jp"},
        sku="SERUM-30",
        category="skincare",
        viewed_at="2026-11-20T10:00:00+09:00",
    )
    cart = _event(
        "cart.updated",
        "cart-1",
        customer={"email": "aoi@example.jp"},
        cart_id="cart-9",
        items=[{"sku": "SERUM-30", "quantity": 2, "unit_price": "3980"}],
        updated_at="2026-11-20T10:05:00+09:00",
    )
    stock_out = _event(
        "inventory.changed", "inv-1", sku="SERUM-30", quantity=0, category="skincare"
    )
    stock_in = _event("inventory.changed", "inv-2", sku="SERUM-30", quantity=12)
    responses = [
        api.post("/v1/events", json=body, headers=shop.header(shop.events))
        for body in (view, cart, stock_out, stock_in)
    ]
    assert [r.status_code for r in responses] == [201] * 4
    customer_id = responses[0].json()["customer_id"]
    assert customer_id.startswith("k-") and responses[1].json()["customer_id"] == customer_id
    p = _profile(api, shop, customer_id)
    assert p["last_viewed_at"] == "2026-11-20T10:00:00+09:00"
    assert p["last_carted_at"] == "2026-11-20T10:05:00+09:00"
    assert p["cart_skus"] == ["SERUM-30"]
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    restock = [e for e in publisher.published if e.type == "inventory.changed"][-1]
    assert (restock.detail["previous_quantity"], restock.detail["quantity"]) == (0, 12)


def test_identity_resolution_merges_profiles_and_keeps_history(
    api: TestClient, shop: ShopKeys
) -> None:
    # Given one person known twice: storefront id c-1 by email, and c-2 by phone
    api.post(
        "/v1/events",
        json=_order(1, customer={"customer_id": "c-1", "email": "yui@example.jp"}),
        headers=shop.header(shop.events),
    )
    api.post(
        "/v1/events",
        json=_order(2, customer={"customer_id": "c-2", "phone": "09011112222"}),
        headers=shop.header(shop.events),
    )
    # And an order by email only resolves to c-1
    only_email = _order(3, customer={"email": "YUI@example.jp"})
    assert (
        api.post("/v1/events", json=only_email, headers=shop.header(shop.events)).json()[
            "customer_id"
        ]
        == "c-1"
    )

    # When the customer upserts with both the email and the phone
    link = _event(
        "customer.upserted",
        "link-1",
        customer={"customer_id": "c-1", "email": "yui@example.jp", "phone": "+81 90-1111-2222"},
    )
    assert api.post("/v1/events", json=link, headers=shop.header(shop.events)).status_code == 201

    # Then one profile holds all three orders, under either id
    survivor = _profile(api, shop, "c-1")
    assert survivor["order_count"] == 3
    assert _profile(api, shop, "c-2")["customer_id"] == "c-1"
    orders = api.get("/v1/customers/c-2/orders", headers=shop.header(shop.reader)).json()
    assert [(o["order_id"], o["customer_id"], o["placed_at"][:10]) for o in orders] == [
        ("ord-c-1-1", "c-1", "2026-11-11"),
        ("ord-c-1-2", "c-1", "2026-11-12"),
        ("ord-c-1-3", "c-1", "2026-11-13"),
    ]
    assert (survivor["revenue"], survivor["first_order_at"][:10]) == ("11940", "2026-11-11")
    assert (survivor["email"], survivor["phone"]) == ("yui@example.jp", "+819011112222")
    # And a later order by the phone alone lands on the survivor
    by_phone = _order(4, customer={"phone": "090-1111-2222"})
    assert (
        api.post("/v1/events", json=by_phone, headers=shop.header(shop.events)).json()[
            "customer_id"
        ]
        == "c-1"
    )


def test_batch_applies_each_event_once(api: TestClient, shop: ShopKeys) -> None:
    events = [
        _order(n, customer={"customer_id": f"c-{n}", "email": f"b{n}@example.jp"})
        for n in range(1, 6)
    ]
    first = api.post("/v1/events/batch", json={"events": events}, headers=shop.header(shop.events))
    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"]) == (5, 0)

    # When the same batch is retried with one new event
    events.append(
        _event("order.shipped", "s-1", order_id="ord-c-1-1", at="2026-11-15T00:00:00+09:00")
    )
    again = api.post(
        "/v1/events/batch", json={"events": events}, headers=shop.header(shop.events)
    ).json()

    # Then only the new event is applied
    assert (again["accepted"], again["duplicates"]) == (1, 5)
    assert _profile(api, shop, "c-1")["order_count"] == 1


def test_batch_is_refused_whole_when_one_event_is_bad(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    events = [_order(1), _order(2, total="oops"), _event("teleport", "x-1")]
    response = api.post(
        "/v1/events/batch", json={"events": events}, headers=shop.header(shop.events)
    )
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert any(f.startswith("events.1") and "total" in f for f in fields), fields
    assert any(f.startswith("events.2") for f in fields), fields
    assert (
        cloud.dynamodb.scan(TableName=cloud.settings.segmenter_table, Select="COUNT")["Count"] == 0
    )

    too_many = {"events": [_order(n) for n in range(501)]}
    assert api.post(
        "/v1/events/batch", json=too_many, headers=shop.header(shop.events)
    ).status_code in (413, 422)


def test_an_order_costs_at_most_three_dynamodb_requests(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    # Given a warm container (segment rules cached) and an existing customer
    api.post("/v1/events", json=_order(1), headers=shop.header(shop.events))
    counter = RequestCounter(table=container.settings.segmenter_table)
    counter.attach(container.profiles._client)  # type: ignore[attr-defined]

    # When a repeat order and a brand-new customer's order are ingested
    api.post("/v1/events", json=_order(2), headers=shop.header(shop.events))
    repeat = counter.count
    counter.reset()
    created = api.post(
        "/v1/events",
        json=_order(1, customer_id="new", email="n@example.jp"),
        headers=shop.header(shop.events),
    )
    assert created.status_code == 201

    # Then each took one read and one transactional write of the segmenter table
    assert repeat == 2
    assert counter.calls == [
        "BatchGetItem:" + container.settings.segmenter_table,
        "TransactWriteItems:" + container.settings.segmenter_table,
    ]


LINE_USER = "U" + "0123456789abcdef" * 2


def test_line_user_id_identifies_the_person(api: TestClient, shop: ShopKeys) -> None:
    # Given a visitor who came in through LINE only (a product view from the LINE shop)
    view = _event(
        "product.viewed",
        "v-line",
        customer={"line_user_id": LINE_USER},
        sku="SERUM-30",
        viewed_at="2026-11-20T10:00:00+09:00",
    )
    visitor = api.post("/v1/events", json=view, headers=shop.header(shop.events)).json()
    # When they order with their storefront id and LINE id, then add to cart by LINE id only
    order = _order(1, customer={"customer_id": "c-7", "line_user_id": LINE_USER})
    ordered = api.post("/v1/events", json=order, headers=shop.header(shop.events)).json()
    cart = _event(
        "cart.updated",
        "cart-line",
        customer={"line_user_id": LINE_USER},
        cart_id="cart-l",
        items=[{"sku": "MASK-5", "quantity": 1, "unit_price": "1990"}],
        updated_at="2026-11-21T10:00:00+09:00",
    )
    carted = api.post("/v1/events", json=cart, headers=shop.header(shop.events)).json()

    # Then all three are one profile, reachable by the storefront id too
    assert visitor["customer_id"] == ordered["customer_id"] == carted["customer_id"]
    profile = _profile(api, shop, "c-7")
    assert profile["customer_id"] == visitor["customer_id"]
    assert (profile["line_user_id"], profile["order_count"]) == (LINE_USER, 1)
    assert profile["last_viewed_at"] is not None and profile["cart_skus"] == ["MASK-5"]


def test_locale_and_time_zone_change_only_when_an_event_states_them(
    api: TestClient, shop: ShopKeys
) -> None:
    def upsert(event_id: str, **body: Any) -> None:
        customer = {"customer_id": "c-1", **body.pop("customer", {})}
        event = _event("customer.upserted", event_id, customer=customer, **body)
        response = api.post("/v1/events", json=event, headers=shop.header(shop.events))
        assert response.status_code == 201, response.text

    # Given an English-speaking customer in New York
    upsert("u-1", customer={"locale": "en"}, timezone="America/New_York")

    # When they order (the order states neither) and update their profile without them
    api.post("/v1/events", json=_order(1), headers=shop.header(shop.events))
    upsert("u-2", prefecture="東京都")

    # Then both are kept
    p = _profile(api, shop, "c-1")
    assert p["locale"] == "en"
    assert p["timezone"] == "America/New_York"
    # And an event that does state them, even the defaults, changes them
    upsert("u-3", customer={"locale": "ja"}, timezone="Asia/Tokyo")
    p = _profile(api, shop, "c-1")
    assert (p["locale"], p["timezone"]) == ("ja", "Asia/Tokyo")


def test_shopify_gid_ids_can_be_written_and_read_back(api: TestClient, shop: ShopKeys) -> None:
    # Given an order whose customer and order ids are Shopify global ids
    customer_id, order_id = "gid://shopify/Customer/7012", "gid://shopify/Order/5501"
    body = _order(1, customer={"customer_id": customer_id}, order_id=order_id)
    assert api.post("/v1/events", json=body, headers=shop.header(shop.events)).status_code == 201

    # When a partner reads them back, as written or URL-encoded
    reader = shop.header(shop.reader)
    encoded = quote(customer_id, safe="")
    for path in (customer_id, encoded):
        profile = api.get(f"/v1/customers/{path}", headers=reader)
        # Then the profile, its orders, its recommendations and the order are found
        assert profile.status_code == 200, profile.text
        assert profile.json()["customer_id"] == customer_id
        orders = api.get(f"/v1/customers/{path}/orders", headers=reader)
        assert [o["order_id"] for o in orders.json()] == [order_id]
        assert api.get(f"/v1/customers/{path}/recommendations", headers=reader).status_code == 200
    for path in (order_id, quote(order_id, safe="")):
        order = api.get(f"/v1/orders/{path}", headers=reader)
        assert (order.status_code, order.json()["customer_id"]) == (200, customer_id)
    assert api.get("/v1/customers/gid://shopify/Customer/0", headers=reader).status_code == 404


def test_an_emptied_cart_is_no_longer_abandoned(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    def cart(event_id: str, at: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return _event(
            "cart.updated",
            event_id,
            customer={"customer_id": "c-1"},
            cart_id="k1",
            items=items,
            updated_at=at,
        )

    def abandoned() -> list[str]:
        page = api.get("/v1/segments/cart_abandoned/members", headers=shop.header(shop.reader))
        return list(page.json()["customer_ids"])

    # Given a customer who left the serum in their cart yesterday
    serum = [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}]
    api.post(
        "/v1/events",
        json=cart("k-1", "2026-11-22T10:00:00+09:00", serum),
        headers=shop.header(shop.events),
    )
    assert abandoned() == ["c-1"]

    # When they empty the cart without buying
    api.post(
        "/v1/events",
        json=cart("k-2", "2026-11-22T11:00:00+09:00", []),
        headers=shop.header(shop.events),
    )

    # Then they leave the abandoned-cart segment, with an exit event
    assert abandoned() == []
    assert _profile(api, shop, "c-1")["cart_skus"] == []
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    exits = [e.detail["segment_id"] for e in publisher.published if e.type == "segment.exited"]
    assert exits == ["cart_abandoned"]


def test_a_delivery_without_a_shipped_event_sets_the_shipping_date(
    api: TestClient, shop: ShopKeys
) -> None:
    # Given an order whose storefront reports delivery only (no shipped event)
    api.post("/v1/events", json=_order(1), headers=shop.header(shop.events))
    delivered = _event(
        "order.delivered", "d-1", order_id="ord-c-1-1", at="2026-11-14T12:00:00+09:00"
    )

    # When it is delivered
    assert (
        api.post("/v1/events", json=delivered, headers=shop.header(shop.events)).status_code == 201
    )

    # Then the profile has a shipping date ("N days since shipping" segments work)
    assert _profile(api, shop, "c-1")["last_shipped_at"] == "2026-11-14T12:00:00+09:00"
