"""moto's SQS answers as before the patch, without walking the queue on every send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Queue

from ops.local import moto_queues


@pytest.fixture
def sqs(aws_credentials: None) -> Iterator[Any]:
    moto_queues.install()
    with mock_aws():
        yield boto3.client("sqs", region_name="ap-northeast-1")


def _queue(url: str) -> Queue:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends["123456789012"]["ap-northeast-1"]
    return backend.get_queue(url.rsplit("/", 1)[1])


def test_moto_is_the_release_the_patch_was_checked_on() -> None:
    # Given the installed moto / When the patch checks what it relies on / Then it fits
    moto_queues.check_compatible()


@pytest.mark.parametrize("fifo", [False, True])
def test_queue_attributes_are_what_moto_itself_answers(sqs: Any, fifo: bool) -> None:
    # Given a queue with a DLQ, visible, received (in flight) and delayed messages
    fifo_attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dlq = sqs.create_queue(
        QueueName="dlq.fifo" if fifo else "dlq", Attributes=fifo_attributes if fifo else {}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    attributes = {
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
        )
    }
    if fifo:
        attributes |= fifo_attributes
    url = sqs.create_queue(QueueName="q.fifo" if fifo else "q", Attributes=attributes)["QueueUrl"]
    for n in range(6):
        extra: dict[str, Any] = {"MessageGroupId": "g"} if fifo else {}
        if not fifo and n == 5:
            extra["DelaySeconds"] = 60
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", **extra)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    queue = _queue(url)

    # When the patched attributes are read, whole and one by one
    patched = queue.attributes
    # Then they are moto's own, in the same order, and the counts hold
    assert dict(patched) == moto_queues.original_attributes(queue)
    assert list(patched) == list(moto_queues.original_attributes(queue))
    answered = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    in_flight = int(answered["ApproximateNumberOfMessagesNotVisible"])
    assert in_flight == 2
    assert int(answered["ApproximateNumberOfMessagesDelayed"]) == (0 if fifo else 1)
    assert int(answered["ApproximateNumberOfMessages"]) == 6 - in_flight - (0 if fifo else 1)
    assert patched.get("NoSuchAttribute") is None


def test_a_send_does_not_count_the_messages_already_queued(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue with a backlog
    url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
    for n in range(50):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    scans = 0
    messages: Any = Queue.__dict__["messages"]
    original = messages.fget

    def counting(queue: Any) -> Any:
        nonlocal scans
        scans += 1
        return original(queue)

    monkeypatch.setattr(Queue, "messages", property(counting))
    # When one more message is sent and one received
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    # Then the send walked no message list and the receive one (not one per attribute)
    assert received[0]["Body"] == "m0"
    assert scans == 1
