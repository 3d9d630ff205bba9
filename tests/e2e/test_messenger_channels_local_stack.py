"""One message over all three channels through the real local stack, over real HTTP:
storefront customers → segmenter → EventBridge (template rule) → messenger; the
message goes by mail (moto SES), LINE (sandbox JSONL file) and SMS (moto SNS), and all
three are in `GET /_local/sandbox`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.local.stack import LocalStack
from tests.e2e.stack import bearer, open_shop, running_stack

pytestmark = pytest.mark.e2e
LINE_USER = "U" + "0123456789abcdef" * 2
CONSENTS = [{"channel": c, "granted": True, "source": "signup"} for c in ("email", "line", "sms")]


@pytest.fixture
def stack(tmp_path: Path, aws_credentials: None) -> Iterator[LocalStack]:
    with running_stack(tmp_path / "state") as local:
        yield local


def test_one_message_lands_in_the_sandbox_on_mail_line_and_sms(stack: LocalStack) -> None:
    _, token = open_shop("acme", ("crm", ["events:write", "messages:send", "messages:read"]))
    auth = bearer(token)
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)
    # Given three customers, each reachable on one channel, all opted in
    people = {
        "c-mail": {"email": "hanako@example.jp"},
        "c-line": {"line_user_id": LINE_USER},
        "c-sms": {"phone": "090-1234-5678"},
    }
    for n, (customer_id, contact) in enumerate(people.items()):
        r = http.post(
            "/v1/events",
            json={
                "type": "customer.upserted",
                "event_id": f"cu-{n}",
                "customer": {
                    "customer_id": customer_id,
                    "last_name": "山田",
                    "consents": CONSENTS,
                    **contact,
                },
            },
            headers=auth,
        )
        assert r.status_code == 201, r.text
    stack.drain(timeout=60)
    # And no quiet hours (the test may run at night in Japan)
    policy = http.put("/v1/messenger/policy", json={"quiet_channels": []}, headers=auth)
    assert policy.status_code == 200, policy.text
    # And one message with content for every channel
    message = {
        "message_id": "hello",
        "name": "Hello",
        "email": {
            "subject": "{{ customer.last_name }}様へ",
            "html": "<p>こんにちは</p>",
            "text": "こんにちは",
        },
        "line": {"text": "{{ customer.last_name }}様 こんにちは（LINE）"},
        "sms": {"text": "{{ customer.last_name }}様 こんにちは（SMS）"},
    }
    assert http.post("/v1/messages", json=message, headers=auth).status_code == 201

    # When it is sent to each of them
    channels = {}
    for customer_id in people:
        sent = http.post(
            "/v1/messages/hello/sends",
            json={"customer_id": customer_id, "anchor": "2026-11"},
            headers=auth,
        )
        assert sent.status_code == 202, sent.text
        assert sent.json()["status"] == "sent", sent.json()
        channels[customer_id] = sent.json()["channel"]

    # Then each went on its channel, and the sandbox shows all three
    assert channels == {"c-mail": "email", "c-line": "line", "c-sms": "sms"}
    sandbox = http.get("/_local/sandbox").json()
    by_channel = {m["channel"]: m for m in sandbox}
    assert set(by_channel) == {"mail", "line", "sms"}
    assert by_channel["mail"]["to"] == "hanako@example.jp"
    assert by_channel["mail"]["subject"] == "山田様へ"
    assert by_channel["line"]["to"] == LINE_USER
    assert "こんにちは（LINE）" in by_channel["line"]["body"]
    assert by_channel["sms"]["to"] == "+819012345678"
    assert "こんにちは（SMS）" in by_channel["sms"]["body"]
    assert "/u/" in by_channel["sms"]["body"]  # marketing SMS carries the unsubscribe link
    http.close()
