"""The other triggers and steps end to end: a date trigger with a local time, a wait for
an event with a timeout, branch, split and tag, the flow filter, pause and archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from messenger.adapters.journeys import DynamoJourneyRepository
from messenger.domain.journeys.enrolment import Enrolment
from tests.conftest import Cloud, ShopKeys
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.journey_world import JourneyWorld

JST = timezone(timedelta(hours=9))


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    w.policy(cap_count=20)
    for c in ("c-1", "c-2"):
        w.customer(c)
    for m in ("a", "b", "cart", "birthday"):
        w.message(m)
    return w


def _mails(world: JourneyWorld, customer_id: str = "c-1") -> list[str]:
    return [t for t, _ in world.journey_mails(customer_id)]


def test_a_birthday_enters_on_the_day_at_ten_local_time(world: JourneyWorld) -> None:
    """Given a yearly birthday journey that sends at 10:00 in the person's zone
    When the profile with a birthday in eight days arrives, and time passes
    Then nothing happens before the day, and the mail goes at 10:00 JST on it."""
    world.journey(
        {
            "journey_id": "birthday",
            "name": "Birthday",
            "trigger": {"date_field": "birthday", "yearly": True},
            "start": "at10",
            "steps": {
                "at10": {"type": "wait_local_time", "hour": 10, "next": "mail"},
                "mail": {"type": "send", "message_id": "birthday"},
            },
            "reentry": {"mode": "per_key"},
        }
    )
    world.event(
        "customer.upserted",
        {"customer": {"customer_id": "c-1", "timezone": "Asia/Tokyo"}, "birthday": "1990-12-01"},
    )
    world.run_for(7)
    assert _mails(world) == []
    world.run_for(2, every=timedelta(hours=1))
    ((trigger, at),) = world.journey_mails()
    assert trigger == "journey:birthday:mail"
    assert at.astimezone(JST).replace(tzinfo=None) == datetime(2026, 12, 1, 10, 0)


CART: dict[str, Any] = {
    "journey_id": "cart",
    "name": "Abandoned cart",
    "trigger": {"event": "cart.updated", "key": "cart_id"},
    "start": "wait",
    "steps": {
        "wait": {
            "type": "wait_event",
            "event": "order.placed",
            "hours": 1,
            "next": "bought",
            "timeout_next": "mail",
        },
        "mail": {"type": "send", "message_id": "cart"},
        "bought": {"type": "exit"},
    },
    "reentry": {"mode": "per_key"},
}


def _cart(world: JourneyWorld, customer_id: str) -> None:
    world.event(
        "cart.updated",
        {
            "customer_id": customer_id,
            "cart_id": f"k-{customer_id}",
            "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
            "updated_at": world.clock.now.isoformat(),
        },
    )


def test_the_cart_flow_sends_nothing_to_someone_who_bought_within_the_hour(
    world: JourneyWorld,
) -> None:
    """Given the cart flow (up to 1 h for order.placed)
    When one person buys after 20 minutes and another does not
    Then only the second hears back, an hour after the cart."""
    world.journey(CART)
    _cart(world, "c-1")
    _cart(world, "c-2")
    world.clock.advance(minutes=20)
    world.order("o-1", customer_id="c-1")
    world.run_for(1, every=timedelta(minutes=10))
    assert _mails(world, "c-1") == []
    ((trigger, _),) = world.journey_mails("c-2")
    assert trigger == "journey:cart:mail"
    steps = world.stats("cart")["steps"]["wait"]
    assert steps["event_arrived"] == 1 and steps["timed_out"] == 1


def test_branch_split_tag_and_the_flow_filter(world: JourneyWorld) -> None:
    """Given a journey that tags, splits A/B, and branches on the order's total, with a
    flow filter on the segment `blocked`
    When two people enter and one of them joins `blocked` before the send
    Then the other gets the branch's mail of their variant, the tag is published, and
    the blocked one exits with `flow_filter`."""
    published = RecordingPublisher()
    world.use(publisher=published)
    world.event("segment.entered", {"segment_id": "blocked", "customer_id": "nobody"})
    world.journey(
        {
            "journey_id": "mix",
            "name": "Mix",
            "trigger": {"event": "order.placed", "key": "order_id"},
            "flow_filter": {"not": {"segment": "blocked"}},
            "start": "tag",
            "steps": {
                "tag": {"type": "tag", "tag": "buyer", "next": "wait"},
                "wait": {"type": "wait", "hours": 2, "next": "split"},
                "split": {
                    "type": "split",
                    "variants": [{"name": "A", "next": "big"}, {"name": "B", "next": "big"}],
                },
                "big": {
                    "type": "branch",
                    "condition": {"field": "order.total", "op": "gte", "value": 5000},
                    "next": "mail-a",
                    "else_next": "mail-b",
                },
                "mail-a": {"type": "send", "message_id": "a"},
                "mail-b": {"type": "send", "message_id": "b"},
            },
            "reentry": {"mode": "per_key"},
        }
    )
    world.order("o-1", customer_id="c-1", total="8000")
    world.order("o-2", customer_id="c-2", total="1000")
    world.event("segment.entered", {"segment_id": "blocked", "customer_id": "c-2"})
    world.run_for(1, every=timedelta(hours=1))
    assert _mails(world, "c-1") == ["journey:mix:mail-a"]
    assert _mails(world, "c-2") == []
    tags = [e for e in published.published if e.type == "profile.tagged"]
    assert sorted(e.detail["customer_id"] for e in tags) == ["c-1", "c-2"]
    stats = world.stats("mix")
    assert stats["exited"] == {"flow_filter": 1}
    split = stats["steps"]["split"]
    assert split.get("variant_A", 0) + split.get("variant_B", 0) == 2


def test_pause_holds_due_steps_and_archive_ends_them(world: JourneyWorld) -> None:
    """Given the cart flow with two people waiting
    When it is paused past their timeout, resumed, and then archived for a third
    Then nothing is sent while paused, the due mails go after resuming, nobody enters
    while paused, and the archived journey's last waiter exits `archived`."""
    world.journey(CART)
    _cart(world, "c-1")
    world.http.post("/v1/journeys/cart/pause", headers=world.auth)
    _cart(world, "c-2")  # paused: does not enter
    world.run_for(1, every=timedelta(minutes=30))
    assert _mails(world) == []
    world.http.post("/v1/journeys/cart/resume", headers=world.auth)
    world.run_for(0.5, every=timedelta(minutes=15))
    assert _mails(world) == ["journey:cart:mail"]
    assert _mails(world, "c-2") == []
    world.customer("c-3")
    _cart(world, "c-3")
    world.http.post("/v1/journeys/cart/archive", headers=world.auth)
    world.run_for(0.5, every=timedelta(minutes=15))
    assert _mails(world, "c-3") == []
    assert world.stats("cart")["exited"] == {"archived": 1}
    assert world.clock.now > datetime(2026, 11, 23, tzinfo=UTC)


