"""同梱物 (package inserts), the offline channel: an insert chosen for a customer goes
into their next order's parcel, the warehouse reads the day's pick list as JSON and CSV,
and the choice is a `packed` delivery in the log that takes no frequency-cap slot."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, OrderFactory, ShopKeys
from tests.messenger.test_messaging import World


@pytest.fixture
def world(events_world: World) -> World:
    """The events reach this world's container."""
    return events_world


def _handle(cloud: Cloud) -> list[dict[str, Any]]:
    """The messenger's answers to the `order.placed` events it was handed (it also hears
    other events, e.g. its own `message.sent` for the journeys)."""
    events = cloud.take_events("MessengerEventsFunction")
    return [messenger_events.handler(e, None) for e in events if e["detail-type"] == "order.placed"]


def _choose(world: World, anchor: str = "ord-c-1-1", insert_id: str = "serum-sample") -> Any:
    return world.http.post(
        f"/v1/inserts/{insert_id}/choices",
        json={"customer_id": "c-1", "anchor": anchor, "trigger": "journey:step-mails:day-7"},
        headers=world.auth,
    )


def _pick_list(world: World, day: str, **params: str) -> Any:
    r = world.http.get(f"/v1/pick-lists/{day}", params=params, headers=world.auth)
    assert r.status_code == 200, r.text
    return r


def test_a_chosen_insert_goes_into_the_next_order_and_onto_that_days_pick_list(
    cloud: Cloud,
    world: World,
    segmenter_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    """Given a customer's first order (placed before anything was chosen)
    When a journey step chooses the serum sample for them (twice: a retry)
    And they place their next order the day after
    Then that order's day has one pick line (order id, customer, insert) in JSON and CSV,
    the earlier order has none, and a replayed order.placed adds nothing."""
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    assert _handle(cloud)[0]["inserts"] == []
    put = world.http.put(
        "/v1/inserts/serum-sample", json={"name": "美容液サンプル 3包"}, headers=world.auth
    )
    assert put.status_code == 200, put.text

    first = _choose(world)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["channel"]) == ("packed", "insert")
    again = _choose(world).json()
    assert (again["status"], again["reason"]) == ("skipped", "already_delivered")

    segmenter_client.post("/v1/orders", json=new_order(14), headers=shop.header(shop.events))
    events = cloud.take_events("MessengerEventsFunction")
    delivered = [e for e in events if e["detail-type"] == "order.placed"]
    results = [messenger_events.handler(e, None) for e in [*delivered, *delivered]]
    assert [r["inserts"] for r in results] == [["serum-sample"], []]

    lines = _pick_list(world, "2026-11-24").json()
    assert lines == [
        {
            "order_id": "ord-c-1-14",
            "customer_id": "c-1",
            "insert_id": "serum-sample",
            "insert_name": "美容液サンプル 3包",
        }
    ]
    as_csv = _pick_list(world, "2026-11-24", format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows == [
        ["order_id", "customer_id", "insert_id", "insert_name"],
        ["ord-c-1-14", "c-1", "serum-sample", "美容液サンプル 3包"],
    ]
    assert _pick_list(world, "2026-11-11").json() == []

    # A third order carries nothing more: the insert went into one parcel
    segmenter_client.post("/v1/orders", json=new_order(15), headers=shop.header(shop.events))
    assert [r["inserts"] for r in _handle(cloud)] == [[]]


def test_choosing_is_a_packed_delivery_that_takes_no_cap_slot(world: World) -> None:
    """Given a cap of one marketing message a week
    When an insert is chosen for the customer
    Then the delivery log shows it packed on the channel `insert`, and a marketing mail
    still goes out (the insert took no cap slot); the next mail is capped as usual."""
    world.customer()
    world.message()
    world.policy(channel_order=["email"], cap_count=1)
    world.http.put("/v1/inserts/serum-sample", json={"name": "サンプル"}, headers=world.auth)
    assert _choose(world).json()["status"] == "packed"

    log = world.deliveries(status="packed")
    assert [(d["channel"], d["status"], d["trigger"]) for d in log] == [
        ("insert", "packed", "journey:step-mails:day-7")
    ]
    assert world.send(anchor="a-1")["status"] == "sent"
    assert world.send(anchor="a-2")["status"] == "deferred"


def test_unknown_inserts_and_bad_days_are_4xx_naming_the_field(world: World) -> None:
    missing = _choose(world, insert_id="nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["fields"][0]["field"] == "insert_id"
    bad_day = world.http.get("/v1/pick-lists/2026-13-01", headers=world.auth)
    assert bad_day.status_code == 422
    assert bad_day.json()["error"]["fields"][0]["field"] == "day"
    bad_id = world.http.put("/v1/inserts/a%20b", json={"name": "x"}, headers=world.auth)
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["fields"][0]["field"] == "insert_id"
