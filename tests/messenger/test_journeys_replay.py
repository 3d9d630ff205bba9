"""The issue's done-when: replaying every trigger event three times, in any order and
concurrently, sends nothing twice. In-process moto (DynamoDB serialised per request as
the real service is, see `ops.local.moto_dynamodb`), real threads, real SES sends."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from messenger.entrypoints import events as messenger_events
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


def _triggers(world: JourneyWorld) -> list[EventEnvelope]:
    """Every trigger of the three journeys for four people: an order, its shipment, a cart,
    two views; half of them also order again (which ends their series and carts)."""
    now = world.clock.now
    out: list[EventEnvelope] = []

    def add(kind: str, event_id: str, detail: dict[str, Any]) -> None:
        out.append(EventEnvelope(id=event_id, shop="acme", type=kind, time=now, detail=detail))

    for i, p in enumerate(PEOPLE):
        for n in (1, 2) if i % 2 else (1,):
            add(
                "order.placed",
                f"placed-{p}-{n}",
                {
                    "order_id": f"o-{p}-{n}",
                    "customer": {"customer_id": p, "email": f"{p}@example.jp"},
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
