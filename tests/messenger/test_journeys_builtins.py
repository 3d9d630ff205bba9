"""The built-in journeys end to end under moto: enabled with one call, then driven by
real events into the handler and the dispatcher ticking on a simulated clock."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from messenger.domain.journeys.plan import enrolment_id, held_out
from messenger.domain.journeys.records import stamp
from messenger.services.journeys.builtins import catalogue
from shared import clock as shared_clock
from tests.conftest import Cloud, ShopKeys
from tests.messenger.journey_world import START, STEP_DAYS, JourneyWorld

ALL = sorted(e.name for e in catalogue())


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> JourneyWorld:
    return JourneyWorld(cloud, shop)


def treated(journey: str, key: str, prefix: str = "c", at: datetime | None = None) -> str:
    """A customer id the journey's holdout draw does not hold out for this trigger (the
    draw is a hash of the enrolment: fixed, so the test is too)."""
    spec = next(e for e in catalogue() if e.name == journey).journey
    mode = spec["reentry"]["mode"]
    k = {"per_key": f"k#{key}", "once": "once"}.get(mode) or f"t#{stamp(at or START)}"
    for i in range(100):
        cid = f"{prefix}-{i}"
        if not held_out(journey, enrolment_id(journey, cid, k), spec["holdout_percent"]):
            return cid
    raise AssertionError("no treated customer id")


def enable(world: JourneyWorld, name: str) -> dict[str, Any]:
    r = world.http.post(f"/v1/journeys/builtins/{name}/enable", headers=world.auth)
    assert r.status_code == 200, r.text
    return dict(r.json())


def sent(world: JourneyWorld, customer_id: str) -> list[str]:
    """The journey steps that sent something to the person, in time order."""
    r = world.http.get("/v1/deliveries", params={"customer_id": customer_id}, headers=world.auth)
    assert r.status_code == 200, r.text
    return [
        d["trigger"]
        for d in sorted(r.json(), key=lambda d: d["sent_at"] or "")
        if d["trigger"].startswith("journey:") and d["status"] == "sent"
    ]


def test_every_builtins_english_title_is_english() -> None:
    """Given the catalogue of built-in journeys
    Then each has a Japanese and an English title, and the English one has no Japanese in
    it (the English console shows it as it is)."""
    cjk = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    for entry in catalogue():
        assert entry.title["ja"] and cjk.search(entry.title["ja"]), entry.name
        assert entry.title["en"] and not cjk.search(entry.title["en"]), entry.name


def test_the_catalogue_lists_every_builtin_and_enabling_is_idempotent(world: JourneyWorld) -> None:
    """Given a shop with no journeys
    When it enables every built-in, twice, and disables one
    Then each became a normal journey with its messages (ja and en, mail, LINE and SMS,
    LINE checked against LINE's spec when saved), the second enable changed nothing, and
    disabling paused it (enable resumes)."""
    r = world.http.get("/v1/journeys/builtins", headers=world.auth)
    assert r.status_code == 200
    listed = {b["name"]: b for b in r.json()}
    assert sorted(listed) == ALL
    assert set(ALL) >= {
        "welcome-first-purchase",
        "welcome-signup",
        "post-purchase",
        "abandoned-cart",
        "browse-abandonment",
        "winback",
        "birthday",
        "replenishment",
        "back-in-stock",
    }
    assert all(b["status"] is None and b["topic"] for b in listed.values())

    for name in ALL:
        first = enable(world, name)
        assert first["created"] is True and first["status"] == "active"
        assert first["messages_created"] == listed[name]["messages"]
        again = enable(world, name)
        assert again["created"] is False and again["messages_created"] == []

    for message_id in listed["post-purchase"]["messages"]:
        m = world.http.get(f"/v1/messages/{message_id}", headers=world.auth).json()
        assert m["email"] and m["line"] and m["sms"]
    world.customer("c-en", locale="en")
    world.customer("c-ja")
    for who, needle in (("c-en", "One week in"), ("c-ja", "1週間")):
        r = world.http.post(
            "/v1/messages/pp-day-7/preview", json={"customer_id": who}, headers=world.auth
        )
        assert r.status_code == 200, r.text
        assert needle in str(r.json())

    r = world.http.post("/v1/journeys/builtins/cart/disable", headers=world.auth)
    assert r.status_code == 404
    r = world.http.post("/v1/journeys/builtins/abandoned-cart/disable", headers=world.auth)
    assert r.json()["status"] == "paused"
    assert enable(world, "abandoned-cart")["status"] == "active"
    statuses = {
        b["name"]: b["status"]
        for b in world.http.get("/v1/journeys/builtins", headers=world.auth).json()
    }
    assert set(statuses.values()) == {"active"}


def test_a_segment_triggered_builtin_can_be_edited_before_anyone_entered(
    world: JourneyWorld,
) -> None:
    """Given a new shop that enabled the win-back (triggered by the segmenter's built-in
    `dormant` segment, which nobody has entered yet)
    When the marketer saves an edit of it as a new version
    Then it is version 2 (the segmenter's built-in segments exist in every shop)."""
    enable(world, "winback")
    current = world.http.get("/v1/journeys/winback", headers=world.auth).json()
    edited = {**current["definition"], "name": "休眠顧客へ (edited)"}
    r = world.http.post("/v1/journeys/winback/versions", json=edited, headers=world.auth)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2


def test_post_purchase_sends_seven_mails_on_their_days_under_the_default_cap(
    world: JourneyWorld,
) -> None:
    """Given the built-in step mails and the welcome series, with the default frequency
    cap (3 in 7 days)
    When a first order ships and 35 days pass
    Then all 7 step mails go on their days (the step_mails topic is outside the cap),
    beside the welcome mail and the welcome series' story."""
    cid = treated("post-purchase", "o-1")
    world.customer(cid)
    enable(world, "post-purchase")
    enable(world, "welcome-first-purchase")
    world.order("o-1", customer_id=cid)
    shipped_at = world.clock.now
    world.shipped("o-1", customer_id=cid)
    world.run_for(35, every=timedelta(hours=1))

    mails = world.journey_mails(cid)
    steps = [t for t, _ in mails if t.startswith("journey:post-purchase:")]
    assert sorted(steps) == sorted(f"journey:post-purchase:mail-{d}" for d in STEP_DAYS)
    by_step = {t.rsplit("-", 1)[1]: at for t, at in mails if t.startswith("journey:post-")}
    for day in STEP_DAYS:
        late = by_step[str(day)] - (shipped_at + timedelta(days=day))
        assert timedelta(0) <= late <= timedelta(hours=1), (day, late)
    stats = world.stats("post-purchase")
    assert stats["sent"] == 7 and stats["completed"] == 1


def test_abandoned_cart_sends_nothing_to_someone_who_bought_within_the_hour(
    world: JourneyWorld,
) -> None:
    """Given the cart flow
    When one person leaves a cart and another buys within the hour
    Then the first gets the 1 h and 24 h mails with the cart's lines in stock, and the
    buyer gets nothing from the flow."""
    enable(world, "abandoned-cart")
    left, bought = (
        treated("abandoned-cart", "cart-1", "l"),
        treated("abandoned-cart", "cart-2", "b"),
    )
    for cid in (left, bought):
        world.customer(cid)
    world.event("inventory.changed", {"sku": "GONE-1", "previous_quantity": 3, "quantity": 0})
    world.event("cart.updated", cart(left, "cart-1", "SERUM-30", "GONE-1"))
    world.event("cart.updated", cart(bought, "cart-2", "SERUM-30"))
    world.clock.advance(minutes=40)
    world.order("o-2", customer_id=bought)
    world.run_for(2, every=timedelta(minutes=30))

    assert sent(world, left) == [
        "journey:abandoned-cart:mail-1h",
        "journey:abandoned-cart:mail-24h",
    ]
    assert sent(world, bought) == []
    mail = mails_to(world, left)[0]
    assert "SERUM-30" in mail and "GONE-1" in mail  # kept; left out, said so
    assert world.stats("abandoned-cart")["exited"] == {"event:order.placed": 1}


def test_abandoned_cart_skips_a_cart_that_sold_out(world: JourneyWorld) -> None:
    """Given a left cart whose only item sells out before the hour
    When the hour comes
    Then nothing is sent (the stock re-check), and the skip is counted on the step."""
    enable(world, "abandoned-cart")
    cid = treated("abandoned-cart", "cart-9")
    world.customer(cid)
    world.event("cart.updated", cart(cid, "cart-9", "LAST-1"))
    world.event("inventory.changed", {"sku": "LAST-1", "previous_quantity": 1, "quantity": 0})
    world.run_for(1, every=timedelta(minutes=30))
    assert sent(world, cid) == []
    steps = world.stats("abandoned-cart")["steps"]
    assert steps["mail-1h"]["skipped_out_of_stock"] == 1


def test_browse_abandonment_needs_a_second_view_of_the_same_product(world: JourneyWorld) -> None:
    """Given browse abandonment
    When one person views a product twice, another once, and a third views two
    different products once each
    Then only the first hears about that product, two hours after the second view."""
    enable(world, "browse-abandonment")
    twice = treated("browse-abandonment", "x", "t", world.clock.now)
    once = next(c for c in (f"o-{i}" for i in range(50)) if c != twice)
    two = treated("browse-abandonment", "x", "w", world.clock.now)
    for cid in (twice, once, two):
        world.customer(cid)
        world.event("product.viewed", view(cid, "SERUM-30", world))
    world.clock.advance(hours=5)
    second = world.clock.now
    world.event("product.viewed", view(twice, "SERUM-30", world))
    world.event("product.viewed", view(two, "CREAM-50", world))
    world.run_for(4, every=timedelta(hours=1))
    mails = world.journey_mails(twice)
    assert [t for t, _ in mails] == ["journey:browse-abandonment:mail"]
    assert timedelta(hours=2) <= mails[0][1] - second <= timedelta(hours=3)
    assert "SERUM-30" in mails_to(world, twice)[0]
    assert sent(world, once) == []
    assert sent(world, two) == []


def test_winback_names_the_first_product_and_gives_a_personal_code(world: JourneyWorld) -> None:
    """Given win-back and a customer whose first order was SERUM-30
    When they enter the segmenter's dormant segment and 15 days pass
    Then they get the reminder naming SERUM-30, then a code of their own."""
    enable(world, "winback")
    cid = treated("winback", "", at=START + timedelta(days=400))
    world.customer(cid)
    world.order("o-1", customer_id=cid)
    world.clock.advance(days=400)
    world.event("segment.entered", {"segment_id": "dormant", "customer_id": cid})
    world.run_for(15)
    assert sent(world, cid) == ["journey:winback:remember", "journey:winback:offer"]
    mails = mails_to(world, cid)
    assert any("SERUM-30" in m for m in mails)
    assert any("BACK-" in m for m in mails)


def test_birthday_sends_a_personal_code_at_ten_local_time(world: JourneyWorld) -> None:
    """Given the birthday journey and a customer born on 1 December
    When the day comes
    Then the coupon goes at 10:00 Tokyo time with a BDAY code given to them only."""
    enable(world, "birthday")
    cid = "c-bday"
    world.customer(cid)
    world.event(
        "customer.upserted",
        {"customer": {"customer_id": cid, "email": f"{cid}@example.jp"}, "birthday": "1990-12-01"},
    )
    world.run_for(10, every=timedelta(hours=1))
    mails = world.journey_mails(cid)
    if held_out("birthday", enrolment_id("birthday", cid, "k#2026-12-01"), 10):
        assert mails == []
        return
    assert [t for t, _ in mails] == ["journey:birthday:gift"]
    at = mails[0][1].astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert (at.month, at.day, at.hour) == (12, 1, 10)
    r = world.http.get("/v1/coupon-pools/birthday", headers=world.auth)
    assert r.status_code == 200
    assert "BDAY-" in mails_to(world, cid)[0]


def test_replenishment_reminds_at_the_average_interval(world: JourneyWorld) -> None:
    """Given replenishment and a customer who orders every 20 days
    When their third order is placed
    Then the reminder for it comes about 20 days later, not at the 30-day default."""
    cid = treated("replenishment", "o-3")
    world.customer(cid)
    world.order("o-1", customer_id=cid)
    world.clock.advance(days=20)
    world.order("o-2", customer_id=cid, n=2)
    world.clock.advance(days=20)
    enable(world, "replenishment")
    placed = world.clock.now
    world.order("o-3", customer_id=cid, n=3)
    world.run_for(25, every=timedelta(hours=3))
    mails = world.journey_mails(cid)
    assert [t for t, _ in mails] == ["journey:replenishment:remind"]
    assert timedelta(days=20) <= mails[0][1] - placed <= timedelta(days=21)


def test_back_in_stock_tells_each_person_once_and_not_those_feedback_told(
    world: JourneyWorld,
) -> None:
    """Given back-in-stock, a sold-out SKU that two people carted, one of whom feedback's
    restock sign-up already told
    When it is restocked (twice)
    Then only the other one hears about it, once, after the early-access day."""
    enable(world, "back-in-stock")
    a, b = treated("back-in-stock", "SOLD-1", "a"), treated("back-in-stock", "SOLD-1", "z")
    for cid in (a, b):
        world.customer(cid)
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 2, "quantity": 0})
    world.event("cart.updated", cart(a, "cart-a", "SOLD-1"))
    world.event("product.viewed", view(b, "SOLD-1", world))
    world.clock.advance(days=1)
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 0, "quantity": 5})
    world.event(
        "message.requested",
        {
            "request_id": "fb-restock:r1:s1",
            "recipient": {"customer_id": b},
            "category": "marketing",
            "template": "restock_early_access",
            "variables": {
                "sku": "SOLD-1",
                "early_access_url": "https://x.example/a",
                "valid_until": "2026-11-25T03:00:00+00:00",
                "token": "t",
                "unsubscribe_url": "https://x.example/u",
            },
            "requested_by": "feedback.restock.early_access",
        },
    )
    world.run_for(2, every=timedelta(hours=2))
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 5, "quantity": 0})
    world.event("inventory.changed", {"sku": "SOLD-1", "previous_quantity": 0, "quantity": 4})
    world.run_for(2, every=timedelta(hours=2))
    assert sent(world, a) == ["journey:back-in-stock:notice"]
    assert sent(world, b) == []
    assert world.stats("back-in-stock")["steps"]["notice"]["skipped_already_notified"] == 1


