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
from tests.local.tables import create_pk_sk_table

TABLE = "guarantees"


@pytest.fixture
def ddb(aws_credentials: None) -> Iterator[Any]:
    moto_dynamodb.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="ap-northeast-1")
        create_pk_sk_table(client, TABLE)
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
    # And one whose text holds the markers (an event's JSON, a rank "B"): no blob, no null
    ddb.put_item(
        TableName=TABLE,
        Item={**_key("d"), "event": {"S": '{"phone": null}'}, "rank": {"S": "B"}},
    )
    # And one with a binary attribute, which only moto's parser decodes
    ddb.put_item(TableName=TABLE, Item={**_key("c"), "blob": {"B": b"\x00\x01"}})

    # Then both read the same parameters, and all but the binary one took the fast path
    assert taken_fast == ["PutItem", "TransactWriteItems", "BatchGetItem", "Query", "PutItem"]
    blob = ddb.get_item(TableName=TABLE, Key=_key("c"))["Item"]["blob"]["B"]
    assert blob == b"\x00\x01"


@pytest.fixture
def indexed(aws_credentials: None) -> Iterator[Any]:
    """A table with a GSI (hash and range), a GSI on a number (hash only) and one sorted by
    a number."""
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
                {"AttributeName": "g", "AttributeType": "S"},
                {"AttributeName": "gs", "AttributeType": "S"},
                {"AttributeName": "n", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_g",
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "gs", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "by_n",
                    "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
                {
                    "IndexName": "by_g_n",
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "n", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_queries_read_only_their_key_and_answer_what_moto_s_scan_answers(
    indexed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every query also answered by moto's own query, which walks every item
    from moto.dynamodb.models.table import Table

    fast = Table.query
    scanning = moto_dynamodb._scanning_query
    assert scanning is not None
    compared: list[int] = []

    def both(self: Any, *args: Any, **kwargs: Any) -> Any:
        walked = Table.all_items

        def refused(_: Any) -> Any:
            raise AssertionError("a query walked the whole table")

        monkeypatch.setattr(Table, "all_items", refused)
        try:
            answer = fast(self, *args, **kwargs)
        finally:
            monkeypatch.setattr(Table, "all_items", walked)
        items, scanned, last = answer
        generic_items, generic_scanned, generic_last = scanning(self, *args, **kwargs)
        assert [i.to_json() for i in items] == [i.to_json() for i in generic_items]
        assert (scanned, last) == (generic_scanned, generic_last)
        compared.append(len(items))
        return answer

    monkeypatch.setattr(Table, "query", both)

    def queries() -> None:
        for g in ("a", "b", "c"):
            for forward in (True, False):
                pages = indexed.get_paginator("query").paginate(
                    TableName=TABLE,
                    IndexName="by_g",
                    KeyConditionExpression="g = :g AND gs > :s",
                    ExpressionAttributeValues={":g": {"S": g}, ":s": {"S": "1"}},
                    ScanIndexForward=forward,
                    PaginationConfig={"PageSize": 3},
                )
                list(pages)
        for g in ("a", "b", "c", "absent"):  # every sort key condition, as the due polls
            for condition, values in (
                ("gs <= :s", {":s": {"S": "3"}}),
                ("gs < :s", {":s": {"S": "3"}}),
                ("gs >= :s", {":s": {"S": "5"}}),
                ("gs = :s", {":s": {"S": "4"}}),
                ("gs BETWEEN :s AND :t", {":s": {"S": "2"}, ":t": {"S": "5"}}),
                ("gs BETWEEN :s AND :t", {":s": {"S": "5"}, ":t": {"S": "2"}}),
                ("begins_with(gs, :s)", {":s": {"S": "9"}}),
                ("gs <= :s", {":s": {"S": "0"}}),
            ):
                for forward in (True, False):
                    for limit in (1, 2, 50):
                        indexed.query(
                            TableName=TABLE,
                            IndexName="by_g",
                            KeyConditionExpression=f"g = :g AND {condition}",
                            ExpressionAttributeValues={":g": {"S": g}, **values},
                            ScanIndexForward=forward,
                            Limit=limit,
                            **({"Select": "COUNT"} if limit == 1 else {}),
                        )
                pages = indexed.get_paginator("query").paginate(
                    TableName=TABLE,
                    IndexName="by_g",
                    KeyConditionExpression=f"g = :g AND {condition}",
                    ExpressionAttributeValues={":g": {"S": g}, **values},
                    FilterExpression="attribute_exists(n)",
                    PaginationConfig={"PageSize": 2},
                )
                list(pages)
            for condition, numbers in (
                ("n > :n", {":n": {"N": "1.5"}}),
                ("n BETWEEN :n AND :m", {":n": {"N": "1.5"}, ":m": {"N": "10"}}),
                ("n = :n", {":n": {"N": "10"}}),
            ):
                indexed.query(  # a number sort key: compared as numbers, not as text
                    TableName=TABLE,
                    IndexName="by_g_n",
                    KeyConditionExpression=f"g = :g AND {condition}",
                    ExpressionAttributeValues={":g": {"S": g}, **numbers},
                )
        for n in ("1", "2.0", "3"):
            indexed.query(
                TableName=TABLE,
                IndexName="by_n",
                KeyConditionExpression="n = :n",
                ExpressionAttributeValues={":n": {"N": n}},
            )
        for pk in ("p0", "p1", "absent"):
            indexed.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={":p": {"S": pk}, ":s": {"S": "s"}},
                FilterExpression="attribute_exists(g)",
                ScanIndexForward=False,
            )
        for pk, low, high in (("p0", "s03", "s2"), ("p1", "s00", "s99"), ("p2", "s5", "s6")):
            for forward in (True, False):  # pages that end inside and at the range's end
                pages = indexed.get_paginator("query").paginate(
                    TableName=TABLE,
                    KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
                    ExpressionAttributeValues={
                        ":p": {"S": pk},
                        ":lo": {"S": low},
                        ":hi": {"S": high},
                    },
                    ScanIndexForward=forward,
                    PaginationConfig={"PageSize": 2},
                )
                list(pages)

    # When items come and go by every kind of write, with queries in between
    for i in range(30):
        item = {**_key(f"p{i % 3}", f"s{i:02d}"), "gs": {"S": f"{i % 7}"}}
        if i % 4:
            item["g"] = {"S": "abc"[i % 3]}  # some items are not in the index
        if i % 5 == 0:
            item["n"] = {"N": str(1 + i % 3)}
        elif i % 7 == 0:
            item["n"] = {"N": str(10 + i)}  # 10 < 2 as text, not as a number
        indexed.put_item(TableName=TABLE, Item=item)
    queries()
    indexed.update_item(  # moves an item from one index bucket to another, in place
        TableName=TABLE,
        Key=_key("p1", "s01"),
        UpdateExpression="SET g = :g, n = :n",
        ExpressionAttributeValues={":g": {"S": "c"}, ":n": {"N": "2"}},
    )
    indexed.update_item(TableName=TABLE, Key=_key("p2", "s02"), UpdateExpression="REMOVE g, gs")
    indexed.delete_item(TableName=TABLE, Key=_key("p0", "s03"))
    indexed.batch_write_item(
        RequestItems={
            TABLE: [
                {"DeleteRequest": {"Key": _key("p0", "s06")}},
                {"PutRequest": {"Item": {**_key("p0", "s99"), "g": {"S": "a"}, "gs": {"S": "9"}}}},
            ]
        }
    )
    with pytest.raises(ClientError):  # cancelled: its update of an indexed item is undone
        indexed.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("p1", "s04"),
                        "UpdateExpression": "SET g = :g",
                        "ExpressionAttributeValues": {":g": {"S": "b"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("never"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    indexed.transact_write_items(  # applied: moves items inside and across sorted buckets
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("p2", "s05"),
                    "UpdateExpression": "SET gs = :s",
                    "ExpressionAttributeValues": {":s": {"S": "0"}},
                }
            },
            {"Put": {"TableName": TABLE, "Item": {**_key("p0", "s12"), "g": {"S": "b"}}}},
            {"Delete": {"TableName": TABLE, "Key": _key("p1", "s07")}},
        ]
    )
    queries()

    # Then every answer equals moto's own and none walked the table; the item an update
    # moved is found under its new key only
    moved = indexed.query(
        TableName=TABLE,
        IndexName="by_g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "c"}},
    )["Items"]
    assert ("p1", "s01") in {(i["pk"]["S"], i["sk"]["S"]) for i in moved}
    assert len(compared) == 574  # the pages of both rounds and the last query

    # And a query measures only its sort key range and the item on either side of it
    from moto.dynamodb.models.dynamo_type import Item

    measured: list[str] = []
    size = Item.size

    def counted(item: Any) -> int:
        measured.append(item.range_key.value)
        return size(item)

    monkeypatch.setattr(Table, "query", fast)
    monkeypatch.setattr(Item, "size", counted)
    page = indexed.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":p": {"S": "p0"}, ":lo": {"S": "s09"}, ":hi": {"S": "s12"}},
    )
    assert [i["sk"]["S"] for i in page["Items"]] == ["s09", "s12"]
    assert set(measured) == {"s00", "s09", "s12", "s15"}  # of p0's nine items

    # And an index query too, in its bucket's order (gs, then pk and sk): of g = "b"'s
    # items, those with gs from 2 to 3 and the one on either side
    measured.clear()
    bucket = indexed.query(
        TableName=TABLE,
        IndexName="by_g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "b"}},
    )["Items"]
    measured.clear()
    page = indexed.query(
        TableName=TABLE,
        IndexName="by_g",
        KeyConditionExpression="g = :g AND gs BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":g": {"S": "b"}, ":lo": {"S": "2"}, ":hi": {"S": "3"}},
    )
    order = [i["sk"]["S"] for i in bucket]
    inside = [i["sk"]["S"] for i in bucket if "2" <= i["gs"]["S"] <= "3"]
    assert [i["sk"]["S"] for i in page["Items"]] == inside and len(inside) < len(order) - 2
    first, last = order.index(inside[0]), order.index(inside[-1])
    assert set(measured) == set(order[max(first - 1, 0) : last + 2])


