"""POST /v1/orders: the storefront's first call, its idempotency and its refusals."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Cloud, OrderFactory, ShopKeys, make_shop


def _item_count(cloud: Cloud) -> int:
    return cloud.dynamodb.scan(TableName=cloud.settings.segmenter_table, Select="COUNT")["Count"]


def test_order_creates_profile_and_f_stage(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory
) -> None:
    # Given a shop's storefront key
    # When it posts a first and a second order for one customer
    first = segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    second = segmenter_client.post(
        "/v1/orders", json=new_order(2), headers=shop.header(shop.events)
    )

    # Then both are created and the profile counts two orders
    assert (first.status_code, first.json()["f_stage"]) == (201, "F1")
    assert (second.status_code, second.json()["f_stage"]) == (201, "F2")
    profile = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert profile["order_count"] == 2
    assert profile["revenue"] == "7960"
    assert profile["average_order_value"] == "3980.00"
    assert profile["first_order_at"].startswith("2026-11-11")
    assert profile["categories"] == ["skincare"]
    assert profile["email"] == "hanako@example.jp"
    assert [c["source"] for c in profile["consents"]] == ["checkout"]
    orders = segmenter_client.get("/v1/customers/c-1/orders", headers=shop.header(shop.reader))
    assert [o["order_id"] for o in orders.json()] == ["ord-c-1-1", "ord-c-1-2"]


def test_same_event_twice_changes_nothing(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory, cloud: Cloud
) -> None:
    # Given an order already posted
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    items_before = _item_count(cloud)

    # When the storefront retries the same event
    again = segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))

    # Then it is acknowledged as a duplicate and nothing is counted twice
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert _item_count(cloud) == items_before
    profile = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert profile["order_count"] == 1


def test_same_order_under_another_event_id_is_a_conflict(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory
) -> None:
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))

    response = segmenter_client.post(
        "/v1/orders", json=new_order(1, event_id="evt-other"), headers=shop.header(shop.events)
    )

    assert response.status_code == 409
    assert response.json()["error"]["fields"][0]["field"] == "order_id"


def test_event_id_reused_for_another_order_is_a_conflict(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory
) -> None:
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))

    response = segmenter_client.post(
        "/v1/orders", json=new_order(2, event_id="evt-c-1-1"), headers=shop.header(shop.events)
    )

    assert response.status_code == 409
    assert response.json()["error"]["fields"][0]["field"] == "event_id"


def _broken(payload: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(payload))
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    if value is _MISSING:
        del node[last]
    else:
        node[last] = value
    return data


_MISSING = object()


def test_bad_input_names_the_field_and_stores_nothing(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory, cloud: Cloud
) -> None:
    cases = [
        ("order_id", _MISSING, "order_id"),
        ("total", "a lot", "total"),
        ("total", -1, "total"),
        ("placed_at", "2026-11-11T10:00:00", "placed_at"),
        ("items", [], "items"),
        ("customer.email", "not-an-email", "customer.email"),
        ("customer.phone", "12", "customer.phone"),
        (
            "customer.consents",
            [{"channel": "fax", "granted": True, "source": "x"}],
            "customer.consents.0.channel",
        ),
        ("customer.consents", [{"channel": "email", "granted": True}], "customer.consents"),
        ("surprise", 1, "surprise"),
    ]
    before = _item_count(cloud)
    for path, value, field in cases:
        # When a storefront posts an order with one broken field
        response = segmenter_client.post(
            "/v1/orders", json=_broken(new_order(1), path, value), headers=shop.header(shop.events)
        )
        # Then it gets a 422 that names that field
        assert response.status_code == 422, path
        fields = [f["field"] for f in response.json()["error"]["fields"]]
        assert field in fields, (path, fields)
    # And nothing was stored
    assert _item_count(cloud) == before


def test_phone_is_stored_as_e164(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory
) -> None:
    payload = new_order(1)
    payload["customer"]["phone"] = "090-1234-5678"
    segmenter_client.post("/v1/orders", json=payload, headers=shop.header(shop.events))
    profile = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert profile["phone"] == "+819012345678"


def test_oversized_body_is_refused_before_parsing(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory, cloud: Cloud
) -> None:
    payload = new_order(1, coupon="x" * 2_000_000)
    response = segmenter_client.post("/v1/orders", json=payload, headers=shop.header(shop.events))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _item_count(cloud) == 0


def test_keys_and_scopes_are_checked(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory, cloud: Cloud
) -> None:
    order = new_order(1)
    cases = {
        "missing header": ({}, 401),
        "not bearer": ({"Authorization": "Basic abc"}, 401),
        "malformed key": (shop.header("nonsense"), 401),
        "unknown shop": (shop.header(shop.events.replace("kz1.acme.", "kz1.nosuchshop.")), 401),
        "wrong secret": (shop.header(shop.events[:-4] + "AAAA"), 401),
        "missing scope": (shop.header(shop.reader), 403),
    }
    for name, (headers, status) in cases.items():
        response = segmenter_client.post("/v1/orders", json=order, headers=headers)
        assert response.status_code == status, name
        assert response.json()["error"]["message"], name
    assert _item_count(cloud) == 0


def test_revoked_key_is_refused(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory
) -> None:
    # Given a key the shop created through the admin API
    created = segmenter_client.post(
        "/v1/admin/keys",
        json={"name": "old pos", "scopes": ["events:write"]},
        headers=shop.header(shop.admin),
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert (
        segmenter_client.post(
            "/v1/orders", json=new_order(1), headers=shop.header(token)
        ).status_code
        == 201
    )

    # When the shop revokes it
    revoked = segmenter_client.delete(
        f"/v1/admin/keys/{created.json()['key_id']}", headers=shop.header(shop.admin)
    )
    assert revoked.json()["revoked_at"]

    # Then it no longer works, and the listing shows it revoked without its secret
    response = segmenter_client.post("/v1/orders", json=new_order(2), headers=shop.header(token))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    listing = segmenter_client.get("/v1/admin/keys", headers=shop.header(shop.admin)).json()
    assert all("token" not in k and "secret_hash" not in k for k in listing)


def test_unknown_scope_is_refused(segmenter_client: TestClient, shop: ShopKeys) -> None:
    response = segmenter_client.post(
        "/v1/admin/keys",
        json={"name": "x", "scopes": ["everything"]},
        headers=shop.header(shop.admin),
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "scopes"


def test_another_shop_cannot_see_or_touch_this_shops_data(
    segmenter_client: TestClient, shop: ShopKeys, new_order: OrderFactory, cloud: Cloud
) -> None:
    # Given acme has a customer with an order, and a second shop exists
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    other = make_shop(cloud, "other")

    # When the other shop reads acme's customer and order ids with its own keys
    profile = segmenter_client.get("/v1/customers/c-1", headers=other.header(other.reader))
    order = segmenter_client.get("/v1/orders/ord-c-1-1", headers=other.header(other.reader))
    # and writes an order for the same customer id
    segmenter_client.post("/v1/orders", json=new_order(2), headers=other.header(other.events))
    # and tries to revoke acme's keys
    acme_keys = segmenter_client.get("/v1/admin/keys", headers=shop.header(shop.admin)).json()
    revoke = segmenter_client.delete(
        f"/v1/admin/keys/{acme_keys[0]['key_id']}", headers=other.header(other.admin)
    )

    # Then it sees nothing of acme, and acme's data is unchanged
    assert profile.status_code == 404
    assert order.status_code == 404
    assert revoke.status_code == 404
    acme = segmenter_client.get("/v1/customers/c-1", headers=shop.header(shop.reader)).json()
    assert acme["order_count"] == 1
    assert all(
        k["revoked_at"] is None
        for k in segmenter_client.get("/v1/admin/keys", headers=shop.header(shop.admin)).json()
    )