def test_welcome_signup_ends_on_the_first_order(world: JourneyWorld) -> None:
    """Given the sign-up welcome
    When a subscriber who never bought enters the segment, gets the first mail, then buys
    Then the second mail never comes."""
    enable(world, "welcome-signup")
    cid = treated("welcome-signup", "once")
    world.customer(cid)
    world.event("segment.entered", {"segment_id": "subscribers_never_bought", "customer_id": cid})
    world.run_for(1, every=timedelta(hours=1))
    assert sent(world, cid) == ["journey:welcome-signup:hello"]
    world.order("o-1", customer_id=cid)
    world.run_for(7)
    assert sent(world, cid) == ["journey:welcome-signup:hello"]


def mails_to(world: JourneyWorld, customer_id: str) -> list[str]:
    """The decoded subject and text of each mail sent to the person."""
    found = []
    for m in world.cloud.sent_mail():
        parsed = email.message_from_string(m.raw_data, policy=email.policy.default)
        if f"{customer_id}@" not in str(parsed["To"]):
            continue
        parts = [str(parsed["Subject"])]
        for part in parsed.walk():
            if part.get_content_type() == "text/plain":
                parts.append(part.get_content())
        found.append("\n".join(parts))
    return found


def cart(customer_id: str, cart_id: str, *skus: str) -> dict[str, Any]:
    """A `cart.updated` detail, changed now (the cart flows count from it)."""
    return {
        "customer_id": customer_id,
        "cart_id": cart_id,
        "items": [{"sku": s, "quantity": 1, "unit_price": "3980"} for s in skus],
        "updated_at": shared_clock.now().isoformat(),
    }


