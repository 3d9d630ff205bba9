"""The order-to-message slice through the real local stack, over real HTTP:
uvicorn → segmenter app → moto server (DynamoDB, EventBridge) → SQS → poller →
messenger handler → moto SES. Then a restart keeps the state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.local.stack import LocalStack, find_template
from shared import aws
from shared.auth.service import authenticate_token, create_key, create_shop
from shared.auth.store import DynamoKeyStore
from shared.settings import get_settings
from tests.conftest import order_payload

pytestmark = pytest.mark.e2e


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def stack(state_dir: Path, aws_credentials: None) -> Iterator[LocalStack]:
    local = LocalStack(find_template(), state_dir=state_dir, auto_schedule=False)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        get_settings.cache_clear()


def _keys() -> tuple[str, str]:
    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    admin = authenticate_token(store, create_shop(store, "acme", "Acme").token)
    events = create_key(store, admin, "storefront", ["events:write"]).token
    reader = create_key(store, admin, "bi", ["segments:read", "messages:read"]).token
    return events, reader


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_order_to_welcome_mail_over_http_and_state_survives_restart(
    stack: LocalStack, state_dir: Path
) -> None:
    events, reader = _keys()
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)

    # When a storefront posts a first order over HTTP
    created = http.post("/v1/orders", json=order_payload(1), headers=_auth(events))
    assert created.status_code == 201
    stack.drain(timeout=60)

    # Then one welcome mail is in the sandbox and the delivery is recorded
    sandbox = http.get("/_local/sandbox").json()
    mails = [m for m in sandbox if m["channel"] == "mail"]
    assert [m["to"] for m in mails] == ["hanako@example.jp"]
    assert "はじめてのご購入" in mails[0]["subject"]
    deliveries = http.get("/v1/deliveries", headers=_auth(reader)).json()
    assert [(d["trigger"], d["status"]) for d in deliveries] == [("welcome", "sent")]

    # When the same order is retried and a second order follows
    assert http.post("/v1/orders", json=order_payload(1), headers=_auth(events)).status_code == 200
    assert http.post("/v1/orders", json=order_payload(2), headers=_auth(events)).status_code == 201
    stack.drain(timeout=60)

    # Then no second welcome mail leaves
    mails = [m for m in http.get("/_local/sandbox").json() if m["channel"] == "mail"]
    assert len(mails) == 1
    assert stack.failures() == []
    assert stack.dead_letters() == []

    # And a schedule of the template can be fired on demand over HTTP
    fired = http.post("/_local/schedules/JourneyDispatcher")
    assert fired.status_code == 200

    # When the local stack restarts on the same state folder
    http.close()
    stack.stop()
    stack.start()
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)

    # Then the profile, the keys and the sent mail are still there, and a retry is
    # still recognised as a duplicate
    profile = http.get("/v1/customers/c-1", headers=_auth(reader))
    assert profile.status_code == 200
    assert profile.json()["order_count"] == 2
    again = http.post("/v1/orders", json=order_payload(2), headers=_auth(events))
    assert again.json()["duplicate"] is True
    stack.drain(timeout=60)
    mails = [m for m in http.get("/_local/sandbox").json() if m["channel"] == "mail"]
    assert len(mails) == 1
    http.close()


def test_unknown_route_is_a_json_404(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_base_url}/v2/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_found"
