"""The feedback → messenger contract end to end in-process: what feedback really publishes
(through the template's rules on the bus) is sent by the messenger's real handler."""

from __future__ import annotations

import re
from email import message_from_string, policy

from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from shared.clock import FixedClock as Clock
from tests.conftest import Cloud
from tests.feedback.conftest import FeedbackKeys


def test_restock_confirmation_requested_by_feedback_is_mailed_once_per_opt_in(
    cloud: Cloud, api: TestClient, keys: FeedbackKeys, clock: Clock
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

    # When they unsubscribe through the link and, later, sign up again
    unsubscribe = re.search(r"https://kizuna\.test(/f/restock/unsubscribe/\S+)", text)
    assert unsubscribe is not None
    assert api.post(unsubscribe.group(1)).status_code == 200
    clock.advance(minutes=5)
    again = api.post(
        "/v1/restock/signups",
        json={"sku": "SERUM-30", "channel": "email", "email": "anon@example.jp"},
        headers=keys.storefront,
    )
    assert again.json()["confirmation_required"] is True
    for event in cloud.take_events("MessengerEventsFunction"):
        if event["detail-type"] == "message.requested":
            messenger_events.handler(event, None)
    # Then the messenger mails the new opt-in its own confirmation link
    mails = cloud.sent_mail()
    assert len(mails) == 2
    second = message_from_string(mails[1].raw_data, policy=policy.default)
    second_body = second.get_body(preferencelist=("plain",))
    assert second_body is not None
    assert "/f/restock/confirm/" in second_body.get_content()
