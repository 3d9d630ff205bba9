"""The first order-to-message slice, in-process under moto:
storefront HTTP → segmenter → EventBridge (template rule, real pattern matching) → SQS →
messenger handler → SES."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, OrderFactory, ShopKeys, placed_today


def _deliver_to_messenger(cloud: Cloud) -> list[dict[str, object]]:
    """Hand every delivered event to the messenger; the outcomes of the order events."""
    outcomes = []
    for event in cloud.take_events("MessengerEventsFunction"):
        outcome = messenger_events.handler(event, None)
        if event["detail-type"] == "order.placed":
            outcomes.append(outcome)
    return outcomes


def _parse(raw: str) -> EmailMessage:
    parsed = message_from_string(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_first_order_sends_one_welcome_mail(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    # Given the template's rules route events to the messenger's queue
    cloud.route_rules_to_queues()

    # When an opted-in customer places a first order
    assert (
        segmenter_client.post(
            "/v1/orders",
            json=new_order(1, placed_at=placed_today(1)),
            headers=shop.header(shop.events),
        ).status_code
        == 201
    )
    outcomes = _deliver_to_messenger(cloud)

    # Then exactly one welcome mail leaves through SES, as real MIME with one-click unsubscribe
    assert [o["status"] for o in outcomes] == ["sent"]
    mails = cloud.sent_mail()
    assert len(mails) == 1
    mime = _parse(mails[0].raw_data)
    assert mime["To"] == "hanako@example.jp"
    assert "はじめてのご購入" in str(mime["Subject"])
    assert mime["List-Unsubscribe"].startswith("<https://kizuna.test/u/")
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mime.get_body(preferencelist=("plain",))
    html = mime.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Kizuna Demo Shop" in text.get_content()  # sender identity (特定電子メール法)
    assert "1-1-1 Chiyoda" in text.get_content()
    assert "/u/" in html.get_content()

    # And the delivery is recorded for the shop's partner tools
    deliveries = messenger_client.get("/v1/deliveries", headers=shop.header(shop.reader)).json()
    assert [(d["trigger"], d["status"], d["customer_id"]) for d in deliveries] == [
        ("welcome", "sent", "c-1")
    ]

    # When the same order is retried and the customer orders again
    segmenter_client.post(
        "/v1/orders", json=new_order(1, placed_at=placed_today(1)), headers=shop.header(shop.events)
    )
    segmenter_client.post(
        "/v1/orders", json=new_order(2, placed_at=placed_today(2)), headers=shop.header(shop.events)
    )
    again = _deliver_to_messenger(cloud)

    # Then the messenger sees both events and sends nothing more
    assert sorted(str(o["reason"]) for o in again) == ["already_delivered", "not_first_order"]
    assert len(cloud.sent_mail()) == 1


def test_customer_without_opt_in_gets_no_welcome(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    cloud.route_rules_to_queues()

    segmenter_client.post(
        "/v1/orders",
        json=new_order(1, opted_in=False, placed_at=placed_today(1)),
        headers=shop.header(shop.events),
    )
    outcomes = _deliver_to_messenger(cloud)

    assert [o["reason"] for o in outcomes] == ["no_consent"]
    assert cloud.sent_mail() == []
    deliveries = messenger_client.get(
        "/v1/deliveries", params={"customer_id": "c-1"}, headers=shop.header(shop.reader)
    ).json()
    assert [(d["status"], d["skip_reason"]) for d in deliveries] == [("skipped", "no_consent")]


def test_other_shop_does_not_see_deliveries(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    from tests.conftest import make_shop

    cloud.route_rules_to_queues()
    segmenter_client.post(
        "/v1/orders", json=new_order(1, placed_at=placed_today(1)), headers=shop.header(shop.events)
    )
    _deliver_to_messenger(cloud)
    other = make_shop(cloud, "other")

    seen = messenger_client.get("/v1/deliveries", headers=other.header(other.reader)).json()
    by_customer = messenger_client.get(
        "/v1/deliveries", params={"customer_id": "c-1"}, headers=other.header(other.reader)
    ).json()

    assert seen == []
    assert by_customer == []
