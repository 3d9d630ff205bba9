"""A bare pk/sk table on moto, for the tests of the project's moto patches."""

from __future__ import annotations

from typing import Any


def create_pk_sk_table(client: Any, name: str) -> None:
    """An on-demand table keyed by string `pk` and `sk`, as every Kizuna table is."""
    client.create_table(
        TableName=name,
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
