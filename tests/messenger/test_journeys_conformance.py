"""The journey bugs of the peers, each one a test that Kizuna does not have it."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest

from messenger.adapters.journeys import DynamoJourneyRepository
from messenger.domain.journeys.enrolment import Enrolment
from messenger.domain.journeys.records import Counter
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import STEP_DAYS, JourneyWorld, post_purchase


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    w.policy(cap_count=20)
    for c in ("c-1", "c-2"):
        w.customer(c)
    for day in STEP_DAYS:
        w.message(f"step-{day}")
    return w


def _concurrently(*calls: Any) -> None:
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_triggers_enrol_once(world: JourneyWorld) -> None:
    """Parcelvoy #462. Given the step-mail journey
    When the same shipment arrives three times at once (a replay and two retries)
    Then the person is enrolled once and gets each mail once."""
    world.journey(post_purchase())
    world.order("o-1")
    _concurrently(*(lambda: world.shipped("o-1") for _ in range(3)))
    world.run_for(2)
    assert world.stats()["entered"] == 1
    assert [t for t, _ in world.journey_mails()] == ["journey:post-purchase:mail-1"]


def test_an_edited_wait_does_not_move_people_already_waiting(world: JourneyWorld) -> None:
    """Mautic #838 (edit policy: an enrolment keeps its version). Given someone waiting
    for the day-3 mail
    When the wait is edited to day 10
    Then they still get it on day 3; someone entering after the edit gets it on day 10."""
    world.journey(post_purchase())
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(2)
    edited = post_purchase()
    edited["steps"]["wait-3"]["days"] = 10
    r = world.http.post("/v1/journeys/post-purchase/versions", json=edited, headers=world.auth)
    assert r.status_code == 201
    world.order("o-2", customer_id="c-2")
    world.shipped("o-2", customer_id="c-2")
    world.run_for(2)
    assert "journey:post-purchase:mail-3" in [t for t, _ in world.journey_mails("c-1")]
    assert "journey:post-purchase:mail-3" not in [t for t, _ in world.journey_mails("c-2")]
    stats = world.stats()
    assert [v["version"] for v in stats["versions"]] == [1, 2]
    assert stats["versions"][0]["steps"]["mail-3"]["sent"] == 1


def test_a_deleted_step_does_not_reprocess_past_contacts(world: JourneyWorld) -> None:
    """Mautic #6054. Given someone past the first two mails
    When a new version drops the day-5 mail
    Then nobody gets an earlier mail again: the old enrolment finishes its own version
    (7 mails, each once), a new one runs the new version (6 mails)."""
    world.journey(post_purchase())
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(4)
    edited = post_purchase()
    del edited["steps"]["wait-5"], edited["steps"]["mail-5"]
    edited["steps"]["mail-3"]["next"] = "wait-7"
    r = world.http.post("/v1/journeys/post-purchase/versions", json=edited, headers=world.auth)
    assert r.status_code == 201, r.text
    world.order("o-2", customer_id="c-2")
    world.shipped("o-2", customer_id="c-2")
    world.run_for(32)
    first = [t for t, _ in world.journey_mails("c-1")]
    assert len(first) == len(set(first)) == 7
    second = [t for t, _ in world.journey_mails("c-2")]
    assert len(second) == 6 and "journey:post-purchase:mail-5" not in second


class CrashAfterSend(DynamoJourneyRepository):
    """The process dies once between the send and the step's record."""

    def __init__(self, inner: DynamoJourneyRepository) -> None:
        self.__dict__.update(inner.__dict__)
        self.crashed = False

    def advance(self, before: Enrolment, after: Enrolment, counters: list[Counter]) -> None:
        sent = any(c.scope.startswith("S#mail") for c in counters)
        if sent and not self.crashed:
            self.crashed = True
            raise TimeoutError("Lambda timed out after the send")
        super().advance(before, after, counters)


def test_a_delay_then_a_send_under_retries_sends_once(world: JourneyWorld) -> None:
    """Novu #1633. Given someone whose day-1 mail is due
    When the worker dies between the send and its record, and Lambda retries, twice
    over, with the same stale view of the due step
    Then the mail went out once, and the step is recorded once."""
    world.journey(post_purchase())
    world.order("o-1")
    world.shipped("o-1")
    crashing = CrashAfterSend(world.container.adapters.journey_repo)  # type: ignore[arg-type]
    world.use(journey_repo=crashing)
    world.clock.advance(days=1, minutes=1)
    (due,) = [e for s in range(4) for e in crashing.due(s, world.clock.now, 10)]
    runner = world.container.journeys.runner
    with pytest.raises(TimeoutError):
        runner.run(due)
    runner.run(due)  # the retry: same event, same stale enrolment
    runner.run(due)
    world.tick()
    assert [t for t, _ in world.journey_mails()] == ["journey:post-purchase:mail-1"]
    assert world.stats()["steps"]["mail-1"]["executed"] == 1


