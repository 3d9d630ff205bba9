"""The issue's done-when: replaying every trigger event three times, in any order and
concurrently, sends nothing twice. In-process moto (DynamoDB serialised per request as
the real service is, see `ops.local.moto_dynamodb`), real threads, real SES sends."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from messenger.domain.journeys.plan import enrolment_id, held_out
from messenger.entrypoints import events as messenger_events
from messenger.services.journeys.builtins import catalogue
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import STEP_DAYS, JourneyWorld, post_purchase

PEOPLE = [f"r-{i}" for i in range(4)]


def _cart_flow() -> dict[str, Any]:
    return {
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
            "mail": {"type": "send", "message_id": "cart-1", "next": "tag"},
            "tag": {"type": "tag", "tag": "cart_reminded", "next": "bought"},
            "bought": {"type": "exit"},
        },
        "exit_events": ["order.placed"],
        "reentry": {"mode": "per_key"},
    }


def _thanks() -> dict[str, Any]:
    return {
        "journey_id": "thanks",
        "name": "Thanks for the view",
        "trigger": {"event": "product.viewed"},
        "start": "mail",
        "steps": {"mail": {"type": "send", "message_id": "viewed-1"}},
        "reentry": {"mode": "once"},
    }


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    w.policy(cap_count=50)
    for p in PEOPLE:
        w.customer(p)
    for m in [*(f"step-{d}" for d in STEP_DAYS), "cart-1", "viewed-1"]:
        w.message(m)
    w.journey(post_purchase())
    w.journey(_cart_flow())
    w.journey(_thanks())
    return w


def _orders_shipment_and_cart(
    add: Callable[[str, str, dict[str, Any]], None],
    p: str,
    person: dict[str, Any],
    orders: tuple[int, ...],
    now: datetime,
) -> None:
    """A person's orders (the n-th of each), the first one's shipment and a cart: the
    triggers the post-purchase and cart journeys share."""
    for n in orders:
        add(
            "order.placed",
            f"placed-{p}-{n}",
            {
                "order_id": f"o-{p}-{n}",
                "customer": person,
                "placed_at": now.isoformat(),
                "currency": "JPY",
                "total": "3980",
                "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
                "order_count": n,
                "is_first_order": n == 1,
            },
        )
    add(
        "order.shipped",
        f"shipped-{p}",
        {"order_id": f"o-{p}-1", "customer_id": p, "shipped_at": now.isoformat()},
    )
    add(
        "cart.updated",
        f"cart-{p}",
        {
            "customer_id": p,
            "cart_id": f"cart-{p}",
            "items": [{"sku": "MASK-5", "quantity": 1, "unit_price": "1200"}],
            "updated_at": now.isoformat(),
        },
    )


def _triggers(world: JourneyWorld) -> list[EventEnvelope]:
    """Every trigger of the three journeys for four people: an order, its shipment, a cart,
    two views; half of them also order again (which ends their series and carts)."""
    now = world.clock.now
    out: list[EventEnvelope] = []

    def add(kind: str, event_id: str, detail: dict[str, Any]) -> None:
        out.append(EventEnvelope(id=event_id, shop="acme", type=kind, time=now, detail=detail))

    for i, p in enumerate(PEOPLE):
        person = {"customer_id": p, "email": f"{p}@example.jp"}
        _orders_shipment_and_cart(add, p, person, (1, 2) if i % 2 else (1,), now)
        for v in (1, 2):
            add(
                "product.viewed",
                f"viewed-{p}-{v}",
                {"customer_id": p, "sku": "MASK-5", "viewed_at": now.isoformat()},
            )
    return out


def _replay(world: JourneyWorld, events: list[EventEnvelope], seed: int) -> None:
    """Each event three times, shuffled, on six threads, with dispatcher ticks among them
    (a tick overlapping the events, as the schedule would)."""
    calls: list[Any] = [
        (lambda e=e: messenger_events.handler({"detail": e.model_dump(mode="json")}, None))
        for e in events * 3
    ]
    calls += [world.tick] * 4
    random.Random(seed).shuffle(calls)
    with ThreadPoolExecutor(max_workers=6) as pool:
        for future in [pool.submit(c) for c in calls]:
            future.result()


JOURNEY_MESSAGES = ("step-", "cart-1", "viewed-1")


def _to_and_subject(raw: str | bytes) -> tuple[str, str]:
    data = raw.encode() if isinstance(raw, str) else raw
    mail = message_from_bytes(data, policy=policy.default)
    return str(mail["To"]), str(mail["Subject"])


def _sent(world: JourneyWorld) -> Counter[tuple[str, str]]:
    """(person, journey step) of each journey delivery that went out."""
    found: Counter[tuple[str, str]] = Counter()
    for p in PEOPLE:
        for trigger, _ in world.journey_mails(p):
            found[(p, trigger)] += 1
    return found


def test_replayed_triggers_send_nothing_twice(world: JourneyWorld) -> None:
    """Given three journeys (step mails on shipping, a cart reminder, a once-only mail on a
    view) and four people's trigger events
    When every event is delivered three times, shuffled, concurrently, with overlapping
    dispatcher ticks; the days pass with three ticks overlapping each time; and then
    everything is replayed three times again, late
    Then no person got any journey mail twice, SES sent exactly one mail per delivery,
    and each journey counts each person's entry once per key."""
    events = _triggers(world)
    seed = 13
    _replay(world, events, seed)
    end = world.clock.now + timedelta(days=35)
    while world.clock.now < end:
        world.clock.now = min(world.clock.now + timedelta(hours=12), end)
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(world.tick) for _ in range(3)]:
                future.result()
    _replay(world, events, seed + 100)
    world.run_for(2)

    sent = _sent(world)
    assert sent, "the journeys sent nothing: the test would prove nothing"
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1]
    mails = Counter(_to_and_subject(m.raw_data) for m in world.cloud.sent_mail())
    journey_mails = {k: n for k, n in mails.items() if k[1].startswith(JOURNEY_MESSAGES)}
    assert max(journey_mails.values()) == 1
    assert sum(journey_mails.values()) == sum(sent.values())
    assert world.stats("thanks")["entered"] == len(PEOPLE)
    assert world.stats("cart")["entered"] == len(PEOPLE)
    assert world.stats("post-purchase")["entered"] <= len(PEOPLE)
    # Those who ordered once got the whole series exactly once (whatever the order of
    # their order and its shipment, the shipment found the order's facts or did not enrol).
    for i, p in enumerate(PEOPLE):
        steps = {t for (who, t) in sent if who == p and t.startswith("journey:post-purchase")}
        if i % 2 == 0 and steps:
            assert len(steps) == len(STEP_DAYS), (p, sorted(steps))


