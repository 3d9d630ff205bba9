"""Restock: sign-ups (known or anonymous with double opt-in, duplicates collapse,
unsubscribe), releases from `inventory.changed` in waves sized to stock, early-access
tokens the storefront verifies, and results (notified, clicked, purchased); any SKU the
segmenter takes, shops kept apart, and concurrent runners and writers."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from feedback.bootstrap import FeedbackContainer
from shared.clock import FixedClock as Clock
from shared.contracts.details import MessageRequested
from shared.contracts.envelope import EventEnvelope
from shared.errors import DependencyFailed
from shared.log import JsonFormatter
from tests.conftest import Cloud
from tests.feedback.conftest import DynamoHooks, FeedbackKeys, RecordingPublisher

SKU = "SERUM-30"


def _signup(api: TestClient, keys: FeedbackKeys, **body: Any) -> Any:
    payload: dict[str, Any] = {"sku": SKU, "channel": "email"}
    payload.update(body)
    return api.post("/v1/restock/signups", json=payload, headers=keys.storefront)


def _sku(api: TestClient, keys: FeedbackKeys, sku: str = SKU) -> dict[str, Any]:
    """The SKU's overview; its sign-ups as the list of SKUs counts them too (every test
    that reads one checks the list's running counts against the sign-ups themselves)."""
    response = api.get(f"/v1/restock/skus/{quote(sku, safe='/')}", headers=keys.reader)
    assert response.status_code == 200, response.text
    assert response.json()["sku"] == sku
    signups = response.json()["signups"]
    assert _listed(api, keys).get(sku, dict.fromkeys(signups, 0)) == signups
    return dict(response.json())


