"""The EventBridge publisher: batches of at most 10, and only failed entries retried."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adapters.eventbridge import EventBridgePublisher
from shared.contracts.envelope import EventEnvelope
from shared.errors import DependencyFailed
from tests.conftest import Cloud


def _envelopes(n: int) -> list[EventEnvelope]:
    return [
        EventEnvelope(
            id=f"e-{i}",
            shop="acme",
            type="inventory.changed",
            detail={"sku": f"S{i}", "previous_quantity": 0, "quantity": 1},
        )
        for i in range(n)
    ]


class FlakyEventBridge:
    """Fails the given entry indexes on the first call, like PutEvents' partial failures."""

    def __init__(self, fail_first: set[int], always_fail: bool = False) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._fail_first = fail_first
        self._always = always_fail

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(Entries)
        failing = self._fail_first if len(self.calls) == 1 or self._always else set()
        results = [
            {"ErrorCode": "InternalFailure"} if i in failing else {"EventId": f"id-{i}"}
            for i in range(len(Entries))
        ]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}


def test_twenty_five_events_go_in_three_batches(cloud: Cloud) -> None:
    # Given a rule that captures everything on the bus into a queue
    url = cloud.sqs.create_queue(QueueName="all")["QueueUrl"]
    arn = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = cloud.settings.event_bus_name
    cloud.events.put_rule(
        Name="all", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": "kizuna"}]})
    )
    cloud.events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    calls: list[int] = []
    cloud.events.meta.events.register(
        "before-parameter-build.events.PutEvents",
        lambda params, **_: calls.append(len(params["Entries"])),
    )

    # When 25 events are published
    EventBridgePublisher(cloud.events, bus).publish(_envelopes(25))

    # Then PutEvents was called with 10 + 10 + 5 entries, and all 25 arrived
    assert calls == [10, 10, 5]
    received = []
    while batch := cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in batch:
            received.append(json.loads(m["Body"]))
            cloud.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(e["detail"]["id"] for e in received) == sorted(f"e-{i}" for i in range(25))
    assert {e["detail-type"] for e in received} == {"inventory.changed"}
    assert {e["source"] for e in received} == {"kizuna.segmenter"}


def test_only_failed_entries_are_retried() -> None:
    fake = FlakyEventBridge(fail_first={1, 3})
    EventBridgePublisher(fake, "bus", sleep=lambda _: None).publish(_envelopes(4))  # type: ignore[arg-type]

    assert len(fake.calls) == 2
    retried = [json.loads(e["Detail"])["id"] for e in fake.calls[1]]
    assert retried == ["e-1", "e-3"]


def test_gives_up_with_a_clear_error() -> None:
    fake = FlakyEventBridge(fail_first={0}, always_fail=True)
    publisher = EventBridgePublisher(fake, "bus", max_attempts=3, sleep=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(DependencyFailed, match=r"inventory\.changed"):
        publisher.publish(_envelopes(2))
    assert len(fake.calls) == 3


def test_derived_event_ids_are_stable_and_always_valid() -> None:
    from shared.contracts.envelope import derived_event_id

    short = derived_event_id("evt-1", "segment.entered", "dormant")
    long = derived_event_id("e" * 128, "segment.entered", "dormant")
    assert short == "evt-1:segment.entered:dormant"
    assert long == derived_event_id("e" * 128, "segment.entered", "dormant")
    assert len(long) <= 128
    EventEnvelope(id=long, shop="acme", type="segment.entered", detail={})
