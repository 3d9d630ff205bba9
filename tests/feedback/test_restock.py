"""Restock: sign-ups (known or anonymous with double opt-in, duplicates collapse,
unsubscribe), releases from `inventory.changed` in waves sized to stock, early-access
tokens the storefront verifies, and results (notified, clicked, purchased)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from feedback.bootstrap import FeedbackContainer
from shared.contracts.details import MessageRequested
from shared.contracts.envelope import EventEnvelope
from tests.feedback.conftest import Clock, FeedbackKeys, RecordingPublisher

SKU = "SERUM-30"


def _signup(api: TestClient, keys: FeedbackKeys, **body: Any) -> Any:
    payload: dict[str, Any] = {"sku": SKU, "channel": "email"}
    payload.update(body)
    return api.post("/v1/restock/signups", json=payload, headers=keys.storefront)


def _sku(api: TestClient, keys: FeedbackKeys) -> dict[str, Any]:
    response = api.get(f"/v1/restock/skus/{SKU}", headers=keys.reader)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _path(url: str) -> str:
    return urlsplit(url).path


def _deliver(event_type: str, event_id: str, at: datetime, **detail: Any) -> dict[str, Any]:
    """As the template's rule would: the envelope to the feedback events handler."""
    from feedback.entrypoints import events

    envelope = EventEnvelope(id=event_id, shop="acme", type=event_type, time=at, detail=detail)
    return events.handler({"detail": envelope.model_dump(mode="json")}, None)


def _stock(clock: Clock, event_id: str, previous: int, quantity: int) -> dict[str, Any]:
    return _deliver(
        "inventory.changed",
        event_id,
        clock.now,
        sku=SKU,
        previous_quantity=previous,
        quantity=quantity,
    )


def _active_customers(api: TestClient, keys: FeedbackKeys, clock: Clock, ids: range) -> None:
    """Known customers c-<i> sign up, one second apart."""
    for i in ids:
        response = _signup(api, keys, customer_id=f"c-{i}", return_url="https://shop.example/p/1")
        assert response.status_code == 201, response.text
        clock.advance(seconds=1)


# ---------------------------------------------------------------------------- sign-ups


def test_known_customer_is_active_at_once_and_duplicates_collapse(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher
) -> None:
    # When a logged-in customer signs up twice for the same SKU and channel
    first = _signup(api, keys, customer_id="c-1")
    second = _signup(api, keys, customer_id="c-1")
    # Then the second collapses into the first, active without confirmation
    assert first.status_code == 201, first.text
    assert second.status_code == 200
    assert first.json()["signup_id"] == second.json()["signup_id"]
    assert second.json() | {"duplicate": False} == first.json()
    assert first.json()["status"] == "active"
    assert published.messages() == []
    # And another channel is another sign-up
    assert _signup(api, keys, customer_id="c-1", channel="line").status_code == 201
    assert _sku(api, keys)["signups"] == {"pending": 0, "active": 2, "unsubscribed": 0}


