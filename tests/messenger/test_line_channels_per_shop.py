"""Each shop's own LINE Official Account, over real HTTP through the messenger app:
connecting it, sending through it, and its webhook. Secrets Manager and DynamoDB are
moto; LINE is the fake LINE server over real HTTP."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from fastapi.testclient import TestClient
from pydantic import SecretStr

from messenger import bootstrap, services
from messenger.adapters.line_credentials import (
    CachedLineCredentials,
    SecretsManagerLineCredentials,
)
from messenger.bootstrap import MessengerContainer
from messenger.domain.line_account import LineCredentials
from messenger.entrypoints import api as messenger_api
from messenger.services.sending import SendRequest
from shared import clock as shared_clock
from shared.adapters.dynamodb import RequestCounter
from shared.auth.service import authenticate_token, create_key
from shared.clock import FixedClock as Clock
from shared.contracts import details
from shared.errors import DependencyFailed
from shared.log import JsonFormatter
from tests.conftest import Cloud, ShopKeys, make_shop
from tests.messenger.line_server import FakeLine, fake_line_server
from tests.messenger.test_messaging import _signed

LINE_USER = "U" + "0123456789abcdef" * 2
"""The same user id in both shops: ids are per LINE provider, so these are two people."""
DAY = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 JST: no quiet hours
CHANNELS = {
    "acme": {
        "channel_id": "1650000001",
        "channel_secret": "a0b1c2d3e4f5a6b7" * 2,
        "channel_access_token": "AcmeToken" + "a1B2+/c3" * 20 + "=",
    },
    "beta": {
        "channel_id": "1650000002",
        "channel_secret": "fedcba9876543210" * 2,
        "channel_access_token": "BetaToken" + "z9Y8+/x7" * 20 + "=",
    },
}
PLATFORM_SECRET = "platform-line-secret"


class Shops:
    """Two shops, acme and beta, on one messenger; LINE is the fake server."""

    def __init__(self, cloud: Cloud, line: FakeLine, platform_token: str = "") -> None:
        self.cloud = cloud
        self.line = line
        self.clock = Clock(DAY)
        shared_clock.use(self.clock)
        settings = cloud.settings.model_copy(
            update={
                "line_api_base_url": line.base_url,
                "line_channel_access_token": SecretStr(platform_token),
                "line_channel_secret": SecretStr(PLATFORM_SECRET),
            }
        )
        self.container: MessengerContainer = bootstrap.build(settings).replaced(clock=self.clock)
        messenger_api.app.state.container = self.container
        self.http = TestClient(messenger_api.app)
        self.keys: dict[str, ShopKeys] = {s: make_shop(cloud, s) for s in ("acme", "beta")}
        self.senders: dict[str, dict[str, str]] = {}
        for shop, keys in self.keys.items():
            admin = authenticate_token(cloud.keys, keys.admin)
            token = create_key(cloud.keys, admin, "crm", ["messages:send", "messages:read"]).token
            self.senders[shop] = ShopKeys.header(token)

    def admin(self, shop: str) -> dict[str, str]:
        return ShopKeys.header(self.keys[shop].admin)

    def connect(self, shop: str, **fields: str) -> dict[str, Any]:
        body = {**CHANNELS[shop], **fields}
        r = self.http.put("/v1/messenger/line-channel", json=body, headers=self.admin(shop))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def channel(self, shop: str) -> dict[str, Any]:
        r = self.http.get(
            "/v1/messenger/line-channel", headers=ShopKeys.header(self.keys[shop].reader)
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def customer(self, shop: str, customer_id: str = "c-1", **fields: Any) -> None:
        snapshot: dict[str, Any] = {
            "customer_id": customer_id,
            "email": f"{customer_id}@{shop}.example.jp",
            "line_user_id": LINE_USER,
            "last_name": "山田",
            "consents": [
                {"channel": c, "granted": True, "source": "signup-form"} for c in ("email", "line")
            ],
        }
        snapshot.update(fields)
        services.record_customer(
            self.container.adapters.recipients,
            shop,
            details.CustomerSnapshot.model_validate(snapshot),
            self.clock.now,
        )

    def message(self, shop: str, text: str | None = None) -> None:
        body = {
            "message_id": "sale",
            "name": "Sale",
            "email": {"subject": "セール", "html": "<p>セール</p>", "text": "セール"},
            "line": {"text": text or f"{shop}: セール開始"},
        }
        r = self.http.post("/v1/messages", json=body, headers=self.senders[shop])
        assert r.status_code == 201, r.text

    def send(self, shop: str, customer_id: str = "c-1", anchor: str = "a-1") -> dict[str, Any]:
        r = self.http.post(
            "/v1/messages/sale/sends",
            json={"customer_id": customer_id, "anchor": anchor},
            headers=self.senders[shop],
        )
        assert r.status_code == 202, r.text
        return dict(r.json())

    def unreachable(self, shop: str, customer_id: str = "c-1") -> frozenset[str]:
        person = self.container.adapters.recipients.get(shop, customer_id)
        assert person is not None
        return person.unreachable

    def pushes(self) -> dict[str, str]:
        """The text of each push LINE received, with the token that authorized it."""
        return {
            r.body["messages"][0]["text"]: r.headers["Authorization"].removeprefix("Bearer ")
            for r in self.line.received
        }

    def secret_names(self) -> list[str]:
        sm = self.cloud.session.client("secretsmanager")
        return [s["Name"] for s in sm.list_secrets()["SecretList"]]


def unfollow(user_id: str = LINE_USER, kind: str = "unfollow") -> bytes:
    event = {
        "type": kind,
        "mode": "active",
        "timestamp": 1700000000000,
        "webhookEventId": "01HUNFOLLOW",
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": user_id},
    }
    return json.dumps({"destination": "U" + "f" * 32, "events": [event]}).encode()


@pytest.fixture
def shops(cloud: Cloud) -> Iterator[Shops]:
    with fake_line_server() as line:
        yield Shops(cloud, line)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything Kizuna logs (every level), as it would reach CloudWatch."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    kizuna = logging.getLogger("kizuna")
    level = kizuna.level
    kizuna.addHandler(handler)
    kizuna.setLevel(logging.DEBUG)
    yield stream
    kizuna.removeHandler(handler)
    kizuna.setLevel(level)


def test_each_shop_pushes_with_its_own_channel_access_token(shops: Shops) -> None:
    # Given two shops, each with its own LINE channel, and a LINE friend in each
    for shop in ("acme", "beta"):
        shops.connect(shop)
        shops.customer(shop)
        shops.message(shop)
    # When each sends a message to its customer
    sent = [shops.send(shop) for shop in ("acme", "beta")]
    # Then each went by LINE, authorized by the shop's own token
    assert [(s["status"], s["channel"]) for s in sent] == [("sent", "line")] * 2
    assert shops.pushes() == {
        "acme: セール開始": CHANNELS["acme"]["channel_access_token"],
        "beta: セール開始": CHANNELS["beta"]["channel_access_token"],
    }


def test_identical_line_content_of_two_shops_is_never_one_multicast(shops: Shops) -> None:
    # Given two shops with their own channels, two LINE friends each, and the very same text
    users = {"c-1": "U" + "1" * 32, "c-2": "U" + "2" * 32}
    for shop in ("acme", "beta"):
        shops.connect(shop)
        for customer_id, user in users.items():
            shops.customer(shop, customer_id, line_user_id=user)
        shops.message(shop, text="本日限定セール")
    # When one batch (a dispatcher tick) sends it to all four
    requests = [
        SendRequest(shop, "sale", c, "campaign:flash", "flash", campaign_id="flash")
        for shop in ("acme", "beta")
        for c in users
    ]
    outcomes = shops.container.pipeline.send_batch(requests)
    # Then each shop's friends got one multicast through that shop's channel
    assert [o.status for o in outcomes] == ["sent"] * 4
    multicasts = {
        r.headers["Authorization"].removeprefix("Bearer "): sorted(r.body["to"])
        for r in shops.line.received
        if r.path == "/v2/bot/message/multicast"
    }
    assert multicasts == {
        CHANNELS["acme"]["channel_access_token"]: sorted(users.values()),
        CHANNELS["beta"]["channel_access_token"]: sorted(users.values()),
    }
    assert len(shops.line.received) == 2


def test_the_secret_and_token_never_leave_secrets_manager(
    shops: Shops, logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    acme = CHANNELS["acme"]
    # Given acme connects its channel
    connected = shops.http.put("/v1/messenger/line-channel", json=acme, headers=shops.admin("acme"))
    # When it reads its connection, sends through it and receives a webhook
    shown = shops.http.get(
        "/v1/messenger/line-channel", headers=ShopKeys.header(shops.keys["acme"].reader)
    )
    shops.customer("acme")
    shops.message("acme")
    assert shops.send("acme")["channel"] == "line"
    body = unfollow()
    hook = shops.http.post(
        "/v1/webhooks/line/acme",
        content=body,
        headers={"X-Line-Signature": _signed(acme["channel_secret"], body)},
    )
    assert hook.status_code == 200
    # Then it sees that it is connected, its channel id and the webhook URL to enter
    assert connected.status_code == 200 and connected.json() == shown.json()
    assert shown.json() == {
        "connected": True,
        "channel_id": "1650000001",
        "connected_at": shown.json()["connected_at"],
        "webhook_url": "https://kizuna.test/v1/webhooks/line/acme",
        "sends_via": "own_channel",
    }
    # And neither the secret nor the token is in any answer, log line or DynamoDB item
    table = shops.cloud.dynamodb.scan(TableName=shops.cloud.settings.messenger_table)
    kept_elsewhere = [connected.text, shown.text, hook.text, logs.getvalue(), caplog.text]
    kept_elsewhere.append(json.dumps(table["Items"], ensure_ascii=False))
    for credential in (acme["channel_secret"], acme["channel_access_token"]):
        assert not [place for place in kept_elsewhere if credential in place]
    assert '"message": "line channel connected", "shop": "acme", "channel_id": 1650000001' in (
        logs.getvalue()
    )
    # And they are in Secrets Manager, one secret per shop
    table_name = shops.cloud.settings.messenger_table
    assert shops.secret_names() == [f"kizuna/{table_name}/line-channel/acme"]


def test_a_webhook_signed_with_another_shops_secret_is_refused(shops: Shops) -> None:
    # Given both shops with their own channels and a customer with the same LINE user id
    for shop in ("acme", "beta"):
        shops.connect(shop)
        shops.customer(shop)
    body = unfollow()
    # When an unfollow signed with acme's secret arrives at beta's webhook URL
    crossed = shops.http.post(
        "/v1/webhooks/line/beta",
        content=body,
        headers={"X-Line-Signature": _signed(CHANNELS["acme"]["channel_secret"], body)},
    )
    # Then it is refused and nobody changes
    assert crossed.status_code == 401
    assert shops.unreachable("acme") == frozenset() == shops.unreachable("beta")
    # And a shop id without a channel of its own, or no shop at all, is refused the same way
    for path in ("/v1/webhooks/line/gamma", "/v1/webhooks/line/NOT%20A%20SHOP"):
        signed = {"X-Line-Signature": _signed(CHANNELS["acme"]["channel_secret"], body)}
        assert shops.http.post(path, content=body, headers=signed).status_code == 401


def test_one_shops_unfollow_leaves_the_other_shops_friend_alone(shops: Shops) -> None:
    # Given both shops with their own channels and a customer with the same LINE user id
    for shop in ("acme", "beta"):
        shops.connect(shop)
        shops.customer(shop)
        shops.message(shop)
    body = unfollow()
    # When the user blocks acme's account (acme's channel posts to acme's URL)
    blocked = shops.http.post(
        "/v1/webhooks/line/acme",
        content=body,
        headers={"X-Line-Signature": _signed(CHANNELS["acme"]["channel_secret"], body)},
    )
    # Then only acme's customer is unreachable on LINE
    assert blocked.status_code == 200 and blocked.json()["changed"] == 1
    assert shops.unreachable("acme") == {"line"}
    assert shops.unreachable("beta") == frozenset()
    # And acme's next message goes by mail, beta's still by LINE
    assert shops.send("acme")["channel"] == "email"
    assert shops.send("beta")["channel"] == "line"
    # When the user adds acme back as a friend
    again = unfollow(kind="follow")
    followed = shops.http.post(
        "/v1/webhooks/line/acme",
        content=again,
        headers={"X-Line-Signature": _signed(CHANNELS["acme"]["channel_secret"], again)},
    )
    # Then acme may use LINE again
    assert followed.status_code == 200 and shops.unreachable("acme") == frozenset()


def test_the_platform_webhook_speaks_only_for_shops_without_their_own_channel(
    shops: Shops,
) -> None:
    # Given acme has its own channel and beta has not (it would use the platform's)
    shops.connect("acme")
    for shop in ("acme", "beta"):
        shops.customer(shop)
    body = unfollow()
    # When the platform's channel reports an unfollow of that user id
    hook = shops.http.post(
        "/v1/webhooks/line",
        content=body,
        headers={"X-Line-Signature": _signed(PLATFORM_SECRET, body)},
    )
    # Then beta's customer is unreachable on LINE, and acme's is not touched
    assert hook.status_code == 200 and hook.json()["changed"] == 1
    assert shops.unreachable("beta") == {"line"}
    assert shops.unreachable("acme") == frozenset()


def test_without_a_channel_or_a_platform_token_line_is_skipped_for_mail(shops: Shops) -> None:
    # Given a shop that never connected LINE, on a deployment without a platform token
    assert shops.channel("acme") == {
        "connected": False,
        "channel_id": None,
        "connected_at": None,
        "webhook_url": "https://kizuna.test/v1/webhooks/line/acme",
        "sends_via": "none",
    }
    shops.customer("acme")
    shops.customer("acme", "c-line-only", email=None)
    shops.message("acme")
    # When it sends to a customer on LINE and mail, and to one only on LINE
    both = shops.send("acme")
    line_only = shops.send("acme", "c-line-only")
    # Then the first gets mail, the second is skipped with the reason, nothing goes to LINE
    assert (both["status"], both["channel"]) == ("sent", "email")
    assert (line_only["status"], line_only["reason"]) == ("skipped", "channel_not_connected")
    assert shops.line.received == [] and len(shops.cloud.sent_mail()) == 1
    # And the customer stays reachable on LINE for when the shop connects
    assert shops.unreachable("acme") == frozenset()
    # And a test send on LINE says which field cannot be served
    tried = shops.http.post(
        "/v1/messages/sale/test-sends",
        json={"channel": "line", "to": LINE_USER},
        headers=shops.senders["acme"],
    )
    assert tried.status_code == 422
    assert tried.json()["error"]["fields"][0]["field"] == "channel"


def test_without_a_channel_the_platform_token_sends_when_one_is_set(cloud: Cloud) -> None:
    with fake_line_server() as line:
        # Given a deployment with a platform LINE token; acme has its own channel, beta not
        shops = Shops(cloud, line, platform_token="PlatformToken" + "p" * 40)
        shops.connect("acme")
        for shop in ("acme", "beta"):
            shops.customer(shop)
            shops.message(shop)
        # When both send
        for shop in ("acme", "beta"):
            assert shops.send(shop)["channel"] == "line"
        # Then acme's went through its channel and beta's through the platform's
        assert shops.pushes() == {
            "acme: セール開始": CHANNELS["acme"]["channel_access_token"],
            "beta: セール開始": "PlatformToken" + "p" * 40,
        }
        assert shops.channel("beta")["sends_via"] == "platform_channel"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel_access_token": None}, "channel_access_token"),
        ({"channel_secret": None}, "channel_secret"),
        ({"channel_id": "@acme-shop"}, "channel_id"),
        ({"channel_secret": "not-a-hex-secret"}, "channel_secret"),
        ({"channel_access_token": "short"}, "channel_access_token"),
        ({"channel_access_token": "with spaces " * 10}, "channel_access_token"),
        ({"webhook": "https://evil.example"}, "webhook"),
    ],
)
def test_a_malformed_channel_is_a_422_naming_the_field_and_stores_nothing(
    shops: Shops, change: dict[str, str | None], field: str
) -> None:
    # Given channel details with one field missing, malformed or unknown
    body: dict[str, str | None] = {**CHANNELS["acme"], **change}
    body = {k: v for k, v in body.items() if v is not None}
    # When the shop tries to connect them
    r = shops.http.put("/v1/messenger/line-channel", json=body, headers=shops.admin("acme"))
    # Then the answer names the field, without echoing the secret or the token
    assert r.status_code == 422
    assert [f["field"] for f in r.json()["error"]["fields"]] == [field]
    assert CHANNELS["acme"]["channel_access_token"] not in r.text
    # And nothing was stored
    assert shops.channel("acme")["connected"] is False and shops.secret_names() == []


def test_only_an_admin_key_of_the_shop_changes_its_channel(shops: Shops) -> None:
    # Given acme's channel is connected
    shops.connect("acme")
    acme_reader = ShopKeys.header(shops.keys["acme"].reader)
    # When a key without the admin scope, or no key, tries to replace or remove it
    for headers in (acme_reader, shops.senders["acme"], {}):
        put = shops.http.put("/v1/messenger/line-channel", json=CHANNELS["beta"], headers=headers)
        gone = shops.http.delete("/v1/messenger/line-channel", headers=headers)
        # Then it is refused
        assert (put.status_code, gone.status_code) == ((403, 403) if headers else (401, 401))
    # And reading needs `messages:read`
    assert shops.http.get("/v1/messenger/line-channel").status_code == 401
    events_key = ShopKeys.header(shops.keys["acme"].events)
    assert shops.http.get("/v1/messenger/line-channel", headers=events_key).status_code == 403
    assert shops.channel("acme")["channel_id"] == CHANNELS["acme"]["channel_id"]


def test_another_shops_key_neither_sees_nor_changes_this_shops_channel(shops: Shops) -> None:
    # Given acme's channel is connected and beta has none
    shops.connect("acme")
    shops.customer("acme")
    shops.message("acme")
    # When beta's admin reads, connects and disconnects with its own key
    seen = shops.channel("beta")
    shops.connect("beta")
    gone = shops.http.delete("/v1/messenger/line-channel", headers=shops.admin("beta"))
    # Then beta only ever saw and changed its own
    assert (seen["connected"], seen["channel_id"]) == (False, None)
    assert seen["webhook_url"].endswith("/v1/webhooks/line/beta")
    assert gone.status_code == 200 and gone.json()["connected"] is False
    # And acme's channel is as it was and still sends acme's messages
    assert shops.channel("acme")["channel_id"] == CHANNELS["acme"]["channel_id"]
    assert shops.send("acme")["channel"] == "line"
    assert shops.pushes() == {"acme: セール開始": CHANNELS["acme"]["channel_access_token"]}


def test_disconnect_deletes_the_credentials_and_a_reconnect_works_at_once(shops: Shops) -> None:
    # Given acme's channel is connected
    shops.connect("acme")
    shops.customer("acme")
    shops.message("acme")
    # When acme disconnects it (twice: a retried request)
    for _ in range(2):
        gone = shops.http.delete("/v1/messenger/line-channel", headers=shops.admin("acme"))
        assert gone.status_code == 200
        assert (gone.json()["connected"], gone.json()["sends_via"]) == (False, "none")
    # Then the secret is gone, its webhook URL is refused and its messages go by mail
    assert shops.secret_names() == []
    body = unfollow()
    signed = {"X-Line-Signature": _signed(CHANNELS["acme"]["channel_secret"], body)}
    assert (
        shops.http.post("/v1/webhooks/line/acme", content=body, headers=signed).status_code == 401
    )
    assert shops.send("acme")["channel"] == "email"
    # When it connects a new channel right away
    renewed = shops.connect("acme", channel_access_token="RenewedToken" + "r" * 60)
    # Then its next message goes through the new token
    assert renewed["connected"] is True
    assert shops.send("acme", anchor="a-2")["channel"] == "line"
    assert shops.pushes() == {"acme: セール開始": "RenewedToken" + "r" * 60}


def test_a_warm_own_channel_costs_no_secrets_manager_call_and_three_dynamodb_requests(
    shops: Shops,
) -> None:
    # Given a warm container: acme's channel and message were read once
    shops.connect("acme")
    shops.customer("acme", "c-1")
    shops.customer("acme", "c-2", line_user_id="U" + "2" * 32)
    shops.message("acme")
    assert shops.send("acme", "c-1")["channel"] == "line"
    table = shops.cloud.settings.messenger_table
    dynamodb = RequestCounter(table=table).attach(shops.container.adapters.deliveries._client)  # type: ignore[attr-defined]
    secrets: list[str] = []
    store = shops.container.adapters.line_accounts._credentials._inner  # type: ignore[attr-defined]
    store._client.meta.events.register(
        "provide-client-params.secrets-manager.*",
        lambda model, **_: secrets.append(model.name),
    )
    # When the next LINE message is delivered
    assert shops.send("acme", "c-2")["channel"] == "line"
    # Then it took the usual three DynamoDB requests and no Secrets Manager call
    ops = ("Query", "TransactWriteItems", "TransactWriteItems")
    assert dynamodb.calls == [f"{op}:{table}" for op in ops]
    assert secrets == []


def test_cached_credentials_follow_a_change_after_the_ttl_and_survive_an_outage(
    cloud: Cloud,
) -> None:
    # Given two warm containers' caches over one Secrets Manager (60 s TTL)
    client = cloud.session.client(
        "secretsmanager", config=Config(retries={"total_max_attempts": 1})
    )
    down = [False]

    def unreachable_when_down(**_: Any) -> None:
        if down[0]:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.test")

    client.meta.events.register("before-send.secrets-manager.*", unreachable_when_down)
    now = [0.0]
    store = SecretsManagerLineCredentials(client, "kizuna/test/line-channel/")
    api = CachedLineCredentials(store, ttl=60, monotonic=lambda: now[0])
    sender = CachedLineCredentials(store, ttl=60, monotonic=lambda: now[0])
    assert sender.get("acme") is None
    # When the API container connects acme's channel
    acme = CHANNELS["acme"]
    connected = LineCredentials(
        acme["channel_id"], acme["channel_secret"], acme["channel_access_token"], DAY
    )
    api.put("acme", connected)
    # Then the sending container sees it once its cached answer is older than the TTL
    now[0] = 59.0
    assert sender.get("acme") is None
    now[0] = 61.0
    assert sender.get("acme") == connected
    # And the credentials never show in a repr (a log line or a traceback)
    assert acme["channel_secret"] not in repr(connected)
    assert acme["channel_access_token"] not in repr(connected)

    # When Secrets Manager cannot be reached at the next refresh
    down[0] = True
    now[0] = 200.0
    # Then the last credentials read keep serving; a shop never read before is a 503
    assert sender.get("acme") == connected
    with pytest.raises(DependencyFailed):
        sender.get("beta")
