"""DynamoDB may answer a batch call with part of the work left undone (UnprocessedKeys,
UnprocessedItems) when it throttles. moto never does, so a thin proxy over the real moto
client plays the throttled table; everything else still reaches moto."""

from __future__ import annotations

from typing import Any

import pytest

from segmenter.adapters.repository import DynamoProfileRepository
from shared.adapters.dynamodb import batch_get_all, key, to_item
from shared.errors import DependencyFailed
from tests.conftest import Cloud


class ThrottledTable:
    """Leaves every key but the first of each BatchGetItem unprocessed, and every write of
    each BatchWriteItem unprocessed when `writes_fail`."""

    def __init__(self, client: Any, *, writes_fail: bool = False) -> None:
        self._client = client
        self.writes_fail = writes_fail
        self.get_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.get_calls += 1
        (table, request), *_ = RequestItems.items()
        first, rest = request["Keys"][:1], request["Keys"][1:]
        response: dict[str, Any] = self._client.batch_get_item(
            RequestItems={table: {**request, "Keys": first}}
        )
        if rest:
            response["UnprocessedKeys"] = {table: {**request, "Keys": rest}}
        return response

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        if self.writes_fail:
            return {"UnprocessedItems": RequestItems}
        return dict(self._client.batch_write_item(RequestItems=RequestItems))


def test_a_throttled_batch_read_still_returns_every_item(cloud: Cloud) -> None:
    # Given five products stored, and a table that serves one key per batch call
    table = cloud.settings.segmenter_table
    for n in range(5):
        cloud.dynamodb.put_item(TableName=table, Item=to_item({"pk": f"P#{n}", "sk": "X", "n": n}))
    throttled = ThrottledTable(cloud.dynamodb)
    # When they are read in one batch (plus one key that does not exist)
    keys = [key(f"P#{n}", "X") for n in range(6)]
    items = list(batch_get_all(throttled, table, keys))  # type: ignore[arg-type]
    # Then every stored item comes back, the unprocessed keys asked for again
    assert sorted(int(i["n"]) for i in items) == [0, 1, 2, 3, 4]
    assert throttled.get_calls == 6


def test_membership_writes_dynamodb_keeps_refusing_are_an_error_not_a_silent_loss(
    cloud: Cloud,
) -> None:
    # Given a table that leaves every batched write unprocessed
    throttled = ThrottledTable(cloud.dynamodb, writes_fail=True)
    repo = DynamoProfileRepository(throttled, cloud.settings.segmenter_table)  # type: ignore[arg-type]
    # When the segmenter writes segment members in bulk
    # Then it fails loudly, so the caller's retry redoes the work
    with pytest.raises(DependencyFailed):
        repo.set_memberships("acme", entered=[("vip", "c-1")], exited=[])
