"""The events dead-letter queue (SQS) as a store of personal data: an event that failed
every retry waits there, whole (an order's customer snapshot with her email and name),
for up to 14 days, for an operator to look at or send again.

An erasure must reach it: redriving a dead letter about an erased person would bring her
back. `erase` reads the queue through, deletes the shop's messages that name the person
(by `customer_id`, `customer_ids` or `merged_ids` anywhere in the body: an EventBridge
event, or a Lambda failure record whose `requestPayload` is one) and makes every other
message it read visible again at once. A message another reader holds at that moment is
not seen; the erasure's event is redelivered on failure, and a repeat finds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shared.rights import PersonalData

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_ID_FIELDS = ("customer_id", "customer_ids", "merged_ids")
_HOLD_SECONDS = 60
"""How long a message read by the sweep stays hidden if the sweep dies before giving it
back (the queue hands it out again after that)."""


def _names(body: Any, shop_id: str, customer_id: str) -> bool:
    """Whether a dead letter's body is an event of this shop naming this person."""
    shops: set[str] = set()
    ids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("shop"), str):
                shops.add(node["shop"])
            for name in _ID_FIELDS:
                value = node.get(name)
                if isinstance(value, str):
                    ids.add(value)
                elif isinstance(value, list):
                    ids.update(v for v in value if isinstance(v, str))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(body)
    return shop_id in shops and customer_id in ids


class SqsDeadLetters(PersonalData):
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        """Dead letters are not disclosed here: reading the queue hides its messages
        from a redrive meanwhile. An erasure removes them (see the module)."""
        return {}

    def erase(self, shop_id: str, customer_id: str) -> Iterator[dict[str, int]]:
        removed = 0
        kept: list[str] = []
        try:
            while True:
                messages = self._client.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=_HOLD_SECONDS,
                    # long polling asks every SQS server; a short poll samples some
                    # and may answer empty while dead letters remain
                    WaitTimeSeconds=1,
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    try:
                        body = json.loads(message.get("Body", ""))
                    except ValueError:
                        body = None
                    if _names(body, shop_id, customer_id):
                        self._client.delete_message(
                            QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"]
                        )
                        removed += 1
                    else:
                        kept.append(message["ReceiptHandle"])
        finally:
            for start in range(0, len(kept), 10):
                self._client.change_message_visibility_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for n, handle in enumerate(kept[start : start + 10])
                    ],
                )
        if removed:
            yield {"dead_letters": removed}
