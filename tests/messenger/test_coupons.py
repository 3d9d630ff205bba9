"""Per-person coupon codes: pools the shop uploads (JSON or CSV) or that sign their own
codes, one code per person and anchor, never one code for two people (also under
concurrent claims), `{{ coupon.code }}` in a real mail, and the redemption coming back
through `order.placed`."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger.domain.coupons import GiveStatus
from messenger.entrypoints import events as messenger_events
from shared.adapters.dynamodb import RequestCounter
from tests.conftest import Cloud, OrderFactory, ShopKeys
from tests.messenger.test_messaging import World, atomic_moto  # noqa: F401
from tests.messenger.test_shipping_notice import _text


@pytest.fixture
def world(events_world: World) -> World:
    """The events reach this world's container."""
    return events_world


def _pool(world: World, pool_id: str = "bday", **body: Any) -> dict[str, Any]:
    r = world.http.post(
        "/v1/coupon-pools",
        json={"pool_id": pool_id, "name": "誕生日クーポン", **body},
        headers=world.auth,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _give(world: World, customer_id: str, anchor: str = "birthday-2026", pool: str = "bday") -> Any:
    return world.http.post(
        f"/v1/coupon-pools/{pool}/assignments",
        json={"customer_id": customer_id, "anchor": anchor},
        headers=world.auth,
    )


def test_uploaded_codes_go_one_per_person_and_the_same_on_every_ask(world: World) -> None:
    """Given a pool with codes uploaded as CSV (header, BOM, blank line) and as JSON
    When three people ask, one of them twice
    Then each gets their own code, the repeat gets the same one, and the fourth person
    finds the pool exhausted (a 409 naming the pool), with no code given twice."""
    _pool(world)
    csv = "\ufeffcode,note\nBDAY-AAA1,first\n\nBDAY-AAA2,second\n".encode()
    up = world.http.post(
        "/v1/coupon-pools/bday/codes",
        content=csv,
        headers={**world.auth, "Content-Type": "text/csv"},
    )
    assert up.status_code == 200, up.text
    assert up.json() == {"added": 2, "duplicates": []}
    again = world.http.post(
        "/v1/coupon-pools/bday/codes",
        json={"codes": ["BDAY-AAA2", "BDAY-AAA3"]},
        headers=world.auth,
    )
    assert again.json() == {"added": 1, "duplicates": ["BDAY-AAA2"]}
    assert world.http.get("/v1/coupon-pools/bday", headers=world.auth).json()["free"] == 3

    codes = {c: _give(world, c).json()["code"] for c in ("c-1", "c-2", "c-3")}
    assert sorted(codes.values()) == ["BDAY-AAA1", "BDAY-AAA2", "BDAY-AAA3"]
    repeat = _give(world, "c-1").json()
    assert repeat == {"code": codes["c-1"], "status": "already_given"}
    exhausted = _give(world, "c-4")
    assert exhausted.status_code == 409
    assert exhausted.json()["error"]["fields"][0]["field"] == "pool_id"
    assert world.container.coupons.give("acme", "bday", "c-4", "birthday-2026").status is (
        GiveStatus.EXHAUSTED
    )
    # A new anchor (next year's birthday) is a new code, and there is none left
    assert _give(world, "c-1", anchor="birthday-2027").status_code == 409


def test_bad_uploads_are_422s_naming_the_field(world: World) -> None:
    _pool(world)
    twice = world.http.post(
        "/v1/coupon-pools", json={"pool_id": "bday", "name": "again"}, headers=world.auth
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["fields"][0]["field"] == "pool_id"
    bad = world.http.post(
        "/v1/coupon-pools/bday/codes", json={"codes": ["ok-1", "not ok"]}, headers=world.auth
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "codes.1"
    empty = world.http.post("/v1/coupon-pools/bday/codes", json={"codes": []}, headers=world.auth)
    assert empty.status_code == 422
    assert "codes" in empty.json()["error"]["fields"][0]["field"]
    latin1 = world.http.post(
        "/v1/coupon-pools/bday/codes",
        content="code\nK\xe9\n".encode("latin-1"),
        headers={**world.auth, "Content-Type": "text/csv"},
    )
    assert latin1.status_code == 422
    missing = world.http.post(
        "/v1/coupon-pools/nope/codes", json={"codes": ["A"]}, headers=world.auth
    )
    assert missing.status_code == 404
    assert world.http.get("/v1/coupon-pools/bday", headers=world.auth).json()["free"] == 0


def test_twenty_concurrent_claims_for_ten_codes_make_ten_distinct_winners(
    world: World,
    atomic_moto: None,  # noqa: F811
) -> None:
    """Given a pool of 10 codes
    When 20 people claim at once (each in its own thread, through the real adapter)
    Then exactly 10 get a code, all 10 codes are different, and 10 find it exhausted."""
    _pool(world)
    world.container.coupons.upload("acme", "bday", [f"CODE-{i:02d}" for i in range(10)])
    barrier = threading.Barrier(20)
    results: dict[str, Any] = {}

    def claim(customer_id: str) -> None:
        barrier.wait()
        results[customer_id] = world.container.coupons.give("acme", "bday", customer_id, "y")

    threads = [threading.Thread(target=claim, args=(f"c-{i}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = {c: g.code for c, g in results.items() if g.status is GiveStatus.GIVEN}
    assert len(winners) == 10
    assert len(set(winners.values())) == 10
    assert sum(g.status is GiveStatus.EXHAUSTED for g in results.values()) == 10
    for customer_id, code in winners.items():
        record = world.http.get(f"/v1/coupon-pools/bday/codes/{code}", headers=world.auth).json()
        assert (record["status"], record["customer_id"]) == ("assigned", customer_id)


def test_a_signed_pool_makes_verifiable_codes(world: World) -> None:
    """Given a signed pool with the prefix BDAY
    When two people ask for their code
    Then each gets a distinct BDAY- code, the same on a second ask, whose signature
    verifies; an altered code does not."""
    _pool(world, "bday-signed", kind="signed", prefix="BDAY")
    a = _give(world, "c-1", pool="bday-signed").json()
    b = _give(world, "c-2", pool="bday-signed").json()
    assert a["status"] == "given" and a["code"].startswith("BDAY-") and a["code"] != b["code"]
    assert _give(world, "c-1", pool="bday-signed").json()["code"] == a["code"]
    checked = world.http.get(
        f"/v1/coupon-pools/bday-signed/codes/{a['code']}", headers=world.auth
    ).json()
    assert (checked["signature_valid"], checked["status"]) == (True, "assigned")
    forged = a["code"][:-1] + ("A" if a["code"][-1] != "A" else "B")
    wrong = world.http.get(f"/v1/coupon-pools/bday-signed/codes/{forged}", headers=world.auth)
    assert (wrong.json()["signature_valid"], wrong.json()["status"]) == (False, None)
    uploading = world.http.post(
        "/v1/coupon-pools/bday-signed/codes", json={"codes": ["X"]}, headers=world.auth
    )
    assert uploading.status_code == 409


def test_the_code_reaches_the_mail_and_its_redemption_comes_back_through_the_order(
    cloud: Cloud,
    world: World,
    segmenter_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    """Given a customer who was given a birthday code and a mail reading {{ coupon.code }}
    When the mail is sent with the code's variables, and the customer orders with it
    Then the raw mail holds the code, and `order.placed` marks it redeemed by that order,
    once: a replayed event and a second order with the same code change nothing."""
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    for e in cloud.take_events("MessengerEventsFunction"):
        messenger_events.handler(e, None)
    world.customer()
    world.message("birthday", coupon=None)
    world.policy(channel_order=["email"], cap_count=20)
    _pool(world)
    world.container.coupons.upload("acme", "bday", ["HB-2026-XYZ"])
    given = world.container.coupons.give("acme", "bday", "c-1", "birthday-2026")
    sent = world.send("birthday", anchor="birthday-2026", variables=given.variables)
    assert sent["status"] == "sent"
    assert "クーポン HB-2026-XYZ" in _text(world.mails()[-1])

    order = new_order(2, coupon="HB-2026-XYZ")
    segmenter_client.post("/v1/orders", json=order, headers=shop.header(shop.events))
    events = cloud.take_events("MessengerEventsFunction")
    delivered = [e for e in events if e["detail-type"] == "order.placed"]
    results = [messenger_events.handler(e, None) for e in [*delivered, *delivered]]
    assert [r.get("coupon_redeemed") for r in results] == [True, False]
    record = world.http.get("/v1/coupon-pools/bday/codes/HB-2026-XYZ", headers=world.auth).json()
    assert (record["status"], record["order_id"]) == ("redeemed", "ord-c-1-2")
    first_redeemed_at = record["redeemed_at"]
    segmenter_client.post(
        "/v1/orders", json=new_order(3, coupon="HB-2026-XYZ"), headers=shop.header(shop.events)
    )
    for e in cloud.take_events("MessengerEventsFunction"):
        assert messenger_events.handler(e, None)["coupon_redeemed"] is False
    again = world.http.get("/v1/coupon-pools/bday/codes/HB-2026-XYZ", headers=world.auth).json()
    assert (again["order_id"], again["redeemed_at"]) == ("ord-c-1-2", first_redeemed_at)


def test_giving_a_code_costs_four_dynamodb_requests_and_a_repeat_two(world: World) -> None:
    """Given an uploaded pool
    When a code is given, then asked for again
    Then the give reads the pool, the person's assignment and a page of free codes, and
    writes one transaction; the repeat reads the pool and the assignment only."""
    _pool(world)
    world.container.coupons.upload("acme", "bday", ["A-1", "A-2"])
    table = world.container.adapters.settings.messenger_table
    counter = RequestCounter(table=table)
    counter.attach(world.container.adapters.coupon_repo._client)  # type: ignore[attr-defined]
    world.container.coupons.give("acme", "bday", "c-1", "y")
    assert [c.split(":")[0] for c in counter.calls] == [
        "GetItem",
        "GetItem",
        "Query",
        "TransactWriteItems",
    ]
    counter.reset()
    world.container.coupons.give("acme", "bday", "c-1", "y")
    assert [c.split(":")[0] for c in counter.calls] == ["GetItem", "GetItem"]