def _listed(api: TestClient, keys: FeedbackKeys, limit: int = 2) -> dict[str, dict[str, int]]:
    """Every SKU `GET /v1/restock/skus` lists, paged `limit` at a time by its cursor."""
    out: dict[str, dict[str, int]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/restock/skus", params=params, headers=keys.reader)
        assert page.status_code == 200, page.text
        assert len(page.json()) <= limit
        for row in page.json():
            assert row["sku"] not in out
            out[row["sku"]] = row["signups"]
        cursor = page.headers.get("X-Next-Cursor")
        if not cursor:
            return out


def _path(url: str) -> str:
    return urlsplit(url).path


def _deliver(event_type: str, event_id: str, at: datetime, **detail: Any) -> dict[str, Any]:
    """As the template's rule would: the envelope to the feedback events handler."""
    from feedback.entrypoints import events

    envelope = EventEnvelope(id=event_id, shop="acme", type=event_type, time=at, detail=detail)
    return events.handler({"detail": envelope.model_dump(mode="json")}, None)


def _stock(
    clock: Clock, event_id: str, previous: int, quantity: int, sku: str = SKU
) -> dict[str, Any]:
    return _deliver(
        "inventory.changed",
        event_id,
        clock.now,
        sku=sku,
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
        ({"sku": "bad\tsku", "email": "a@example.jp"}, "sku"),
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


def test_signing_up_again_after_unsubscribing_is_a_new_opt_in(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    # Given an anonymous sign-up, confirmed and later unsubscribed
    assert _signup(api, keys, email="hanako@example.jp").status_code == 201
    [first] = published.messages("restock_confirm")
    assert api.post(_path(first["variables"]["confirm_url"])).status_code == 200
    clock.advance(days=3)
    assert api.post(_path(first["variables"]["unsubscribe_url"])).status_code == 200

    # When the same person signs up again a minute later (and the storefront retries)
    clock.advance(minutes=1)
    again = _signup(api, keys, email="hanako@example.jp")
    retried = _signup(api, keys, email="hanako@example.jp")

    # Then it is a new opt-in: pending, with a new confirmation requested under a new
    # request id (the messenger would drop a reused one as a duplicate), once
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "pending"
    assert retried.status_code == 200
    requests = published.messages("restock_confirm")
    assert len({r["request_id"] for r in requests}) == 2
    second = requests[-1]
    assert second["request_id"] != first["request_id"]
    assert datetime.fromisoformat(second["expires_at"]) == clock.now + timedelta(hours=72)
    # And its link, after the first link's 72 hours, confirms the sign-up
    clock.advance(hours=1)
    done = api.post(_path(second["variables"]["confirm_url"]))
    assert done.status_code == 200, done.text
    assert _sku(api, keys)["signups"] == {"pending": 0, "active": 1, "unsubscribed": 0}


def test_line_and_sms_sign_ups_unsubscribe_through_their_links(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    # Given an anonymous SMS sign-up (confirmed) and a known customer's LINE sign-up
    assert _signup(api, keys, channel="sms", phone="090-1234-5678").status_code == 201
    [sms] = published.messages("restock_confirm")
    assert api.post(_path(sms["variables"]["confirm_url"])).status_code == 200
    assert _signup(api, keys, channel="line", customer_id="c-1").status_code == 201
    # And a release that told both, each on its own channel
    _stock(clock, "inv-1", 0, 5)
    told = {m["channel"]: m for m in published.messages("restock_early_access")}
    assert set(told) == {"sms", "line"}

    # When each follows the unsubscribe link its message carries
    for message in told.values():
        path = _path(message["variables"]["unsubscribe_url"])
        assert "停止" in api.get(path).text
        stopped = api.post(path)
        assert stopped.status_code == 200
        assert "停止しました" in stopped.text

    # Then both are unsubscribed, and the next release tells nobody
    assert _sku(api, keys)["signups"] == {"pending": 0, "active": 0, "unsubscribed": 2}
    _stock(clock, "inv-2", 5, 0)
    _stock(clock, "inv-3", 0, 5)
    assert len(published.messages("restock_early_access")) == 2


def test_another_shops_keys_see_and_change_nothing_of_this_shops_restock(
    api: TestClient,
    keys: FeedbackKeys,
    other_keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
) -> None:
    # Given acme's SERUM-30: a confirmed anonymous sign-up, a customer's, and a release
    _signup(api, keys, email="hanako@example.jp")
    api.post(_path(published.messages("restock_confirm")[0]["variables"]["confirm_url"]))
    _active_customers(api, keys, clock, range(1))
    _stock(clock, "inv-1", 0, 5)
    acme = _sku(api, keys)
    assert acme["signups"]["active"] == 2
    assert acme["releases"][0]["notified"] == 2

    # When the other shop's reader asks for SERUM-30
    theirs = _sku(api, other_keys)
    # Then it sees its own SKU of that name: no stock, no sign-ups, no releases of acme's
    assert theirs == {
        "sku": SKU,
        "stock": None,
        "signups": {"pending": 0, "active": 0, "unsubscribed": 0},
        "releases": [],
    }

    # When the same person signs up at the other shop and unsubscribes there
    assert _signup(api, other_keys, email="hanako@example.jp").status_code == 201
    their_request = published.messages("restock_confirm")[-1]
    unsubscribed = api.post(_path(their_request["variables"]["unsubscribe_url"]))
    assert unsubscribed.status_code == 200
    # Then only the other shop's sign-up is unsubscribed; acme's stays as it was
    assert _sku(api, other_keys)["signups"]["unsubscribed"] == 1
    assert _sku(api, keys)["signups"] == acme["signups"]


def test_the_skus_with_sign_ups_are_listed_with_their_counts_a_page_at_a_time(
    api: TestClient,
    keys: FeedbackKeys,
    other_keys: FeedbackKeys,
    published: RecordingPublisher,
) -> None:
    """Given acme sign-ups for three SKUs (one pending, one unsubscribed) and the other
    shop's for a fourth
    When acme's reader lists the SKUs with sign-ups, two a page
    Then each of acme's three is listed once, in SKU order, with its sign-ups by status,
    and none of the other shop's; a cursor typed by hand is a 422 naming `cursor`, and a
    storefront key (no `feedback:read`) is refused."""
    for customer, sku in (("c-1", "SERUM-30"), ("c-2", "SERUM-30"), ("c-1", "CREAM#50")):
        assert _signup(api, keys, customer_id=customer, sku=sku).status_code == 201
    assert _signup(api, keys, email="hanako@example.jp", sku="SOAP/1").status_code == 201
    assert _signup(api, keys, email="taro@example.jp", sku="SOAP/1").status_code == 201
    request = published.messages("restock_confirm")[-1]
    assert api.post(_path(request["variables"]["unsubscribe_url"])).status_code == 200
    assert _signup(api, other_keys, customer_id="z-1", sku="MASK-9").status_code == 201

    pages = [api.get("/v1/restock/skus", params={"limit": 2}, headers=keys.reader)]
    assert [r["sku"] for r in pages[0].json()] == ["CREAM#50", "SERUM-30"]
    assert _listed(api, keys) == {
        "CREAM#50": {"pending": 0, "active": 1, "unsubscribed": 0},
        "SERUM-30": {"pending": 0, "active": 2, "unsubscribed": 0},
        "SOAP/1": {"pending": 1, "active": 0, "unsubscribed": 1},
    }
    assert _listed(api, keys, limit=500) == _listed(api, keys)
    assert list(_listed(api, other_keys)) == ["MASK-9"]
    bad = api.get("/v1/restock/skus", params={"cursor": "SERUM-30"}, headers=keys.reader)
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "cursor"
    assert api.get("/v1/restock/skus", headers=keys.storefront).status_code == 403


# ---------------------------------------------------------------------------- SKUs


def test_a_sku_holding_hash_never_reaches_another_skus_records(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
    fb: FeedbackContainer,
    cloud: Cloud,
) -> None:
    # Given SERUM-30, sold out, with one active sign-up
    _active_customers(api, keys, clock, range(1))
    _stock(clock, "inv-0", 3, 0)
    # And a stock record that an unencoded SKU once wrote among its sign-ups
    cloud.dynamodb.put_item(
        TableName=cloud.settings.feedback_table,
        Item={
            "pk": {"S": f"SHOP#acme#SKU#{SKU}#SIGNUPS"},
            "sk": {"S": "STOCK"},
            "quantity": {"N": "3"},
        },
    )

    # When stock arrives for SKUs spelled like SERUM-30's stored records
    results = [
        _stock(clock, f"inv-x{i}", 0, i + 3, sku=sku)
        for i, sku in enumerate((f"{SKU}#SIGNUPS", f"{SKU}#STOCK", f"{SKU}%23SIGNUPS"))
    ]

    # Then SERUM-30 is untouched: its sign-up and stock, no release
    serum = _sku(api, keys)
    assert serum["signups"] == {"pending": 0, "active": 1, "unsubscribed": 0}
    assert serum["stock"] == 0
    assert serum["releases"] == []
    # And each is a SKU of its own: its stock, a release with nobody to tell
    assert [(r["restocked"], r["wave"]["notified"]) for r in results] == [(True, 0)] * 3
    for i, sku in enumerate((f"{SKU}#SIGNUPS", f"{SKU}#STOCK")):
        overview = _sku(api, keys, sku)
        assert overview["stock"] == i + 3
        assert overview["signups"] == {"pending": 0, "active": 0, "unsubscribed": 0}
    # (read through the service: Starlette's TestClient decodes a request path twice)
    assert fb.restock.sku_overview("acme", f"{SKU}%23SIGNUPS").stock == 5
    # And when SERUM-30 itself comes back, its sign-up is told
    assert _stock(clock, "inv-1", 0, 2)["wave"]["notified"] == 1
    assert [m["variables"]["sku"] for m in published.messages("restock_early_access")] == [SKU]


def test_skus_as_the_segmenter_takes_them_work_from_sign_up_to_release(
    api: TestClient, keys: FeedbackKeys, published: RecordingPublisher, clock: Clock
) -> None:
    # Given SKUs as shops write them: Japanese with a space, '/', 64 characters
    skus = ["セラム 30ml/詰め替え用", "SET/A/B", "X" * 64]
    for i, sku in enumerate(skus):
        # When a customer signs up and the SKU comes back
        signed = _signup(api, keys, sku=sku, customer_id="c-1")
        assert signed.status_code == 201, signed.text
        assert signed.json()["sku"] == sku
        _stock(clock, f"inv-{i}", 0, 1, sku=sku)
        # Then the SKU's overview reads it, with the release that told the sign-up
        overview = _sku(api, keys, sku)
        assert overview["signups"]["active"] == 1
        assert overview["releases"][0]["notified"] == 1
    assert [m["variables"]["sku"] for m in published.messages("restock_early_access")] == skus


def test_an_inventory_event_with_a_sku_feedback_cannot_take_is_rejected_and_logged_by_ids(
    fb: FeedbackContainer, clock: Clock
) -> None:
    logger = logging.getLogger("kizuna.feedback.restock")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    keep = Keep()
    logger.addHandler(keep)
    try:
        # When inventory events carry a SKU with a control character, too long, or empty
        # (each delivered twice, as a retry would)
        results = [
            _stock(clock, f"inv-bad-{i}", 0, 5, sku=sku)
            for i, sku in enumerate(["BAD\x00SKU", "LONG" * 17, "", "BAD\x00SKU"])
        ]
    finally:
        logger.removeHandler(keep)
    # Then each is rejected without an exception (no endless retry), nothing is stored
    assert [r.get("rejected") for r in results] == ["sku"] * 4
    for sku in ("BAD\x00SKU", "LONG" * 17, ""):
        assert fb.adapters.restock.get_stock("acme", sku) is None
        assert fb.adapters.restock.list_releases("acme", sku) == []
    # And the log names the event and the shop, not the SKU
    rejected = [json.loads(line) for line in lines if "inventory event rejected" in line]
    assert [r["event_id"] for r in rejected] == ["inv-bad-0", "inv-bad-1", "inv-bad-2", "inv-bad-3"]
    assert {r["shop"] for r in rejected} == {"acme"}
    assert not any("BAD" in line or "LONG" in line for line in lines)


# ---------------------------------------------------------------------------- concurrency


def test_overlapping_wave_runners_never_tell_more_than_one_wave(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
    fb: FeedbackContainer,
    dynamo_hooks: DynamoHooks,
) -> None:
    from feedback.entrypoints import events

    def schedule() -> None:
        events.handler({"schedule": "restock-waves"}, None)

    # For every point in the handling of a restock (before its n-th DynamoDB call), the
    # wave schedule fires right there, as a concurrent Lambda would
    n = 0
    while True:
        n += 1
        sku = f"SERUM-{n}"
        # Given 6 active sign-ups for the SKU
        for i in range(6):
            fb.restock.sign_up("acme", sku, "email", customer_id=f"c-{i}")
        fired = dynamo_hooks.before_call(n, schedule)
        # When 2 items come back (factor 2: a wave tells 4)
        _stock(clock, f"inv-{n}", 0, 2, sku=sku)
        if not fired():
            break
        # Then exactly one wave of 4 went out, whichever runner sent it
        told = {
            m["recipient"]["customer_id"]
            for m in published.messages("restock_early_access")
            if m["variables"]["sku"] == sku
        }
        release = _sku(api, keys, sku)["releases"][0]
        assert (len(told), release["notified"], release["waves"]) == (4, 4, 1), n
    assert n > 8  # every call of the restock was interleaved with


def test_an_inventory_event_that_meets_a_concurrent_write_is_not_lost(
    api: TestClient,
    keys: FeedbackKeys,
    published: RecordingPublisher,
    clock: Clock,
    dynamo_hooks: DynamoHooks,
) -> None:
    # Given one active sign-up for a SKU
    _active_customers(api, keys, clock, range(1))
    # When the restock's transaction is cancelled once because another request was
    # writing the same items at that moment
    dynamo_hooks.conflict(times=1)
    result = _stock(clock, "inv-1", 0, 3)
    # Then it is run again, not taken for an older event: the stock is applied, the
    # release starts and the sign-up is told
    assert result["stock"] == "applied"
    assert _sku(api, keys)["stock"] == 3
    assert len(published.messages("restock_early_access")) == 1

    # When the conflicts go on, the event fails (for Lambda to deliver it again) and
    # changes nothing, instead of being dropped as stale
    dynamo_hooks.conflict(times=10)
    with pytest.raises(DependencyFailed):
        _stock(clock, "inv-2", 3, 0)
    dynamo_hooks.conflict(times=0)
    assert _sku(api, keys)["stock"] == 3
    # And its next delivery applies it
    assert _stock(clock, "inv-2", 3, 0)["stock"] == "applied"
    assert _sku(api, keys)["stock"] == 0
