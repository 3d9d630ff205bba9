"""Every list route pages with a cursor (point 8 of "Every promise true on the wire").

Each list route below takes `limit` and `cursor`, answers a bare JSON array, and puts
the next page's cursor in `X-Next-Cursor`. Over HTTP on in-process moto: the pages of a
list longer than one page cover every item exactly once, in the order of the whole list;
a garbage cursor is a 422 naming `cursor`; a cursor one shop was given, used with another
shop's key, is a 422 naming `cursor` and shows none of either shop's items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.clock import FixedClock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.http.paging import MAX_PAGE, NEXT_CURSOR_HEADER
from tests.conftest import Cloud, ShopKeys, make_shop, order_payload
from tests.feedback.conftest import SURVEY

SEEDED = 5
PAGE = 2
RULE = {"all": [{"field": "order_count", "op": "eq", "value": 1}]}


@dataclass(frozen=True)
class World:
    segmenter: TestClient
    messenger: TestClient
    feedback: TestClient
    clock: FixedClock


Seed = Callable[[World, ShopKeys, int], None]


def _ok(response: Any) -> None:
    assert response.status_code in (200, 201, 202), response.text


def _auth(shop: ShopKeys) -> dict[str, str]:
    return shop.header(shop.admin)


def _message(w: World, shop: ShopKeys, i: int) -> None:
    body = {"message_id": f"m-{i}", "name": f"Message {i}", "line": {"text": "こんにちは"}}
    _ok(w.messenger.post("/v1/messages", json=body, headers=_auth(shop)))


def _campaign(w: World, shop: ShopKeys, i: int) -> None:
    from messenger.entrypoints import events

    entered = EventEnvelope(
        id=f"evt-vip-{shop.shop_id}",
        shop=shop.shop_id,
        type="segment.entered",
        time=w.clock.now,
        detail={"segment_id": "vip", "customer_id": "c-1"},
    )
    events.handler({"detail": entered.model_dump(mode="json")}, None)
    _message(w, shop, i)
    body = {
        "campaign_id": f"camp-{i}",
        "name": f"Campaign {i}",
        "segment_id": "vip",
        "variants": [{"name": "A", "message_id": f"m-{i}"}],
        "scheduled_at": (w.clock.now + timedelta(days=1)).isoformat(),
    }
    _ok(w.messenger.post("/v1/campaigns", json=body, headers=_auth(shop)))


def _segment(w: World, shop: ShopKeys, i: int) -> None:
    body = {"segment_id": f"seg-{i}", "name": f"Segment {i}", "rule": RULE}
    _ok(w.segmenter.post("/v1/segments", json=body, headers=_auth(shop)))


def _survey(w: World, shop: ShopKeys, i: int) -> None:
    body = {**SURVEY, "survey_id": f"survey-{i}"}
    _ok(w.feedback.post("/v1/surveys", json=body, headers=_auth(shop)))


def _restock_signup(w: World, shop: ShopKeys, i: int) -> None:
    body = {"sku": f"SKU-{i}", "channel": "email", "customer_id": "c-1"}
    _ok(w.feedback.post("/v1/restock/signups", json=body, headers=_auth(shop)))


def _key(w: World, shop: ShopKeys, i: int) -> None:
    body = {"name": f"partner {i}", "scopes": ["segments:read"]}
    _ok(w.segmenter.post("/v1/admin/keys", json=body, headers=_auth(shop)))


def _order(w: World, shop: ShopKeys, i: int) -> None:
    body = order_payload(n=i + 1, customer_id="c-1")
    _ok(w.segmenter.post("/v1/orders", json=body, headers=shop.header(shop.events)))


def _ad_spend(w: World, shop: ShopKeys, i: int) -> None:
    body = {"entries": [{"channel": f"ch-{i}", "month": "2026-04", "amount": "1000"}]}
    _ok(w.segmenter.put("/v1/analytics/ad-spend", json=body, headers=_auth(shop)))


def _pick_line(w: World, shop: ShopKeys, i: int) -> None:
    """An insert chosen for a customer, then their order: one line of the day's pick list."""
    from messenger.entrypoints import events

    flyer = {"name": "Flyer"}
    _ok(w.messenger.put("/v1/inserts/flyer", json=flyer, headers=_auth(shop)))
    choice = {"customer_id": f"c-{i}", "anchor": "next-parcel"}
    _ok(w.messenger.post("/v1/inserts/flyer/choices", json=choice, headers=_auth(shop)))
    placed = details.OrderPlaced(
        order_id=f"o-{i}",
        customer=details.CustomerSnapshot(customer_id=f"c-{i}"),
        placed_at=w.clock.now,
        currency="JPY",
        total=Decimal(1000),
        items=[details.LineItem(sku="X", quantity=1, unit_price=Decimal(1000))],
        order_count=2,
        is_first_order=False,
    )
    envelope = EventEnvelope(
        id=f"evt-o-{shop.shop_id}-{i}",
        shop=shop.shop_id,
        type="order.placed",
        time=w.clock.now,
        detail=placed.model_dump(mode="json"),
    )
    events.handler({"detail": envelope.model_dump(mode="json")}, None)


@dataclass(frozen=True)
class Route:
    service: str
    path: str
    seed: Seed
    ident: str

    def client(self, w: World) -> TestClient:
        client: TestClient = getattr(w, self.service)
        return client