def test_a_condition_is_parsed_once_per_spelling_and_still_holds(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given moto's condition parser, counted
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = ConditionExpressionParser.parse
    parses: list[str] = []

    def counted(self: Any) -> Any:
        parses.append(self.condition_expression)
        return parse(self)

    monkeypatch.setattr(ConditionExpressionParser, "parse", counted)
    new = "attribute_not_exists(pk) OR pk = :n"
    values = {":n": {"S": "nobody"}}
    # When a transaction puts an item under a condition, then two more puts spell it the same
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": _key("once-1"),
                    "ConditionExpression": new,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
    )
    for pk in ("once-2", "once-1"):
        try:
            ddb.put_item(
                TableName=TABLE,
                Item=_key(pk),
                ConditionExpression=new,
                ExpressionAttributeValues=values,
            )
        except ClientError as refused:
            assert refused.response["Error"]["Code"] == "ConditionalCheckFailedException"
            assert pk == "once-1"  # the item exists: the kept condition still refuses it
        else:
            assert pk == "once-2"
    # Then the condition was parsed twice for all three (moto parses it at every check and
    # every write): once as the request checks pass it (names `{}`), once as the backend
    # does (names None)
    assert parses.count(new) == 2


def test_items_over_400_kb_and_of_the_wrong_type_are_still_refused(ddb: Any) -> None:
    """Given the patched moto, which measures an item only when its JSON may be too large
    When items are written just under and just over the limit, through PutItem and a
    transaction, and one whose JSON is over the limit though its UTF-8 bytes are not
    Then the large ones are refused as DynamoDB refuses them, the others stored, and a
    number that is not one is refused, as moto refuses it."""
    names_and_key = len("pknearskxbig")  # moto counts names and values
    near = 405_000 - names_and_key - 10
    ddb.put_item(TableName=TABLE, Item={**_key("near"), "big": {"S": "x" * near}})
    with pytest.raises(ClientError) as too_large:
        ddb.put_item(TableName=TABLE, Item={**_key("over"), "big": {"S": "x" * (near + 20)}})
    assert "Item size has exceeded" in too_large.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as in_transaction:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("tx"), "big": {"S": "x" * 500_000}}}}
            ]
        )
    assert in_transaction.value.response["Error"]["Code"] in (
        "ValidationException",
        "TransactionCanceledException",
    )
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=_key("over"))
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=_key("tx"))

    # 100,000 kana: 300,000 bytes of UTF-8, 600,000 characters of escaped JSON
    kana = "あ" * 100_000
    ddb.put_item(TableName=TABLE, Item={**_key("kana"), "text": {"S": kana}})
    assert ddb.get_item(TableName=TABLE, Key=_key("kana"))["Item"]["text"] == {"S": kana}

    with pytest.raises(ClientError) as not_a_number:
        ddb.put_item(TableName=TABLE, Item={**_key("nan"), "n": {"N": "twelve"}})
    assert not_a_number.value.response["Error"]["Code"] == "ValidationException"


