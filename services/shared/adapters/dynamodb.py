"""DynamoDB access shared by the services' repositories.

Repositories talk to the low-level client (lighter to import and create than the
resource API) and convert items with boto3's own (de)serializers. The client is
always injected; nothing here creates one at import time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]


def _prepare(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _prepare(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_prepare(v) for v in value} or None
    return value


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """Python values → DynamoDB attribute values (None is dropped, floats become Decimal)."""
    prepared = _prepare(data)
    return {k: _serializer.serialize(v) for k, v in prepared.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> Item:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def first_condition_refused(error: ClientError) -> bool:
    """The condition of a single write, or of a transaction's first item, was refused:
    the "someone got there first" answer, whichever call carried the write."""
    return is_condition_failure(error) or cancellation_codes(error)[:1] == [
        "ConditionalCheckFailed"
    ]


def cancellation_codes(error: ClientError) -> list[str | None]:
    """Per-item reasons of a cancelled TransactWriteItems (None where the item was fine)."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = error.response.get("CancellationReasons") or []
    codes: list[str | None] = []
    for reason in reasons:
        code = reason.get("Code")
        codes.append(None if code in (None, "None") else str(code))
    return codes


def query_all(client: DynamoDBClient, **kwargs: Any) -> Iterator[Item]:
    """Every item of a Query, page after page."""
    while True:
        page = client.query(**kwargs)
        for item in page.get("Items", []):
            yield from_item(item)
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def batch_get_all(
    client: DynamoDBClient,
    table: str,
    keys: list[dict[str, Any]],
    *,
    consistent: bool = False,
) -> Iterator[Item]:
    """Every item of `keys` that exists: BatchGetItem in chunks of 100, with the keys
    DynamoDB left unprocessed asked for again, so none is silently missing."""
    for start in range(0, len(keys), 100):
        pending: Any = {table: {"Keys": keys[start : start + 100], "ConsistentRead": consistent}}
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(table, []):
                yield from_item(raw)
            pending = response.get("UnprocessedKeys") or {}


@dataclass
class RequestCounter:
    """Counts DynamoDB API calls made through a client (for bench/ and tests)."""

    calls: list[str] = field(default_factory=list)
    table: str | None = None
    """Count only requests that touch this table (None: every request)."""

    def attach(self, client: Any) -> RequestCounter:
        client.meta.events.register("provide-client-params.dynamodb.*", self._on_call)
        return self

    def _on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        tables = {params.get("TableName")} | set(params.get("RequestItems") or {})
        for item in params.get("TransactItems") or []:
            tables |= {op.get("TableName") for op in item.values()}
        if self.table is None or self.table in tables:
            self.calls.append(f"{model.name}:{','.join(sorted(t for t in tables if t))}")

    @property
    def count(self) -> int:
        return len(self.calls)

    def reset(self) -> None:
        self.calls.clear()
