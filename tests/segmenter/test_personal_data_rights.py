"""Personal-data rights on the segmenter (APPI, GDPR): an admin reads out everything held
on a person (disclosure) and erases them; no route answers with them afterwards, the
shop's order amounts stay, and a retried erasure is the same one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from segmenter.adapters.rights import DynamoPersonalData
from segmenter.bootstrap import SegmenterContainer
from shared.contracts.envelope import EventEnvelope
from tests.browser import served
from tests.conftest import Cloud, ShopKeys, make_shop, segment_writer
from tests.segmenter.conftest import RecordingPublisher
from tests.segmenter.test_ingest_reliability import (
    YUI,
    YUI_BY_PHONE,
    YUI_LINKED,
    _accepted,
    _order,
    _post,
)
from tests.segmenter.test_live_counts import _members, _segment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

YUI_NAMED = {**YUI_LINKED, "first_name": "結衣", "last_name": "山田"}
IDENTIFIERS = ("c-1", "c-2", "yui@example.jp", "09011112222", "+819011112222", "山田", "結衣")


def _yui_known_twice_then_linked(api: TestClient, shop: ShopKeys) -> None:
    """c-1 by email and c-2 by phone, each with an order; a third order links them."""
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    _accepted(api, shop, _order("A-2", "e-a2", YUI_BY_PHONE))
    _accepted(api, shop, _order("A-3", "e-a3", YUI_NAMED))


def _erased(container: SegmenterContainer) -> list[EventEnvelope]:
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    return [e for e in publisher.published if e.type == "customer.erased"]


def test_the_export_holds_the_person_merged_profiles_and_orders_of_this_shop_only(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given Yui known twice in acme (c-1 by email, c-2 by phone, since linked), and
    another shop's customer also called c-1
    When acme's admin exports c-2 (the merged-away id)
    Then the export names both ids, holds her email, phone, name and all three orders,
    and nothing of the other shop's c-1."""
    _yui_known_twice_then_linked(api, shop)
    other = make_shop(cloud, "beta")
    _accepted(api, other, _order("B-1", "e-b1", {"customer_id": "c-1", "email": "kenji@b.jp"}))

    response = api.get("/v1/customers/c-2/export", headers=shop.header(shop.admin))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["service"] == "segmenter"
    assert body["customer_ids"] == ["c-1", "c-2"]
    text = json.dumps(body, ensure_ascii=False)
    for value in ("yui@example.jp", "結衣", "山田"):
        assert value in text
    assert sorted(o["order_id"] for o in body["orders"]) == ["A-1", "A-2", "A-3"]
    assert "kenji@b.jp" not in text and "B-1" not in text


def test_export_and_erasure_need_the_admin_scope_and_stay_in_the_shop(
    api: TestClient, shop: ShopKeys, cloud: Cloud
) -> None:
    """Given Yui in acme
    When a reader key asks for her export or erasure, and beta's admin asks for c-1
    Then the reader gets 403 and beta's admin 404; nothing is erased."""
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    other = make_shop(cloud, "beta")

    assert api.get("/v1/customers/c-1/export", headers=shop.header(shop.reader)).status_code == 403
    assert api.delete("/v1/customers/c-1", headers=shop.header(shop.reader)).status_code == 403
    assert api.get("/v1/customers/c-1/export", headers=other.header(other.admin)).status_code == 404
    assert api.delete("/v1/customers/c-1", headers=other.header(other.admin)).status_code == 404
    assert api.get("/v1/customers/c-1", headers=shop.header(shop.reader)).status_code == 200


def _reads(api: TestClient, shop: ShopKeys) -> str:
    """Every segmenter route that could show a person, concatenated."""
    h = shop.header(shop.reader)
    parts = [
        api.get(path, headers=h, params=params).text
        for path, params in (
            ("/v1/customers", {"limit": 500}),
            ("/v1/customers/c-1", {}),
            ("/v1/customers/c-2", {}),
            ("/v1/customers/c-1/orders", {}),
            ("/v1/orders/A-1", {}),
            ("/v1/orders/A-2", {}),
            ("/v1/orders/A-3", {}),
            ("/v1/segments/vip/members", {"limit": 1000}),
            ("/v1/segments/vip/export", {}),
        )
    ]
    return "\n".join(parts)


