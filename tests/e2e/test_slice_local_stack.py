"""The order-to-message slice through the real local stack, over real HTTP:
uvicorn → segmenter app → moto server (DynamoDB, EventBridge) → SQS → poller →
messenger handler → moto SES. Then a restart keeps the state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.local.stack import LocalStack
from tests.conftest import order_payload, placed_today
from tests.e2e.stack import bearer, open_shop, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def stack(state_dir: Path, aws_credentials: None) -> Iterator[LocalStack]:
    with running_stack(state_dir) as local:
        yield local


def test_order_to_welcome_mail_over_http_and_state_survives_restart(
    stack: LocalStack, state_dir: Path
) -> None:
    _, events, reader = open_shop(
        "acme", ("storefront", ["events:write"]), ("bi", ["segments:read", "messages:read"])
    )
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)

    # When a storefront posts a first order over HTTP
    created = http.post(
        "/v1/orders", json=order_payload(1, placed_at=placed_today(1)), headers=bearer(events)
    )
    assert created.status_code == 201
    stack.drain(timeout=60)

    # Then one welcome mail is in the sandbox and the delivery is recorded
    sandbox = http.get("/_local/sandbox").json()
    mails = [m for m in sandbox if m["channel"] == "mail"]
    assert [m["to"] for m in mails] == ["hanako@example.jp"]
    assert "はじめてのご購入" in mails[0]["subject"]
    deliveries = http.get("/v1/deliveries", headers=bearer(reader)).json()
    assert [(d["trigger"], d["status"]) for d in deliveries] == [("welcome", "sent")]

    # When the same order is retried and a second order follows
    assert (
        http.post(
            "/v1/orders", json=order_payload(1, placed_at=placed_today(1)), headers=bearer(events)
        ).status_code
        == 200
    )
    assert (
        http.post(
            "/v1/orders", json=order_payload(2, placed_at=placed_today(2)), headers=bearer(events)
        ).status_code
        == 201
    )
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
    profile = http.get("/v1/customers/c-1", headers=bearer(reader))
    assert profile.status_code == 200
    assert profile.json()["order_count"] == 2
    again = http.post(
        "/v1/orders", json=order_payload(2, placed_at=placed_today(2)), headers=bearer(events)
    )
    assert again.json()["duplicate"] is True
    stack.drain(timeout=60)
    mails = [m for m in http.get("/_local/sandbox").json() if m["channel"] == "mail"]
    assert len(mails) == 1
    http.close()


def test_unknown_route_is_a_json_404(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_base_url}/v2/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_found"
