"""The journey dispatcher's fan-out over SQS: one message per due shard, and one per
next page of a restocked SKU's wish list (`{"restock": ...}`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from messenger.services.ports import ShardQueue

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsShardQueue(ShardQueue):
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def fan_out(self, shards: Sequence[int], until: datetime) -> None:
        for start in range(0, len(shards), 10):
            entries = [
                {
                    "Id": str(s),
                    "MessageBody": json.dumps({"journey_shard": s, "until": until.isoformat()}),
                }
                for s in shards[start : start + 10]
            ]
            sent = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)  # type: ignore[arg-type]
            if sent.get("Failed"):
                # The tick fails loudly (and runs again next minute): a shard left out
                # would only be late, but nobody would know why.
                raise RuntimeError(f"{len(sent['Failed'])} due shards were not queued")

    def restock_page(self, restock: Mapping[str, Any]) -> None:
        self._client.send_message(
            QueueUrl=self._url, MessageBody=json.dumps({"restock": dict(restock)}, default=str)
        )