def test_after_erasure_no_route_shows_her_and_the_order_amounts_stay(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, cloud: Cloud
) -> None:
    """Given Yui known twice and linked, with three orders, in a segment of buyers
    When acme's admin erases her by the merged-away id
    Then the erasure is done and its status names who asked and what was removed; no
    route shows her ids, email, phone or name; the orders keep their amounts under an
    anonymous id; the table keeps none of her identifiers, the processed-event markers
    included (what her events published went with her partition); and one
    `customer.erased` event names both ids."""
    _yui_known_twice_then_linked(api, shop)
    rule = {"field": "order_count", "op": "gte", "value": 1}
    api.post(
        "/v1/segments",
        json={"segment_id": "vip", "name": "Buyers", "rule": rule},
        headers=segment_writer(api, shop),
    )
    assert "c-1" in _reads(api, shop)

    response = api.delete("/v1/customers/c-2", headers=shop.header(shop.admin))

    assert response.status_code == 202, response.text
    erasure = response.json()
    assert erasure["status"] == "done"
    assert erasure["removed"] == {
        "activities": 3,
        "events_published": 3,
        "identifiers": 4,
        "memberships": 1,
        "orders_anonymised": 3,
        "profiles": 2,
    }
    status = api.get("/v1/customers/c-2/erasure", headers=shop.header(shop.admin))
    assert status.json() == erasure
    seen = _reads(api, shop)
    for value in IDENTIFIERS:
        assert value not in seen, value
    orders = [
        api.get(f"/v1/orders/A-{i}", headers=shop.header(shop.reader)).json() for i in (1, 2, 3)
    ]
    assert [o["total"] for o in orders] == ["3980", "3980", "3980"]
    assert len({o["customer_id"] for o in orders}) == 1
    assert orders[0]["customer_id"].startswith("erased-")
    kept = cloud.dynamodb.scan(TableName=cloud.settings.segmenter_table)["Items"]
    assert sum(i["sk"]["S"] == "EVENT" for i in kept) == 3  # the markers stay, ids only
    for value in IDENTIFIERS:
        assert value not in json.dumps(kept, ensure_ascii=False), value
    [event] = _erased(container)
    assert event.detail["customer_ids"] == ["c-1", "c-2"]
    assert event.id == erasure["erasure_id"]
    assert "yui" not in json.dumps(event.detail)


class _FailingOnce(RecordingPublisher):
    """The bus refuses the first `customer.erased`."""

    def __init__(self, inner: RecordingPublisher) -> None:
        super().__init__(inner.inner)
        self.failed = False

    def publish(self, envelopes: Any) -> None:
        if not self.failed and any(e.type == "customer.erased" for e in envelopes):
            self.failed = True
            raise RuntimeError("EventBridge down")
        super().publish(envelopes)


def test_an_erasure_cut_short_is_finished_by_the_retry_and_a_repeat_changes_nothing(
    shop: ShopKeys, container: SegmenterContainer
) -> None:
    """Given Yui with an order, and a bus that fails the first publish
    When her erasure is asked, fails, is asked again, then asked a third time
    Then the failure left the erasure `erased` (her data gone, the event owed); the retry
    publishes the one `customer.erased` and is `done`; the third is the same erasure,
    with the same counts, and publishes nothing more."""
    from segmenter.entrypoints.api import app

    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    flaky = _FailingOnce(publisher)
    app.state.container = container.replaced(publisher=flaky)
    api = TestClient(app, raise_server_exceptions=False)
    _accepted(api, shop, _order("A-1", "e-a1", YUI))
    admin = shop.header(shop.admin)

    failed = api.delete("/v1/customers/c-1", headers=admin)
    assert failed.status_code == 500
    assert api.get("/v1/customers/c-1", headers=shop.header(shop.reader)).status_code == 404

    retried = api.delete("/v1/customers/c-1", headers=admin)
    again = api.delete("/v1/customers/c-1", headers=admin)

    assert retried.status_code == again.status_code == 202
    assert retried.json() == again.json()
    assert retried.json()["status"] == "done"
    assert retried.json()["removed"]["orders_anonymised"] == 1
    assert [e.type for e in flaky.published if e.type == "customer.erased"] == ["customer.erased"]


