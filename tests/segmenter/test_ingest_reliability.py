"""Ingest under retries, refusals and crashes: a refused event writes nothing, a replay is a
duplicate whatever happened since, a merge cut short is finished by the retry, events that
name a merged-away id reach the survivor, and no event outgrows one DynamoDB transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from segmenter.bootstrap import SegmenterContainer
from segmenter.domain.definitions import SegmentDefinition
from segmenter.domain.identity import Identifier
from segmenter.entrypoints import events as segmenter_events
from segmenter.services.segments import MAX_CUSTOM_SEGMENTS
from shared.clock import FixedClock as Clock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys, segment_writer

YUI = {"customer_id": "c-1", "email": "yui@example.jp"}
YUI_BY_PHONE = {"customer_id": "c-2", "phone": "09011112222"}
YUI_LINKED = {"customer_id": "c-1", "email": "yui@example.jp", "phone": "090-1111-2222"}


def _order(order_id: str, event_id: str, customer: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {
        "type": "order.placed",
        "event_id": event_id,
        "order_id": order_id,
        "placed_at": kw.pop("placed_at", "2026-11-11T10:00:00+09:00"),
        "total": "3980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980", "category": "skincare"}],
        "customer": customer,
        **kw,
    }


def _post(api: TestClient, shop: ShopKeys, body: dict[str, Any]) -> Response:
    response: Response = api.post("/v1/events", json=body, headers=shop.header(shop.events))
    return response


def _accepted(api: TestClient, shop: ShopKeys, body: dict[str, Any]) -> dict[str, Any]:
    response = _post(api, shop, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _profile(api: TestClient, shop: ShopKeys, customer_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/customers/{customer_id}", headers=shop.header(shop.reader))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _orders(api: TestClient, shop: ShopKeys, customer_id: str) -> list[tuple[str, str]]:
    response = api.get(f"/v1/customers/{customer_id}/orders", headers=shop.header(shop.reader))
    assert response.status_code == 200, response.text
    return sorted((o["order_id"], o["customer_id"]) for o in response.json())


def _members(api: TestClient, shop: ShopKeys, segment_id: str) -> list[str]:
    response = api.get(
        f"/v1/segments/{segment_id}/members",
        params={"limit": 1000},
        headers=shop.header(shop.reader),
    )
    assert response.status_code == 200, response.text
    return list(response.json()["customer_ids"])


def _table(cloud: Cloud) -> list[dict[str, Any]]:
    items = cloud.dynamodb.scan(TableName=cloud.settings.segmenter_table)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


# ------------------------------------------------------------------ refusals and merges


def test_a_refused_event_merges_nothing(api: TestClient, shop: ShopKeys, cloud: Cloud) -> None:
    # Given one person known twice: c-1 by email, c-2 by phone, each with an order
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    _accepted(api, shop, _order("B-1", "e-b1", YUI_BY_PHONE))
    before = _table(cloud)

    # When an event naming both is refused because its order was recorded already
    recorded = _post(api, shop, _order("A-1", "e-new", YUI_LINKED))
    # And another because its event id was used for another event
    reused = _post(api, shop, _order("A-2", "e-a1", YUI_LINKED))

    # Then both are refused, naming the field, and not one item changed
    assert recorded.status_code == 409
    assert recorded.json()["error"]["fields"][0]["field"] == "order_id"
    assert reused.status_code == 409
    assert reused.json()["error"]["fields"][0]["field"] == "event_id"
    assert _table(cloud) == before
    assert _profile(api, shop, "c-2")["customer_id"] == "c-2"
    assert _orders(api, shop, "c-2") == [("B-1", "c-2")]


def test_a_merge_cut_short_after_its_commit_is_finished_by_the_retry(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given c-1 (one order) and c-2 (two orders, a full-price buyer), the same person
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    _accepted(api, shop, _order("B-1", "e-b1", YUI_BY_PHONE))
    _accepted(api, shop, _order("B-2", "e-b2", YUI_BY_PHONE, placed_at="2026-11-12T10:00:00+09:00"))
    assert "c-2" in _members(api, shop, "full_price_buyers")
    link = {"type": "customer.upserted", "event_id": "link-1", "customer": YUI_LINKED}

    # When the linking event's delivery stops right after its commit
    def lambda_timed_out(*args: object, **kwargs: object) -> None:
        raise TimeoutError("Lambda timed out")

    with monkeypatch.context() as patch:
        patch.setattr(container.profiles, "move_orders", lambda_timed_out)
        cut = _post(api, shop, link)
    # (the storefront gets the documented 500; the profiles are merged, but c-2's orders
    # still point at c-2)
    assert cut.status_code == 500 and cut.json()["error"]["code"] == "internal"
    assert _profile(api, shop, "c-1")["order_count"] == 3
    assert _orders(api, shop, "c-1") == [("A-1", "c-1")]

    # And the storefront retries it
    again = _post(api, shop, link)

    # Then it is a duplicate that finished the merge: every order under c-1, the phone
    # leads to c-1, and c-2 is no longer listed as a member of any segment
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    expected = [("A-1", "c-1"), ("B-1", "c-1"), ("B-2", "c-1")]
    assert _orders(api, shop, "c-1") == expected
    assert _orders(api, shop, "c-2") == expected
    assert container.profiles.owner_of("acme", Identifier("phone", "+819011112222")) == "c-1"
    assert container.profiles.owner_of("acme", Identifier("ext", "c-2")) == "c-1"
    assert _members(api, shop, "full_price_buyers") == ["c-1"]
    # And a later order by the phone alone lands on c-1
    assert _accepted(api, shop, _order("B-3", "e-b3", {"phone": "09011112222"}))["customer_id"] == (
        "c-1"
    )


# ------------------------------------------------------------------ replays


def test_a_replayed_status_event_is_a_duplicate_after_later_changes(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    # Given an order shipped, then delivered
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    shipped = {"type": "order.shipped", "event_id": "s-1", "order_id": "A-1"}
    delivered = {"type": "order.delivered", "event_id": "d-1", "order_id": "A-1"}
    _accepted(api, shop, {**shipped, "at": "2026-11-12T10:00:00+09:00"})
    _accepted(api, shop, {**delivered, "at": "2026-11-14T10:00:00+09:00"})
    before = _table(cloud)

    # When the storefront replays the shipped event, alone and in a batch
    again = _post(api, shop, {**shipped, "at": "2026-11-12T10:00:00+09:00"})
    batch = api.post(
        "/v1/events/batch",
        json={
            "events": [
                {**shipped, "at": "2026-11-12T10:00:00+09:00"},
                {**delivered, "at": "2026-11-14T10:00:00+09:00"},
            ]
        },
        headers=shop.header(shop.events),
    ).json()

    # Then each is a duplicate, not a conflict, and the order stays delivered
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert (batch["duplicates"], batch["failed"]) == (2, 0)
    assert _table(cloud) == before
    order = api.get("/v1/orders/A-1", headers=shop.header(shop.reader)).json()
    assert order["status"] == "delivered"


@pytest.mark.parametrize(
    ("first", "replay"),
    [
        (
            {"type": "customer.upserted", "customer": YUI, "gender": "female"},
            {"type": "customer.upserted", "customer": YUI, "gender": "male"},
        ),
        (
            {
                "type": "cart.updated",
                "customer": YUI,
                "cart_id": "cart-1",
                "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
                "updated_at": "2026-11-20T10:00:00+09:00",
            },
            {
                "type": "cart.updated",
                "customer": YUI,
                "cart_id": "cart-1",
                "items": [],
                "updated_at": "2026-11-21T10:00:00+09:00",
            },
        ),
        (
            {
                "type": "product.viewed",
                "customer": YUI,
                "sku": "SERUM-30",
                "viewed_at": "2026-11-20T10:00:00+09:00",
            },
            {
                "type": "product.viewed",
                "customer": YUI,
                "sku": "SERUM-30",
                "viewed_at": "2026-11-21T10:00:00+09:00",
            },
        ),
        (
            {"type": "inventory.changed", "sku": "SERUM-30", "quantity": 5},
            {"type": "inventory.changed", "sku": "SERUM-30", "quantity": 0},
        ),
    ],
    ids=["customer", "cart", "view", "inventory"],
)
def test_the_same_event_id_twice_changes_nothing(
    api: TestClient,
    shop: ShopKeys,
    cloud: Cloud,
    container: SegmenterContainer,
    first: dict[str, Any],
    replay: dict[str, Any],
) -> None:
    # Given an event accepted once
    _accepted(api, shop, {**first, "event_id": "evt-1"})
    before = _table(cloud)
    published = [e.id for e in container.publisher.published]  # type: ignore[attr-defined]

    # When the same event id arrives again (even with other content)
    again = _post(api, shop, {**replay, "event_id": "evt-1"})

    # Then it is a duplicate: nothing is written, and only the same events go out again
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert _table(cloud) == before
    republished = [e.id for e in container.publisher.published][len(published) :]  # type: ignore[attr-defined]
    assert set(republished) <= set(published)


# ------------------------------------------------------------------ merged-away ids


def _deliver(container: SegmenterContainer, envelope: EventEnvelope) -> None:
    segmenter_events.container.use(container)
    try:
        segmenter_events.handler({"detail": envelope.model_dump(mode="json")}, None)
    finally:
        segmenter_events.reset()


def test_answers_and_opens_for_a_merged_away_id_reach_the_survivor(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, clock: Clock
) -> None:
    # Given a visitor known by email only (a generated id, which a survey link carries)
    visitor = _accepted(
        api,
        shop,
        {
            "type": "product.viewed",
            "event_id": "v-1",
            "customer": {"email": "aoi@example.jp"},
            "sku": "SERUM-30",
            "viewed_at": "2026-11-20T10:00:00+09:00",
        },
    )["customer_id"]
    assert visitor.startswith("k-")
    # And the storefront customer c-9, later linked to that email (the visitor merges in)
    _accepted(api, shop, _order("A-1", "e-a1", {"customer_id": "c-9"}))
    link = {"customer_id": "c-9", "email": "aoi@example.jp"}
    _accepted(api, shop, {"type": "customer.upserted", "event_id": "link-1", "customer": link})

    # When a survey answer and a mail open arrive for the visitor's generated id
    moment = clock.now - timedelta(hours=1)
    _deliver(
        container,
        EventEnvelope(
            id="survey-1",
            shop="acme",
            type="survey.answered",
            time=moment,
            detail=details.SurveyAnswered(
                survey_id="why",
                survey_version=1,
                response_id="r-1",
                customer_id=visitor,
                preferences={"dislike": ["fragrance"]},
            ).model_dump(mode="json"),
        ),
    )
    _deliver(
        container,
        EventEnvelope(
            id="open-1",
            shop="acme",
            type="message.opened",
            time=moment,
            detail=details.MessageEngaged(
                delivery_id="d-1", customer_id=visitor, channel="email"
            ).model_dump(mode="json"),
        ),
    )

    # Then both are on the survivor, and nothing on the merged-away profile
    assert _profile(api, shop, "c-9")["preferences"] == {"dislike": ["fragrance"]}
    preview = api.post(
        "/v1/segments/preview",
        json={
            "rule": {
                "all": [
                    {"activity": "opened", "within_days": 7},
                    {"preference": "dislike", "includes": "fragrance"},
                ]
            }
        },
        headers=shop.header(shop.reader),
    ).json()
    assert preview == {"count": 1, "sample_customer_ids": ["c-9"]}
    dead = container.profiles.get_profile("acme", visitor)
    assert dead is not None and dead.merged_into == "c-9"
    assert dead.preferences == {}
    assert not [a for a in dead.activities if a.kind == "opened"]


# ------------------------------------------------------------------ transaction size


def _everyone_segment(i: int) -> dict[str, Any]:
    return {"field": "revenue", "op": "gte", "value": i}


def test_a_shop_at_the_segment_cap_ingests_orders_and_merges(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    # Given a shop one short of the custom segment cap, every segment matching any buyer
    writer = segment_writer(api, shop)
    for i in range(MAX_CUSTOM_SEGMENTS - 1):
        container.profiles.put_segment(
            "acme", SegmentDefinition(f"s{i:02d}", f"S{i}", _everyone_segment(i))
        )
    last = f"s{MAX_CUSTOM_SEGMENTS - 1:02d}"
    created = api.post(
        "/v1/segments",
        json={"segment_id": last, "name": "last", "rule": _everyone_segment(0)},
        headers=writer,
    )
    assert created.status_code == 201, created.text

    # When one more is defined
    over = api.post(
        "/v1/segments",
        json={"segment_id": "one-more", "name": "x", "rule": _everyone_segment(0)},
        headers=writer,
    )
    # Then it is refused clearly, naming the field
    assert over.status_code == 409
    assert over.json()["error"]["fields"][0]["field"] == "segment_id"
    assert str(MAX_CUSTOM_SEGMENTS) in over.json()["error"]["message"]

    # When two customers order (each entering every segment in one event), and then
    # turn out to be one person (the merged-away one leaves every segment)
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    _accepted(api, shop, _order("B-1", "e-b1", YUI_BY_PHONE))
    assert len(_profile(api, shop, "c-2")["segments"]) > MAX_CUSTOM_SEGMENTS
    _accepted(api, shop, {"type": "customer.upserted", "event_id": "l-1", "customer": YUI_LINKED})

    # Then every event was accepted and the member lists are exact
    for segment_id in ("s00", last, "full_price_buyers"):
        assert _members(api, shop, segment_id) == ["c-1"]


def test_a_shop_over_the_cap_from_before_still_ingests_every_order(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer
) -> None:
    # Given a shop that defined 100 segments before the cap existed
    for i in range(100):
        container.profiles.put_segment(
            "acme", SegmentDefinition(f"s{i:03d}", f"S{i}", _everyone_segment(i))
        )

    # When a customer's first order puts them in all of them at once (and is retried)
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    again = _post(api, shop, _order("A-1", "e-a1", YUI))

    # Then it is accepted (more member items than one transaction holds) and complete
    assert again.json()["status"] == "duplicate"
    assert len([s for s in _profile(api, shop, "c-1")["segments"] if s.startswith("s")]) == 100
    for segment_id in ("s000", "s050", "s099"):
        assert _members(api, shop, segment_id) == ["c-1"]
