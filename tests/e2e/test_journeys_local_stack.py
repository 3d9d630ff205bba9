"""Journeys on the real local stack: the dispatcher tick fans the due shards out to the
template's JourneyShardsQueue, and the messenger's event function works them from the
queue (Lambda's SQS event source, reproduced by the stack), as in the cloud."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ops.local.stack import LocalStack, find_template
from ops.local.template import local_name
from shared import aws
from shared import clock as shared_clock
from shared.auth.service import authenticate_token, create_key, create_shop
from shared.auth.store import DynamoKeyStore
from shared.settings import get_settings
from tests.conftest import order_payload

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(aws_credentials: None) -> Iterator[LocalStack]:
    local = LocalStack(find_template(), auto_schedule=False)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        get_settings.cache_clear()


def _auth(stack: LocalStack) -> dict[str, str]:
    settings = get_settings()
    store = DynamoKeyStore(
        aws.client(aws.session(settings.aws_region), "dynamodb"), settings.platform_table
    )
    admin = authenticate_token(store, create_shop(store, "acme", "Acme").token)
    scopes = ["events:write", "messages:send", "messages:read"]
    return {"Authorization": f"Bearer {create_key(store, admin, 'crm', scopes).token}"}


def _journey() -> dict[str, Any]:
    return {
        "journey_id": "steps",
        "name": "Two step mails",
        "trigger": {"event": "order.shipped", "key": "order_id"},
        "start": "wait-1",
        "steps": {
            "wait-1": {"type": "wait_until", "anchor": "shipped_at", "days": 1, "next": "mail-1"},
            "mail-1": {"type": "send", "message_id": "step-1", "next": "wait-3"},
            "wait-3": {"type": "wait_until", "anchor": "shipped_at", "days": 3, "next": "mail-3"},
            "mail-3": {"type": "send", "message_id": "step-3", "next": "done"},
            "done": {"type": "exit"},
        },
        "exit_events": ["order.placed"],
        "reentry": {"mode": "per_key"},
    }


def _message(message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "name": message_id,
        "email": {
            "subject": f"{message_id}: {{{{ customer.last_name }}}}",
            "html": "<p>{{ customer.last_name }}</p>",
            "text": "{{ customer.last_name }}",
        },
    }


def _step_mails(http: httpx.Client) -> list[str]:
    return sorted(
        m["subject"].split(":")[0]
        for m in http.get("/_local/sandbox").json()
        if m["channel"] == "mail" and m["subject"].startswith("step-")
    )


def test_due_steps_are_fanned_out_through_the_shards_queue(
    stack: LocalStack, clock: shared_clock.FixedClock
) -> None:
    """Given the local stack built from the template, a two-mail journey and a shipped
    first order
    When the dispatcher schedule fires a day later, and the clock is advanced to day 4
    Then the tick only queued a message for the due shard, the messenger worked it from
    JourneyShardsQueue and sent each mail once, on its day; nothing is left in the
    queue, nothing failed and nothing reached a dead-letter queue."""
    auth = _auth(stack)
    http = httpx.Client(base_url=stack.api_base_url, timeout=30)
    assert http.put("/v1/messenger/policy", json={"cap_count": 20}, headers=auth).is_success
    for message_id in ("step-1", "step-3"):
        assert http.post("/v1/messages", json=_message(message_id), headers=auth).is_success
    created = http.post("/v1/journeys", json=_journey(), headers=auth)
    assert created.status_code == 201, created.text

    now = shared_clock.now()
    order = order_payload(1, placed_at=now.isoformat())
    assert http.post("/v1/orders", json=order, headers=auth).status_code == 201
    shipped = {
        "type": "order.shipped",
        "event_id": "ship-1",
        "order_id": order["order_id"],
        "at": now.isoformat(),
    }
    assert http.post("/v1/events", json=shipped, headers=auth).status_code == 201
    stack.drain(timeout=60)

    # When the day-1 mail is due and the schedule fires
    clock.advance(days=1, minutes=5)
    tick = stack.fire_schedule("JourneyDispatcher")
    stack.settle_sources()

    # Then the tick queued the one shard with a step due instead of working it
    assert tick["journeys"] == {"fanned_out": 1}
    assert _step_mails(http) == ["step-1"]

    # When the clock moves on to day 4, the schedule firing on the way
    stack.advance_clock(timedelta(days=3))
    stack.drain(timeout=60)

    # Then the day-3 mail went out once, and the queues are clean
    assert _step_mails(http) == ["step-1", "step-3"]
    assert stack.failures() == []
    sqs = stack.client("sqs")
    for name in ("JourneyShardsQueue", "JourneyShardsDeadLetterQueue"):
        url = sqs.get_queue_url(QueueName=local_name(name))["QueueUrl"]
        counts = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert set(counts.values()) == {"0"}, (name, counts)
    assert stack.dead_letters() == []