def test_a_cancelled_transaction_undoes_its_updates_puts_and_deletes(ddb: Any) -> None:
    """Given three items (the undo copies an item only for an Update, which moto applies
    in place, and keeps the stored object for a Put or a Delete, which replace it)
    When a transaction updates one, overwrites one, deletes one, then fails a check
    Then all three are as they were."""
    for name in ("updated", "replaced", "deleted"):
        ddb.put_item(TableName=TABLE, Item={**_key(name), "v": {"N": "1"}, "m": {"M": {}}})
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("updated"),
                        "UpdateExpression": "SET v = :two, m.a = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": {**_key("replaced"), "v": {"N": "2"}}}},
                {"Delete": {"TableName": TABLE, "Key": _key("deleted")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("never-written"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    for name in ("updated", "replaced", "deleted"):
        item = ddb.get_item(TableName=TABLE, Key=_key(name))["Item"]
        assert (item["v"], item["m"]) == ({"N": "1"}, {"M": {}}), name


def test_an_update_expression_parsed_once_applies_each_call_s_values(ddb: Any) -> None:
    """Given an update expression moto now parses once per spelling
    When it is used again and again with other values, in UpdateItem and in a transaction
    Then each call applies its own values (the kept tree is never changed), and a
    malformed expression is still refused."""
    add = "SET n = if_not_exists(n, :zero) + :step, tags = list_append(if_not_exists(tags, :e), :t)"
    for step in ("1", "2", "3"):
        ddb.update_item(
            TableName=TABLE,
            Key=_key("counter"),
            UpdateExpression=add,
            ExpressionAttributeValues={
                ":zero": {"N": "0"},
                ":step": {"N": step},
                ":e": {"L": []},
                ":t": {"L": [{"S": f"t{step}"}]},
            },
        )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("counter"),
                    "UpdateExpression": add,
                    "ExpressionAttributeValues": {
                        ":zero": {"N": "0"},
                        ":step": {"N": "10"},
                        ":e": {"L": []},
                        ":t": {"L": [{"S": "tx"}]},
                    },
                }
            }
        ]
    )
    item = ddb.get_item(TableName=TABLE, Key=_key("counter"))["Item"]
    assert item["n"] == {"N": "16"}
    assert [t["S"] for t in item["tags"]["L"]] == ["t1", "t2", "t3", "tx"]
    with pytest.raises(ClientError) as malformed:
        ddb.update_item(TableName=TABLE, Key=_key("counter"), UpdateExpression="SET n = = 1")
    assert malformed.value.response["Error"]["Code"] == "ValidationException"


