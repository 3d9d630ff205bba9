"""The post-purchase step mails end to end under moto, with the simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import STEP_DAYS, JourneyWorld, post_purchase


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    w.customer("c-1")
    # The welcome mail and the step mails of days 1, 3, 5 would overshoot the default
    # cap (3 in 7 days), which would defer day 5 (capped sends wait, see the pipeline).
    w.policy(cap_count=10)
    for day in STEP_DAYS:
        w.message(f"step-{day}")
    w.journey(post_purchase())
    return w


def test_a_first_order_gets_seven_step_mails_on_their_days(world: JourneyWorld) -> None:
    """Given the step-mail journey and a first order
    When it ships and 35 days pass
    Then the customer got exactly 7 mails, day 1, 3, 5, 7, 14, 21 and 30 after shipping."""
    world.order("o-1")
    shipped_at = world.clock.now
    world.shipped("o-1")
    world.run_for(35)

    mails = world.journey_mails()
    assert [t for t, _ in mails] == sorted(f"journey:post-purchase:mail-{d}" for d in STEP_DAYS)
    by_step = {t.rsplit("-", 1)[1]: at for t, at in mails}
    for day in STEP_DAYS:
        late = by_step[str(day)] - (shipped_at + timedelta(days=day))
        assert timedelta(0) <= late <= timedelta(hours=6), (day, late)
    assert len(world.cloud.sent_mail()) == 1 + 7  # the first-purchase welcome, then the series
    stats = world.stats()
    assert stats["entered"] == 1
    assert stats["completed"] == 1
    assert stats["sent"] == 7
    assert stats["active"] == 0


def test_a_second_order_ends_the_series(world: JourneyWorld) -> None:
    """Given a customer three mails into the series
    When they order again
    Then no more step mails come, and the exit is counted with its reason."""
    world.order("o-1")
    world.shipped("o-1")
    world.run_for(6)
    assert len(world.journey_mails()) == 3

    world.order("o-2", n=2)
    world.run_for(30)

    assert len(world.journey_mails()) == 3
    stats = world.stats()
    assert stats["exited"] == {"event:order.placed": 1}
    assert stats["converted"] == 1
    assert stats["revenue"].startswith("3980")


def test_a_repeat_buyer_does_not_enter(world: JourneyWorld) -> None:
    """Given a customer whose shipped order is their second
    When it ships
    Then the entry filter keeps them out: nothing is sent, nobody is counted."""
    world.order("o-9", n=2)
    world.shipped("o-9")
    world.run_for(10)
    assert world.journey_mails() == []
    assert world.stats()["entered"] == 0


def test_a_late_shipment_sends_only_the_mails_still_ahead(world: JourneyWorld) -> None:
    """Given a first order whose `order.shipped` arrives ten days after the shipment (a
    backfill, or a storefront that was down)
    When the journey runs on for 25 days
    Then the mails of days 1, 3, 5 and 7 are skipped as late (never sent together), and
    the mails of days 14, 21 and 30 go out on their days."""
    world.order("o-1")
    shipped_at = world.clock.now - timedelta(days=10)
    world.shipped("o-1", shipped_at=shipped_at)
    world.run_for(25)

    mails = world.journey_mails()
    assert [t for t, _ in mails] == sorted(f"journey:post-purchase:mail-{d}" for d in (14, 21, 30))
    for trigger, at in mails:
        day = int(trigger.rsplit("-", 1)[1])
        assert timedelta(0) <= at - (shipped_at + timedelta(days=day)) <= timedelta(hours=6)
    steps = world.stats()["steps"]
    assert [steps[f"mail-{d}"].get("skipped_late") for d in (1, 3, 5, 7)] == [1, 1, 1, 1]


def test_a_shipment_dated_the_year_9999_waits_and_fails_nothing(
    world: JourneyWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Given a first order whose shipment the storefront dated 9999-12-31 (a typo the
    contract accepts), and another person's ordinary shipment
    When both arrive and 35 days pass
    Then the first waits for a day that never comes (no step fails, nothing is retried),
    and the second gets the whole series."""
    world.customer("c-2")
    world.order("o-1")
    world.order("o-2", customer_id="c-2")
    world.shipped("o-1", shipped_at=datetime(9999, 12, 31, tzinfo=UTC))
    world.shipped("o-2", customer_id="c-2")
    world.run_for(35)

    assert world.journey_mails("c-1") == []
    assert len(world.journey_mails("c-2")) == len(STEP_DAYS)
    assert not [r for r in caplog.records if r.getMessage() == "journey step failed"]
    assert world.stats()["active"] == 1
