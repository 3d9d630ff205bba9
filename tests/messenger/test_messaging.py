"""Stored messages end to end under moto: preview, send, channel choice and fallback,
frequency cap (also under concurrent dispatch), quiet hours, retries, dead letters,
and the provider webhooks. LINE is a fake server over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from messenger import bootstrap, services
from messenger.adapters.recipients import DynamoRecipientRepository
from messenger.bootstrap import MessengerContainer
from messenger.channels.base import Channel, OutboundMessage, SendResult
from messenger.channels.line import LineChannel
from messenger.domain.model import Recipient
from messenger.domain.records import Recommendation
from messenger.entrypoints import api as messenger_api
from messenger.entrypoints import events as messenger_events
from messenger.services.ports import RecommendationSource, SubscriptionConfirmer
from messenger.services.sending import SendRequest
from shared import clock as shared_clock
from shared.adapters.dynamodb import RequestCounter
from shared.auth.service import authenticate_token, create_key
from shared.clock import FixedClock as Clock
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import BAD_CONTENT, INVALID_TO, FakeLine
from tests.messenger.test_ses_webhook_signature import FakeSns, fake_sns_server

LINE_USER = "U" + "0123456789abcdef" * 2
DAY = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 JST


class FakeRecommendations(RecommendationSource):
    def recommend(self, shop_id: str, customer_id: str, limit: int) -> list[Recommendation]:
        return [
            Recommendation("SERUM-30", "美容液 30ml", "https://shop.example/serum", None, "¥3,980")
        ]


class CrashingChannel(Channel):
    """Accepts the message, then the process dies before the result is recorded."""

    name = "email"

    def __init__(self) -> None:
        self.accepted: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.accepted.append(message)
        raise SystemExit("died after the provider accepted")


def crash_a_mail_send(world: World) -> CrashingChannel:
    """A marketing mail the provider accepted just before the Lambda died."""
    world.policy(channel_order=["email"])
    world.customer()
    world.message()
    crashing = CrashingChannel()
    world.container.adapters.channels["email"] = crashing
    with pytest.raises(SystemExit):
        world.container.pipeline.send(SendRequest("acme", "sale", "c-1", "api:sale", "a-1"))
    return crashing


class World:
    def __init__(self, cloud: Cloud, line: FakeLine, shop: ShopKeys) -> None:
        self.cloud = cloud
        self.line = line
        self.clock = Clock(DAY)
        shared_clock.use(self.clock)
        built = bootstrap.build()
        line_channel = LineChannel(
            "token", base_url=line.base_url, max_attempts=1, sleep=lambda _: None
        )
        self.container: MessengerContainer = built.replaced(
            clock=self.clock,
            recommendations=FakeRecommendations(),
            channels={**built.adapters.channels, "line": line_channel},
        )
        messenger_api.app.state.container = self.container
        self.http = TestClient(messenger_api.app)
        admin = authenticate_token(cloud.keys, shop.admin)
        token = create_key(cloud.keys, admin, "crm", ["messages:send", "messages:read"]).token
        self.auth = {"Authorization": f"Bearer {token}"}

    def use(self, **adapters: Any) -> None:
        """Put fakes in place of some adapters: the messenger is wired again with them."""
        old, self.container = self.container, self.container.replaced(**adapters)
        messenger_api.app.state.container = self.container
        if messenger_events.container.current is old:
            messenger_events.container.use(self.container)

    def customer(self, customer_id: str = "c-1", **fields: Any) -> None:
        snapshot: dict[str, Any] = {
            "customer_id": customer_id,
            "email": "hanako@example.jp",
            "phone": "090-1234-5678",
            "line_user_id": LINE_USER,
            "last_name": "山田",
            "first_name": "花子",
            "consents": [
                {"channel": c, "granted": True, "source": "signup-form"}
                for c in ("email", "line", "sms")
            ],
        }
        snapshot.update(fields)
        services.record_customer(
            self.container.adapters.recipients,
            "acme",
            details.CustomerSnapshot.model_validate(snapshot),
            self.clock.now,
        )

    def message(self, message_id: str = "sale", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": message_id,
            "name": "Winter sale",
            "email": {
                "subject": "{{ customer.last_name }}様、冬のセール",
                "html": "<p>{{ customer.last_name }}様</p>{% include '_recommendations.html' %}"
                "{% if coupon %}<p>クーポン {{ coupon.code }}</p>{% endif %}",
                "text": "{{ customer.last_name }}様 クーポン {{ coupon.code }}",
            },
            "line": {"text": "{{ customer.last_name }}様、冬のセール開始！"},
            "sms": {"text": "{{ customer.last_name }}様 セール開始 クーポン{{ coupon.code }}"},
            "coupon": {"code": "WINTER10"},
            "recommendations": 1,
        }
        body.update(fields)
        created = self.http.post("/v1/messages", json=body, headers=self.auth)
        assert created.status_code == 201, created.text
        return dict(created.json())

    def send(self, message_id: str = "sale", anchor: str = "a-1", **body: Any) -> dict[str, Any]:
        response = self.http.post(
            f"/v1/messages/{message_id}/sends",
            json={"customer_id": "c-1", "anchor": anchor, **body},
            headers=self.auth,
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    def policy(self, **fields: Any) -> None:
        r = self.http.put("/v1/messenger/policy", json=fields, headers=self.auth)
        assert r.status_code == 200, r.text

    def mails(self) -> list[Any]:
        return self.cloud.sent_mail()

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        r = self.http.get("/v1/deliveries", params=params, headers=self.auth)
        assert r.status_code == 200, r.text
        return list(r.json())


@pytest.fixture
def sns(world: World) -> Iterator[FakeSns]:
    """Amazon SNS signing the SES notifications, its certificate trusted by the webhook."""
    with fake_sns_server() as fake:
        world.use(sns_signatures=fake.verifier())
        yield fake


def _unreachable(world: World, customer_id: str = "c-1") -> frozenset[str]:
    person = world.container.adapters.recipients.get("acme", customer_id)
    assert person is not None
    return person.unreachable


def sms_sent(world: World) -> list[tuple[str, str]]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"].sms_messages.values())


def test_preview_renders_every_channel_for_one_customer(world: World) -> None:
    # Given a customer and a message with content for mail, LINE and SMS
    world.customer()
    world.message()
    # When the marketer previews it for that customer
    response = world.http.post(
        "/v1/messages/sale/preview", json={"customer_id": "c-1"}, headers=world.auth
    )
    # Then each channel's rendering comes back, personalised, with the slots filled
    assert response.status_code == 200, response.text
    by_channel = {p["channel"]: p for p in response.json()}
    assert by_channel["email"]["subject"] == "山田様、冬のセール"
    assert "美容液 30ml" in by_channel["email"]["html"]  # recommendation block
    assert "WINTER10" in by_channel["email"]["html"]  # coupon slot
    assert "Kizuna Demo Shop" in by_channel["email"]["text"]  # 特定電子メール法 footer
    assert by_channel["line"]["line_messages"] == [
        {"type": "text", "text": "山田様、冬のセール開始！"}
    ]
    assert by_channel["sms"]["sms_length"]["encoding"] == "UCS-2"
    assert "/u/" in by_channel["sms"]["text"]
    # And nothing was sent or recorded
    assert world.mails() == [] and world.line.received == [] and world.deliveries() == []


def test_bad_input_gets_a_422_naming_the_field_and_nothing_is_sent(world: World) -> None:
    world.customer()
    # A template that does not compile is refused when saved
    broken = world.http.post(
        "/v1/messages",
        json={"message_id": "x", "name": "x", "sms": {"text": "{% if %}"}},
        headers=world.auth,
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["fields"][0]["field"] == "sms.text"
    # A template that compiles but fails to render (unknown variable) fails the send
    world.message("typo", line={"text": "{{ customer.nickname }}さん"})
    failed = world.http.post(
        "/v1/messages/typo/sends",
        json={"customer_id": "c-1", "anchor": "a"},
        headers=world.auth,
    )
    assert failed.status_code == 422
    assert failed.json()["error"]["fields"][0]["field"] == "line.text"
    assert world.line.received == [] and world.deliveries() == []
    # An unknown channel, an invalid email and an invalid phone
    world.message()
    for path, body, field in [
        ("/v1/messages/sale/preview", {"customer_id": "c-1", "channel": "fax"}, "channel"),
        ("/v1/messages/sale/test-sends", {"channel": "fax", "to": "x"}, "channel"),
        ("/v1/messages/sale/test-sends", {"channel": "email", "to": "hanako@"}, "to"),
        ("/v1/messages/sale/test-sends", {"channel": "sms", "to": "0120-12"}, "to"),
    ]:
        r = world.http.post(path, json=body, headers=world.auth)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["error"]["fields"][0]["field"] == field
    assert world.mails() == []


def test_line_content_line_would_refuse_is_a_422_when_saved(world: World) -> None:
    # Given LINE's limits: text up to 5000, altText up to 1500, a bubble or carousel
    flex = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": []}}
    cases = [
        ({"text": "あ" * 5001}, "line.text"),
        ({"flex": flex, "alt_text": "あ" * 1501}, "line.alt_text"),
        ({"flex": {**flex, "type": "box"}, "alt_text": "お知らせ"}, "line.flex.type"),
    ]
    for line, field in cases:
        # When a message LINE would refuse is saved
        r = world.http.post(
            "/v1/messages", json={"message_id": "x", "name": "x", "line": line}, headers=world.auth
        )
        # Then it is a 422 naming the field, and nothing is stored
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["fields"][0]["field"] == field
    assert world.http.get("/v1/messages/x", headers=world.auth).status_code == 404


def test_line_and_sms_texts_that_render_too_long_are_a_422_naming_the_field(
    world: World,
) -> None:
    # Given LINE text and a marketing SMS whose variables make them too long once rendered
    world.customer()
    world.message("long-line", email=None, sms=None, line={"text": "{{ body }}"})
    world.message("long-sms", email=None, line=None, sms={"text": "{{ body }}"})
    long_line = {"body": "あ" * 5001}
    long_sms = {"body": "あ" * 640}  # 640 fit in ten parts; the legal footer does not
    for message_id, variables, field in [
        ("long-line", long_line, "line.text"),
        ("long-sms", long_sms, "sms.text"),
    ]:
        # When it is previewed or sent
        preview = world.http.post(
            f"/v1/messages/{message_id}/preview",
            json={"customer_id": "c-1", "variables": variables},
            headers=world.auth,
        )
        send = world.http.post(
            f"/v1/messages/{message_id}/sends",
            json={"customer_id": "c-1", "anchor": "a", "variables": variables},
            headers=world.auth,
        )
        # Then both are a 422 naming the field
        for r in (preview, send):
            assert r.status_code == 422, (message_id, r.text)
            assert r.json()["error"]["fields"][0]["field"] == field
    # And nothing was sent or recorded, and the person is as reachable as before
    assert world.line.received == [] and sms_sent(world) == [] and world.deliveries() == []
    assert _unreachable(world) == frozenset()


def test_quiet_hours_with_a_utc_offset_are_a_422_and_sends_keep_working(world: World) -> None:
    # Given a customer on LINE
    world.customer()
    world.message()
    # When the shop sets quiet hours with an offset
    r = world.http.put(
        "/v1/messenger/policy", json={"quiet_start": "21:00:00+09:00"}, headers=world.auth
    )
    # Then it is a 422 naming the field, and the policy is unchanged
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "quiet_start"
    policy = world.http.get("/v1/messenger/policy", headers=world.auth).json()
    assert policy["quiet_start"] == "21:00:00"
    # And a LINE send still works
    assert (world.send()["status"], world.line.received[0].path) == ("sent", "/v2/bot/message/push")


def test_a_policy_stored_with_an_offset_before_the_fix_does_not_break_sending(
    world: World,
) -> None:
    # Given a policy saved with an offset in its quiet hours, before they were refused
    from datetime import time

    from messenger.adapters.messages import DynamoMessageRepository
    from messenger.domain.policy import JST, QuietHours, ShopPolicy

    raw = DynamoMessageRepository(world.cloud.dynamodb, world.cloud.settings.messenger_table)
    late = QuietHours(start=time(21, tzinfo=JST), end=time(8, tzinfo=JST))
    raw.save_policy("acme", ShopPolicy(quiet_hours=late))
    world.customer()
    world.message()
    # When a LINE message is sent at noon, then it goes (read as wall-clock 21:00-08:00)
    assert world.send()["status"] == "sent"
    world.clock.now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 22:00 JST
    assert world.send(anchor="a-2")["status"] == "deferred"


def test_sending_to_an_unknown_customer_is_a_404_and_blocks_nothing(world: World) -> None:
    # Given a message, and no customer c-1 yet
    world.message()
    # When a message is sent to a customer the messenger has never heard of
    r = world.http.post(
        "/v1/messages/sale/sends", json={"customer_id": "c-1", "anchor": "a-1"}, headers=world.auth
    )
    # Then it is a 404 naming the customer, and nothing is recorded
    assert r.status_code == 404
    assert r.json()["error"]["fields"][0]["field"] == "customer_id"
    assert world.deliveries() == []
    # And once the customer is known, the same send goes out
    world.customer()
    assert world.send()["status"] == "sent"


def test_an_opt_in_without_its_source_is_not_consent(world: World) -> None:
    # Given a customer whose opt-ins were recorded without saying where they came from
    world.customer(consents=[{"channel": c, "granted": True} for c in ("email", "line", "sms")])
    world.message()
    world.message(
        "receipt",
        category="transactional",
        email={"subject": "s", "html": "h", "text": "t"},
        line=None,
        sms=None,
    )
    # When a marketing message and a receipt are sent
    marketing = world.send()
    receipt = world.send("receipt", "r-1")
    # Then the marketing message is not sent (no consent); the receipt is
    assert (marketing["status"], marketing["reason"]) == ("skipped", "no_consent")
    assert (receipt["status"], receipt["channel"]) == ("sent", "email")
    assert world.line.received == [] and len(world.mails()) == 1


def test_policy_order_picks_line_and_duplicates_send_nothing_more(world: World) -> None:
    world.customer()
    world.message()
    first = world.send()
    again = world.send()
    assert (first["status"], first["channel"]) == ("sent", "line")
    assert again["reason"] == "already_delivered"
    assert len(world.line.received) == 1 and world.mails() == []


def test_unknown_line_user_falls_back_to_mail_and_marks_line_unreachable(world: World) -> None:
    # Given LINE does not know the person's user id (a 400 about `to`)
    world.customer()
    world.message()
    world.line.answer_next(INVALID_TO)
    # When the message is sent
    outcome = world.send()
    # Then mail carries it, and LINE is not tried for this person again
    assert (outcome["status"], outcome["channel"]) == ("sent", "email")
    assert len(world.mails()) == 1
    assert "line" in _unreachable(world)


def test_line_refusing_the_content_falls_back_without_marking_line_unreachable(
    world: World,
) -> None:
    # Given LINE refuses the message body (a 400 about `messages[0].text`)
    world.customer()
    world.message()
    world.line.answer_next(BAD_CONTENT)
    # When the message is sent
    outcome = world.send()
    # Then mail carries it, and the person is still reachable on LINE
    assert (outcome["status"], outcome["channel"]) == ("sent", "email")
    assert _unreachable(world) == frozenset()
    # And the next message goes by LINE again
    assert world.send(anchor="a-2")["channel"] == "line"


def test_fallback_is_claimed_like_a_first_send_suppression_and_unsubscribes(
    world: World,
) -> None:
    # Given LINE → mail → SMS, the person's mail address bounced (suppressed), and LINE
    # does not know their user id
    world.customer()
    world.message()
    world.container.adapters.deliveries.suppress(
        "email", "hanako@example.jp", "bounce", world.clock.now
    )
    world.line.answer_next(INVALID_TO)
    # When the message is sent
    outcome = world.send()
    # Then the fallback skips the suppressed address and SMS carries it
    assert (outcome["status"], outcome["channel"]) == ("sent", "sms")
    assert world.mails() == []
    assert {"line", "email"} <= _unreachable(world)

    # Given another person unsubscribes from SMS marketing while LINE is being tried
    world.customer("c-2", email=None)
    inner = world.container.adapters.channels["line"]

    class UnsubscribesMeanwhile(Channel):
        name = "line"

        def send(self, message: OutboundMessage) -> SendResult:
            world.container.adapters.deliveries.unsubscribe(
                "acme", "c-2", "sms", "marketing", world.clock.now
            )
            return inner.send(message)

    world.container.adapters.channels["line"] = UnsubscribesMeanwhile()
    world.line.answer_next(INVALID_TO)
    # When the message is sent to them
    late = world.send(customer_id="c-2")
    # Then the SMS fallback honours the unsubscribe: nothing more is sent
    assert (late["status"], late["reason"]) == ("failed", "http_400:to")
    assert len(sms_sent(world)) == 1


def test_a_delivered_message_costs_at_most_three_dynamodb_requests(world: World) -> None:
    # Given a warm container (message and policy cached) and one customer per channel
    world.customer("c-1")
    world.customer("c-2", line_user_id=None)
    world.customer("c-3", line_user_id=None, email=None)
    world.message()
    assert world.send(anchor="warm")["status"] == "sent"
    table = world.container.adapters.settings.messenger_table
    counter = RequestCounter(table=table)
    counter.attach(world.container.adapters.deliveries._client)  # type: ignore[attr-defined]
    for customer_id, channel in (("c-1", "line"), ("c-2", "email"), ("c-3", "sms")):
        counter.reset()
        # When a message is delivered through the API
        outcome = world.send(customer_id=customer_id)
        # Then it took the recipient Query, the claim and the `sent` write (both transactions)
        assert (outcome["status"], outcome["channel"]) == ("sent", channel)
        assert counter.calls == [
            f"{op}:{table}" for op in ("Query", "TransactWriteItems", "TransactWriteItems")
        ]


def test_line_retry_key_is_a_uuid_and_the_same_when_a_5xx_is_retried(world: World) -> None:
    # Given LINE fails the first push with a 500
    world.policy(channel_order=["line"])
    world.customer()
    world.message()
    world.line.answer_next(500)
    assert world.send()["status"] == "retry_scheduled"
    # When the retry is due and LINE accepts it
    world.clock.now += timedelta(minutes=2)
    assert [o.status for o in world.container.due.dispatch()] == ["sent"]
    # Then both requests carried one retry key, a UUID in its canonical form
    keys = [r.headers["X-Line-Retry-Key"] for r in world.line.received]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert str(uuid.UUID(keys[0])) == keys[0]


def test_quiet_hours_defer_line_to_the_morning_then_the_dispatcher_sends(world: World) -> None:
    # Given it is 22:00 in Tokyo and the shop prefers LINE
    world.clock.now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    world.customer()
    world.message()
    # When the message is sent
    outcome = world.send()
    # Then it waits for 08:00 JST
    assert outcome["status"] == "deferred"
    assert outcome["due_at"].startswith("2026-11-23T23:00:00")
    assert messenger_events.journey_dispatcher is not None
    assert world.container.due.dispatch() == []  # not due yet
    # When the dispatcher runs after 08:00
    world.clock.now = datetime(2026, 11, 23, 23, 1, tzinfo=UTC)
    outcomes = world.container.due.dispatch()
    assert [o.status for o in outcomes] == ["sent"]
    assert len(world.line.received) == 1


def test_a_due_send_that_no_longer_renders_fails_alone_and_the_others_go(world: World) -> None:
    # Given at 22:00 in Tokyo two LINE messages wait for the morning: an important one
    # (first in line) and a sale, each for its own customer
    world.clock.now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    world.customer("c-1")
    world.customer("c-2", line_user_id="U" + "1" * 32)
    world.message()
    world.message("notice", priority=10)
    assert world.send("notice")["status"] == "deferred"
    assert world.send(customer_id="c-2")["status"] == "deferred"
    # And the important message was then edited into one that no longer renders
    world.message("notice", priority=10, line={"text": "{{ customer.nickname }}さん"})
    # When the dispatcher runs after 08:00
    world.clock.now = datetime(2026, 11, 23, 23, 1, tzinfo=UTC)
    outcomes = world.container.due.dispatch()
    # Then the broken one fails on its own, with the field, visible in the delivery log
    assert [(o.status, o.reason) for o in outcomes] == [
        ("failed", "render_error:line.text"),
        ("sent", None),
    ]
    failed = world.deliveries(status="failed")
    assert [(d["customer_id"], d["skip_reason"]) for d in failed] == [
        ("c-1", "render_error:line.text")
    ]
    # And the sale went out, and nothing is left waiting
    assert [r.body["to"] for r in world.line.received] == ["U" + "1" * 32]
    world.clock.now += timedelta(days=1)
    assert world.container.due.dispatch() == []


def test_a_due_send_whose_read_fails_waits_with_backoff_and_the_others_go(world: World) -> None:
    # Given two LINE messages waiting for the morning, one for c-1 (first in line)
    world.clock.now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    world.customer("c-1")
    world.customer("c-2", line_user_id="U" + "1" * 32)
    world.message()
    world.message("notice", priority=10)
    assert world.send("notice")["status"] == "deferred"
    assert world.send(customer_id="c-2")["status"] == "deferred"
    # And reading c-1's profile fails at the moment (DynamoDB throttling)
    recipients = world.container.adapters.recipients
    assert isinstance(recipients, DynamoRecipientRepository)

    class Throttled(DynamoRecipientRepository):
        def get(self, shop_id: str, customer_id: str) -> Recipient | None:
            if customer_id == "c-1":
                error = {"Error": {"Code": "ProvisionedThroughputExceededException"}}
                raise ClientError(error, "Query")  # type: ignore[arg-type]
            return super().get(shop_id, customer_id)

    world.use(recipients=Throttled(recipients._client, recipients._table))
    # When the dispatcher runs after 08:00
    world.clock.now = datetime(2026, 11, 23, 23, 1, tzinfo=UTC)
    outcomes = world.container.due.dispatch()
    # Then c-1's send waits for a retry with backoff, and c-2's goes out
    assert [(o.status, o.reason) for o in outcomes] == [
        ("retry_scheduled", "error:ClientError"),
        ("sent", None),
    ]
    # When the read works again and the retry is due, c-1's goes out too
    world.use(recipients=recipients)
    world.clock.now += timedelta(minutes=2)
    assert [o.status for o in world.container.due.dispatch()] == ["sent"]
    assert len(world.line.received) == 2


def test_transactional_skips_cap_but_marketing_is_capped_and_priority_wins(world: World) -> None:
    # Given a cap of 1 marketing message per 7 days and mail only
    world.policy(channel_order=["email"], cap_count=1, cap_window_days=7)
    world.customer()
    world.message("sale", valid_for_hours=240)
    world.message("vip", priority=10, valid_for_hours=240)
    world.message(
        "receipt", category="transactional", email={"subject": "s", "html": "h", "text": "t"}
    )
    # When three marketing messages and a receipt go out the same day
    assert world.send("sale", "a")["status"] == "sent"
    low = world.send("sale", "b")
    high = world.send("vip", "c")
    receipt = world.send("receipt", "d")
    # Then the second and third are deferred to the next free slot; the receipt is exempt
    assert (low["status"], low["reason"]) == ("deferred", "frequency_cap")
    assert high["status"] == "deferred" and high["due_at"] == low["due_at"]
    assert receipt["status"] == "sent"
    # When the slot frees up, the higher priority message takes it; the other one's next
    # slot (another 7 days) is past its 10-day validity, so it is dropped with the reason
    world.clock.now = DAY + timedelta(days=7, minutes=1)
    outcomes = world.container.due.dispatch()
    assert [(o.status, o.reason) for o in outcomes] == [
        ("sent", None),
        ("dropped", "expired:frequency_cap"),
    ]
    assert len(world.mails()) == 3
    dropped = world.deliveries(status="dropped")
    assert [d["message_id"] for d in dropped] == ["sale"]


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's in-process backend is not thread-safe; DynamoDB applies each request
    atomically. Serialise moto's request handling so the test exercises our races
    (read → conditional write), not moto's."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


def test_cap_holds_under_concurrent_dispatch_for_one_person(
    world: World, atomic_moto: None
) -> None:
    # Given a cap of 3 per week and 8 different messages for the same person
    world.policy(channel_order=["email"], cap_count=3, cap_window_days=7)
    world.customer()
    world.message("sale", valid_for_hours=240)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def dispatch(i: int) -> None:
        barrier.wait()
        from messenger.services.sending import SendRequest

        outcome = world.container.pipeline.send(
            SendRequest("acme", "sale", "c-1", "campaign:winter", f"wave-{i}")
        )
        results.append(outcome.status)

    # When they are dispatched in parallel
    threads = [threading.Thread(target=dispatch, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly three go out and the rest wait for a free slot
    assert sorted(results) == ["deferred"] * 5 + ["sent"] * 3
    assert len(world.mails()) == 3


def test_retries_with_backoff_then_a_dead_letter_visible_in_the_api(world: World) -> None:
    world.policy(channel_order=["line"])
    world.customer()
    world.message()
    world.line.answer_next(*([500] * 10))
    outcome = world.send()
    assert outcome["status"] == "retry_scheduled"
    keys = set()
    for _ in range(10):
        world.clock.now += timedelta(hours=7)
        world.container.due.dispatch()
    keys = {r.headers["X-Line-Retry-Key"] for r in world.line.received}
    assert len(world.line.received) == 5 and len(keys) == 1  # same retry key throughout
    dead = world.deliveries(status="dead_letter")
    assert [(d["status"], d["skip_reason"], d["attempts"]) for d in dead] == [
        ("dead_letter", "http_500", 5)
    ]
    bad = world.http.get("/v1/deliveries", params={"status": "nope"}, headers=world.auth)
    assert bad.status_code == 422


def test_crash_between_provider_and_record_never_sends_twice(world: World) -> None:
    crashing = crash_a_mail_send(world)
    # When the same send is retried (a Lambda retry)
    again = world.send()
    assert again["reason"] == "already_delivered"
    assert len(crashing.accepted) == 1


def _signed(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_line_unfollow_webhook_marks_line_unreachable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.use(
        settings=world.container.adapters.settings.model_copy(
            update={"line_channel_secret": __import__("pydantic").SecretStr("line-secret")}
        )
    )
    world.customer()
    world.message()
    body = json.dumps(
        {
            "destination": "U" + "f" * 32,
            "events": [
                {
                    "type": "unfollow",
                    "mode": "active",
                    "timestamp": 1700000000000,
                    "webhookEventId": "01H",
                    "deliveryContext": {"isRedelivery": False},
                    "source": {"type": "user", "userId": LINE_USER},
                }
            ],
        }
    ).encode()
    forged = world.http.post(
        "/v1/webhooks/line", content=body, headers={"X-Line-Signature": _signed("x", body)}
    )
    assert forged.status_code == 401
    ok = world.http.post(
        "/v1/webhooks/line",
        content=body,
        headers={"X-Line-Signature": _signed("line-secret", body)},
    )
    assert ok.status_code == 200 and ok.json()["changed"] == 1
    # Then the next message goes by mail
    assert world.send()["channel"] == "email"


def test_ses_permanent_bounce_suppresses_the_address(world: World, sns: FakeSns) -> None:
    from pydantic import SecretStr

    topic = "arn:aws:sns:ap-northeast-1:123456789012:ses-events"
    world.use(
        settings=world.container.adapters.settings.model_copy(
            update={
                "ses_notification_token": SecretStr("sns-token"),
                "ses_notification_topic_arns": topic,
            }
        )
    )
    world.policy(channel_order=["email", "sms"])
    world.customer()
    world.message()
    ses_event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": "Hanako@example.jp"}],
        },
        "mail": {"messageId": "m"},
    }
    note = json.dumps(sns.notification(ses_event, topic=topic, at=world.clock.now))
    wrong = world.http.post("/v1/webhooks/ses?token=nope", content=note)
    assert wrong.status_code == 401
    ok = world.http.post("/v1/webhooks/ses?token=sns-token", content=note)
    assert ok.status_code == 200 and ok.json()["suppressed"] == 1
    # Then mail is skipped for that address and SMS carries the message instead
    outcome = world.send()
    assert (outcome["status"], outcome["channel"]) == ("sent", "sms")
    assert world.mails() == []


class RecordingConfirmer(SubscriptionConfirmer):
    def __init__(self) -> None:
        self.confirmed: list[tuple[str, str]] = []

    def confirm(self, topic_arn: str, token: str) -> None:
        self.confirmed.append((topic_arn, token))


def test_ses_complaints_suppress_transient_bounces_do_not_and_subscriptions_confirm(
    world: World, sns: FakeSns
) -> None:
    from pydantic import SecretStr

    # Given the SES notification topic, mail then SMS, and two customers
    topic = "arn:aws:sns:ap-northeast-1:123456789012:ses-events"
    world.use(
        settings=world.container.adapters.settings.model_copy(
            update={
                "ses_notification_token": SecretStr("sns-token"),
                "ses_notification_topic_arns": topic,
            }
        )
    )
    confirmer = RecordingConfirmer()
    world.use(confirmer=confirmer)
    world.policy(channel_order=["email", "sms"])
    world.customer("c-1", email="hanako@example.jp")
    world.customer("c-2", email="taro@example.jp")
    world.message()

    def notify(body: dict[str, Any]) -> dict[str, Any]:
        r = world.http.post("/v1/webhooks/ses?token=sns-token", content=json.dumps(body))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def ses(event: dict[str, Any]) -> dict[str, Any]:
        return sns.notification(event, topic=topic, at=world.clock.now)

    # When SNS asks to confirm the subscription (a signed SubscriptionConfirmation)
    assert notify(sns.subscription_confirmation("tok-1", topic=topic, at=world.clock.now))
    # Then it is confirmed through the SNS API with its topic and token
    assert confirmer.confirmed == [(topic, "tok-1")]
    # When c-1 complains and c-2's mailbox is full (a transient bounce)
    complaint = {
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "hanako@example.jp"}]},
    }
    transient = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Transient",
            "bouncedRecipients": [{"emailAddress": "taro@example.jp"}],
        },
    }
    assert notify(ses(complaint))["suppressed"] == 1
    assert notify(ses(transient))["suppressed"] == 0
    # Then the complainer gets no more mail (SMS instead); c-2 still gets mail
    assert world.send()["channel"] == "sms"
    assert world.send(customer_id="c-2")["channel"] == "email"
    assert [str(m.destinations[0]) for m in world.mails()] == ["taro@example.jp"]


def test_customer_upserted_events_keep_the_recipient_current(world: World) -> None:
    detail = details.CustomerUpserted(
        customer=details.CustomerSnapshot(
            customer_id="c-9", email="x@example.jp", timezone="Asia/Tokyo", active_hour=21
        )
    )
    envelope = EventEnvelope(
        id="e-9", shop="acme", type="customer.upserted", detail=detail.model_dump(mode="json")
    )
    messenger_events.reset()
    result = messenger_events.handler(
        {"detail-type": "customer.upserted", "detail": envelope.model_dump(mode="json")}, None
    )
    assert result["status"] == "recorded"
    person = world.container.adapters.recipients.get("acme", "c-9")
    assert person is not None and person.active_hour == 21 and person.timezone == "Asia/Tokyo"


def test_the_delivery_log_pages_with_a_cursor_and_refuses_a_garbage_one(world: World) -> None:
    # Given three sends to one customer
    world.customer()
    world.message()
    for anchor in ("a-1", "a-2", "a-3"):
        world.send(anchor=anchor)
    for params in ({}, {"customer_id": "c-1"}):
        # When the log is read two at a time
        first = world.http.get("/v1/deliveries", params={**params, "limit": 2}, headers=world.auth)
        assert first.status_code == 200, first.text
        cursor = first.headers["X-Next-Cursor"]
        second = world.http.get(
            "/v1/deliveries", params={**params, "limit": 2, "cursor": cursor}, headers=world.auth
        )
        # Then the second page holds the rest, and says it is the last
        assert second.status_code == 200, second.text
        assert "X-Next-Cursor" not in second.headers
        ids = [d["delivery_id"] for d in first.json() + second.json()]
        assert len(ids) == len(set(ids)) == 3
    # And a cursor this API never gave is a 422 naming it, not the first page again
    bad = world.http.get("/v1/deliveries", params={"cursor": "c-1"}, headers=world.auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == [{"field": "cursor", "message": ANY}]


def test_templates_with_unbounded_work_are_a_422_naming_the_field(world: World) -> None:
    # Given a customer and messages whose templates would run without end
    world.customer()
    bombs = {
        "mul": "{{ 'a' * 10000000 }}",
        "range": "{% for i in range(100000000) %}x{% endfor %}",
        "nested": "{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}",
        "pad": "{{ 'x'|center(1000000000) }}",
        "concat": "{% set ns = namespace(x='a') %}{% for i in range(60) %}"
        "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x }}",
    }
    for name, source in bombs.items():
        world.message(name, line={"text": source})
        # When it is previewed
        r = world.http.post(
            f"/v1/messages/{name}/preview",
            json={"customer_id": "c-1", "channel": "line"},
            headers=world.auth,
        )
        # Then it is a 422 naming the template field, quickly and without a 500
        assert r.status_code == 422, (name, r.text)
        assert r.json()["error"]["fields"][0]["field"] == "line.text", name


def test_a_template_error_shows_no_server_path(world: World) -> None:
    world.customer()
    world.message("inc", line={"text": "{% include '/etc/passwd' %}{% include 'nope.txt' %}"})
    r = world.http.post(
        "/v1/messages/inc/preview",
        json={"customer_id": "c-1", "channel": "line"},
        headers=world.auth,
    )
    assert r.status_code == 422, r.text
    assert "/etc" not in r.text and "/templates" not in r.text and "site-packages" not in r.text
