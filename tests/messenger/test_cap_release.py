"""A marketing send that reached nobody gives its frequency-cap slot back: the person did
not get one of their N messages this week, so the next one must not wait for it."""

from __future__ import annotations

from datetime import timedelta

from tests.messenger.line_server import BAD_CONTENT
from tests.messenger.test_messaging import World


def _capped_line_only(world: World) -> None:
    world.policy(channel_order=["line"], cap_count=1, cap_window_days=7)
    world.customer()
    world.message("sale", valid_for_hours=240)
    world.message("news", valid_for_hours=240)


def test_a_dead_lettered_send_frees_the_slot_for_the_next_message(world: World) -> None:
    # Given a cap of 1 marketing message per 7 days, and LINE answering 500 every time
    _capped_line_only(world)
    world.line.answer_next(*([500] * 5))  # the default 5 attempts
    assert world.send("sale", "a")["status"] == "retry_scheduled"
    # When the retries run out and the send becomes a dead letter
    for _ in range(4):
        world.clock.now += timedelta(hours=1)
        world.container.due.dispatch()
    assert [d["status"] for d in world.deliveries()] == ["dead_letter"]
    # Then the next marketing message goes out at once instead of waiting a week
    nxt = world.send("news", "b")
    assert (nxt["status"], nxt["channel"]) == ("sent", "line")


def test_a_send_refused_on_every_channel_frees_the_slot(world: World) -> None:
    # Given a cap of 1 per 7 days, and LINE refusing the first message's content
    _capped_line_only(world)
    world.line.answer_next(BAD_CONTENT)
    # When that message fails on every channel it could take
    failed = world.send("sale", "a")
    assert failed["status"] == "failed"
    # Then the person can still get the next marketing message right away
    assert world.send("news", "b")["status"] == "sent"
    assert len(world.line.received) == 2


def test_a_sent_message_keeps_its_slot_and_defers_the_next(world: World) -> None:
    # Given a cap of 1 per 7 days and a marketing message that was delivered
    _capped_line_only(world)
    assert world.send("sale", "a")["status"] == "sent"
    # When the next marketing message is sent the same day
    nxt = world.send("news", "b")
    # Then it waits for the slot the delivered one still holds
    assert (nxt["status"], nxt["reason"]) == ("deferred", "frequency_cap")


def test_a_retry_in_flight_holds_its_slot_until_it_dead_letters(world: World) -> None:
    # Given a cap of 1 per 7 days and a send whose first LINE attempt got a 500
    _capped_line_only(world)
    world.line.answer_next(500)
    assert world.send("sale", "a")["status"] == "retry_scheduled"
    # When another marketing message comes while that retry is pending
    nxt = world.send("news", "b")
    # Then it is deferred: the pending retry may still deliver the first one
    assert (nxt["status"], nxt["reason"]) == ("deferred", "frequency_cap")
