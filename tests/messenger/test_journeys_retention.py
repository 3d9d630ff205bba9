"""What the journeys table keeps, and for how long: carts, who wanted a sold-out SKU,
finished enrolments and counted markers carry the table's TTL (`ttl`, epoch seconds), so
a shop's journeys table does not grow for ever; what a rule depends on (guards, orders)
carries none. Read back from DynamoDB as stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from messenger.adapters.journeys import KEEP
from messenger.domain.journeys.plan import enrolment_id, held_out
from ops.local.template import load_template, resources_of_type
from shared.adapters.dynamodb import query_all
from tests.conftest import TEMPLATE, Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld
from tests.messenger.test_journeys_builtins import cart, enable, sent, treated, view


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    return JourneyWorld(cloud, shop)


def _items(world: JourneyWorld, pk: str) -> dict[str, dict[str, Any]]:
    """The partition's items by sort key, as stored."""
    found = query_all(
        world.cloud.dynamodb,
        TableName=world.cloud.settings.journeys_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )
    return {str(i["sk"]): i for i in found}


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def test_the_journeys_table_expires_items_by_ttl() -> None:
    """Given the template
    Then the journeys table's TTL reads the `ttl` attribute."""
    tables = resources_of_type(load_template(TEMPLATE), "AWS::DynamoDB::Table")
    spec = tables["JourneysTable"]["Properties"]["TimeToLiveSpecification"]
    assert spec == {"AttributeName": "ttl", "Enabled": True}


def test_carts_wants_and_finished_enrolments_expire_and_a_restock_forgets_its_list(
    world: JourneyWorld,
) -> None:
    """Given the cart flow and back-in-stock enabled, and a SKU sold out
    When a person carts it (the cart flow runs to its end) and another views it, and the
    SKU comes back
    Then the cart expires 30 days after its last change; the wish list of the sold-out
    SKU expired 90 days after each wish, and is empty once the return was handed to the
    journeys (both wishers entered back-in-stock); the finished cart enrolment expires
    `KEEP` after it entered, the still-waiting restock ones do not, and guards never."""
    enable(world, "abandoned-cart")
    enable(world, "back-in-stock")
    a = next(
        cid
        for cid in (f"a-{i}" for i in range(100))
        if not held_out("back-in-stock", enrolment_id("back-in-stock", cid, "k#SOLD-1"), 10)
        and not held_out("abandoned-cart", enrolment_id("abandoned-cart", cid, "k#cart-a"), 10)
    )
    b = treated("back-in-stock", "SOLD-1", "z")
    for cid in (a, b):
        world.customer(cid)
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 2, "quantity": 0})
    carted_at = world.clock.now
    world.event("cart.updated", cart(a, "cart-a", "SOLD-1", "SERUM-30"))
    world.event("product.viewed", view(b, "SOLD-1", world))

    want = _items(world, "WANT#acme#SOLD-1")
    assert {sk: int(i["ttl"]) for sk, i in want.items()} == {
        f"C#{a}": _epoch(carted_at + timedelta(days=90)),
        f"C#{b}": _epoch(carted_at + timedelta(days=90)),
    }
    person = _items(world, f"CUST#acme#{a}")
    assert int(person["C#cart-a"]["ttl"]) == _epoch(carted_at + timedelta(days=30))

    # When the cart flow runs to its end (two days) and the SKU comes back
    world.run_for(2, every=timedelta(hours=2))
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 0, "quantity": 5})

    assert _items(world, "WANT#acme#SOLD-1") == {}
    assert world.stats("back-in-stock")["entered"] == 2
    person = _items(world, f"CUST#acme#{a}")
    enrolments = {sk.split("#")[1]: i for sk, i in person.items() if sk.startswith("E#")}
    assert "ttl" not in enrolments["back-in-stock"]  # still waiting for its day
    finished = enrolments["abandoned-cart"]
    assert finished["status"] in ("completed", "exited")
    entered = datetime.fromisoformat(str(finished["entered_at"]))
    assert int(finished["ttl"]) == _epoch(entered + KEEP)
    guards = [i for sk, i in person.items() if sk.startswith("G#")]
    assert guards and all("ttl" not in g for g in guards)
    assert "journey:abandoned-cart:mail-1h" in sent(world, a)
