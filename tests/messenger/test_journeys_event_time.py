"""An event counts in journeys from when it happened, not when it was heard: an order by
its `placed_at`, a cart by its `updated_at`. A history replayed today (an order placed
months ago, a cart left last week) ends no journey it predates, reaches no goal, and
mails no cart. Real events into the handler, real DynamoDB and SES (moto), the mails
read from the MIME bytes SES was handed."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest

from messenger.domain.journeys.plan import LATE_EVENT_AFTER, late, occurred_at
from shared.adapters.dynamodb import to_item
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import JourneyWorld, post_purchase, step_mails_world

HEARD = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("kind", "own", "expected"),
    [
        ("order.placed", "2026-11-01T09:00:00+09:00", datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
        ("cart.updated", "2026-11-23T02:50:00+00:00", HEARD - timedelta(minutes=10)),
        ("order.placed", "2026-11-23T04:00:00+00:00", HEARD),  # a storefront clock ahead
        ("order.placed", "2026-11-01T09:00:00", HEARD),  # no zone: not a time to trust
        ("order.placed", "yesterday", HEARD),
        ("product.viewed", "2026-11-23T02:00:00+00:00", HEARD - timedelta(hours=1)),
        ("inventory.changed", "2026-11-01T09:00:00+09:00", HEARD),  # no own time kept
    ],
)
def test_an_event_happened_at_its_own_time_never_after_it_was_heard(
    kind: str, own: str, expected: datetime
) -> None:
    """Given an event's detail with its own time
    When the intake asks when it happened
    Then it is that time, or the hearing time when it has none, none to trust, or a later
    one; in UTC whatever offset it was sent in (it is stored and compared later)."""
    field = {"order.placed": "placed_at", "cart.updated": "updated_at"}.get(kind, "viewed_at")
    # (inventory.changed carries no time of its own: a `viewed_at` there means nothing)
    got = occurred_at(kind, {field: own}, HEARD)
    assert got == expected and got.tzinfo is UTC


def test_only_a_cart_or_view_heard_over_a_day_late_is_too_late_to_trigger() -> None:
    """Given events a day and a minute old, and a cart exactly a day old
    When the intake asks whether each is too late to trigger
    Then only the old cart and view are (an old order still enrols: its sends are
    skipped late)."""
    old = HEARD - LATE_EVENT_AFTER - timedelta(minutes=1)
    assert late("cart.updated", old, HEARD) and late("product.viewed", old, HEARD)
    assert not late("cart.updated", HEARD - LATE_EVENT_AFTER, HEARD)
    assert not late("order.placed", old, HEARD)


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    return step_mails_world(cloud, shop)


def wire(world: JourneyWorld, customer_id: str) -> list[email.message.EmailMessage]:
    """The mails SES was handed for the person, parsed from their raw bytes."""
    found = []
    for m in world.cloud.sent_mail():
        raw = m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        if f"{customer_id}@" in str(parsed["To"]):
            found.append(parsed)
    return found


def step_mails(world: JourneyWorld) -> list[str]:
    """The subjects of the step mails c-1 was sent (not the first-order welcome)."""
    return [str(m["Subject"]) for m in wire(world, "c-1") if str(m["Subject"]).startswith("step-")]


def post_purchase_with_goal(world: JourneyWorld) -> None:
    """The step mails, ended by an order and with an order as their 10-day goal."""
    world.journey(post_purchase(goal={"event": "order.placed", "days": 10}))


def test_an_order_replayed_today_but_placed_before_the_entry_ends_and_converts_nothing(
    world: JourneyWorld,
) -> None:
    """Given a customer in the step mails since their first order shipped
    When an order placed 40 days before it (a storefront replaying its history) is
    heard now, reported as their second order
    Then the series goes on: no exit, no conversion, no F2, and the day-3 mail is on the
    wire; and a second order placed afterwards still ends the series and converts once."""
    post_purchase_with_goal(world)
    world.order("o-1")
    world.shipped("o-1")
    entered = world.clock.now
    world.run_for(2)

    replayed = world.order("o-old", n=2, placed_at=entered - timedelta(days=40))

    assert replayed["journeys"] == {}
    world.run_for(1.5)
    stats = world.stats()
    assert stats["exited"] == {} and stats["converted"] == 0 and stats["active"] == 1
    assert step_mails(world) == ["step-1: 山田様", "step-3: 山田様"]

    bought = world.order("o-2", n=3, total="5980")
    assert bought["journeys"] == {"exited": ["post-purchase"], "converted": ["post-purchase"]}
    world.run_for(10)
    stats = world.stats()
    assert stats["exited"] == {"event:order.placed": 1}
    assert stats["converted"] == 1 and stats["revenue"].startswith("5980")
    assert len(step_mails(world)) == 2


def test_an_order_heard_late_counts_for_the_goal_by_when_it_was_placed(
    world: JourneyWorld,
) -> None:
    """Given two customers in the step mails with a 10-day goal
    When an order placed on day 9 is only heard on day 13 (a queue backed up), and
    the other customer's order placed on day 11 is heard at once
    Then the first reached the goal (it was placed inside the window) and the second
    did not; each late or not, the order ended its series."""
    post_purchase_with_goal(world)
    world.customer("c-2")
    for cid, order_id in (("c-1", "o-1"), ("c-2", "o-9")):
        world.order(order_id, customer_id=cid)
        world.shipped(order_id, customer_id=cid)
    entered = world.clock.now
    world.run_for(11, every=timedelta(days=1))
    on_time = world.order("o-10", customer_id="c-2", n=2)
    world.run_for(2, every=timedelta(days=1))

    late = world.order("o-2", n=2, placed_at=entered + timedelta(days=9))

    assert on_time["journeys"] == {"exited": ["post-purchase"]}

    assert late["journeys"] == {"exited": ["post-purchase"], "converted": ["post-purchase"]}
    stats = world.stats()
    assert stats["converted"] == 1
    assert stats["exited"] == {"event:order.placed": 2}


def cart(customer_id: str, cart_id: str, at: datetime, *skus: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "cart_id": cart_id,
        "items": [{"sku": s, "quantity": 1, "unit_price": "3980"} for s in skus],
        "updated_at": at.isoformat(),
    }


@pytest.fixture
def cart_world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    w = JourneyWorld(cloud, shop)
    r = w.http.post("/v1/journeys/builtins/abandoned-cart/enable", headers=w.auth)
    assert r.status_code == 200, r.text
    w.journey(
        {
            "journey_id": "cart-quick",
            "name": "Cart, no holdout",
            "trigger": {"event": "cart.updated", "key": "cart_id", "restart_wait": True},
            "start": "wait",
            "steps": {
                "wait": {"type": "wait", "hours": 1, "next": "mail"},
                "mail": {"type": "send", "message_id": "cart-1h", "slots": ["cart"]},
            },
            "exit_events": ["order.placed"],
            "reentry": {"mode": "per_key"},
        }
    )
    r = w.http.post("/v1/journeys/abandoned-cart/pause", headers=w.auth)
    assert r.status_code == 200, r.text
    return w


def test_a_cart_counts_its_hour_from_when_it_changed_not_when_it_was_heard(
    cart_world: JourneyWorld,
) -> None:
    """Given the cart flow (an hour's wait, then the cart mail)
    When a cart changed 40 minutes ago is heard now
    Then the mail goes 20 minutes from now, an hour after the change, naming the cart's
    line in its text part on the wire."""
    w = cart_world
    w.customer("c-7")
    changed = w.clock.now - timedelta(minutes=40)
    w.event("cart.updated", cart("c-7", "cart-7", changed, "SERUM-30"))
    w.run_for(1, every=timedelta(minutes=5))

    [(step, at)] = w.journey_mails("c-7")
    assert step == "journey:cart-quick:mail"
    assert timedelta(hours=1) <= at - changed <= timedelta(hours=1, minutes=5)
    [mail] = wire(w, "c-7")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and "SERUM-30" in text.get_content()


def test_a_cart_heard_a_day_after_it_changed_starts_no_cart_flow(
    cart_world: JourneyWorld,
) -> None:
    """Given the cart flow, and a person whose cart is open with CREAM-50
    When a replay brings that cart as it was a week ago (SERUM-30), and another cart
    of theirs changed just over a day ago
    Then neither starts a flow (late: `LATE_EVENT_AFTER`), the open cart's mail still
    names CREAM-50 (the old lines never replace the newer ones), once."""
    w = cart_world
    w.customer("c-8")
    w.event("cart.updated", cart("c-8", "cart-8", w.clock.now, "CREAM-50"))
    w.clock.advance(minutes=10)

    replayed = w.event(
        "cart.updated", cart("c-8", "cart-8", w.clock.now - timedelta(days=7), "SERUM-30")
    )
    stale = w.event(
        "cart.updated",
        cart("c-8", "cart-9", w.clock.now - LATE_EVENT_AFTER - timedelta(minutes=1), "GEL-5"),
    )
    w.run_for(2, every=timedelta(minutes=30))

    assert replayed["journeys"] == {} and stale["journeys"] == {}
    assert [s for s, _ in w.journey_mails("c-8")] == ["journey:cart-quick:mail"]
    [mail] = wire(w, "c-8")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert "CREAM-50" in text.get_content() and "SERUM-30" not in text.get_content()
    assert w.stats("cart-quick")["entered"] == 1


def sent_as(at: datetime, zone: tzinfo) -> str:
    """`at` as a storefront writes it: in its own offset, or UTC with `Z`."""
    written = at.astimezone(zone).isoformat()
    return written.replace("+00:00", "Z") if zone is UTC else written


def stored_skus(w: JourneyWorld, customer_id: str, cart_id: str) -> list[str]:
    """The SKUs of the cart's lines as the journeys table holds them (moto)."""
    lines = w.container.adapters.journey_facts.cart("acme", customer_id, cart_id)
    return [str(i["sku"]) for i in lines]


@pytest.mark.parametrize(("first", "second"), [(JST, UTC), (UTC, JST)])
def test_a_newer_cart_replaces_the_lines_whatever_offset_each_change_was_sent_in(
    cart_world: JourneyWorld, first: tzinfo, second: tzinfo
) -> None:
    """Given the cart flow, and a person whose cart changed 30 minutes ago (SERUM-30),
    sent in one offset
    When the same cart changes again (CREAM-50), sent in another offset by a storefront
    whose clock runs 5 minutes ahead of ours
    Then the stored lines are CREAM-50, and the one cart mail on the wire names
    CREAM-50, not SERUM-30."""
    w = cart_world
    w.customer("c-9")
    older = {**cart("c-9", "cart-9", w.clock.now, "SERUM-30")}
    older["updated_at"] = sent_as(w.clock.now - timedelta(minutes=30), first)
    w.event("cart.updated", older)
    newer = {**cart("c-9", "cart-9", w.clock.now, "CREAM-50")}
    newer["updated_at"] = sent_as(w.clock.now + timedelta(minutes=5), second)

    w.event("cart.updated", newer)

    assert stored_skus(w, "c-9", "cart-9") == ["CREAM-50"]
    w.run_for(1, every=timedelta(minutes=10))
    [mail] = wire(w, "c-9")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert "CREAM-50" in text.get_content() and "SERUM-30" not in text.get_content()


def test_a_cart_stored_in_the_old_offset_form_is_replaced_by_a_newer_change(
    cart_world: JourneyWorld,
) -> None:
    """Given a cart stored before change times were UTC stamps: its `at` in the
    storefront's offset (`+09:00`, ten minutes ago), which sorts after any UTC text of
    the same day
    When the cart changes now (sent in UTC), and then a replay of it from an hour ago
    is heard
    Then the change now replaces the old lines, and the replay does not replace it."""
    w = cart_world
    w.customer("c-10")
    w.cloud.dynamodb.put_item(
        TableName=w.cloud.settings.journeys_table,
        Item=to_item(
            {
                "pk": "CUST#acme#c-10",
                "sk": "C#cart-10",
                "lines": '[{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}]',
                "at": (w.clock.now - timedelta(minutes=10)).astimezone(JST).isoformat(),
            }
        ),
    )
    now = {**cart("c-10", "cart-10", w.clock.now, "CREAM-50")}
    now["updated_at"] = sent_as(w.clock.now, UTC)

    w.event("cart.updated", now)
    replay = cart("c-10", "cart-10", w.clock.now - timedelta(hours=1), "GEL-5")
    w.event("cart.updated", replay)

    assert stored_skus(w, "c-10", "cart-10") == ["CREAM-50"]


def test_a_view_history_replayed_today_mails_no_browse_abandonment(
    cloud: Cloud, shop: ShopKeys
) -> None:
    """Given browse abandonment (a second view of the same product within three days,
    then a mail two hours later) with no holdout
    When two views of SERUM-30 from a week ago are heard now (a replay), and then a
    person views CREAM-50 twice today
    Then the replay enrols and mails no one, and today's viewer gets the one mail,
    naming CREAM-50 on the wire."""
    w = JourneyWorld(cloud, shop)
    r = w.http.post("/v1/journeys/builtins/browse-abandonment/enable", headers=w.auth)
    assert r.status_code == 200, r.text
    assert w.http.post("/v1/journeys/browse-abandonment/pause", headers=w.auth).is_success
    w.journey(
        {
            "journey_id": "browse-quick",
            "name": "Browse, no holdout",
            "trigger": {"event": "product.viewed", "key": "sku"},
            "start": "second-view",
            "steps": {
                "second-view": {
                    "type": "wait_event",
                    "event": "product.viewed",
                    "days": 3,
                    "next": "wait-2h",
                    "timeout_next": "done",
                    "same_key": True,
                },
                "wait-2h": {"type": "wait", "hours": 2, "next": "mail"},
                "mail": {"type": "send", "message_id": "browse-1", "slots": ["product"]},
                "done": {"type": "exit"},
            },
            "reentry": {"mode": "per_key"},
        }
    )
    for cid in ("v-old", "v-now"):
        w.customer(cid)
    week_ago = w.clock.now - timedelta(days=7)
    replayed = [
        w.event(
            "product.viewed",
            {"customer_id": "v-old", "sku": "SERUM-30", "viewed_at": at.isoformat()},
        )
        for at in (week_ago, week_ago + timedelta(hours=1))
    ]
    for _ in range(2):
        view = {"customer_id": "v-now", "sku": "CREAM-50", "viewed_at": w.clock.now.isoformat()}
        w.event("product.viewed", view)
        w.clock.advance(minutes=30)
    w.run_for(1, every=timedelta(hours=1))

    assert [r["journeys"] for r in replayed] == [{}, {}]
    assert wire(w, "v-old") == []
    [mail] = wire(w, "v-now")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and "CREAM-50" in text.get_content()
    assert w.stats("browse-quick")["entered"] == 1
