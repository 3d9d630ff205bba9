"""The shipping notice: `order.shipped` with a carrier and a tracking number, posted to
the segmenter, reaches the messenger through the bus rule and becomes one transactional
mail with the carrier's tracking link."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_string
from email.message import Message as MimeMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger.domain.shipping import tracking_url
from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, OrderFactory, ShopKeys
from tests.messenger.test_messaging import World

YAMATO = "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number00=1&number01=1234-5678-9012"


@pytest.fixture
def world(events_world: World) -> World:
    """The events reach this world's container."""
    return events_world


def _notice(world: World) -> None:
    world.message(
        "shipping-notice",
        name="発送のお知らせ",
        category="transactional",
        email={
            "subject": "{{ customer.last_name }}様、ご注文を発送しました",
            "html": "<p>{{ shipment.carrier_name }} {{ shipment.tracking_number }}</p>"
            '{% if shipment.tracking_url %}<a href="{{ shipment.tracking_url }}">追跡</a>'
            "{% endif %}",
            "text": "{{ shipment.carrier_name }} {{ shipment.tracking_number }}\n"
            "{{ shipment.tracking_url or '' }}",
        },
        line={"text": "発送しました {{ shipment.tracking_url }}"},
        sms=None,
        coupon=None,
        recommendations=0,
    )
    world.policy(channel_order=["email"])


def _ship(segmenter: TestClient, shop: ShopKeys, event_id: str = "ship-1", **shipment: Any) -> None:
    r = segmenter.post(
        "/v1/events",
        json={
            "type": "order.shipped",
            "event_id": event_id,
            "order_id": "ord-c-1-1",
            "at": "2026-11-23T10:00:00+09:00",
            **shipment,
        },
        headers=shop.header(shop.events),
    )
    assert r.status_code in (200, 201, 202), r.text


def _handle(cloud: Cloud) -> list[dict[str, Any]]:
    """What the messenger's rule delivered, handed to its handler as Lambda would."""
    return [messenger_events.handler(e, None) for e in cloud.take_events("MessengerEventsFunction")]


def _text(mail: Any) -> str:
    parsed: MimeMessage = message_from_string(mail.raw_data)
    for part in parsed.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def test_order_shipped_sends_one_notice_with_the_yamato_tracking_link(
    cloud: Cloud,
    world: World,
    segmenter_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    """Given a shop that saved its `shipping-notice` message and a customer's order
    When the storefront reports the order shipped by ヤマト運輸 with a slip number
    Then the bus rule brings `order.shipped` to the messenger, which sends one mail
    with the carrier's tracking link; a replay of the event sends nothing more."""
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    _handle(cloud)  # order.placed: the recipient (and the welcome mail)
    _notice(world)
    before = len(world.mails())

    _ship(segmenter_client, shop, carrier="yamato", tracking_number="1234-5678-9012")
    results = _handle(cloud)
    assert [r["status"] for r in results if "status" in r] == ["sent"]

    mails = world.mails()[before:]
    assert len(mails) == 1
    body = _text(mails[0])
    assert "ヤマト運輸 1234-5678-9012" in body
    assert YAMATO in body
    assert "List-Unsubscribe" not in mails[0].raw_data  # transactional

    # The same event delivered again (an EventBridge retry) sends nothing
    replay = world.container.shipping
    from shared.contracts import details

    again = replay.shipped(
        "acme",
        details.OrderShipped(
            order_id="ord-c-1-1",
            customer_id="c-1",
            shipped_at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
            carrier="yamato",
            tracking_number="1234-5678-9012",
        ),
    )
    assert (again.status, again.reason) == ("skipped", "already_delivered")
    assert len(world.mails()) == before + 1


def test_without_a_shipping_notice_message_nothing_is_sent(
    cloud: Cloud,
    world: World,
    segmenter_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    _handle(cloud)
    before = len(world.mails())
    _ship(segmenter_client, shop, carrier="sagawa", tracking_number="400012345678")
    results = [r for r in _handle(cloud) if "status" in r]
    assert [(r["status"], r["reason"]) for r in results] == [("skipped", "not_enabled")]
    assert len(world.mails()) == before


def test_another_carrier_uses_the_shops_url_template(
    cloud: Cloud,
    world: World,
    segmenter_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    _handle(cloud)
    _notice(world)
    world.policy(
        channel_order=["email"],
        tracking_url_template="https://track.example.jp/parcel?no={number}",
    )
    _ship(segmenter_client, shop, carrier="fukutsu", tracking_number="AB-12")
    assert [r["status"] for r in _handle(cloud) if "status" in r] == ["sent"]
    assert "https://track.example.jp/parcel?no=AB-12" in _text(world.mails()[-1])


def test_bad_shipment_fields_are_422s_naming_the_field(
    world: World, segmenter_client: TestClient, shop: ShopKeys
) -> None:
    r = segmenter_client.post(
        "/v1/events",
        json={
            "type": "order.delivered",
            "event_id": "d-1",
            "order_id": "o-1",
            "at": "2026-11-23T10:00:00+09:00",
            "tracking_number": "1",
        },
        headers=shop.header(shop.events),
    )
    assert r.status_code == 422
    assert "tracking_number" in r.text
    bad = world.http.put(
        "/v1/messenger/policy",
        json={"tracking_url_template": "http://track.example.jp/{number}"},
        headers=world.auth,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "tracking_url_template"


def test_tracking_links_per_carrier() -> None:
    """The three big carriers have their public pages built in; the number is quoted."""
    assert tracking_url("yamato", "1234-5678-9012", None) == YAMATO
    assert tracking_url("sagawa", "400012345678", None) == (
        "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo=400012345678"
    )
    assert "reqCodeNo1=EJ123456789JP" in str(tracking_url("japanpost", "EJ123456789JP", None))
    assert tracking_url("other", "X 1", "https://t.example/{number}") == "https://t.example/X%201"
    assert tracking_url("other", "X1", None) is None
    assert tracking_url("yamato", None, None) is None