class CountingDue(DynamoJourneyRepository):
    """Counts the enrolments the dispatcher reads from the due index."""

    def __init__(self, inner: DynamoJourneyRepository) -> None:
        self.__dict__.update(inner.__dict__)
        self.read = 0

    def due(self, shard: int, until: datetime, limit: int) -> list[Enrolment]:
        found = super().due(shard, until, limit)
        self.read += len(found)
        return found


def test_a_paused_journey_parks_its_due_steps_out_of_the_due_index(world: JourneyWorld) -> None:
    """Given the cart flow with one person waiting, and the journey paused
    When the dispatcher ticks every 5 minutes for 6 hours past the wait
    Then the due step was read once (parked, counted as `parked`), not every 15
    minutes; and when the journey is resumed, the mail goes at the next tick."""
    world.journey(CART)
    _cart(world, "c-1")
    counting = CountingDue(world.container.adapters.journey_repo)  # type: ignore[arg-type]
    world.use(journey_repo=counting)
    assert world.http.post("/v1/journeys/cart/pause", headers=world.auth).is_success
    world.run_for(0.25 + 2 / 24, every=timedelta(minutes=5))
    assert _mails(world) == []
    assert counting.read == 1
    assert world.stats("cart")["parked"] == 1

    assert world.http.post("/v1/journeys/cart/resume", headers=world.auth).is_success
    assert world.stats("cart")["parked"] == 0
    world.run_for(1 / 24, every=timedelta(minutes=5))
    assert _mails(world) == ["journey:cart:mail"]