def test_two_events_in_the_same_second(world: JourneyWorld) -> None:
    """Novu #2569. Given a cart journey (once a day per person)
    When two cart updates come in the same second
    Then one enrolment, one mail."""
    world.journey(
        {
            "journey_id": "cart",
            "name": "Abandoned cart",
            "trigger": {"event": "cart.updated"},
            "start": "wait",
            "steps": {
                "wait": {
                    "type": "wait_event",
                    "event": "order.placed",
                    "hours": 1,
                    "next": "bought",
                    "timeout_next": "mail",
                },
                "mail": {"type": "send", "message_id": "step-1"},
                "bought": {"type": "exit"},
            },
            "reentry": {"mode": "every_days", "days": 1},
        }
    )
    cart = {
        "customer_id": "c-1",
        "cart_id": "k-1",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
        "updated_at": world.clock.now.isoformat(),
    }
    _concurrently(
        lambda: world.event("cart.updated", cart, "evt-a"),
        lambda: world.event("cart.updated", {**cart, "cart_id": "k-2"}, "evt-b"),
    )
    world.run_for(1, every=timedelta(minutes=30))
    assert world.stats("cart")["entered"] == 1
    assert [t for t, _ in world.journey_mails()] == ["journey:cart:mail"]


def test_an_invalid_time_zone_does_not_stall_the_queue(world: JourneyWorld) -> None:
    """Parcelvoy #610. Given a journey that waits for 10:00 in each person's zone, and a
    person whose profile names a zone that does not exist
    When the dispatcher runs
    Then that person gets the mail at 10:00 in the shop's zone, and so does the next."""
    bad = world.container.adapters.recipients.get("acme", "c-1")
    assert bad is not None
    world.container.adapters.recipients.upsert(
        "acme", replace(bad, timezone="Mars/Olympus_Mons"), world.clock.now
    )
    world.journey(
        {
            "journey_id": "morning",
            "name": "Morning",
            "trigger": {"event": "order.shipped"},
            "start": "at10",
            "steps": {
                "at10": {"type": "wait_local_time", "hour": 10, "next": "mail"},
                "mail": {"type": "send", "message_id": "step-1"},
            },
        }
    )
    world.shipped("o-1", customer_id="c-1")
    world.shipped("o-2", customer_id="c-2")
    world.run_for(1, every=timedelta(hours=1))
    for c in ("c-1", "c-2"):
        ((_, at),) = world.journey_mails(c)
        assert at.astimezone(timedelta_zone(9)).hour == 10, (c, at)


def timedelta_zone(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


def test_overlapping_dispatcher_runs_send_once(world: JourneyWorld) -> None:
    """Mautic #2004. Given ten people whose day-1 mail is due
    When three dispatcher runs overlap
    Then each person gets it once."""
    world.journey(post_purchase())
    people = [f"p-{i}" for i in range(10)]
    for p in people:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.clock.advance(days=1, minutes=1)
    _concurrently(*(world.tick for _ in range(3)))
    for p in people:
        assert [t for t, _ in world.journey_mails(p)] == ["journey:post-purchase:mail-1"]
    assert world.stats()["steps"]["mail-1"]["executed"] == 10


def test_once_means_once(world: JourneyWorld) -> None:
    """Mautic #7881, #9797. Given a journey a person may enter once
    When they trigger it again while inside, and again after finishing
    Then they were enrolled once."""
    world.journey(
        {
            "journey_id": "thanks",
            "name": "Thanks",
            "trigger": {"event": "order.placed", "key": "order_id"},
            "start": "mail",
            "steps": {"mail": {"type": "send", "message_id": "step-1"}},
            "reentry": {"mode": "once"},
        }
    )
    world.order("o-1")
    world.clock.advance(minutes=5)
    world.order("o-2", n=2)
    world.run_for(40)
    world.order("o-3", n=3)
    assert world.stats("thanks")["entered"] == 1
    assert [t for t, _ in world.journey_mails()] == ["journey:thanks:mail"]


def test_the_holdout_gets_nothing_and_the_lift_has_an_interval(world: JourneyWorld) -> None:
    """Given a journey with a 50 % holdout and 40 first-time buyers, of whom some order
    again within 60 days
    When it runs
    Then the holdout got nothing, is recorded as such, and the stats show the lift
    in conversion and revenue per person with a 95 % interval."""
    world.journey(post_purchase(holdout_percent=50))
    people = [f"h-{i}" for i in range(40)]
    for p in people:
        world.customer(p)
        world.order(f"o-{p}", customer_id=p)
        world.shipped(f"o-{p}", customer_id=p)
    world.run_for(2, every=timedelta(days=1))
    for p in people[::3]:
        world.order(f"o2-{p}", customer_id=p, n=2, total="5000")
    stats = world.stats()
    assert stats["entered"] == 40
    assert 8 <= stats["holdout"] <= 32
    treated = 40 - stats["holdout"]
    assert stats["steps"]["mail-1"]["executed"] == treated
    assert stats["converted"] + stats["holdout_converted"] == len(people[::3])
    lift = stats["lift"]["conversion"]
    low, high = lift["ci95"]
    assert low <= lift["difference"] <= high
    assert stats["lift"]["revenue_per_enrolled"]["ci95"][0] is not None
    assert stats["lift"]["conversion_60d"] is not None
