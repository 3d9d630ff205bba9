"""Journeys on the real local stack: the dispatcher tick fans the due shards out to the
template's JourneyShardsQueue, and the messenger's event function works them from the
queue (Lambda's SQS event source, reproduced by the stack), as in the cloud.

One stack for the module (its start is most of the cost), and one clock: the tests only
move it forward, so what one test's ticks did (the daily date scan, leases) is never in
another's future."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from ops.local.stack import LocalStack
from ops.local.template import local_name
from shared import clock as shared_clock
from tests.conftest import REGION, TODAY, order_payload
from tests.e2e.stack import bearer, open_shop, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clock() -> Iterator[shared_clock.FixedClock]:
    """The module's one clock (overrides the per-test one: see the module docstring)."""
    fixed = shared_clock.FixedClock(TODAY)
    shared_clock.use(fixed)
    yield fixed
    shared_clock.reset()


@pytest.fixture(scope="module")
def stack(clock: shared_clock.FixedClock) -> Iterator[LocalStack]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        with running_stack() as local:
            yield local


def _auth(stack: LocalStack, shop: str = "acme", *more: str) -> dict[str, str]:
    _, token = open_shop(shop, ("crm", ["events:write", "messages:send", "messages:read", *more]))
    return bearer(token)


def _journey() -> dict[str, Any]:
    return {
        "journey_id": "steps",
        "name": "Two step mails",
        "trigger": {"event": "order.shipped", "key": "order_id"},
        "start": "wait-1",
        "steps": {
            "wait-1": {"type": "wait_until", "anchor": "shipped_at", "days": 1, "next": "mail-1"},
            "mail-1": {"type": "send", "message_id": "step-1", "next": "wait-3"},
            "wait-3": {"type": "wait_until", "anchor": "shipped_at", "days": 3, "next": "mail-3"},
            "mail-3": {"type": "send", "message_id": "step-3", "next": "done"},
            "done": {"type": "exit"},
        },
        "exit_events": ["order.placed"],
        "reentry": {"mode": "per_key"},
    }


def _message(message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "name": message_id,
        "email": {
            "subject": f"{message_id}: {{{{ customer.last_name }}}}",
            "html": "<p>{{ customer.last_name }}</p>",
            "text": "{{ customer.last_name }}",
        },
    }


def _step_mails(http: httpx.Client) -> list[str]:
    return sorted(
        m["subject"].split(":")[0]
        for m in http.get("/_local/sandbox").json()
        if m["channel"] == "mail" and m["subject"].startswith("step-")
    )


def test_due_steps_are_fanned_out_through_the_shards_queue(
    stack: LocalStack, clock: shared_clock.FixedClock
) -> None:
    """Given the local stack built from the template, a two-mail journey and a shipped
    first order
    When the dispatcher schedule fires a day later, and the clock is advanced to day 4
    Then the tick only queued a message for the due shard, the messenger worked it from
    JourneyShardsQueue and sent each mail once, on its day; nothing is left in the
    queue, nothing failed and nothing reached a dead-letter queue."""
    auth = _auth(stack)
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)
    assert http.put("/v1/messenger/policy", json={"cap_count": 20}, headers=auth).is_success
    for message_id in ("step-1", "step-3"):
        assert http.post("/v1/messages", json=_message(message_id), headers=auth).is_success
    created = http.post("/v1/journeys", json=_journey(), headers=auth)
    assert created.status_code == 201, created.text

    now = shared_clock.now()
    order = order_payload(1, placed_at=now.isoformat())
    assert http.post("/v1/orders", json=order, headers=auth).status_code == 201
    shipped = {
        "type": "order.shipped",
        "event_id": "ship-1",
        "order_id": order["order_id"],
        "at": now.isoformat(),
    }
    assert http.post("/v1/events", json=shipped, headers=auth).status_code == 201
    stack.drain(timeout=60)

    # When the day-1 mail is due and the schedule fires
    clock.advance(days=1, minutes=5)
    tick = stack.fire_schedule("JourneyDispatcher")
    stack.settle_sources()

    # Then the tick queued the one shard with a step due instead of working it
    assert tick["journeys"] == {"fanned_out": 1}
    assert _step_mails(http) == ["step-1"]

    # When the clock moves on to day 4, the schedule firing on the way
    stack.advance_clock(timedelta(days=3))
    stack.drain(timeout=60)

    # Then the day-3 mail went out once, and the queues are clean
    assert _step_mails(http) == ["step-1", "step-3"]
    assert stack.failures() == []
    sqs = stack.client("sqs")
    for name in ("JourneyShardsQueue", "JourneyShardsDeadLetterQueue"):
        url = sqs.get_queue_url(QueueName=local_name(name))["QueueUrl"]
        counts = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert set(counts.values()) == {"0"}, (name, counts)
    assert stack.dead_letters() == []