def view(customer_id: str, sku: str, world: JourneyWorld) -> dict[str, Any]:
    return {"customer_id": customer_id, "sku": sku, "viewed_at": world.clock.now.isoformat()}


def test_post_purchase_sends_nothing_when_a_second_order_came_before_the_first_shipped(
    world: JourneyWorld,
) -> None:
    """Given the built-in step mails and a first order that has not shipped yet
    When the person places a second order, and only then the first order ships
    Then no step mail goes (the flow filter `customer.order_count = 1`, re-checked
    before every send, sees the second order) and the enrolment exits by the filter."""
    cid = treated("post-purchase", "o-1")
    world.customer(cid)
    enable(world, "post-purchase")
    world.order("o-1", customer_id=cid)
    world.clock.advance(hours=5)
    world.order("o-2", customer_id=cid, n=2)
    world.clock.advance(hours=5)
    world.shipped("o-1", customer_id=cid)
    world.run_for(35, every=timedelta(hours=6))

    assert [t for t in sent(world, cid) if t.startswith("journey:post-purchase:")] == []
    assert world.stats("post-purchase")["exited"] == {"flow_filter": 1}


def test_abandoned_cart_counts_the_hour_from_the_last_change_to_the_cart(
    world: JourneyWorld,
) -> None:
    """Given the cart flow
    When a person changes their cart three times, 40 minutes apart
    Then the 1 h mail comes an hour after the last change (not after the first), once,
    with the cart as it was last left."""
    enable(world, "abandoned-cart")
    cid = treated("abandoned-cart", "cart-5")
    world.customer(cid)
    world.event("cart.updated", cart(cid, "cart-5", "SERUM-30"))
    world.clock.advance(minutes=40)
    world.event("cart.updated", cart(cid, "cart-5", "SERUM-30", "CREAM-50"))
    world.clock.advance(minutes=40)
    last = world.clock.now
    world.event("cart.updated", cart(cid, "cart-5", "CREAM-50"))
    world.run_for(0.25, every=timedelta(minutes=5))

    mails = world.journey_mails(cid)
    assert [t for t, _ in mails] == ["journey:abandoned-cart:mail-1h"]
    assert timedelta(hours=1) <= mails[0][1] - last <= timedelta(hours=1, minutes=5)
    text = mails_to(world, cid)[0]
    assert "CREAM-50" in text and "SERUM-30" not in text
    assert world.stats("abandoned-cart")["steps"]["wait-1h"]["restarted"] == 2


