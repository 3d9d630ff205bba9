"""Win-back for a customer the messenger knows only from an order import: the segmenter
publishes each imported order as `order.imported`, the messenger keeps it as the
person's past (and nothing else), and the win-back's first mail names their first
product. Real import into moto DynamoDB, the template's rules on moto's bus to SQS, the
messenger's events function, the segmenter's nightly recompute over HTTP, and the mail
read back from the bytes SES was handed."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from fastapi.testclient import TestClient

from messenger.domain.journeys.plan import enrolment_id, held_out
from messenger.domain.journeys.records import stamp
from messenger.entrypoints import events as messenger_events
from segmenter.bootstrap import build
from segmenter.importer import import_orders
from shared.clock import FixedClock
from tests.conftest import Cloud, ShopKeys, segment_writer

HEADER = (
    "order_id,customer_id,email,phone,first_name,last_name,placed_at,currency,total,sku,"
    "category,quantity,unit_price,list_price,unit_cost,sales_channel,coupon,"
    "accepts_email_marketing,status\n"
)


def treated(clock: FixedClock) -> str:
    """A customer id the win-back's holdout draw keeps in for an entry now (the draw is
    a hash of the enrolment: fixed, so the test is too)."""
    for i in range(100):
        cid = f"old-{i}"
        if not held_out("winback", enrolment_id("winback", cid, f"t#{stamp(clock.now)}"), 10):
            return cid
    raise AssertionError("no treated customer id")


def history(cid: str, clock: FixedClock) -> list[str]:
    """Two orders: SERUM-30 twenty months ago (the first), CREAM-50 thirteen months ago."""
    first = (clock.now - timedelta(days=600)).isoformat()
    last = (clock.now - timedelta(days=400)).isoformat()
    person = f"{cid},{cid}@example.jp,,Hanako,山田"
    return [
        HEADER,
        f"H-1,{person},{first},JPY,3980,SERUM-30,skincare,1,3980,,,web,,yes,\n",
        f"H-2,{person},{last},JPY,4980,CREAM-50,skincare,1,4980,,,web,,yes,\n",
    ]


def mixed_offsets(cid: str, clock: FixedClock) -> list[str]:
    """Two orders three hours apart, 400 days ago: SERUM-30 first, written in the shop's
    offset (`+09:00`), then CREAM-50 written in UTC (`Z`), so the later one's text sorts
    first (`…T04:00:00Z` before `…T10:00:00+09:00`)."""
    base = (clock.now - timedelta(days=400)).replace(hour=1, minute=0, second=0, microsecond=0)
    first = base.astimezone(timezone(timedelta(hours=9))).isoformat()
    later = (base + timedelta(hours=3)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    person = f"{cid},{cid}@example.jp,,Hanako,山田"
    return [
        HEADER,
        f"M-1,{person},{first},JPY,3980,SERUM-30,skincare,1,3980,,,web,,yes,\n",
        f"M-2,{person},{later},JPY,4980,CREAM-50,skincare,1,4980,,,web,,yes,\n",
    ]


def deliver(cloud: Cloud) -> list[dict[str, Any]]:
    """What the bus brought the messenger's events function, handed to it as Lambda would."""
    return [messenger_events.handler(e, None) for e in cloud.take_events("MessengerEventsFunction")]


def mails(cloud: Cloud) -> list[EmailMessage]:
    found = []
    for m in cloud.sent_mail():
        raw = m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


def test_an_imported_dormant_customer_gets_the_winback_naming_their_first_product(
    cloud: Cloud,
    shop: ShopKeys,
    clock: FixedClock,
    segmenter_client: TestClient,
    messenger_client: TestClient,
) -> None:
    """Given the win-back enabled, and a customer known only from an imported history
    (first order SERUM-30 twenty months ago, last order thirteen months ago, mail opt-in)
    whose `order.imported` events reached the messenger, twice (the file imported again)
    When the nightly recompute finds them dormant and the bus brings the entry
    Then the win-back's first mail, as SES received it, names SERUM-30 as their first
    order (not CREAM-50); and the history itself sent nothing, ended nothing and
    welcomed no one."""
    cloud.route_rules_to_queues()
    admin = shop.header(shop.admin)
    enabled = messenger_client.post("/v1/journeys/builtins/winback/enable", headers=admin)
    assert enabled.status_code == 200, enabled.text
    cid = treated(clock)
    c = build(cloud.settings)
    summary = import_orders(history(cid, clock), "generic", "acme", c.profiles, c.publisher)
    assert summary.orders_imported == 2
    kept = deliver(cloud)
    again = import_orders(history(cid, clock), "generic", "acme", c.profiles, c.publisher)
    assert again.duplicates_skipped == 2
    kept_again = deliver(cloud)

    assert sorted(r["status"] for r in kept) == ["recorded", "recorded"]
    assert sorted(r["status"] for r in kept_again) == ["known", "known"]
    assert cloud.sent_mail() == []

    writer = segment_writer(segmenter_client, shop)
    assert segmenter_client.post("/v1/segments/recompute", headers=writer).status_code == 200
    entered = deliver(cloud)

    assert {"segment_id": "dormant", "entered": True} in [
        {"segment_id": r.get("segment_id"), "entered": r.get("entered")} for r in entered
    ]
    assert any(r.get("journeys", {}).get("entered") == ["winback"] for r in entered)
    [mail] = mails(cloud)
    assert str(mail["To"]) == f"{cid}@example.jp"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert "はじめてお選びいただいたのは SERUM-30 でした" in body
    assert "CREAM-50" not in body
    assert mail["List-Unsubscribe"] is not None


def test_the_winback_names_the_truly_first_product_of_orders_in_mixed_offsets(
    cloud: Cloud,
    shop: ShopKeys,
    clock: FixedClock,
    segmenter_client: TestClient,
    messenger_client: TestClient,
) -> None:
    """Given the win-back enabled, and a customer known only from an imported history of
    two orders three hours apart, the first (SERUM-30) written in `+09:00`, the second
    (CREAM-50) in `Z`
    When the nightly recompute finds them dormant and the bus brings the entry
    Then the win-back's first mail, as SES received it, names SERUM-30 as their first
    order: the times are compared, not their text."""
    cloud.route_rules_to_queues()
    admin = shop.header(shop.admin)
    enabled = messenger_client.post("/v1/journeys/builtins/winback/enable", headers=admin)
    assert enabled.status_code == 200, enabled.text
    cid = treated(clock)
    c = build(cloud.settings)
    summary = import_orders(mixed_offsets(cid, clock), "generic", "acme", c.profiles, c.publisher)
    assert summary.orders_imported == 2
    assert sorted(r["status"] for r in deliver(cloud)) == ["recorded", "recorded"]

    writer = segment_writer(segmenter_client, shop)
    assert segmenter_client.post("/v1/segments/recompute", headers=writer).status_code == 200
    entered = deliver(cloud)

    assert any(r.get("journeys", {}).get("entered") == ["winback"] for r in entered)
    [mail] = mails(cloud)
    assert str(mail["To"]) == f"{cid}@example.jp"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert "はじめてお選びいただいたのは SERUM-30 でした" in body
    assert "CREAM-50" not in body