@pytest.mark.parametrize("path", ["/v1/customers/nobody", "/v1/customers/nobody/export"])
def test_an_unknown_person_is_a_404(api: TestClient, shop: ShopKeys, path: str) -> None:
    """Given no customer `nobody` When erased or exported Then 404 naming customer_id."""
    response = api.request(
        "DELETE" if not path.endswith("export") else "GET", path, headers=shop.header(shop.admin)
    )
    assert response.status_code == 404
    assert "customer" in response.text


def test_a_marker_keeps_ids_and_a_replay_after_erasure_publishes_nothing_of_her(
    api: TestClient, shop: ShopKeys, container: SegmenterContainer, cloud: Cloud
) -> None:
    """Given Yui's order, whose `order.placed` carried her email and name, and a
    newsletter sign-up naming her by email alone
    When the storefront replays the order before her erasure, then after it
    Then the markers hold no email, phone or name (the sign-up's subject is a hash); the
    first replay publishes the same events again (what a crash between commit and
    publish needs); after the erasure the replay is still a duplicate (nothing written
    twice) and publishes nothing of her."""
    publisher = container.publisher
    assert isinstance(publisher, RecordingPublisher)
    order = _order("A-1", "e-a1", YUI_NAMED)
    _accepted(api, shop, order)
    signup = {
        "type": "customer.upserted",
        "event_id": "e-u1",
        "customer": {"email": "yui@example.jp"},
    }
    assert _post(api, shop, signup).status_code == 201
    assert _post(api, shop, signup).status_code == 200  # the same subject, by its hash
    first = [e.id for e in publisher.published if e.type == "order.placed"]
    markers = [
        i
        for i in cloud.dynamodb.scan(TableName=cloud.settings.segmenter_table)["Items"]
        if i["sk"]["S"] == "EVENT"
    ]
    assert len(markers) == 2
    for value in IDENTIFIERS[2:]:
        assert value not in json.dumps(markers, ensure_ascii=False), value

    seen = len(publisher.published)
    replay = _post(api, shop, order)
    assert replay.status_code == 200, replay.text
    assert [e.id for e in publisher.published[seen:] if e.type == "order.placed"] == first

    assert api.delete("/v1/customers/c-1", headers=shop.header(shop.admin)).status_code == 202
    seen = len(publisher.published)
    late = _post(api, shop, order)

    assert late.status_code == 200, late.text
    assert [e.type for e in publisher.published[seen:]] == []
    assert api.get("/v1/customers/c-1", headers=shop.header(shop.reader)).status_code == 404


