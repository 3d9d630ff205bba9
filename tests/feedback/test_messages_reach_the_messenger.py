"""The feedback → messenger contract end to end in-process: what feedback really publishes
(through the template's rules on the bus) is sent by the messenger's real handler."""

from __future__ import annotations

from email import message_from_string, policy

from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from tests.conftest import Cloud
from tests.feedback.conftest import FeedbackKeys


def test_restock_confirmation_requested_by_feedback_is_mailed_once(
    cloud: Cloud, api: TestClient, keys: FeedbackKeys
) -> None:
    # Given the template's rules route events to the messenger's queue
    cloud.route_rules_to_queues()

    # When an anonymous visitor signs up for a restock (and the storefront retries)
    for _ in range(2):
        api.post(
            "/v1/restock/signups",
            json={"sku": "SERUM-30", "channel": "email", "email": "anon@example.jp"},
            headers=keys.storefront,
        )
    outcomes = [
        messenger_events.handler(event, None)
        for event in cloud.take_events("MessengerEventsFunction")
        if event["detail-type"] == "message.requested"
    ]

    # Then the messenger mails the double opt-in link once, naming the SKU
    assert [o["status"] for o in outcomes][:1] == ["sent"]
    mails = cloud.sent_mail()
    assert len(mails) == 1
    mime = message_from_string(mails[0].raw_data, policy=policy.default)
    assert mime["To"] == "anon@example.jp"
    body = mime.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "SERUM-30" in text and "/f/restock/confirm/" in text
