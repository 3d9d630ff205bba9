"""One-click unsubscribe (RFC 8058) from the welcome mail, without a login."""

from __future__ import annotations

from email import message_from_string, policy

from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud, OrderFactory, ShopKeys


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
