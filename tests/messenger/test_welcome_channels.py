"""The first-purchase welcome on the channel the buyer can be reached on, checked on the
wire: the LINE push body (against LINE's published spec), the SNS SMS publish, the SES
mail. Under moto, LINE a fake server over real HTTP, the event handler as EventBridge
calls it (twice: a redelivery sends nothing more)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import jsonschema
import pytest
from jsonschema.validators import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from messenger.domain.model import SkipReason, welcome_skip_reason
from messenger.domain.sms import sms_length
from messenger.entrypoints import events as messenger_events
from shared.contracts.envelope import EventEnvelope
from tests.messenger.line_spec import BASE, load_spec, rewrite_discriminators
from tests.messenger.test_journeys_builtins import cart, treated
from tests.messenger.test_messaging import LINE_USER, World, sms_sent

PHONE = "090-1234-5678"


@pytest.fixture(scope="module")
def push_schema() -> Draft7Validator:
    """LINE's PushMessageRequest, from its OpenAPI spec (the copy in tests/data/line is
    the one in shared/reference/line, byte for byte)."""
    spec = rewrite_discriminators(load_spec())
    registry: Registry[Any] = Registry().with_resource(
        "line.yml", Resource.from_contents(spec, default_specification=DRAFT7)
    )
    return jsonschema.Draft7Validator(
        {"$ref": f"line.yml{BASE}PushMessageRequest"}, registry=registry
    )


def _customer(**reach: Any) -> dict[str, Any]:
    """A buyer with the given addresses; `consents`: the channels they opted in to."""
    consents = reach.pop("consents", ())
    return {
        "customer_id": "c-1",
        "last_name": "山田",
        "first_name": "花子",
        **reach,
        "consents": [{"channel": c, "granted": True, "source": "checkout"} for c in consents],
    }


def _first_order(
    world: World, customer: dict[str, Any], placed_ago: timedelta = timedelta(minutes=5)
) -> dict[str, Any]:
    """`order.placed` for the buyer's first order, delivered twice (EventBridge may)."""
    cid = customer["customer_id"]
    detail = {
        "order_id": "o-1" if cid == "c-1" else f"o-{cid}",
        "customer": customer,
        "placed_at": (world.clock.now - placed_ago).isoformat(),
        "currency": "JPY",
        "total": "3980",
        "items": [{"sku": "SERUM-30", "quantity": 1, "unit_price": "3980"}],
        "order_count": 1,
        "is_first_order": True,
    }
    envelope = EventEnvelope(
        id=f"e-{cid}", shop="acme", type="order.placed", time=world.clock.now, detail=detail
    )
    event = {"detail": envelope.model_dump(mode="json"), "detail-type": "order.placed"}
    first = messenger_events.handler(event, None)
    again = messenger_events.handler(event, None)
    assert again["status"] in {"skipped", first["status"]}
    return first


@pytest.mark.parametrize(
    ("locale", "greeting", "thanks"),
    [
        ("ja", "山田様、", "はじめてのご注文（o-1）"),
        ("en", "Hi 花子, ", "thank you for your first order (o-1) with Kizuna Demo Shop"),
    ],
)
def test_a_line_only_buyer_gets_the_welcome_once_on_line(
    events_world: World, push_schema: Draft7Validator, locale: str, greeting: str, thanks: str
) -> None:
    """Given a buyer known only by a LINE user id, opted in on LINE
    When their first order's event arrives (twice)
    Then one LINE push leaves, a body LINE's spec accepts, thanking them for that order
    in their language; no mail and no SMS."""
    world = events_world
    buyer = _customer(line_user_id=LINE_USER, locale=locale, consents=["line"])
    outcome = _first_order(world, buyer)
    assert (outcome["status"], outcome["reason"]) == ("sent", None)
    [push] = world.line.received
    assert push.path == "/v2/bot/message/push"
    assert list(push_schema.iter_errors(push.body)) == []
    assert push.body["to"] == LINE_USER
    [message] = push.body["messages"]
    assert message["type"] == "text"
    assert message["text"].startswith(greeting)
    assert thanks in message["text"]
    assert world.mails() == [] and sms_sent(world) == []


def test_an_sms_only_buyer_gets_the_welcome_once_by_sms(events_world: World) -> None:
    """Given a buyer known only by a phone number, opted in to SMS
    When their first order's event arrives (twice)
    Then one SMS is published to their number in E.164, with the sender and the opt-out
    link (marketing), in three UCS-2 parts at most (the footer's link takes two); no mail
    and no LINE."""
    world = events_world
    outcome = _first_order(world, _customer(phone=PHONE, consents=["sms"]))
    assert outcome["status"] == "sent"
    [(number, text)] = sms_sent(world)
    assert number == "+819012345678"
    assert "はじめてのご注文（o-1）" in text
    assert "停止:https://" in text  # the footer: sender name and the stop link
    assert sms_length(text).parts <= 3
    assert world.mails() == [] and world.line.received == []


def test_a_mail_buyer_still_gets_the_welcome_mail(events_world: World) -> None:
    """Given a buyer with a mail address, opted in to mail only
    When their first order's event arrives (twice)
    Then one welcome mail leaves through SES; nothing on LINE or by SMS."""
    world = events_world
    outcome = _first_order(world, _customer(email="hanako@example.jp", consents=["email"]))
    assert outcome["status"] == "sent"
    [mail] = world.mails()
    assert {str(d) for d in mail.destinations} == {"hanako@example.jp"}
    mime = message_from_string(mail.raw_data, policy=policy.default)
    assert isinstance(mime, EmailMessage)
    text = mime.get_body(preferencelist=("plain",))
    assert text is not None and "o-1" in text.get_content()
    assert world.line.received == [] and sms_sent(world) == []