def test_replenishment_reminds_when_the_products_usage_days_run_out(world: JourneyWorld) -> None:
    """Given replenishment, and SERUM-30 lasting 25 days a bottle (its usage days, set
    over the API; a bad value is a 422 naming the field)
    When a first-time buyer orders two bottles
    Then the reminder comes 50 days later, not at the 30-day default."""
    bad = world.http.put(
        "/v1/journeys/products/SERUM-30", json={"usage_days": 0}, headers=world.auth
    )
    assert bad.status_code == 422 and "usage_days" in bad.text
    r = world.http.put(
        "/v1/journeys/products/SERUM-30", json={"usage_days": 25}, headers=world.auth
    )
    assert r.status_code == 200, r.text
    cid = treated("replenishment", "o-1")
    world.customer(cid)
    enable(world, "replenishment")
    placed = world.clock.now
    world.event(
        "order.placed",
        {
            "order_id": "o-1",
            "customer": {"customer_id": cid, "email": f"{cid}@example.jp"},
            "placed_at": placed.isoformat(),
            "currency": "JPY",
            "total": "7960",
            "items": [{"sku": "SERUM-30", "quantity": 2, "unit_price": "3980"}],
            "order_count": 1,
            "is_first_order": True,
        },
    )
    world.run_for(55, every=timedelta(hours=6))
    mails = world.journey_mails(cid)
    assert [t for t, _ in mails] == ["journey:replenishment:remind"]
    assert timedelta(days=50) <= mails[0][1] - placed <= timedelta(days=51)


