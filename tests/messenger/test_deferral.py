"""What waits and what goes: a capped marketing send is deferred to the next free slot
(never dropped under the defaults), a message's own deadline is the marketer's explicit
choice, and transactional messages skip quiet hours unless the shop asks otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.messenger.test_messaging import DAY, LINE_USER, World


def _receipt(world: World) -> None:
    world.message(
        "receipt",
        category="transactional",
        email={"subject": "ご注文確認", "html": "<p>ありがとうございます</p>", "text": "確認"},
        line={"text": "{{ customer.last_name }}様、ご注文ありがとうございます"},
        sms=None,
        coupon=None,
        recommendations=0,
    )


def test_a_fourth_marketing_send_in_the_cap_window_waits_for_a_free_slot_then_goes(
    world: World,
) -> None:
    # Given the default policy (3 marketing messages per 7 days) and a message that sets
    # no deadline of its own
    world.policy(channel_order=["email"])
    world.customer()
    saved = world.message("sale")
    assert saved["valid_for_hours"] is None
    policy = world.http.get("/v1/messenger/policy", headers=world.auth).json()
    assert (policy["cap_count"], policy["cap_window_days"]) == (3, 7)
    # And three sends went out on three days
    for day in range(3):
        world.clock.now = DAY + timedelta(days=day)
        assert world.send(anchor=f"wave-{day}")["status"] == "sent"
    # When a fourth goes out on the fourth day
    world.clock.now = DAY + timedelta(days=3)
    fourth = world.send(anchor="wave-3")
    # Then it is deferred to when the first one leaves the window, not dropped
    assert (fourth["status"], fourth["reason"]) == ("deferred", "frequency_cap")
    assert datetime.fromisoformat(fourth["due_at"]) == DAY + timedelta(days=7)
    # When the dispatcher runs before that, it still waits
    world.clock.now = DAY + timedelta(days=6, hours=23)
    assert world.container.due.dispatch() == []
    # When the slot frees and the dispatcher runs
    world.clock.now = DAY + timedelta(days=7, minutes=1)
    outcomes = world.container.due.dispatch()
    # Then it goes out, and nothing was dropped
    assert [(o.status, o.reason) for o in outcomes] == [("sent", None)]
    assert len(world.mails()) == 4
    assert world.deliveries(status="dropped") == []


def test_a_message_with_its_own_deadline_is_dropped_when_the_slot_comes_too_late(
    world: World,
) -> None:
    # Given a flash sale valid for 24 hours and a cap of 1 per 7 days, already used
    world.policy(channel_order=["email"], cap_count=1)
    world.customer()
    world.message("news")
    flash = world.message("flash", valid_for_hours=24)
    assert flash["valid_for_hours"] == 24
    assert world.send("news", "n-1")["status"] == "sent"
    # When the flash sale is sent
    outcome = world.send("flash", "f-1")
    # Then it is dropped with the reason, since the next slot is past its deadline
    assert (outcome["status"], outcome["reason"]) == ("dropped", "expired:frequency_cap")
    assert len(world.mails()) == 1


def test_a_transactional_message_at_23_local_goes_at_once(world: World) -> None:
    # Given it is 23:00 in Tokyo (inside the default quiet hours for LINE)
    world.clock.now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    world.customer()
    _receipt(world)
    world.message("sale")
    policy = world.http.get("/v1/messenger/policy", headers=world.auth).json()
    assert policy["quiet_transactional"] is False
    # When an order confirmation and a marketing message are sent
    receipt = world.send("receipt", "order-1")
    sale = world.send("sale", "s-1")
    # Then the confirmation goes on LINE at once; the marketing message waits for 08:00
    assert (receipt["status"], receipt["channel"]) == ("sent", "line")
    assert (sale["status"], sale["reason"]) == ("deferred", "quiet_hours")
    assert [r.body["to"] for r in world.line.received] == [LINE_USER]


def test_a_transactional_message_waits_for_the_morning_when_the_shop_asks(world: World) -> None:
    # Given a shop whose policy holds transactional messages for quiet hours too
    world.policy(quiet_transactional=True)
    assert world.http.get("/v1/messenger/policy", headers=world.auth).json()["quiet_transactional"]
    # And it is 23:00 in Tokyo
    world.clock.now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    world.customer()
    _receipt(world)
    # When an order confirmation is sent
    receipt = world.send("receipt", "order-1")
    # Then it waits for 08:00 Tokyo time
    assert (receipt["status"], receipt["reason"]) == ("deferred", "quiet_hours")
    assert datetime.fromisoformat(receipt["due_at"]) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert world.line.received == []
    # When the dispatcher runs after 08:00, it goes on LINE
    world.clock.now = datetime(2026, 11, 23, 23, 1, tzinfo=UTC)
    outcomes = world.container.due.dispatch()
    assert [(o.status, o.channel) for o in outcomes] == [("sent", "line")]
    assert len(world.line.received) == 1