def _builtin_people() -> list[str]:
    """Four people, the first and third (one order each) outside the step mails' holdout
    for their first order, so the series runs for them."""

    def treated(cid: str) -> bool:
        return not held_out("post-purchase", enrolment_id("post-purchase", cid, f"k#o-{cid}-1"), 10)

    ids = (f"b-{i}" for i in range(1000))
    single = [c for c in ids if treated(c)][:2]
    return [single[0], "b-x", single[1], "b-y"]


def _builtin_triggers(world: JourneyWorld, people: list[str]) -> list[EventEnvelope]:
    """What enrols someone in each of the nine built-ins, for four people: a profile with a
    birthday two days ahead, a first order that ships (and, for half, a second order), a
    cart, two views of one product and one of a sold-out SKU that comes back, a survey
    motive, entering the sign-up and the dormant segments."""
    now = world.clock.now
    birthday = (now + timedelta(days=2)).date().replace(year=1990).isoformat()
    out: list[EventEnvelope] = []

    def add(kind: str, event_id: str, detail: dict[str, Any]) -> None:
        out.append(EventEnvelope(id=event_id, shop="acme", type=kind, time=now, detail=detail))

    add("inventory.changed", "sold-out", {"sku": "SOLD-1", "previous_quantity": 2, "quantity": 0})
    for i, p in enumerate(people):
        person = {
            "customer_id": p,
            "email": f"{p}@example.jp",
            "consents": [{"channel": "email", "granted": True, "source": "signup-form"}],
        }
        add("customer.upserted", f"upserted-{p}", {"customer": person, "birthday": birthday})
        _orders_shipment_and_cart(add, p, person, (1, 2) if i % 2 else (1,), now)
        for v, sku in ((1, "MASK-5"), (2, "MASK-5"), (3, "SOLD-1")):
            add(
                "product.viewed",
                f"viewed-{p}-{v}",
                {"customer_id": p, "sku": sku, "viewed_at": now.isoformat()},
            )
        add(
            "survey.answered",
            f"survey-{p}",
            {
                "survey_id": "why",
                "survey_version": 1,
                "response_id": f"r-{p}",
                "customer_id": p,
                "preferences": {"motive": ["gift"]},
            },
        )
        segment = "dormant" if i % 2 else "subscribers_never_bought"
        add("segment.entered", f"entered-{p}", {"segment_id": segment, "customer_id": p})
    return out