class _EventLandsBeforeTheDelete:
    """The table's client, which runs `land` once right before the first transaction
    (the erasure's profile delete, its only one): an event changes the profile between
    the erasure's read of it and its delete."""

    def __init__(self, inner: DynamoDBClient, land: Callable[[], None]) -> None:
        self._inner = inner
        self._land: Callable[[], None] | None = land

    def transact_write_items(self, **request: Any) -> Any:
        if self._land is not None:
            land, self._land = self._land, None
            land()
        return self._inner.transact_write_items(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _held(http: httpx.Client, admin: dict[str, str]) -> dict[str, int]:
    """How many of each kind the disclosure holds on c-1 now."""
    export = http.get("/v1/customers/c-1/export", headers=admin)
    assert export.status_code == 200, export.text
    return {
        k: len(v) for k, v in export.json().items() if k != "customer_ids" and isinstance(v, list)
    }


def test_an_event_during_the_erasure_refuses_it_and_the_retry_counts_her_out_once(
    api: TestClient, shop: ShopKeys, cloud: Cloud, container: SegmenterContainer
) -> None:
    """Given Yui with one order, in a counted segment of buyers (count 1)
    When her second order lands between the erasure's read of her profile and its delete
    Then over HTTP the erasure answers 503 `dependency_failed` asking for a retry; her
    profile is still there (with both orders) and the count still 1
    Then its status reads `in_progress` with the steps done counted (her first order
    anonymised, her claims, memberships and activity removed)
    When the erasure is asked again
    Then it is done with her profile removed; the count is 0, the member list empty, its
    `removed` totals both attempts (both orders, both orders' activity, every
    membership once), and a third request changes nothing."""
    from segmenter.entrypoints.api import app

    cloud.route_rules_to_queues()
    with served(app) as url, httpx.Client(base_url=url, timeout=30) as http:

        def second_order() -> None:
            body = _order("A-2", "e-a2", YUI)
            landed = httpx.post(
                f"{url}/v1/events", json=body, headers=shop.header(shop.events), timeout=30
            )
            assert landed.status_code == 201, landed.text

        client = _EventLandsBeforeTheDelete(cloud.dynamodb, second_order)
        table = DynamoPersonalData(cast("DynamoDBClient", client), cloud.settings.segmenter_table)
        app.state.container = container.replaced(personal_data=table)
        events, admin = shop.header(shop.events), shop.header(shop.admin)
        first = http.post("/v1/events", json=_order("A-1", "e-a1", YUI), headers=events)
        assert first.status_code == 201, first.text
        rule = {"field": "order_count", "op": "gte", "value": 1}
        created = http.post(
            "/v1/segments",
            json={"segment_id": "buyers", "name": "Buyers", "rule": rule},
            headers=segment_writer(api, shop),
        )
        assert created.status_code == 201, created.text
        cloud.deliver("SegmenterEventsFunction")
        assert _segment(http, shop, "buyers")["member_count"] == 1
        held = _held(http, admin)
        [profile_item] = http.get("/v1/customers/c-1/export", headers=admin).json()["profiles"]
        claims, segments = len(profile_item["identifiers"]), len(profile_item["segments"])
        assert held["orders"] == 1 and held["activities"] >= 1 and segments >= 1

        refused = http.delete("/v1/customers/c-1", headers=admin)

        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "dependency_failed"
        assert "retry" in refused.json()["error"]["message"]
        profile = http.get("/v1/customers/c-1", headers=shop.header(shop.reader))
        assert profile.status_code == 200, profile.text
        assert profile.json()["order_count"] == 2
        assert _segment(http, shop, "buyers")["member_count"] == 1
        pending = http.get("/v1/customers/c-1/erasure", headers=admin).json()
        assert pending["status"] == "in_progress"
        assert pending["removed"] == {
            "orders_anonymised": held["orders"],
            "activities": held["activities"],
            "events_published": 1,  # the record of what A-1's event published
            "identifiers": claims,
            "memberships": segments,
        }
        left = _held(http, admin)
        assert left["orders"] == 1  # A-2, landed meanwhile

        retried = http.delete("/v1/customers/c-1", headers=admin)

        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "done"
        assert retried.json()["removed"] == {
            "profiles": 1,
            "orders_anonymised": held["orders"] + left["orders"],
            "activities": held["activities"] + left["activities"],
            "events_published": 2,  # A-1's and A-2's
            "identifiers": 2 * claims,  # A-2 claimed her email and id again
            "memberships": segments,  # still a member: A-2 wrote no membership anew
        }
        assert http.get("/v1/customers/c-1/erasure", headers=admin).json() == retried.json()
        assert http.get("/v1/customers/c-1", headers=shop.header(shop.reader)).status_code == 404
        assert _segment(http, shop, "buyers")["member_count"] == 0
        assert _members(http, shop, "buyers") == []
        again = http.delete("/v1/customers/c-1", headers=admin)
        assert again.status_code == 202 and again.json() == retried.json()
        assert _segment(http, shop, "buyers")["member_count"] == 0