def test_a_buyer_opted_in_nowhere_gets_no_welcome(events_world: World) -> None:
    """Given a buyer with a mail address, a phone and a LINE id, opted in on none
    When their first order's event arrives
    Then the welcome is skipped for want of consent and nothing leaves on any channel."""
    world = events_world
    reach = {"email": "hanako@example.jp", "phone": PHONE, "line_user_id": LINE_USER}
    outcome = _first_order(world, _customer(**reach))
    assert (outcome["status"], outcome["reason"]) == ("skipped", "no_consent")
    assert world.mails() == [] and world.line.received == [] and sms_sent(world) == []


def test_a_line_buyer_at_night_gets_the_welcome_in_the_morning(events_world: World) -> None:
    """Given a LINE-only buyer ordering at 23:00 in Tokyo (LINE's quiet hours: 21-08)
    When the order's event arrives, and the dispatcher ticks through the night
    Then nothing is pushed before 08:00, and one push at 08:00."""
    world = events_world
    world.clock.now += timedelta(hours=11)  # 23:00 JST
    outcome = _first_order(world, _customer(line_user_id=LINE_USER, consents=["line"]))
    assert (outcome["status"], outcome["reason"]) == ("deferred", "quiet_hours")
    for _ in range(9):  # 23:00 to 07:00
        messenger_events.journey_dispatcher()
        assert world.line.received == []
        world.clock.now += timedelta(hours=1)
    messenger_events.journey_dispatcher()  # 08:00
    messenger_events.journey_dispatcher()
    assert len(world.line.received) == 1


def test_a_line_buyer_who_left_line_marketing_gets_the_mail_instead(events_world: World) -> None:
    """Given a buyer on LINE and mail, opted in on both, who then unsubscribed from LINE
    marketing (the shop prefers LINE)
    When their first order's event arrives
    Then the welcome falls to mail, the next channel they can be reached on."""
    world = events_world
    world.container.adapters.deliveries.unsubscribe(
        "acme", "c-1", "line", "marketing", world.clock.now
    )
    reach = {"email": "hanako@example.jp", "line_user_id": LINE_USER}
    outcome = _first_order(world, _customer(**reach, consents=["email", "line"]))
    assert outcome["status"] == "sent"
    assert world.line.received == [] and len(world.mails()) == 1


def test_a_first_order_a_year_old_gets_no_welcome(events_world: World) -> None:
    """Given a storefront replaying its history: a first order placed a year ago
    When its event arrives today
    Then no welcome goes on any channel (its day is past), while one placed 23 hours ago
    still gets it."""
    world = events_world
    customer = _customer(email="hanako@example.jp", line_user_id=LINE_USER, consents=["line"])
    old = _first_order(world, customer, placed_ago=timedelta(days=365))
    assert (old["status"], old["reason"]) == ("skipped", "late")
    assert world.line.received == [] and world.mails() == []

    recent = {**customer, "customer_id": "c-2"}
    assert _first_order(world, recent, placed_ago=timedelta(hours=23))["status"] == "sent"


def test_a_builtin_journey_reaches_line_and_sms_only_people_the_same_way(
    events_world: World, push_schema: Draft7Validator
) -> None:
    """Given the built-in abandoned-cart journey (its messages, like every built-in's,
    have a LINE and an SMS text beside the mail), a LINE-only and an SMS-only person
    When each leaves a cart and the hour passes (the dispatcher ticking)
    Then the LINE-only one gets one push LINE's spec accepts and the SMS-only one one
    SMS (the push names the cart's product); no mail."""
    world = events_world
    on = world.http.post("/v1/journeys/builtins/abandoned-cart/enable", headers=world.auth)
    assert on.status_code == 200, on.text
    line_cid = treated("abandoned-cart", "cart-l", "l")
    sms_cid = treated("abandoned-cart", "cart-s", "s")
    world.customer(line_cid, email=None, phone=None, consents=[_consent("line")])
    world.customer(sms_cid, email=None, line_user_id=None, consents=[_consent("sms")])
    for cid, cart_id in ((line_cid, "cart-l"), (sms_cid, "cart-s")):
        detail = cart(cid, cart_id, "SERUM-30")
        envelope = EventEnvelope(
            id=f"e-{cart_id}", shop="acme", type="cart.updated", time=world.clock.now, detail=detail
        )
        messenger_events.handler({"detail": envelope.model_dump(mode="json")}, None)
    for _ in range(3):
        world.clock.now += timedelta(minutes=30)
        messenger_events.journey_dispatcher()

    [push] = world.line.received
    assert list(push_schema.iter_errors(push.body)) == []
    assert "SERUM-30" in push.body["messages"][0]["text"]
    [(number, text)] = sms_sent(world)
    assert number == "+819012345678" and "カートに商品が残っています" in text
    assert world.mails() == []


def _consent(channel: str) -> dict[str, Any]:
    return {"channel": channel, "granted": True, "source": "checkout"}


def test_the_welcomes_day_is_the_24_hours_after_the_order() -> None:
    """Given a first order placed at noon
    When it is heard of 24 hours later, or a second after that
    Then the first still gets a welcome and the second is late; a repeat order never."""
    placed = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert welcome_skip_reason(True, placed, placed + timedelta(hours=24)) is None
    late = placed + timedelta(hours=24, seconds=1)
    assert welcome_skip_reason(True, placed, late) is SkipReason.LATE
    assert welcome_skip_reason(False, placed, placed) is SkipReason.NOT_FIRST_ORDER
