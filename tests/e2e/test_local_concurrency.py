"""The local stack keeps the frequency cap and exactly-once delivery under concurrent
requests, over real HTTP: DynamoDB's conditional writes and transactions hold on moto."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ops.local.stack import LocalStack
from tests.e2e.stack import bearer, open_shop, running_stack

pytestmark = pytest.mark.e2e
ROUNDS = 10


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state")) as local:
        yield local


@pytest.fixture(scope="module")
def auth(stack: LocalStack) -> dict[str, str]:
    _, token = open_shop("busy", ("crm", ["events:write", "messages:send", "messages:read"]))
    headers = bearer(token)
    with httpx.Client(base_url=stack.api_base_url, timeout=60, headers=headers) as http:
        message = {
            "message_id": "flash",
            "name": "Flash sale",
            "email": {"subject": "セール", "html": "<p>セール</p>", "text": "セール"},
        }
        assert http.post("/v1/messages", json=message).status_code == 201
    return headers


def _customer(stack: LocalStack, auth: dict[str, str], customer_id: str) -> None:
    with httpx.Client(base_url=stack.api_base_url, timeout=60, headers=auth) as http:
        r = http.post(
            "/v1/events",
            json={
                "type": "customer.upserted",
                "event_id": f"cu-{customer_id}",
                "customer": {
                    "customer_id": customer_id,
                    "email": f"{customer_id}@example.jp",
                    "consents": [{"channel": "email", "granted": True, "source": "signup"}],
                },
            },
        )
        assert r.status_code == 201, r.text
    stack.drain(timeout=60)


def _send_all(stack: LocalStack, auth: dict[str, str], bodies: list[dict[str, Any]]) -> list[Any]:
    def send(body: dict[str, Any]) -> Any:
        with httpx.Client(base_url=stack.api_base_url, timeout=60, headers=auth) as http:
            return http.post("/v1/messages/flash/sends", json=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def _mails_to(stack: LocalStack, address: str) -> int:
    return sum(1 for m in stack.sandbox_messages() if m["channel"] == "mail" and m["to"] == address)


def _statuses(stack: LocalStack, auth: dict[str, str], customer_id: str) -> Counter[str]:
    with httpx.Client(base_url=stack.api_base_url, timeout=60, headers=auth) as http:
        page = http.get("/v1/deliveries", params={"customer_id": customer_id})
    assert page.status_code == 200, page.text
    body = page.json()
    items = body["items"] if isinstance(body, dict) else body
    return Counter(d["status"] for d in items)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_marketing_sends_respect_the_cap(
    stack: LocalStack, auth: dict[str, str], round_: int
) -> None:
    # Given an opted-in customer and the default cap of 3 marketing messages per 7 days
    customer = f"cap-{round_}"
    _customer(stack, auth, customer)

    # When 5 different sends to them arrive at once
    answers = _send_all(
        stack, auth, [{"customer_id": customer, "anchor": f"drop-{n}"} for n in range(5)]
    )

    # Then exactly 3 were sent and 2 deferred, with 3 mails on the wire and none in limbo
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    assert Counter(a.json()["status"] for a in answers) == {"sent": 3, "deferred": 2}
    assert _mails_to(stack, f"{customer}@example.jp") == 3
    assert "sending" not in _statuses(stack, auth, customer)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_identical_sends_deliver_once(
    stack: LocalStack, auth: dict[str, str], round_: int
) -> None:
    # Given an opted-in customer
    customer = f"once-{round_}"
    _customer(stack, auth, customer)

    # When the same send (same message, customer and anchor) arrives 20 times at once
    answers = _send_all(stack, auth, [{"customer_id": customer, "anchor": "order-1"}] * 20)

    # Then exactly one mail went out, and no delivery is left sending
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    assert Counter(a.json()["status"] for a in answers)["sent"] == 1
    assert _mails_to(stack, f"{customer}@example.jp") == 1
    assert "sending" not in _statuses(stack, auth, customer)
