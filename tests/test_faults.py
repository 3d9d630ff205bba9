"""Faults injected into the order-to-welcome-mail slice, in-process on moto, with the
count of events in against the state out: nothing lost, nothing doubled.

Each fault is a botocore event hook on the segmenter's own clients (so it hits the calls
the service really makes): DynamoDB throttling of the event's transaction; a crash right
after the transaction committed, before anything was published (the Lambda dies between
its two writes); `PutEvents` answering that an entry failed although the bus took it
(EventBridge's partial failure: the retry sends it again). The storefront retries any
5xx, as the API asks; EventBridge delivers every event to the messenger twice.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from messenger.entrypoints import events as messenger_events
from segmenter import bootstrap
from tests.conftest import Cloud, ShopKeys, order_payload, placed_today

CUSTOMERS = 9
EVERY = 3
"""Every third call of the targeted kind fails."""


def _throttle(hooks: Any, counter: Callable[[], int]) -> None:
    def refuse(**_: Any) -> Any:
        if next_call(counter):
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
        return None

    hooks.register_first("before-call.dynamodb.TransactWriteItems", refuse)


def _crash_after_commit(hooks: Any, counter: Callable[[], int]) -> None:
    def crash(**_: Any) -> None:
        if next_call(counter):
            raise RuntimeError("the Lambda died after its commit")

    hooks.register("after-call.dynamodb.TransactWriteItems", crash)


def _partial_put_events(hooks: Any, counter: Callable[[], int]) -> None:
    def fail_first(parsed: dict[str, Any], **_: Any) -> None:
        if next_call(counter) and parsed.get("Entries"):
            parsed["Entries"][0] = {"ErrorCode": "InternalFailure", "ErrorMessage": "retry"}
            parsed["FailedEntryCount"] = 1

    hooks.register("after-call.events.PutEvents", fail_first)


def next_call(counter: Callable[[], int]) -> bool:
    return counter() % EVERY == 0


RETRIED = {
    "dynamodb_throttling": {503},  # "busy, retry", with Retry-After
    "crash_between_commit_and_publish": {500},
    "partial_put_events": set(),  # the publisher sends the failed entry again itself
}
"""What the storefront saw before its retry was accepted."""


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    detail = event["detail"]
    return dict(json.loads(detail) if isinstance(detail, str) else detail)


FAULTS = {
    "dynamodb_throttling": ("dynamodb", _throttle),
    "crash_between_commit_and_publish": ("dynamodb", _crash_after_commit),
    "partial_put_events": ("events", _partial_put_events),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_events_in_equal_state_out_under_each_fault(
    cloud: Cloud, shop: ShopKeys, fault: str
) -> None:
    """Given the template's rules into the messenger, and the fault on every third call
    When nine customers' first orders are posted, each retried until accepted, and every
    event the bus delivered is handed to the messenger twice
    Then nine orders are stored, one per customer; nine distinct `order.placed` reached
    the messenger; and exactly nine welcome mails left, one per address."""
    from segmenter.entrypoints.api import app

    cloud.route_rules_to_queues()
    container = bootstrap.build(cloud.settings)
    service, inject = FAULTS[fault]
    client = (
        container.adapters.profiles._client  # type: ignore[attr-defined]
        if service == "dynamodb"
        else container.adapters.publisher._client  # type: ignore[attr-defined]
    )
    calls = itertools.count(1)
    injected: list[int] = []

    def counter() -> int:
        n = next(calls)
        if n % EVERY == 0:
            injected.append(n)
        return n

    inject(client.meta.events, counter)
    app.state.container = container
    api = TestClient(app, raise_server_exceptions=False)
    statuses: list[int] = []
    try:
        for n in range(1, CUSTOMERS + 1):
            body = order_payload(
                1, customer_id=f"c-{n}", email=f"buyer{n}@example.jp", placed_at=placed_today()
            )
            for _ in range(10):
                answer = api.post("/v1/orders", json=body, headers=shop.header(shop.events))
                statuses.append(answer.status_code)
                if answer.status_code < 500:
                    break
            assert answer.status_code in (200, 201), answer.text
    finally:
        app.state.container = None

    delivered = cloud.take_events("MessengerEventsFunction")
    for event in delivered + delivered:  # EventBridge delivers at least once
        messenger_events.handler(event, None)

    assert injected  # the fault did happen
    assert set(statuses) <= {200, 201, *RETRIED[fault]}, statuses
    orders = [_detail(e) for e in delivered if e["detail-type"] == "order.placed"]
    assert len({o["id"] for o in orders}) == CUSTOMERS
    reader = shop.header(shop.reader)
    profiles = api.get("/v1/customers", params={"limit": 100}, headers=reader).json()["customers"]
    assert sorted(p["order_count"] for p in profiles) == [1] * CUSTOMERS
    mails = sorted(str(m.destinations[0]) for m in cloud.sent_mail())
    assert mails == sorted(f"buyer{n}@example.jp" for n in range(1, CUSTOMERS + 1))