ROUTES = {
    "messages": Route("messenger", "/v1/messages", _message, "message_id"),
    "campaigns": Route("messenger", "/v1/campaigns", _campaign, "campaign_id"),
    "segments": Route("segmenter", "/v1/segments", _segment, "segment_id"),
    "surveys": Route("feedback", "/v1/surveys", _survey, "survey_id"),
    "restock-skus": Route("feedback", "/v1/restock/skus", _restock_signup, "sku"),
    "admin-keys": Route("segmenter", "/v1/admin/keys", _key, "key_id"),
    "customer-orders": Route("segmenter", "/v1/customers/c-1/orders", _order, "order_id"),
    "ad-spend": Route("segmenter", "/v1/analytics/ad-spend", _ad_spend, "channel"),
    "pick-list": Route("messenger", "/v1/pick-lists/2026-11-23", _pick_line, "order_id"),
}


@pytest.fixture
def world(cloud: Cloud, clock: FixedClock) -> World:
    from feedback.entrypoints.api import app as feedback_app
    from messenger.entrypoints.api import app as messenger_app
    from segmenter.entrypoints.api import app as segmenter_app

    return World(
        TestClient(segmenter_app), TestClient(messenger_app), TestClient(feedback_app), clock
    )


def _get(w: World, route: Route, shop: ShopKeys, **params: Any) -> Any:
    return route.client(w).get(route.path, params=params, headers=_auth(shop))


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


@pytest.mark.parametrize("name", list(ROUTES))
def test_pages_cover_every_item_once_in_a_stable_order(
    world: World, shop: ShopKeys, name: str
) -> None:
    route = ROUTES[name]
    # Given more items than one page
    for i in range(SEEDED):
        route.seed(world, shop, i)
    whole = _get(world, route, shop, limit=MAX_PAGE)
    assert whole.status_code == 200, whole.text
    assert NEXT_CURSOR_HEADER not in whole.headers
    everything = [item[route.ident] for item in whole.json()]
    assert len(everything) >= SEEDED
    # When they are read PAGE at a time, following X-Next-Cursor
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(len(everything)):
        page = _get(world, route, shop, limit=PAGE, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        assert isinstance(page.json(), list)
        assert 0 < len(page.json()) <= PAGE
        seen += [item[route.ident] for item in page.json()]
        cursor = page.headers.get(NEXT_CURSOR_HEADER)
        if cursor is None:
            break
    # Then the pages hold every item exactly once, in the order of the whole list,
    # and the last page carries no cursor
    assert cursor is None
    assert seen == everything
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize("name", list(ROUTES))
@pytest.mark.parametrize("garbage", ["zzz", "eyJub3QiOiJhIGN1cnNvciJ9", "W10", "x" * 3000])
def test_a_garbage_cursor_is_a_422_naming_cursor(
    world: World, shop: ShopKeys, name: str, garbage: str
) -> None:
    route = ROUTES[name]
    route.seed(world, shop, 0)
    response = _get(world, route, shop, cursor=garbage)
    assert response.status_code == 422, response.text
    assert _fields(response) == ["cursor"]


@pytest.mark.parametrize("name", list(ROUTES))
def test_a_limit_out_of_range_is_a_422_naming_limit(
    world: World, shop: ShopKeys, name: str
) -> None:
    route = ROUTES[name]
    for limit in (0, MAX_PAGE + 1):
        response = _get(world, route, shop, limit=limit)
        assert response.status_code == 422, response.text
        assert _fields(response) == ["limit"]


@pytest.mark.parametrize("name", list(ROUTES))
def test_another_shops_cursor_never_reveals_its_items(
    world: World, cloud: Cloud, shop: ShopKeys, name: str
) -> None:
    route = ROUTES[name]
    other = make_shop(cloud, "other-shop")
    # Given both shops hold more items than one page
    for i in range(SEEDED):
        route.seed(world, shop, i)
        route.seed(world, other, i)
    first = _get(world, route, shop, limit=PAGE)
    cursor = first.headers[NEXT_CURSOR_HEADER]
    # When the other shop's key passes the first shop's cursor
    response = _get(world, route, other, limit=PAGE, cursor=cursor)
    # Then it is refused as not a cursor of this list: nothing of either shop is shown
    assert response.status_code == 422, response.text
    assert _fields(response) == ["cursor"]


def test_a_cursor_of_one_list_is_refused_by_another(world: World, shop: ShopKeys) -> None:
    # Given a cursor of the message list (same shop, same storage partition as campaigns)
    for i in range(SEEDED):
        _campaign(world, shop, i)
    cursor = _get(world, ROUTES["messages"], shop, limit=PAGE).headers[NEXT_CURSOR_HEADER]
    # When it is passed to the campaign list, Then it is a 422 naming cursor
    response = _get(world, ROUTES["campaigns"], shop, limit=PAGE, cursor=cursor)
    assert response.status_code == 422, response.text
    assert _fields(response) == ["cursor"]


def test_every_paged_list_route_declares_limit_cursor_and_the_header(world: World) -> None:
    documents = {
        service: getattr(world, service).get(f"/v1/openapi/{service}.json").json()
        for service in ("segmenter", "messenger", "feedback")
    }
    for route in ROUTES.values():
        paths = documents[route.service]["paths"]
        template = route.path.replace("c-1", "{customer_id}").replace("2026-11-23", "{day}")
        op = paths[template]["get"]
        names = {p["name"] for p in op["parameters"]}
        assert {"limit", "cursor"} <= names, route.path
        assert NEXT_CURSOR_HEADER in op["responses"]["200"]["headers"], route.path
