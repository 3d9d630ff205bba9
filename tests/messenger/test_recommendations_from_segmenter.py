"""The recommendation block comes from the segmenter's API over real HTTP, with a
short-lived service token bound to one shop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from messenger.adapters.recommendations import SegmenterRecommendations
from shared.auth.service_tokens import issue_service_token, verify_service_token
from shared.errors import Unauthenticated
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload


@pytest.fixture
def segmenter_url(cloud: Cloud) -> Iterator[str]:
    from segmenter.entrypoints.api import app

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _buy(api: TestClient, shop: ShopKeys, customer: str, *skus: str) -> None:
    items: list[dict[str, Any]] = [
        {"sku": s, "quantity": 1, "unit_price": "1000", "category": "skincare"} for s in skus
    ]
    body = order_payload(
        1,
        customer_id=customer,
        email=f"{customer}@example.jp",
        items=items,
        total=str(1000 * len(skus)),
    )
    assert api.post("/v1/orders", json=body, headers=shop.header(shop.events)).status_code == 201


def test_messenger_gets_the_segmenters_recommendations(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient, segmenter_url: str
) -> None:
    # Given shoppers who bought the serum with the lotion, and a customer who bought the serum
    _buy(segmenter_client, shop, "a", "SERUM", "LOTION")
    _buy(segmenter_client, shop, "b", "SERUM", "LOTION")
    _buy(segmenter_client, shop, "me", "SERUM")
    admin = segmenter_client.post(
        "/v1/admin/keys",
        json={"name": "m", "scopes": ["segments:write"]},
        headers=shop.header(shop.admin),
    ).json()["token"]
    segmenter_client.post("/v1/segments/recompute", headers=shop.header(admin))
    secret = cloud.settings.signing_secret.get_secret_value()

    # When the messenger asks for the customer's recommendation block
    items = SegmenterRecommendations(segmenter_url, secret).recommend("acme", "me", 3)

    # Then it gets the co-purchased lotion, never what the customer already bought
    assert [i.sku for i in items][:1] == ["LOTION"]
    assert "SERUM" not in [i.sku for i in items]
    # And for another shop the same customer id finds nothing
    make_shop(cloud, "other")
    assert SegmenterRecommendations(segmenter_url, secret).recommend("other", "me", 3) == []
    # And a wrong secret or a dead segmenter gives an empty block, not a failed message
    assert SegmenterRecommendations(segmenter_url, "x" * 40).recommend("acme", "me", 3) == []
    assert SegmenterRecommendations("http://127.0.0.1:9", secret).recommend("acme", "me", 3) == []


def test_service_tokens_are_bound_to_shop_scope_and_time(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient
) -> None:
    secret = cloud.settings.signing_secret.get_secret_value()
    token = issue_service_token(secret, "acme", frozenset({"segments:read"}))
    principal = verify_service_token(secret, token)
    assert (principal.shop_id, principal.allows("segments:read")) == ("acme", True)
    assert not principal.allows("events:write")

    # A read token cannot write, and an altered or expired one is refused
    body = order_payload(1)
    assert (
        segmenter_client.post("/v1/orders", json=body, headers=shop.header(token)).status_code
        == 403
    )
    altered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert (
        segmenter_client.get("/v1/customers/c-1", headers=shop.header(altered)).status_code == 401
    )
    with pytest.raises(Unauthenticated, match="expired"):
        verify_service_token(secret, token, max_age_seconds=-1)
    with pytest.raises(ValueError, match="admin"):
        issue_service_token(secret, "acme", frozenset({"admin"}))


def test_journey_filters_are_judged_by_the_segmenter_over_http(
    cloud: Cloud, shop: ShopKeys, segmenter_client: TestClient, segmenter_url: str
) -> None:
    """Given a one-time buyer whose customer id holds characters a URL must escape
    When the messenger asks the segmenter's `/matches` to judge two filter leaves
    Then each answer is the profile's truth, another shop's same id matches nothing,
    and a dead segmenter is a failure (the step waits), never a silent skip."""
    from messenger.adapters.profile_rules import SegmenterProfileRules
    from shared.errors import DependencyFailed

    odd_id = "gid://shopify/Customer/7#2+x"
    body = order_payload(1, customer_id=odd_id, event_id="evt-odd-1", order_id="ord-odd-1")
    assert (
        segmenter_client.post("/v1/orders", json=body, headers=shop.header(shop.events)).status_code
        == 201
    )
    secret = cloud.settings.signing_secret.get_secret_value()
    rules = [
        {"field": "order_count", "op": "eq", "value": 1},
        {"field": "order_count", "op": "gte", "value": 2},
    ]

    assert SegmenterProfileRules(segmenter_url, secret).match("acme", odd_id, rules) == [
        True,
        False,
    ]
    make_shop(cloud, "other")
    assert SegmenterProfileRules(segmenter_url, secret).match("other", odd_id, rules) == [
        False,
        False,
    ]
    with pytest.raises(DependencyFailed):
        SegmenterProfileRules("http://127.0.0.1:9", secret).match("acme", odd_id, rules)
