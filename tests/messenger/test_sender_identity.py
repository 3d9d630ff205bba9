"""Each shop's mail comes from the shop: its own From and 特定電子メール法 footer, never
another tenant's, with the platform's identity only for shops that have not set one."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import boto3
import pytest

from messenger import services
from shared.auth.service import authenticate_token, create_key
from shared.contracts import details
from tests.conftest import REGION, Cloud, make_shop
from tests.messenger.test_messaging import World

ACME_SENDER = {
    "name": "アクメ化粧品",
    "email": "news@acme-cosme.jp",
    "postal_address": "大阪府大阪市北区梅田1-1-1",
}


def _verify(identity: str) -> None:
    """The shop verified this address or domain in SES (moto: verified once created)."""
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=identity)


def _last_mail(cloud: Cloud) -> EmailMessage:
    raw = cloud.sent_mail()[-1].raw_data
    mime = message_from_string(raw, policy=policy.default)
    assert isinstance(mime, EmailMessage)
    return mime


def _text_body(mime: EmailMessage) -> str:
    part = mime.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_shop_sends_under_its_own_name_and_address(world: World, cloud: Cloud) -> None:
    # Given acme verified its domain with SES and states its own sender identity
    _verify("acme-cosme.jp")
    world.policy(channel_order=["email"], sender=ACME_SENDER)
    saved = world.http.get("/v1/messenger/policy", headers=world.auth).json()
    assert saved["sender"] == ACME_SENDER
    world.customer()
    world.message()

    # When a marketing mail goes to one of its customers
    assert world.send()["status"] == "sent"

    # Then the mail is from acme, and the legal footer names acme and its address
    mime = _last_mail(cloud)
    assert mime["From"].addresses[0].addr_spec == "news@acme-cosme.jp"
    assert mime["From"].addresses[0].display_name == "アクメ化粧品"
    footer = _text_body(mime)
    assert "アクメ化粧品" in footer
    assert "大阪府大阪市北区梅田1-1-1" in footer
    assert "Kizuna Demo Shop" not in footer


def test_another_shop_never_borrows_a_tenants_identity(world: World, cloud: Cloud) -> None:
    # Given acme has its own (verified) sender identity, and beta has set none
    _verify("acme-cosme.jp")
    world.policy(channel_order=["email"], sender=ACME_SENDER)
    beta = make_shop(cloud, "beta")
    admin = authenticate_token(cloud.keys, beta.admin)
    token = create_key(cloud.keys, admin, "crm", ["messages:send", "messages:read"]).token
    beta_auth = {"Authorization": f"Bearer {token}"}
    services.record_customer(
        world.container.adapters.recipients,
        "beta",
        details.CustomerSnapshot.model_validate(
            {
                "customer_id": "b-1",
                "email": "taro@example.jp",
                "consents": [{"channel": "email", "granted": True, "source": "signup-form"}],
            }
        ),
        world.clock.now,
    )
    message: dict[str, Any] = {
        "message_id": "news",
        "name": "News",
        "email": {"subject": "お知らせ", "html": "<p>お知らせ</p>", "text": "お知らせ"},
    }
    assert world.http.post("/v1/messages", json=message, headers=beta_auth).status_code == 201

    # When beta sends a marketing mail
    sent = world.http.post(
        "/v1/messages/news/sends", json={"customer_id": "b-1", "anchor": "a"}, headers=beta_auth
    )

    # Then it goes out under the platform's identity, never acme's
    assert sent.status_code == 202, sent.text
    mime = _last_mail(cloud)
    assert mime["From"].addresses[0].addr_spec != "news@acme-cosme.jp"
    footer = _text_body(mime)
    assert "Kizuna Demo Shop" in footer
    assert "アクメ化粧品" not in footer


@pytest.mark.parametrize(
    ("sender", "field"),
    [
        ({**ACME_SENDER, "email": "not-an-address"}, "email"),
        ({**ACME_SENDER, "name": ""}, "name"),
        ({**ACME_SENDER, "postal_address": "line one\nline two"}, "postal_address"),
        ({"name": "アクメ", "email": "news@acme-cosme.jp"}, "postal_address"),
    ],
)
def test_an_incomplete_sender_identity_is_a_422_naming_the_field(
    world: World, sender: dict[str, str], field: str
) -> None:
    # Given a shop without a sender identity
    # When it saves one that is not a usable, complete identity
    response = world.http.put("/v1/messenger/policy", json={"sender": sender}, headers=world.auth)
    # Then it is refused naming the field, and the policy keeps no sender
    assert response.status_code == 422, response.text
    assert field in response.text
    assert world.http.get("/v1/messenger/policy", headers=world.auth).json()["sender"] is None


@pytest.mark.parametrize("identity", ["acme-cosme.jp", "news@acme-cosme.jp"])
def test_a_sender_whose_address_or_domain_ses_verified_is_saved(
    world: World, identity: str
) -> None:
    # Given acme verified its sending domain, or just the address, in SES
    _verify(identity)
    # When it saves that sender
    response = world.http.put(
        "/v1/messenger/policy", json={"sender": ACME_SENDER}, headers=world.auth
    )
    # Then it is saved and used from now on
    assert response.status_code == 200, response.text
    saved = world.http.get("/v1/messenger/policy", headers=world.auth).json()
    assert saved["sender"] == ACME_SENDER


def test_a_sender_ses_has_not_verified_is_a_422_and_nothing_changes(world: World) -> None:
    # Given acme saved a verified sender and a cap, and verified nothing for another domain
    _verify("acme-cosme.jp")
    world.policy(sender=ACME_SENDER, cap_count=2)
    _verify("other@acme-shop.jp")  # another address of that domain is not the domain
    # When it saves a sender whose address and domain SES has not verified
    unverified = {**ACME_SENDER, "email": "news@acme-shop.jp"}
    response = world.http.put(
        "/v1/messenger/policy", json={"sender": unverified, "cap_count": 5}, headers=world.auth
    )
    # Then it is refused naming sender.email, and the stored policy is unchanged
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["fields"][0]["field"] == "sender.email"
    assert "verified SES identity" in error["message"]
    saved = world.http.get("/v1/messenger/policy", headers=world.auth).json()
    assert (saved["sender"], saved["cap_count"]) == (ACME_SENDER, 2)
