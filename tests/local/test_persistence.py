"""Snapshots of the local state: one item per line, read back one at a time, the first
format (one JSON document) still read, and moto's items written as they rest (packed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from ops.local import moto_dynamodb, persistence


def _item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{n}"}, "sk": {"S": "x"}, "doc": {"M": {"n": {"N": str(n)}}}}


def test_a_snapshot_is_one_line_per_item_and_reads_back_the_same(tmp_path: Path) -> None:
    # Given items of two tables
    items = [("a", _item(n)) for n in range(3)] + [("b", _item(9))]
    path = tmp_path / persistence.SNAPSHOT_FILE
    # When they are written as a snapshot
    written = persistence.write_items(path, iter(items))
    # Then each is one line (so a start decodes one item at a time) and reads back as it was
    assert written == 4
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 4
    assert list(persistence.read_items(path)) == items


def test_a_snapshot_in_the_first_format_still_loads(tmp_path: Path) -> None:
    # Given a snapshot written before (one JSON document of every table's items)
    path = tmp_path / persistence.SNAPSHOT_FILE
    document = {"tables": {"a": [_item(1), _item(2)], "b": [_item(3)]}}
    path.write_bytes(gzip.compress(json.dumps(document).encode("utf-8")))
    # When it is read / Then every item comes back with its table
    assert list(persistence.read_items(path)) == [("a", _item(1)), ("a", _item(2)), ("b", _item(3))]


def test_a_snapshot_of_moto_writes_the_packed_items_without_decoding_them(
    aws_credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given items in moto resting packed, one of them updated
    When a snapshot is taken, and loaded into a fresh table
    Then no packed item was decoded for it, and the loaded table answers every item as
    it was (the update included)."""
    import boto3
    from moto import mock_aws

    from tests.local.tables import create_pk_sk_table

    moto_dynamodb.install()
    region, account = "ap-northeast-1", "123456789012"
    items = [_item(n) for n in range(6)]
    path = tmp_path / persistence.SNAPSHOT_FILE
    with mock_aws():
        client = boto3.client("dynamodb", region_name=region)
        create_pk_sk_table(client, "a")
        for item in items:
            client.put_item(TableName="a", Item=item)
        client.update_item(
            TableName="a",
            Key={"pk": {"S": "p1"}, "sk": {"S": "x"}},
            UpdateExpression="SET doc.n = :n",
            ExpressionAttributeValues={":n": {"N": "10"}},
        )
        items[1]["doc"]["M"]["n"] = {"N": "10"}

        def refused(packed: bytes) -> Any:
            raise AssertionError("a packed item was decoded")

        with monkeypatch.context() as patched:
            patched.setattr(moto_dynamodb, "_decode", refused)
            with moto_dynamodb.exclusive():
                written = persistence.write_snapshot(path, account, region)
    assert written == 6

    with mock_aws():
        client = boto3.client("dynamodb", region_name=region)
        create_pk_sk_table(client, "a")
        assert persistence.load_snapshot(path, account, region) == 6
        scanned = client.scan(TableName="a")["Items"]
    assert sorted(scanned, key=lambda i: i["pk"]["S"]) == items
