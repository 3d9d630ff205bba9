"""Stored messages end to end under moto: preview, send, channel choice and fallback,
frequency cap (also under concurrent dispatch), quiet hours, retries, dead letters,
and the provider webhooks. LINE is a fake server over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger import bootstrap, services
from messenger.adapters.recommendations import Recommendation, RecommendationSource
from messenger.bootstrap import MessengerContainer
from messenger.channels.base import Channel, OutboundMessage, SendResult
from messenger.channels.line import LineChannel
from messenger.entrypoints import api as messenger_api
from messenger.entrypoints import events as messenger_events
from shared.auth.service import authenticate_token, create_key
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import FakeLine, fake_line_server

LINE_USER = "U" + "0123456789abcdef" * 2
DAY = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 JST


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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


class World:
    def __init__(self, cloud: Cloud, line: FakeLine, shop: ShopKeys) -> None:
        self.cloud = cloud
        self.line = line
        self.clock = Clock(DAY)
        self.container: MessengerContainer = bootstrap.build()
        self.container.clock = self.clock
        self.container.recommendations = FakeRecommendations()
        self.container.channels["line"] = LineChannel(
            "token", base_url=line.base_url, max_attempts=1, sleep=lambda _: None
        )
        messenger_api.app.state.container = self.container
        self.http = TestClient(messenger_api.app)
        admin = authenticate_token(cloud.keys, shop.admin)
        token = create_key(cloud.keys, admin, "crm", ["messages:send", "messages:read"]).token
        self.auth = {"Authorization": f"Bearer {token}"}

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
        assert self.container.recipients is not None
        services.record_customer(
            self.container.recipients,
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
def world(cloud: Cloud, shop: ShopKeys) -> Iterator[World]:
    with fake_line_server() as line:
        yield World(cloud, line, shop)


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


def test_policy_order_picks_line_and_duplicates_send_nothing_more(world: World) -> None:
    world.customer()
    world.message()
    first = world.send()
    again = world.send()
    assert (first["status"], first["channel"]) == ("sent", "line")
    assert again["reason"] == "already_delivered"
    assert len(world.line.received) == 1 and world.mails() == []


def test_line_hard_failure_falls_back_to_mail_and_marks_line_unreachable(world: World) -> None:
    world.customer()
    world.message()
    world.line.answer_next(400)
    outcome = world.send()
    assert (outcome["status"], outcome["channel"]) == ("sent", "email")
    assert len(world.mails()) == 1
    assert world.container.recipients is not None
    person = world.container.recipients.get("acme", "c-1")
    assert person is not None and "line" in person.unreachable


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
    assert world.container.messaging.dispatch_due() == []  # not due yet
    # When the dispatcher runs after 08:00
    world.clock.now = datetime(2026, 11, 23, 23, 1, tzinfo=UTC)
    outcomes = world.container.messaging.dispatch_due()
    assert [o.status for o in outcomes] == ["sent"]
    assert len(world.line.received) == 1


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
    outcomes = world.container.messaging.dispatch_due()
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

        outcome = world.container.messaging.send(
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
        world.container.messaging.dispatch_due()
    keys = {r.headers["X-Line-Retry-Key"] for r in world.line.received}
    assert len(world.line.received) == 5 and len(keys) == 1  # same retry key throughout
    dead = world.deliveries(status="dead_letter")
    assert [(d["status"], d["skip_reason"], d["attempts"]) for d in dead] == [
        ("dead_letter", "http_500", 5)
    ]
    bad = world.http.get("/v1/deliveries", params={"status": "nope"}, headers=world.auth)
    assert bad.status_code == 422


def test_crash_between_provider_and_record_never_sends_twice(world: World) -> None:
    world.policy(channel_order=["email"])
    world.customer()
    world.message()
    crashing = CrashingChannel()
    world.container.channels["email"] = crashing
    with pytest.raises(SystemExit):
        world.container.messaging.send(
            __import__("messenger.services.sending", fromlist=["SendRequest"]).SendRequest(
                "acme", "sale", "c-1", "api:sale", "a-1"
            )
        )
    # When the same send is retried (a Lambda retry)
    again = world.send()
    assert again["reason"] == "already_delivered"
    assert len(crashing.accepted) == 1


def _signed(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_line_unfollow_webhook_marks_line_unreachable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.container.settings = world.container.settings.model_copy(
        update={"line_channel_secret": __import__("pydantic").SecretStr("line-secret")}
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


def test_ses_permanent_bounce_suppresses_the_address(world: World) -> None:
    from pydantic import SecretStr

    topic = "arn:aws:sns:ap-northeast-1:123456789012:ses-events"
    world.container.settings = world.container.settings.model_copy(
        update={
            "ses_notification_token": SecretStr("sns-token"),
            "ses_notification_topic_arns": topic,
        }
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
    note = json.dumps({"Type": "Notification", "TopicArn": topic, "Message": json.dumps(ses_event)})
    wrong = world.http.post("/v1/webhooks/ses?token=nope", content=note)
    assert wrong.status_code == 401
    ok = world.http.post("/v1/webhooks/ses?token=sns-token", content=note)
    assert ok.status_code == 200 and ok.json()["suppressed"] == 1
    # Then mail is skipped for that address and SMS carries the message instead
    outcome = world.send()
    assert (outcome["status"], outcome["channel"]) == ("sent", "sms")
    assert world.mails() == []


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
    assert world.container.recipients is not None
    person = world.container.recipients.get("acme", "c-9")
    assert person is not None and person.active_hour == 21 and person.timezone == "Asia/Tokyo"