def test_anonymous_email_needs_double_opt_in(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    # When an anonymous visitor signs up with an email (written differently twice)
    first = _signup(api, keys, email="Hanako@Example.JP")
    second = _signup(api, keys, email="hanako@example.jp")
    # Then it is one pending sign-up
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["status"] == "pending"
    assert first.json()["confirmation_required"] is True
    # And the messenger is asked (transactional) to send the confirmation link, with one
    # request id however often it is asked
    requests = published.messages("restock_confirm")
    assert len({r["request_id"] for r in requests}) == 1
    request = MessageRequested.model_validate(requests[0])
    assert request.category == "transactional"
    assert request.channel == "email"
    assert request.recipient.address == "hanako@example.jp"
    assert request.recipient.customer_id is None
    confirm_path = _path(request.variables["confirm_url"])

    # When the link is opened (GET) nothing changes: a mail scanner may prefetch it
    page = api.get(confirm_path)
    assert page.status_code == 200
    assert "登録を完了する" in page.text
    assert _sku(api, keys)["signups"]["pending"] == 1
    # When the person presses the button
    done = api.post(confirm_path)
    # Then the sign-up is active
    assert done.status_code == 200
    assert "登録が完了しました" in done.text
    assert _sku(api, keys)["signups"] == {"pending": 0, "active": 1, "unsubscribed": 0}
    # And confirming again is harmless
    assert api.post(confirm_path).status_code == 200

    # When they unsubscribe through the signed link (no login)
    unsubscribe_path = _path(request.variables["unsubscribe_url"])
    assert "停止" in api.get(unsubscribe_path).text
    assert api.post(unsubscribe_path, content=b"List-Unsubscribe=One-Click").status_code == 200
    # Then the sign-up is unsubscribed, and the old confirmation link cannot revive it
    assert _sku(api, keys)["signups"]["unsubscribed"] == 1
    assert api.post(confirm_path).status_code == 409
    # But signing up again starts over, pending a new confirmation
    again = _signup(api, keys, email="hanako@example.jp")
    assert again.status_code == 201
    assert again.json()["status"] == "pending"


def test_phone_and_line_addresses_are_normalised(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher
) -> None:
    assert _signup(api, keys, channel="sms", phone="090-1234-5678").status_code == 201
    assert _signup(api, keys, channel="sms", phone="+81 90 1234 5678").status_code == 200
    line_id = "U" + "0123456789abcdef" * 2
    assert _signup(api, keys, channel="line", line_user_id=line_id).status_code == 201
    addresses = [(m["channel"], m["recipient"]["address"]) for m in published.messages()]
    assert ("sms", "+819012345678") in addresses
    assert ("line", line_id) in addresses


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "hanako@"}, "email"),
        ({"channel": "sms", "phone": "12345"}, "phone"),
        ({"channel": "line", "line_user_id": "hanako"}, "line_user_id"),
        ({"channel": "email", "phone": "090-1234-5678"}, "phone"),
        ({"channel": "email"}, "email"),
        ({"customer_id": "c-1", "email": "a@example.jp"}, "email"),
        ({"channel": "fax", "email": "a@example.jp"}, "channel"),
        ({"sku": "bad sku!", "email": "a@example.jp"}, "sku"),
        ({"email": "a@example.jp", "return_url": "javascript:alert(1)"}, "return_url"),
    ],
)
def test_bad_sign_ups_are_refused_naming_the_field_and_nothing_is_stored(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    body: dict[str, Any],
    field: str,
) -> None:
    response = _signup(api, keys, **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == field
    assert _sku(api, keys)["signups"] == {"pending": 0, "active": 0, "unsubscribed": 0}
    assert published.messages() == []


def test_tampered_and_expired_confirmation_links(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    _signup(api, keys, email="a@example.jp")
    path = _path(published.messages("restock_confirm")[0]["variables"]["confirm_url"])
    # A tampered link is refused, and nothing changes
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert api.post(tampered).status_code == 400
    assert "無効" in api.get(tampered).text
    # An expired one too (confirmation links last 72 hours)
    clock.advance(hours=73)
    expired = api.post(path)
    assert expired.status_code == 410
    assert "有効期限" in expired.text
    assert _sku(api, keys)["signups"]["pending"] == 1


# ---------------------------------------------------------------------------- releases


def test_restock_release_in_waves_with_early_access(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
    fb: FeedbackContainer,
) -> None:
    from feedback.entrypoints import events

    # Given 7 active sign-ups and 1 pending (unconfirmed) one, for a sold-out SKU
    _active_customers(api, keys, clock, range(7))
    _signup(api, keys, email="pending@example.jp")
    _stock(clock, "inv-0", 5, 0)
    published.clear()

    # When 2 items come back (factor 2.0: waves of 4)
    result = _stock(clock, "inv-1", 0, 2)

    # Then a release starts and its first wave tells 4 active sign-ups at once
    assert result["restocked"] is True
    assert result["wave"]["notified"] == 4
    wave1 = published.messages("restock_early_access")
    assert len(wave1) == 4
    request = MessageRequested.model_validate(wave1[0])
    assert request.category == "marketing"
    assert request.recipient.customer_id == "c-0"  # oldest sign-ups first
    release = _sku(api, keys)["releases"][0]
    valid_until = datetime.fromisoformat(request.variables["valid_until"])
    assert valid_until == clock.now + timedelta(hours=24)
    assert request.expires_at == valid_until
    assert release["status"] == "open"
    assert release["notified"] == 4

    # When the same inventory event arrives again, nothing new starts or is sent
    _stock(clock, "inv-1", 0, 2)
    assert len(published.messages("restock_early_access")) == 4
    assert len(_sku(api, keys)["releases"]) == 1

    # When the schedule fires before the wave interval, it waits
    assert (
        events.handler({"schedule": "restock-waves"}, None)["waves"][release["release_id"]][
            "action"
        ]
        == "wait"
    )

    # When 15 minutes pass and 1 item is left, the next wave is sized to it (2)
    clock.advance(minutes=15)
    _stock(clock, "inv-2", 2, 1)
    events.handler({"schedule": "restock-waves"}, None)
    assert len(published.messages("restock_early_access")) == 6
    # And nobody was told twice; the pending sign-up was never told
    told = [m["recipient"]["customer_id"] for m in published.messages("restock_early_access")]
    assert len(set(told)) == 6
    assert None not in told

    # When the SKU sells out again, the release stops before anyone else is told
    clock.advance(minutes=15)
    _stock(clock, "inv-3", 1, 0)
    result = events.handler({"schedule": "restock-waves"}, None)
    assert result["releases"] == 0
    final = _sku(api, keys)["releases"][0]
    assert final["status"] == "sold_out"
    assert final["waves"] == 2
    assert final["notified"] == 6
    assert len(published.messages("restock_early_access")) == 6


def test_release_completes_and_window_closes(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    from feedback.entrypoints import events

    # Given 2 sign-ups and plenty of stock: everyone is told in the first wave
    _active_customers(api, keys, clock, range(2))
    _stock(clock, "inv-1", 0, 50)
    assert _sku(api, keys)["releases"][0]["status"] == "completed"
    # Given another release where the window closes before everyone is told
    _stock(clock, "inv-2", 50, 0)
    _active_customers(api, keys, clock, range(2, 8))  # 6 more
    _stock(clock, "inv-3", 0, 1)  # waves of 2
    clock.advance(hours=25)
    events.handler({"schedule": "restock-waves"}, None)
    second = _sku(api, keys)["releases"][1]
    assert second["status"] == "closed"
    assert second["notified"] == 2


def test_storefront_verifies_early_access_tokens(
    api: TestClient,
    keys: FeedbackKeys,
    other_keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
) -> None:
    # Given a release with one sign-up told
    _active_customers(api, keys, clock, range(1))
    _stock(clock, "inv-1", 0, 3)
    [message] = published.messages("restock_early_access")
    token = message["variables"]["token"]

    def verify(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return api.post("/v1/restock/tokens/verify", json=body, headers=headers or keys.storefront)

    # When the storefront verifies it
    ok = verify({"token": token, "sku": SKU})
    # Then it is valid for that SKU until the end of the window, and counts as a click once
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["valid"] is True
    assert body["sku"] == SKU
    assert body["first_use"] is True
    assert verify({"token": token}).json()["first_use"] is False
    assert _sku(api, keys)["releases"][0]["clicked"] == 1

    # And a tampered token, another SKU, another shop, an expired token are refused
    tampered = verify({"token": token[:-2] + ("xx" if not token.endswith("xx") else "yy")})
    assert tampered.status_code == 422
    assert tampered.json()["error"]["code"] == "token_invalid"
    assert tampered.json()["error"]["fields"][0]["field"] == "token"
    wrong_sku = verify({"token": token, "sku": "OTHER"})
    assert wrong_sku.status_code == 422
    assert wrong_sku.json()["error"]["fields"][0]["field"] == "sku"
    foreign = verify({"token": token}, other_keys.storefront)
    assert foreign.status_code == 422
    assert foreign.json()["error"]["code"] == "token_invalid"
    clock.advance(hours=24)
    expired = verify({"token": token})
    assert expired.status_code == 422
    assert expired.json()["error"]["code"] == "token_expired"
    assert _sku(api, keys)["releases"][0]["clicked"] == 1


def test_early_access_link_counts_the_click_and_leads_to_the_product(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    _active_customers(api, keys, clock, range(1))
    _stock(clock, "inv-1", 0, 3)
    [message] = published.messages("restock_early_access")
    response = api.get(_path(message["variables"]["early_access_url"]), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("https://shop.example/p/1?kizuna_access=")
    assert _sku(api, keys)["releases"][0]["clicked"] == 1


def test_purchases_within_the_window_are_counted_once(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    # Given a release that told c-0 (known) and an anonymous, confirmed email
    _active_customers(api, keys, clock, range(1))
    _signup(api, keys, email="Anon@Example.jp")
    confirm = published.messages("restock_confirm")[0]["variables"]["confirm_url"]
    api.post(_path(confirm))
    _stock(clock, "inv-1", 0, 5)
    assert _sku(api, keys)["releases"][0]["notified"] == 2

    def order(event_id: str, customer_id: str, email: str | None, at: datetime) -> None:
        _deliver(
            "order.placed",
            event_id,
            at,
            order_id=f"o-{event_id}",
            customer={"customer_id": customer_id, "email": email},
            placed_at=at.isoformat(),
            currency="JPY",
            total="3980",
            items=[{"sku": SKU, "quantity": 1, "unit_price": "3980"}],
            order_count=1,
            is_first_order=True,
        )

    # When both buy within the window (the anonymous one matched by email), one twice,
    # and the same order event is delivered again, and a stranger buys too
    clock.advance(hours=1)
    order("e1", "c-0", None, clock.now)
    order("e1", "c-0", None, clock.now)
    order("e2", "c-0", None, clock.now)
    order("e3", "guest-9", "anon@example.jp", clock.now)
    order("e4", "stranger", "x@example.jp", clock.now)
    # And someone told buys after the window
    order("e5", "c-0", None, clock.now + timedelta(days=2))
    # Then 2 purchases are counted
    assert _sku(api, keys)["releases"][0]["purchased"] == 2
