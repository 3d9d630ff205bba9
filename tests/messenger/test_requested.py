"""`message.requested` from the feedback service: templated restock messages to a
known customer or a bare address, once per request id. Under moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import pytest

from messenger.channels.throttle import RateLimiter
from shared.contracts.details import MessageRecipient
from tests.conftest import Cloud, ShopKeys
from tests.messenger.line_server import fake_line_server
from tests.messenger.test_campaigns import CampaignWorld

VARS = {
    "sku": "SERUM-30",
    "product_name": "美容液 30ml",
    "confirm_url": "https://shop.example/restock/confirm?t=abc",
    "unsubscribe_url": "https://shop.example/restock/cancel?t=abc",
}


@pytest.fixture
def rw(cloud: Cloud, shop: ShopKeys) -> Iterator[CampaignWorld]:
    with fake_line_server() as line:
        yield CampaignWorld(cloud, line, shop)


def _parsed(raw: str) -> tuple[str, str]:
    mime = message_from_string(raw, policy=policy.default)
    assert isinstance(mime, EmailMessage)
    body = mime.get_body(preferencelist=("plain",))
    assert body is not None
    return str(mime["Subject"]), str(body.get_content())


def _request(rw: CampaignWorld, request_id: str, **fields: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "request_id": request_id,
        "recipient": {"address": "anon@example.jp"},
        "channel": "email",
        "category": "transactional",
        "template": "restock_confirm",
        "locale": "ja",
        "variables": VARS,
        "requested_by": "feedback.restock.confirm",
        **fields,
    }
    detail["recipient"] = MessageRecipient.model_validate(detail["recipient"]).model_dump()
    return rw.event("message.requested", detail)


def test_double_opt_in_confirmation_to_an_anonymous_address_is_sent_once(
    rw: CampaignWorld,
) -> None:
    # When feedback asks for a restock confirmation to a bare address (twice: a retry)
    first = _request(rw, "req-1")
    again = _request(rw, "req-1")
    # Then one Japanese mail with the confirm link goes out
    assert first["status"] == "sent" and again["reason"] == "already_delivered"
    mails = rw.mails()
    assert len(mails) == 1 and set(mails[0].destinations) == {"anon@example.jp"}
    subject, text = _parsed(mails[0].raw_data)
    assert "再入荷のお知らせ登録の確認" in subject and VARS["confirm_url"] in text


def test_early_access_goes_to_a_known_customer_by_their_channel_in_english(
    rw: CampaignWorld,
) -> None:
    rw.customer("c-1", locale="en", line_user_id=None, phone=None)
    outcome = _request(
        rw,
        "req-2",
        recipient={"customer_id": "c-1"},
        channel=None,
        category="marketing",
        template="restock_early_access",
        locale="en",
        variables={
            "sku": "SERUM-30",
            "product_name": "Serum 30ml",
            "early_access_url": "https://shop.example/ea?t=xyz",
            "token": "xyz",
            "valid_until": "2026-11-24T12:00:00+09:00",
            "unsubscribe_url": "https://shop.example/restock/cancel?t=xyz",
        },
        requested_by="feedback.restock.early_access",
    )
    assert outcome["status"] == "sent" and outcome["channel"] == "email"
    subject, text = _parsed(rw.mails()[0].raw_data)
    assert subject == "Early access: Serum 30ml is back in stock"
    assert "https://shop.example/ea?t=xyz" in text and "Unsubscribe:" in text  # legal footer


def test_expired_unknown_or_mismatched_requests_send_nothing(rw: CampaignWorld) -> None:
    from shared.errors import InvalidInput

    # An early-access window that already closed is dropped, with the reason
    past = (rw.clock.now - timedelta(minutes=1)).isoformat()
    assert _request(rw, "req-3", expires_at=past)["reason"] == "expired"
    # An unknown template, or a category that does not match the template, is refused
    with pytest.raises(InvalidInput) as err:
        _request(rw, "req-4", template="nope")
    assert err.value.field == "template"
    with pytest.raises(InvalidInput) as err:
        _request(rw, "req-5", category="marketing")
    assert err.value.field == "category"
    # An invalid address is refused
    with pytest.raises(InvalidInput) as err:
        _request(rw, "req-6", recipient={"address": "not-an-address"})
    assert err.value.field == "to"
    assert rw.mails() == []


def test_rate_limiter_paces_calls_to_the_provider_limit() -> None:
    # Given SES's 14 mails per second and a fake clock
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(14, monotonic=lambda: now[0], sleep=sleep)
    # When 70 sends go through it at once
    for _ in range(70):
        limiter.acquire()
    # Then they take at least (70 - burst of 14) / 14 = 4 seconds
    assert now[0] == pytest.approx(4.0)
    # And LINE's 2,000 per minute is about 33 per second
    assert RateLimiter(2000, per=60).per_second == pytest.approx(33.33, rel=1e-3)
