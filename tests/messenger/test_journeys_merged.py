"""`customer.merged` in the messenger: the segmenter proved two ids one person, so the
merged-away id's journey flows end and its unsubscribes hold for the survivor. Real
events into the handler, on moto."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world


def _enrolments(world: JourneyWorld, customer_id: str) -> list[dict[str, Any]]:
    r = world.http.get(
        "/v1/journeys/enrolments", params={"customer_id": customer_id}, headers=world.auth
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_merge_ends_the_merged_away_flow_and_carries_its_unsubscribes(
    cloud: Cloud, shop: ShopKeys
) -> None:
    """Given c-1 and c-2 (one person, known twice) each in the post-purchase flow after a
    shipped first order, and c-2 unsubscribed from marketing mail
    When `customer.merged` (c-2 into c-1) arrives, then is redelivered
    Then c-2's flow ended (`merged`) and c-1's goes on; c-1 is unsubscribed too (c-2's
    time kept); the redelivery ends and copies nothing; a month on, c-2 got no step mail."""
    world = step_mails_world(cloud, shop)
    world.customer("c-2")
    world.journey(post_purchase())
    for n, customer in enumerate(("c-1", "c-2"), start=1):
        world.order(f"A-{n}", customer)
        world.shipped(f"A-{n}", customer)
    deliveries = world.container.adapters.deliveries
    deliveries.unsubscribe("acme", "c-2", "email", "marketing", world.clock.now)
    assert not deliveries.is_unsubscribed("acme", "c-1", "email", "marketing")
    merge = {"customer_id": "c-1", "merged_ids": ["c-2"], "caused_by": "e-3"}

    first = world.event("customer.merged", merge, event_id="merge-1")
    again = world.event("customer.merged", merge, event_id="merge-1")

    assert first == {"unsubscribes_carried": 1, "exited": ["post-purchase"]}
    assert again == {"unsubscribes_carried": 0, "exited": []}
    [away] = _enrolments(world, "c-2")
    assert away["status"] == "exited" and away["exit_reason"] == "merged"
    [kept] = _enrolments(world, "c-1")
    assert kept["status"] == "active"
    assert deliveries.unsubscribed_at("acme", "c-1", "email", "marketing") == world.clock.now
    world.run_for(30)
    assert world.journey_mails("c-2") == []