BUILTINS = (
    "welcome-first-purchase",
    "welcome-signup",
    "abandoned-cart",
    "browse-abandonment",
    "winback",
    "birthday",
    "replenishment",
    "back-in-stock",
)
PEOPLE = ("w1", "ca", "cb", "bv", "bs", "rp", "wb", "bd")


class Shop:
    """One shop on the stack, driven over its real HTTP API as a storefront would."""

    def __init__(self, stack: LocalStack, auth: dict[str, str]) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.api_base_url, timeout=60, headers=auth)
        self._n = 0

    def ok(self, r: httpx.Response) -> dict[str, Any]:
        assert r.is_success, (r.request.url, r.status_code, r.text)
        return dict(r.json()) if r.content else {}

    def event(self, kind: str, **body: Any) -> None:
        self._n += 1
        self.ok(
            self.http.post("/v1/events", json={"type": kind, "event_id": f"e{self._n}", **body})
        )

    def customer(self, cid: str, **extra: Any) -> None:
        person = {
            "customer_id": cid,
            "email": f"{cid}@example.jp",
            "last_name": "山田",
            "consents": [{"channel": "email", "granted": True, "source": "signup-form"}],
        }
        self.event("customer.upserted", customer=person, timezone="Asia/Tokyo", **extra)

    def order(self, cid: str, sku: str, placed_at: datetime, quantity: int = 1) -> str:
        order = order_payload(1, customer_id=cid, email=f"{cid}@example.jp")
        order["placed_at"] = placed_at.isoformat()
        order["items"] = [{"sku": sku, "quantity": quantity, "unit_price": "3980"}]
        order["total"] = str(3980 * quantity)
        self.ok(self.http.post("/v1/orders", json=order))
        return str(order["order_id"])

    def cart(self, cid: str, *skus: str) -> None:
        items = [{"sku": s, "quantity": 1, "unit_price": "3980"} for s in skus]
        now = shared_clock.now().isoformat()
        self.event(
            "cart.updated",
            customer={"customer_id": cid},
            cart_id=f"cart-{cid}",
            items=items,
            updated_at=now,
        )

    def view(self, cid: str, sku: str) -> None:
        now = shared_clock.now().isoformat()
        self.event("product.viewed", customer={"customer_id": cid}, sku=sku, viewed_at=now)

    def without_holdout(self, journey_id: str) -> None:
        """A new version with no control group: every test customer is treated (the
        holdout draw itself is tested in tests/messenger)."""
        body = self.ok(self.http.get(f"/v1/journeys/{journey_id}"))["definition"]
        body["holdout_percent"] = 0
        self.ok(self.http.post(f"/v1/journeys/{journey_id}/versions", json=body))

    def advance(self, by: str) -> None:
        """`kizuna local clock advance <by>`: the CLI's request to the running stack."""
        self.ok(self.http.post("/_local/clock", json={"advance": by}))
        self.stack.drain(timeout=120)

    def mails(self, cid: str) -> list[tuple[str, str]]:
        """(subject, text) of every mail the person received, decoded from the recorded
        MIME (read here from the bytes: an 8bit part decoded from a str comes out
        escaped)."""
        found = []
        for m in self.http.get("/_local/sandbox").json():
            if m["channel"] != "mail" or f"{cid}@example.jp" not in m["to"]:
                continue
            parsed = email.message_from_bytes(m["raw"].encode(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            part = parsed.get_body(preferencelist=("plain",))
            text = part.get_content() if part is not None else ""
            found.append((str(parsed["Subject"]), str(text)))
        return found

    def sent_at(self, cid: str, trigger: str) -> list[datetime]:
        r = self.http.get("/v1/deliveries", params={"customer_id": cid})
        assert r.status_code == 200, r.text
        return [
            datetime.fromisoformat(d["sent_at"])
            for d in r.json()
            if d["trigger"] == trigger and d["status"] == "sent"
        ]


def _with(mails: list[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    return [m for m in mails if text in m[0]]


def test_every_builtin_journey_delivers_on_the_local_stack(stack: LocalStack) -> None:
    """Given the local stack, one shop with the shipping notice and the eight built-in
    journeys enabled (no holdout), nine customers, one of whom was born the day after
    tomorrow and whose profile came before the birthday journey was enabled
    When the storefront sends what each does (a first order that ships; a cart changed
    twice; a cart abandoned and bought within the hour; a product viewed twice; a view
    of a sold-out SKU that comes back; an order of a 2-day product; an order 400 days
    ago; a sign-up who never bought), the segments are recomputed, and the clock is
    advanced 3 days with `kizuna local clock advance`
    Then each customer received what the journeys promise, as recorded: the shipping
    notice with the tracking number and the welcome story; the cart mail an hour after
    the last change with the cart as last left; nothing from the cart flow to the buyer;
    the viewed product; the restocked SKU; the replenishment of the ordered product; the
    win-back naming the first product; the sign-up welcome; the birthday coupon code."""
    shop = Shop(stack, _auth(stack, "hibi", "segments:write", "segments:read"))
    shop.ok(shop.http.put("/v1/messenger/policy", json={"cap_count": 20}))
    notice = {
        "message_id": "shipping-notice",
        "name": "発送のお知らせ",
        "category": "transactional",
        "email": {
            "subject": "ご注文を発送しました",
            "html": "<p>{{ shipment.carrier_name }} {{ shipment.tracking_number }}</p>",
            "text": "{{ shipment.carrier_name }} {{ shipment.tracking_number }}",
        },
    }
    shop.ok(shop.http.post("/v1/messages", json=notice))
    now = shared_clock.now()
    birthday = (now + timedelta(days=2)).date().replace(year=1990)
    for cid in PEOPLE:
        shop.customer(cid, **({"birthday": birthday.isoformat()} if cid == "bd" else {}))
    shop.event("inventory.changed", sku="SOLD-1", quantity=0)
    shop.ok(shop.http.put("/v1/journeys/products/TONER-7", json={"usage_days": 2}))
    stack.drain(timeout=120)
    for name in BUILTINS:
        shop.ok(shop.http.post(f"/v1/journeys/builtins/{name}/enable"))
        shop.without_holdout(name)

    # When: what each customer does now, then 40 minutes later
    shop.customer("su")  # signs up (the segmenter puts them in subscribers_never_bought)
    order_id = shop.order("w1", "SERUM-30", now)
    shop.event(
        "order.shipped",
        order_id=order_id,
        at=now.isoformat(),
        carrier="yamato",
        tracking_number="1234-5678-9012",
    )
    shop.cart("ca", "SERUM-30")
    shop.cart("cb", "SERUM-30")
    shop.view("bv", "SERUM-30")
    shop.view("bs", "SOLD-1")
    shop.order("rp", "TONER-7", now)
    shop.order("wb", "SERUM-30", now - timedelta(days=400))
    stack.drain(timeout=120)
    shop.ok(shop.http.post("/v1/segments/recompute"))
    stack.drain(timeout=120)
    shop.advance("40m")
    last_cart_change = shared_clock.now()
    shop.cart("ca", "CREAM-50")
    shop.order("cb", "SERUM-30", last_cart_change)
    shop.view("bv", "SERUM-30")
    shop.event("inventory.changed", sku="SOLD-1", quantity=5)
    stack.drain(timeout=120)
    shop.advance("3d")

    # Then each received what a customer of that journey sees
    w1 = shop.mails("w1")
    assert [m[1].strip() for m in _with(w1, "発送しました")] == ["ヤマト運輸 1234-5678-9012"]
    assert len(_with(w1, "が生まれた理由")) == 1
    (cart_mail,) = _with(shop.mails("ca"), "カートに商品が残っています")
    assert "CREAM-50" in cart_mail[1] and "SERUM-30" not in cart_mail[1]
    (at,) = shop.sent_at("ca", "journey:abandoned-cart:mail-1h")
    assert at - last_cart_change >= timedelta(hours=1)
    assert _with(shop.mails("cb"), "カート") == []
    assert len(_with(shop.mails("bv"), "SERUM-30 が気になっていませんか")) == 1
    assert len(_with(shop.mails("bs"), "SOLD-1 が再入荷しました")) == 1
    (refill,) = _with(shop.mails("rp"), "そろそろ使い切る頃")
    assert "TONER-7" in refill[1]
    (winback,) = _with(shop.mails("wb"), "お久しぶりです")
    assert "SERUM-30" in winback[1]
    assert len(_with(shop.mails("su"), "ご登録ありがとうございます")) == 1
    (gift,) = _with(shop.mails("bd"), "お誕生日おめでとうございます")
    assert "BDAY-" in gift[1]
    assert stack.failures() == []
    assert stack.dead_letters() == []