def test_an_update_keeps_answering_the_old_and_new_images(ddb: Any) -> None:
    """Given an item (moto no longer copies it before an update on a table without a
    stream: that copy was only for a stream record)
    When it is updated asking for the old image, then the new one, then refused
    Then each answer is the image asked for, and the refused update changed nothing."""
    ddb.put_item(TableName=TABLE, Item={**_key("img"), "v": {"N": "1"}, "m": {"M": {}}})
    set_two = {
        "UpdateExpression": "SET v = :v, m.a = :v",
        "ExpressionAttributeValues": {":v": {"N": "2"}},
    }
    old = ddb.update_item(TableName=TABLE, Key=_key("img"), ReturnValues="ALL_OLD", **set_two)
    assert old["Attributes"]["v"] == {"N": "1"} and old["Attributes"]["m"] == {"M": {}}
    new = ddb.update_item(
        TableName=TABLE,
        Key=_key("img"),
        UpdateExpression="SET v = v + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    assert new["Attributes"]["v"] == {"N": "3"}
    with pytest.raises(ClientError):
        ddb.update_item(
            TableName=TABLE,
            Key=_key("img"),
            UpdateExpression="SET v = :v",
            ConditionExpression="v = :v",
            ExpressionAttributeValues={":v": {"N": "9"}},
        )
    item = ddb.get_item(TableName=TABLE, Key=_key("img"))["Item"]
    assert (item["v"], item["m"]) == ({"N": "3"}, {"M": {"a": {"N": "2"}}})


def test_items_measure_what_moto_s_own_size_measures(ddb: Any) -> None:
    """Given items of every attribute type, nested in maps and lists
    When moto's measure and the patched one measure them
    Then both give the same number of bytes."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_size = moto_dynamodb._moto_size
    assert moto_size is not None
    values: list[dict[str, Any]] = [
        {"S": "あいう"},
        {"N": "-12.50"},
        {"B": b"\x00\xff\x10"},
        {"B": "AAEC"},
        {"BOOL": True},
        {"BOOL": False},
        {"NULL": True},
        {"SS": ["a", "ü", "語"]},
        {"NS": ["1", "2.5", "-3"]},
        {"BS": [b"x", b"yz"]},
        {"L": [{"S": "a"}, {"N": "1"}, {"M": {"k": {"SS": ["b"]}}}]},
        {"M": {"名": {"S": "値"}, "n": {"N": "10"}, "l": {"L": [{"NULL": True}]}}},
        {"M": {}},
        {"L": []},
    ]
    for value in values:
        typed = DynamoType(value)
        assert typed.size() == moto_size(typed), value
    nested = DynamoType({"M": {f"k{i}": v for i, v in enumerate(values)}})
    assert nested.size() == moto_size(nested)


def _stored_items(table_name: str = TABLE) -> list[Any]:
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends["123456789012"]["ap-northeast-1"].tables[table_name]
    return [item for bucket in table.items.values() for item in bucket.values()]


_EVERY_PLAIN_TYPE: dict[str, Any] = {
    "s": {"S": '名前 "quoted" \\ \u0001'},
    "n": {"N": "-12.50"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "z": {"NULL": True},
    "ss": {"SS": ["a", "ü"]},
    "ns": {"NS": ["1", "2.5"]},
    "l": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"k": {"SS": ["b"]}}}, {"L": []}]},
    "m": {"M": {"名": {"S": "値"}, "e": {"M": {}}, "x": {"L": [{"NULL": True}]}}},
}


def test_items_rest_packed_between_calls_and_answer_what_was_written(ddb: Any) -> None:
    """Given items of every plain attribute type, and one with binary attributes
    When they are written, read, queried, updated and read again
    Then between calls each plain item rests packed (no decoded attributes), the binary
    one stays decoded, and every answer is what was written and changed."""
    plain = {**_key("plain"), **_EVERY_PLAIN_TYPE}
    binary = {**_key("blob"), "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"x"]}}
    ddb.put_item(TableName=TABLE, Item=plain)
    ddb.put_item(TableName=TABLE, Item=binary)

    def resting() -> dict[str, bool]:
        return {item.hash_key.value: item._attrs is None for item in _stored_items()}

    assert resting() == {"plain": True, "blob": False}
    assert ddb.get_item(TableName=TABLE, Key=_key("plain"))["Item"] == plain
    assert ddb.get_item(TableName=TABLE, Key=_key("blob"))["Item"] == binary
    assert ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "plain"}},
    )["Items"] == [plain]
    assert resting() == {"plain": True, "blob": False}

    ddb.update_item(
        TableName=TABLE,
        Key=_key("plain"),
        UpdateExpression="SET m.#k = :v, l = list_append(l, :l) ADD ns :ns, n :one REMOVE t",
        ExpressionAttributeNames={"#k": "新"},
        ExpressionAttributeValues={
            ":v": {"S": "追加"},
            ":l": {"L": [{"S": "b"}]},
            ":ns": {"NS": ["3"]},
            ":one": {"N": "1"},
        },
    )

    assert resting()["plain"] is True
    item = ddb.get_item(TableName=TABLE, Key=_key("plain"))["Item"]
    assert item["m"]["M"]["新"] == {"S": "追加"}
    assert item["l"]["L"][-1] == {"S": "b"}
    assert sorted(item["ns"]["NS"]) == ["1", "2.5", "3"]
    assert item["n"] == {"N": "-11.50"}
    assert "t" not in item
    assert {k: v for k, v in item.items() if k not in ("m", "l", "ns", "n")} == {
        k: v for k, v in plain.items() if k not in ("m", "l", "ns", "n", "t")
    }


def test_a_scan_of_many_items_keeps_only_a_bounded_number_decoded(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 600 items resting packed, and a bound of 50 decoded items per read call
    When the whole table is scanned with a filter, and a write follows
    Then at most 50 items (and the one being decoded) were decoded at once, the scan
    answers every item, and they all rest packed again."""
    _fill(ddb, 600)
    monkeypatch.setattr(moto_dynamodb, "_DECODED_IN_A_READ", 50)
    held: list[int] = []
    decode = moto_dynamodb._decode

    def counting(packed: bytes) -> Any:
        held.append(len(moto_dynamodb._decoded))
        return decode(packed)

    monkeypatch.setattr(moto_dynamodb, "_decode", counting)

    found = ddb.scan(
        TableName=TABLE,
        FilterExpression="begins_with(pk, :b)",
        ExpressionAttributeValues={":b": {"S": "bulk-"}},
    )["Items"]

    assert len(found) == 600
    assert held and max(held) <= 51
    assert all(item._attrs is None for item in _stored_items())


def test_an_item_resting_packed_takes_under_half_of_moto_s_memory(ddb: Any) -> None:
    """Given order-like items (445 bytes of JSON each)
    When 1,000 are written
    Then the table holds them in under half of moto's own objects' 3,800 bytes each (about
    1,550 alone; what else the process allocated meanwhile, such as a cache an earlier test
    left to grow, counts too, so the bound is the half, not the usual figure)."""

    def order(n: int) -> dict[str, Any]:
        line = {"M": {"sku": {"S": f"SKU-{n:04}"}, "quantity": {"N": "1"}, "tags": {"L": []}}}
        return {
            **_key(f"SHOP#s#ORDER##{n}", "ORDER"),
            "customer_id": {"S": f"k-{n:020}"},
            "placed_at": {"S": "2024-06-22T17:15:00+09:00"},
            "total": {"N": "9990.00"},
            "status": {"S": "shipped"},
            "lines": {"L": [line, line]},
            "gsi1pk": {"S": f"SHOP#s#CUST#k-{n:020}"},
            "gsi1sk": {"S": f"ORDER#2024-06-22T08:15:00+00:00##{n}"},
        }

    def write(first: int, count: int) -> None:
        for start in range(first, first + count, 25):
            requests = [{"PutRequest": {"Item": order(n)}} for n in range(start, start + 25)]
            ddb.batch_write_item(RequestItems={TABLE: requests})

    write(100_000, 25)  # the client's and the parsers' caches
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    write(0, 1000)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert (after - before) / 1000 < 3800 / 2, f"{(after - before) / 1000:.0f} bytes per item"


def test_the_handler_s_methods_listed_once_are_the_ones_moto_lists(ddb: Any) -> None:
    # Given the patch in place (the fixture) and moto's own listing
    import inspect

    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler

    core_responses: Any = responses  # where BaseResponse.call_action finds the function
    own = [name for name, _ in inspect.getmembers(DynamoHandler, predicate=inspect.isfunction)]

    # When the handler's methods are listed twice, and another handler's
    listed = core_responses.method_names_from_class(DynamoHandler)
    again = core_responses.method_names_from_class(DynamoHandler)
    other = core_responses.method_names_from_class(core_responses.BaseResponse)

    # Then the handler's are moto's own list, kept, and another class is listed as moto does
    assert listed == own and again is listed and "transact_write_items" in listed
    assert "transact_write_items" not in other and "call_action" in other


def test_every_call_moto_serves_is_counted_by_operation(ddb: Any) -> None:
    """Given the patched moto and the counts so far
    When a put, two gets, a query and a refused conditional put are made
    Then each is counted once under its operation, the refused one too (DynamoDB bills a
    failed conditional write)."""
    before = moto_dynamodb.request_counts()
    ddb.put_item(TableName=TABLE, Item=_key("counted"))
    ddb.get_item(TableName=TABLE, Key=_key("counted"))
    ddb.get_item(TableName=TABLE, Key=_key("absent"))
    ddb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "counted"}},
    )
    with pytest.raises(ClientError):
        ddb.put_item(
            TableName=TABLE, Item=_key("counted"), ConditionExpression="attribute_not_exists(pk)"
        )
    after = moto_dynamodb.request_counts()
    grown = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert grown == {"PutItem": 2, "GetItem": 2, "Query": 1}
