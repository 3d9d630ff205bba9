"""One-click unsubscribe (RFC 8058) from the welcome mail and marketing mail, without a
login: per channel and category, or from every channel at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_string, policy

import pytest
from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, OrderFactory, ShopKeys
from tests.messenger.line_server import fake_line_server
from tests.messenger.test_messaging import World, sms_sent


def _unsubscribe_path(cloud: Cloud) -> str:
    mime = message_from_string(cloud.sent_mail()[-1].raw_data, policy=policy.default)
    url = str(mime["List-Unsubscribe"]).strip("<>")
    return url.removeprefix("https://kizuna.test")


def test_one_click_unsubscribe_stops_marketing_mail(
    cloud: Cloud,
    segmenter_client: TestClient,
    messenger_client: TestClient,
    shop: ShopKeys,
    new_order: OrderFactory,
) -> None:
    # Given a customer received a welcome mail
    cloud.route_rules_to_queues()
    segmenter_client.post("/v1/orders", json=new_order(1), headers=shop.header(shop.events))
    for e in cloud.take_events("MessengerEventsFunction"):
        messenger_events.handler(e, None)
    path = _unsubscribe_path(cloud)

    # When a link scanner GETs the link, nothing changes; the page offers a button
    page = messenger_client.get(path)
    assert page.status_code == 200
    assert "form" in page.text

    # When the mail client posts the one-click unsubscribe (twice: idempotent)
    for _ in range(2):
        done = messenger_client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200

    # Then the next marketing mail for that customer is not sent
    from messenger.entrypoints.events import container

    assert container().deliveries.is_unsubscribed("acme", "c-1", "email", "marketing")


def test_tampered_unsubscribe_link_is_refused(cloud: Cloud, messenger_client: TestClient) -> None:
    from messenger.domain.links import UnsubscribeRequest, sign_unsubscribe

    token = sign_unsubscribe(
        cloud.settings.signing_secret.get_secret_value(),
        UnsubscribeRequest("acme", "c-1", "email", "marketing"),
    )
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    forged = sign_unsubscribe(
        "another-secret", UnsubscribeRequest("acme", "c-2", "email", "marketing")
    )

    for bad in (tampered, forged):
        response = messenger_client.post(f"/u/{bad}")
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "token"


@pytest.fixture
def world(cloud: Cloud, shop: ShopKeys) -> Iterator[World]:
    with fake_line_server() as line:
        yield World(cloud, line, shop)


def _receipt(world: World) -> None:
    world.message(
        "receipt",
        category="transactional",
        email={
            "subject": "ご注文確認",
            "html": "<p>ご注文ありがとうございます</p>",
            "text": "確認",
        },
        line=None,
        sms=None,
    )


def test_after_one_click_unsubscribe_marketing_mail_stops_and_receipts_still_go(
    world: World,
) -> None:
    # Given a customer got a marketing mail
    world.policy(channel_order=["email"])
    world.customer()
    world.message()
    _receipt(world)
    assert world.send(anchor="a-1")["status"] == "sent"
    # When their mail client posts the one-click unsubscribe from its header
    path = _unsubscribe_path(world.cloud)
    assert world.http.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    # Then the next marketing mail is skipped, and a transactional mail still goes
    marketing = world.send(anchor="a-2")
    receipt = world.send("receipt", "order-1")
    assert (marketing["status"], marketing["reason"]) == ("skipped", "unsubscribed")
    assert (receipt["status"], receipt["channel"]) == ("sent", "email")
    assert len(world.mails()) == 2


def test_unsubscribing_from_every_channel_stops_line_and_sms_too(world: World) -> None:
    # Given a customer reachable on LINE, mail and SMS got a marketing mail
    world.policy(channel_order=["email", "line", "sms"])
    world.customer()
    world.message()
    assert world.send(anchor="a-1")["channel"] == "email"
    # When they choose "unsubscribe from every channel" on the unsubscribe page
    page = world.http.get(_unsubscribe_path(world.cloud))
    forms = re.findall(r'<form method="post" action="([^"]+)"', page.text)
    assert len(forms) == 2
    assert world.http.post(forms[1]).status_code == 200
    # Then marketing goes on no channel: not LINE, not SMS
    for order in (["line"], ["sms"], ["email", "line", "sms"]):
        world.policy(channel_order=order)
        outcome = world.send(anchor=f"after-{order[0]}-{len(order)}")
        assert (outcome["status"], outcome["reason"]) == ("skipped", "unsubscribed")
    assert world.line.received == [] and sms_sent(world) == [] and len(world.mails()) == 1