def test_people_filtered_out_on_their_day_count_in_no_lift(world: JourneyWorld) -> None:
    """Given a yearly birthday journey for VIPs only (entry filter), with a goal, and two
    people born on 1 December of whom only c-1 is a VIP
    When the day comes (c-2 is filtered out then), and both place their second order
    Then only c-1 counts: one entered, one converted, one F2; c-2, who never entered,
    is in neither the denominators nor the numerators of the lift."""
    world.event("segment.entered", {"segment_id": "vip", "customer_id": "c-1"})
    world.journey(
        {
            "journey_id": "birthday",
            "name": "Birthday",
            "trigger": {"date_field": "birthday", "yearly": True},
            "entry_filter": {"segment": "vip"},
            "start": "mail",
            "steps": {"mail": {"type": "send", "message_id": "birthday"}},
            "goal": {"event": "order.placed", "days": 30},
            "reentry": {"mode": "per_key"},
        }
    )
    for cid in ("c-1", "c-2"):
        world.event(
            "customer.upserted",
            {"customer": {"customer_id": cid, "timezone": "Asia/Tokyo"}, "birthday": "1990-12-01"},
        )
    world.run_for(9)
    for i, cid in enumerate(("c-1", "c-2")):
        world.order(f"o-{i}", customer_id=cid, n=2)

    stats = world.stats("birthday")
    assert (stats["entered"], stats["exited"]) == (1, {"entry_filter": 1})
    assert stats["converted"] == 1
    repo = world.container.adapters.journey_repo
    f2 = sum(int(v.get("f2_t", 0)) for _, scope, v in repo.counters("acme", "birthday"))
    assert f2 == 1


def _flyer_journey(insert_id: str = "flyer-1") -> dict[str, Any]:
    return {
        "journey_id": "flyer",
        "name": "A flyer in the next parcel",
        "trigger": {"event": "order.shipped", "key": "order_id"},
        "start": "flyer",
        "steps": {"flyer": {"type": "insert", "insert_id": insert_id}},
    }


def test_an_insert_step_puts_a_flyer_into_the_next_parcel(world: JourneyWorld) -> None:
    """Given a flyer (同梱物), a journey whose step chooses it when an order ships, and a
    cap of three marketing messages a week
    When the first order ships (the shipment delivered three times), two marketing mails
    go the same day, and the person orders again the next day
    Then the flyer is on that day's pick list with the second order, once; the step
    counts it as sent on the channel `insert`; it took no cap slot (the welcome mail and
    both mails went); and a journey naming an insert the shop has not defined is a 422
    naming the step's `insert_id`."""
    put = world.http.put("/v1/inserts/flyer-1", json={"name": "秋のチラシ"}, headers=world.auth)
    assert put.status_code == 200, put.text
    for route in ("/v1/journeys/validate", "/v1/journeys"):
        bad = world.http.post(route, json=_flyer_journey("nope"), headers=world.auth)
        assert bad.status_code == 422 and "steps.flyer.insert_id" in bad.text, bad.text
    world.journey(_flyer_journey())
    world.policy(cap_count=3)

    world.order("o-1")
    for _ in range(3):
        world.shipped("o-1")
    for message_id in ("a", "b"):
        r = world.http.post(
            f"/v1/messages/{message_id}/sends",
            json={"customer_id": "c-1", "anchor": "news-1"},
            headers=world.auth,
        )
        assert r.status_code == 202 and r.json()["status"] == "sent", r.text
    world.clock.advance(days=1)
    world.order("o-2", n=2)

    day = world.clock.now.astimezone(JST).date().isoformat()
    r = world.http.get(f"/v1/pick-lists/{day}", headers=world.auth)
    assert r.status_code == 200, r.text
    flyer = {"insert_id": "flyer-1", "insert_name": "秋のチラシ"}
    assert r.json() == [{"order_id": "o-2", "customer_id": "c-1", **flyer}]
    step = world.stats("flyer")["steps"]["flyer"]
    assert (step["executed"], step["sent"], step["status_packed"]) == (1, 1, 1)
    assert world.stats("flyer")["sent_by_channel"] == {"insert": 1}
    r = world.http.get("/v1/deliveries", params={"customer_id": "c-1"}, headers=world.auth)
    sent = sorted(d["channel"] for d in r.json() if d["status"] in ("sent", "packed"))
    assert sent == ["email", "email", "email", "insert"]