def test_replayed_triggers_of_every_builtin_send_nothing_twice(
    cloud: Cloud, shop: ShopKeys
) -> None:
    """Given the nine built-in journeys enabled, and four people's trigger events for all
    of them
    When every event is delivered three times, shuffled, concurrently, with overlapping
    dispatcher ticks; the SKU comes back (three times too); 35 days pass with three ticks
    overlapping each time; and everything is replayed three times again, late
    Then no person got any step of any journey twice for the same trigger key, SES sent
    exactly one mail per delivery the messenger recorded as sent, at least eight of the
    nine journeys sent something, and the step mails went whole to the two people with
    one order only (the second order ended the others' series)."""
    world = JourneyWorld(cloud, shop)
    world.policy(cap_count=50)
    for name in sorted(b.name for b in catalogue()):  # every built-in, a new one too
        r = world.http.post(f"/v1/journeys/builtins/{name}/enable", headers=world.auth)
        assert r.status_code == 200, r.text
    people = _builtin_people()
    events = _builtin_triggers(world, people)
    _replay(world, events, 31)
    world.clock.advance(hours=1)
    restock = EventEnvelope(
        id="restocked",
        shop="acme",
        type="inventory.changed",
        time=world.clock.now,
        detail={"sku": "SOLD-1", "previous_quantity": 0, "quantity": 5},
    )
    _replay(world, [restock], 32)
    end = world.clock.now + timedelta(days=35)
    while world.clock.now < end:
        world.clock.now = min(world.clock.now + timedelta(hours=12), end)
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(world.tick) for _ in range(3)]:
                future.result()
    _replay(world, [*events, restock], 33)
    world.run_for(2)

    sends: Counter[tuple[str, str, str]] = Counter()
    delivered = 0
    for p in people:
        r = world.http.get("/v1/deliveries", params={"customer_id": p}, headers=world.auth)
        assert r.status_code == 200, r.text
        for d in r.json():
            if d["status"] != "sent":
                continue
            delivered += 1
            if d["trigger"].startswith("journey:"):
                sends[(p, d["trigger"], d["anchor"].split(":", 3)[3])] += 1  # the key
    journeys = {t.split(":")[1] for _, t, _ in sends}
    assert len(journeys) >= 8, sorted(journeys)  # else the test would prove little
    series = [k for k in sends if k[1].startswith("journey:post-purchase:")]
    assert sorted({p for p, _, _ in series}) == sorted(people[::2])
    assert len(series) == 2 * len(STEP_DAYS)
    assert max(sends.values()) == 1, [k for k, n in sends.items() if n > 1]
    assert len(world.cloud.sent_mail()) == delivered
