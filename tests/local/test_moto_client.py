"""`MotoDynamoDB` (the stack's in-process client for the import) answers and fails exactly
as a botocore client on the same moto: same items, same errors, same modelled members."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from ops.local import moto_dynamodb
from ops.local.moto_client import MotoDynamoDB
from shared.adapters.dynamodb import RequestCounter
from tests.local.tables import create_pk_sk_table

TABLE = "direct"
NEW_ONLY = {"ConditionExpression": "attribute_not_exists(pk)"}


@pytest.fixture
def clients(aws_credentials: None) -> Iterator[tuple[Any, MotoDynamoDB]]:
    moto_dynamodb.install()
    with mock_aws():
        config = Config(parameter_validation=False)
        client = boto3.client("dynamodb", region_name="ap-northeast-1", config=config)
        create_pk_sk_table(client, TABLE)
        yield client, MotoDynamoDB(client)


def _key(pk: str, sk: str = "x") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _outcome(call: Callable[[], Any]) -> Any:
    """The answer, or the error's response, without the HTTP metadata."""
    try:
        answer = dict(call())
    except ClientError as err:
        answer = {"raised": type(err).__name__, **err.response}
    answer.pop("ResponseMetadata", None)
    return answer


def _steps(client: Any, name: str) -> list[Callable[[], Any]]:
    """The same item operations, on the client's own item."""
    item = {**_key(name), "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"a", b"b"]}, "n": {"N": "1"}}
    old = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    add_one = {
        "UpdateExpression": "SET n = n + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
        "ReturnValues": "ALL_NEW",
    }
    by_pk = {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": name}},
    }
    refused = [{"Put": {"TableName": TABLE, "Item": item, **old, **NEW_ONLY}}]
    return [
        lambda: client.put_item(TableName=TABLE, Item=item),
        lambda: client.get_item(TableName=TABLE, Key=_key(name)),
        lambda: client.put_item(TableName=TABLE, Item=item, **old, **NEW_ONLY),
        lambda: client.update_item(TableName=TABLE, Key=_key(name), **add_one),
        lambda: client.query(TableName=TABLE, **by_pk),
        lambda: client.batch_get_item(RequestItems={TABLE: {"Keys": [_key(name), _key("no")]}}),
        lambda: client.transact_write_items(TransactItems=refused),
        lambda: client.get_item(TableName="no-such-table", Key=_key(name)),
        lambda: client.delete_item(TableName=TABLE, Key=_key(name)),
    ]


def test_item_operations_answer_and_fail_as_botocore_s(clients: tuple[Any, MotoDynamoDB]) -> None:
    """Given a botocore client and a MotoDynamoDB over it, each writing its own items
    When each runs the same item operations (binary values, a refused condition with
    ALL_OLD, a cancelled transaction, an unknown table among them)
    Then each answer, or each error's class and response, is the same."""
    botocore_client, direct = clients
    outcomes = {
        name: [_outcome(step) for step in _steps(client, name)]
        for name, client in (("botocore", botocore_client), ("direct", direct))
    }

    def same(answer: Any) -> Any:  # each client wrote under its own key
        return json.dumps(answer, sort_keys=True, default=repr).replace('"direct"', '"botocore"')

    assert [same(a) for a in outcomes["direct"]] == [same(a) for a in outcomes["botocore"]]
    assert outcomes["direct"][1]["Item"]["b"] == {"B": b"\x00\xff"}
    assert outcomes["direct"][6]["raised"] == "TransactionCanceledException"
    assert outcomes["direct"][6]["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"


def test_requests_are_still_counted_and_other_operations_pass_through(
    clients: tuple[Any, MotoDynamoDB],
) -> None:
    """Given a request counter on the botocore client
    When the direct client writes an item and describes the table
    Then the write is counted as a botocore call would be, and DescribeTable answers."""
    botocore_client, direct = clients
    counter = RequestCounter().attach(botocore_client)
    direct.put_item(TableName=TABLE, Item=_key("counted"))
    assert counter.calls == [f"PutItem:{TABLE}"]
    assert direct.describe_table(TableName=TABLE)["Table"]["TableName"] == TABLE
