"""A journey's sends, opens and clicks, counted per step and version from the
messenger's own events, once per delivery whatever is redelivered or clicked again."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from messenger.entrypoints import events as messenger_events
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys
from tests.messenger.fakes import RecordingPublisher
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = step_mails_world(cloud, shop)
    w.journey(post_purchase())
    return w


def _deliver(envelope: EventEnvelope) -> dict[str, Any]:
    return messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)


def _engaged(world: JourneyWorld, kind: str, event_id: str, sent: EventEnvelope) -> EventEnvelope:
    return EventEnvelope(
        id=event_id,
        shop="acme",
        type=kind,
        time=world.clock.now,
        detail=details.MessageEngaged(
            delivery_id=sent.detail["delivery_id"], customer_id="c-1", channel="email"
        ).model_dump(mode="json"),
    )


def test_delivered_opened_and_clicked_per_step(world: JourneyWorld) -> None:
    """Given the step mails, with the messenger's own events recorded
    When the first two mails go out, their `message.sent` events arrive twice, the first
    mail is opened and its links clicked twice, and the welcome mail's events arrive too
    Then step mail-1 shows delivered 1, opened 1, clicked 1; mail-3 delivered 1; the
    journey and its version 1 sum them; the welcome mail counts nowhere."""
    recorder = RecordingPublisher()
    world.use(publisher=recorder)
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(4)
    sent = [e for e in recorder.published if e.type == "message.sent"]
    journey_sent = [e for e in sent if e.detail["trigger"].startswith("journey:")]
    assert len(journey_sent) == 2 and len(sent) == 3  # and the welcome mail

    for envelope in sent * 2:
        _deliver(envelope)
    first = next(e for e in journey_sent if e.detail["trigger"].endswith("mail-1"))
    _deliver(_engaged(world, "message.opened", "open-1", first))
    _deliver(_engaged(world, "message.clicked", "click-1a", first))
    _deliver(_engaged(world, "message.clicked", "click-1b", first))

    stats = world.stats()
    assert {k: stats["steps"]["mail-1"].get(k) for k in ("delivered", "opened", "clicked")} == {
        "delivered": 1,
        "opened": 1,
        "clicked": 1,
    }
    assert stats["steps"]["mail-3"]["delivered"] == 1
    assert "opened" not in stats["steps"]["mail-3"]
    assert (stats["delivered"], stats["opened"], stats["clicked"]) == (2, 1, 1)
    (v1,) = stats["versions"]
    assert (v1["version"], v1["delivered"], v1["opened"], v1["clicked"]) == (1, 2, 1, 1)

    # And per calendar week (its Monday, Tokyo), when each happened: the weeks add up to
    # the journey's life, and the open and clicks fall in the week they arrived
    weeks = stats["weeks"]
    assert all(date.fromisoformat(w["week"]).weekday() == 0 for w in weeks)
    assert {k: sum(w[k] for w in weeks) for k in ("sent", "delivered", "opened", "clicked")} == {
        "sent": stats["sent"],
        "delivered": 2,
        "opened": 1,
        "clicked": 1,
    }
    today = world.clock.now.astimezone(ZoneInfo("Asia/Tokyo")).date()
    monday = (today - timedelta(days=today.weekday())).isoformat()
    assert [(w["opened"], w["clicked"]) for w in weeks if w["week"] == monday] == [(1, 1)]


def test_the_f2_rate_against_the_holdout_whatever_the_goal(world: JourneyWorld) -> None:
    """Given a journey with a 50 % holdout whose goal is a click (not an order), and 30
    first-time buyers, every third of whom orders again 70 days after shipping, the order
    replayed
    When the stats are read
    Then the F2 rate counts each second order once, for its group: overall and within 90
    days, not within 60, each with a 95 % interval around the difference."""
    world.journey(
        post_purchase(
            journey_id="clicks",
            holdout_percent=50,
            goal={"event": "message.clicked", "days": 120},
            exit_events=[],
        )
    )
    people = [f"f-{i}" for i in range(30)]
    for p in people:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.clock.advance(days=70)
    for p in people[::3]:
        world.order(f"o2-{p}", customer_id=p, n=2)
        world.order(f"o2-{p}", customer_id=p, n=2)

    lift = world.stats("clicks")["lift"]
    f2, f2_90, f2_60 = lift["f2_rate"], lift["f2_rate_90d"], lift["f2_rate_60d"]
    stats = world.stats("clicks")
    treated, held = 30 - stats["holdout"], stats["holdout"]
    second = len(people[::3])
    assert round(f2["treated"] * treated + f2["holdout"] * held) == second
    assert f2_90 == f2
    assert (f2_60["treated"], f2_60["holdout"]) == (0, 0)
    low, high = f2["ci95"]
    assert low is not None and low <= f2["difference"] <= high
    assert stats["converted"] == 0


def test_a_click_reaches_the_journeys_that_wait_for_it(world: JourneyWorld) -> None:
    """Given a journey whose goal is a click (no holdout), and a first-time buyer in it
    When the buyer's click on a step mail arrives, twice
    Then the journey counts one conversion (a click is an event the engine hears, as
    the definition promised when it accepted `message.clicked`)."""
    world.journey(
        post_purchase(
            journey_id="clicks",
            holdout_percent=0,
            goal={"event": "message.clicked", "days": 30},
            exit_events=[],
        )
    )
    recorder = RecordingPublisher()
    world.use(publisher=recorder)
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(2)
    sent = next(e for e in recorder.published if e.type == "message.sent")

    for _ in range(2):
        _deliver(_engaged(world, "message.clicked", "click-1", sent))

    stats = world.stats("clicks")
    assert stats["converted"] == 1
    assert sum(w["converted"] for w in stats["weeks"]) == 1