def test_birthday_reaches_people_whose_profile_came_before_the_journey(
    world: JourneyWorld,
) -> None:
    """Given a customer born on 1 December whose profile arrived before the shop enabled
    the birthday journey (no customer.upserted comes after)
    When the day comes
    Then the daily date-trigger scan enrols them the day before, and the coupon goes at
    10:00 Tokyo time, once, though the scan is claimed by every tick on that day."""
    cid = next(
        c
        for c in (f"b-{i}" for i in range(100))
        if not held_out("birthday", enrolment_id("birthday", c, "k#2026-12-01"), 10)
    )
    world.customer(cid, timezone="Asia/Tokyo")
    world.event(
        "customer.upserted",
        {"customer": {"customer_id": cid, "email": f"{cid}@example.jp"}, "birthday": "1990-12-01"},
    )
    enable(world, "birthday")
    world.run_for(10, every=timedelta(hours=1))

    mails = world.journey_mails(cid)
    assert [t for t, _ in mails] == ["journey:birthday:gift"]
    at = mails[0][1].astimezone(ZoneInfo("Asia/Tokyo"))
    assert (at.month, at.day, at.hour) == (12, 1, 10)
    assert world.stats("birthday")["entered"] == 1


def test_the_welcome_story_counts_from_the_order_and_skips_a_replayed_history(
    world: JourneyWorld,
) -> None:
    """Given the first-purchase welcome series
    When one first order arrives as it is placed, and another, placed a year ago, arrives
    now (a storefront replaying its history), and four days pass
    Then the story goes two days after the first order was placed, and the year-old
    order gets no welcome at all: neither the day-0 welcome nor the story (skipped late)."""
    enable(world, "welcome-first-purchase")
    now_buyer = treated("welcome-first-purchase", "o-now", prefix="n")
    old_buyer = treated("welcome-first-purchase", "o-old", prefix="h")
    for cid in (now_buyer, old_buyer):
        world.customer(cid)
    placed = world.clock.now
    assert world.order("o-now", customer_id=now_buyer)["status"] == "sent"
    old = world.order("o-old", customer_id=old_buyer, placed_at=placed - timedelta(days=365))
    assert (old["status"], old["reason"]) == ("skipped", "late")
    world.run_for(4, every=timedelta(hours=1))

    [(step, at)] = world.journey_mails(now_buyer)
    assert step == "journey:welcome-first-purchase:story"
    assert timedelta(days=2) <= at - placed <= timedelta(days=2, hours=1)
    assert sent(world, old_buyer) == []
    assert world.stats("welcome-first-purchase")["steps"]["story"]["skipped_late"] == 1
