"""DynamoDB on moto keeps DynamoDB's guarantees: isolated calls, transactions that undo only
their own items, and memory that does not grow with every write."""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ops.local import moto_dynamodb

TABLE = "guarantees"


@pytest.fixture
def ddb(aws_credentials: None) -> Iterator[Any]:
    moto_dynamodb.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="ap-northeast-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _key(pk: str, sk: str = "x") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _fill(ddb: Any, n: int) -> None:
    for start in range(0, n, 25):
        ddb.batch_write_item(
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": {**_key(f"bulk-{i}"), "pad": {"S": "x" * 200}}}}
                    for i in range(start, min(n, start + 25))
                ]
            }
        )


def _cancelled_transaction(ddb: Any, n: int) -> None:
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _key(f"tx-{n}")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("never-written"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"


def test_moto_is_the_release_the_patch_was_checked_against() -> None:
    # Given the installed moto / When its internals are checked / Then they are as relied on
    moto_dynamodb.check_compatible()


def test_a_cancelled_transaction_undoes_only_its_own_items(ddb: Any) -> None:
    # Given an item another request wrote, and one the transaction will overwrite
    ddb.put_item(TableName=TABLE, Item={**_key("other"), "v": {"N": "1"}})
    ddb.put_item(TableName=TABLE, Item={**_key("mine"), "v": {"N": "1"}})

    # When a transaction overwrites "mine", writes "new", then fails its condition check
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("mine"), "v": {"N": "2"}}}},
                {"Put": {"TableName": TABLE, "Item": _key("new")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("other"),
                        "ConditionExpression": "v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
            ]
        )

    # Then its own items are as before, and nothing else changed
    assert ddb.get_item(TableName=TABLE, Key=_key("mine"))["Item"]["v"] == {"N": "1"}
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=_key("new"))
    assert ddb.get_item(TableName=TABLE, Key=_key("other"))["Item"]["v"] == {"N": "1"}


def test_cancelled_transactions_neither_copy_the_table_nor_keep_objects(ddb: Any) -> None:
    # Given a table of 2,000 items
    _fill(ddb, 2000)
    from moto.dynamodb.models.dynamo_type import Item

    tracemalloc.start()
    _cancelled_transaction(ddb, 0)
    before, _ = tracemalloc.get_traced_memory()

    # When 60 transactions are cancelled
    for n in range(1, 61):
        _cancelled_transaction(ddb, n)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Then memory stays flat (a copy of this table alone is several MB) and no item is kept
    assert after - before < 2_000_000, f"grew by {after - before} bytes"
    assert peak - before < 4_000_000, f"peaked {peak - before} bytes above the start"
    assert len(Item.instances_tracked) == 0  # type: ignore[attr-defined]


def test_concurrent_conditional_writes_and_transactions_keep_every_promise(ddb: Any) -> None:
    # Given a counter that only a writer who read its current version may move
    ddb.put_item(TableName=TABLE, Item={**_key("counter"), "version": {"N": "0"}})
    won = []
    lock = threading.Lock()

    def bump(worker: int) -> None:
        for _ in range(15):
            current = ddb.get_item(TableName=TABLE, Key=_key("counter"), ConsistentRead=True)
            version = int(current["Item"]["version"]["N"])
            try:
                ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": _key("counter"),
                                "UpdateExpression": "SET version = :next",
                                "ConditionExpression": "version = :read",
                                "ExpressionAttributeValues": {
                                    ":read": {"N": str(version)},
                                    ":next": {"N": str(version + 1)},
                                },
                            }
                        },
                        {"Put": {"TableName": TABLE, "Item": _key(f"claim-{version + 1}")}},
                    ]
                )
            except ClientError as err:
                assert err.response["Error"]["Code"] == "TransactionCanceledException"
                continue
            with lock:
                won.append(version + 1)

    def scan_while_writing() -> None:
        for _ in range(10):
            ddb.scan(TableName=TABLE)  # never "dictionary changed size during iteration"

    # When six writers race, while scans walk the table
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(bump, w) for w in range(6)]
        futures += [pool.submit(scan_while_writing) for _ in range(2)]
        for f in futures:
            f.result()

    # Then each version was won exactly once, and every claim of a win (and no other) exists
    final = int(ddb.get_item(TableName=TABLE, Key=_key("counter"))["Item"]["version"]["N"])
    assert sorted(won) == list(range(1, final + 1))
    claims = [
        i["pk"]["S"]
        for i in ddb.scan(TableName=TABLE)["Items"]
        if i["pk"]["S"].startswith("claim-")
    ]
    assert sorted(claims) == sorted(f"claim-{v}" for v in won)


def test_item_answers_are_the_json_moto_s_own_serializer_gives(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every answer also serialised by moto's generic serializer
    from moto.dynamodb.responses import DynamoHandler

    fast = DynamoHandler.serialized
    compared: list[str] = []

    def both(self: Any, action_result: Any) -> Any:
        status, headers, body = fast(self, action_result)
        assert moto_dynamodb._generic_serialized is not None
        _, _, generic = moto_dynamodb._generic_serialized(self, action_result)
        assert json.loads(body) == json.loads(generic), self._get_action()
        compared.append(self._get_action())
        return status, headers, body

    monkeypatch.setattr(DynamoHandler, "serialized", both)
    nested = {
        "M": {
            "history": {"L": [{"M": {"sku": {"S": "A"}, "n": {"N": "2"}}}, {"NULL": True}]},
            "tags": {"SS": ["x", "y"]},
            "blob": {"B": b"\x00\x01"},
            "ok": {"BOOL": False},
        }
    }
    # When every item operation runs, with nested, binary and set attributes
    ddb.put_item(TableName=TABLE, Item={**_key("a"), "doc": nested}, ReturnValues="ALL_OLD")
    ddb.update_item(
        TableName=TABLE,
        Key=_key("a"),
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1.5"}},
        ReturnValues="ALL_NEW",
        ReturnConsumedCapacity="TOTAL",
    )
    ddb.get_item(TableName=TABLE, Key=_key("a"))
    ddb.batch_get_item(RequestItems={TABLE: {"Keys": [_key("a"), _key("b")]}})
    ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
    )
    ddb.scan(TableName=TABLE, Limit=1)
    ddb.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": _key("a")}}])
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": _key("c")}}])
    ddb.batch_write_item(RequestItems={TABLE: [{"DeleteRequest": {"Key": _key("c")}}]})
    ddb.delete_item(TableName=TABLE, Key=_key("a"), ReturnValues="ALL_OLD")

    # Then the fast answers equal moto's own, for each operation
    assert set(compared) >= {
        "PutItem",
        "UpdateItem",
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
        "BatchWriteItem",
        "DeleteItem",
    }


def test_item_requests_read_as_json_are_what_moto_s_own_parser_reads(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every request also parsed by moto's generic, shape-walking parser
    from moto.dynamodb.responses import DynamoHandler

    fast = DynamoHandler.parse_parameters
    generic_parse = moto_dynamodb._generic_parse
    assert generic_parse is not None
    taken_slow: list[str] = []
    taken_fast: list[str] = []

    def counted_generic(self: Any, request: Any) -> None:
        taken_slow.append(self._get_action())
        generic_parse(self, request)

    def both(self: Any, request: Any) -> None:
        generic_parse(self, request)
        generic = self.params
        slow_before = len(taken_slow)
        fast(self, request)
        assert self.params == generic, self._get_action()
        if len(taken_slow) == slow_before:
            taken_fast.append(self._get_action())

    monkeypatch.setattr(moto_dynamodb, "_generic_parse", counted_generic)
    monkeypatch.setattr(DynamoHandler, "parse_parameters", both)
    doc = {"M": {"history": {"L": [{"M": {"n": {"N": "2"}}}]}, "tags": {"SS": ["x", "y"]}}}
    # When item operations run, with nested and set attributes, conditions and paging
    ddb.put_item(
        TableName=TABLE,
        Item={**_key("a"), "doc": doc, "ok": {"BOOL": True}},
        ConditionExpression="attribute_not_exists(pk)",
    )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("a"),
                    "UpdateExpression": "SET #n = :n",
                    "ConditionExpression": "ok = :t",
                    "ExpressionAttributeNames": {"#n": "n"},
                    "ExpressionAttributeValues": {":n": {"N": "1"}, ":t": {"BOOL": True}},
                }
            },
            {"Put": {"TableName": TABLE, "Item": _key("b")}},
        ]
    )
    ddb.batch_get_item(RequestItems={TABLE: {"Keys": [_key("a")], "ConsistentRead": True}})
    ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
        Limit=1,
        ExclusiveStartKey=_key("a", "0"),
    )
    # And one with a binary attribute, which only moto's parser decodes
    ddb.put_item(TableName=TABLE, Item={**_key("c"), "blob": {"B": b"\x00\x01"}})

    # Then both read the same parameters, and all but the binary one took the fast path
    assert taken_fast == ["PutItem", "TransactWriteItems", "BatchGetItem", "Query"]
    blob = ddb.get_item(TableName=TABLE, Key=_key("c"))["Item"]["blob"]["B"]
    assert blob == b"\x00\x01"
