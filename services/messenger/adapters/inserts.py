"""Package inserts in the messenger table.

- insert    ``SHOP#<shop>#INSERT`` / ``<insert_id>`` (the shop's flyers and samples)
- pending   ``SHOP#<shop>#CUST#<customer>#INSERTS`` / ``PENDING#<chosen_at>#<delivery_id>``
            (chosen, waiting for the customer's next order)
- pick      ``SHOP#<shop>#PICK#<YYYY-MM-DD>`` / ``<order_id>#<delivery_id>`` (the day's
            pick list the warehouse reads)

Choosing writes the delivery (channel ``insert``, status ``packed``) and the pending
entry in one transaction whose delivery put is conditional: a repeated choice changes
nothing. Attaching to an order moves the pending entry to the pick list in one
transaction (the pending entry must still be there), so a replayed order attaches
nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.adapters.repository import delivery_item
from messenger.domain.inserts import Insert, PendingInsert, PickLine
from messenger.domain.model import Delivery
from messenger.services.ports import InsertRepository
from shared.adapters.dynamodb import (
    Position,
    cancellation_codes,
    from_item,
    key,
    partition_page,
    query_all,
    query_prefix,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _pending_pk(shop_id: str, customer_id: str) -> str:
    return f"SHOP#{shop_id}#CUST#{customer_id}#INSERTS"


def _pending_sk(p: PendingInsert) -> str:
    return f"PENDING#{p.chosen_at.isoformat()}#{p.delivery_id}"


def _pick_pk(shop_id: str, day: date) -> str:
    return f"SHOP#{shop_id}#PICK#{day.isoformat()}"


class DynamoInsertRepository(InsertRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def save_insert(self, insert: Insert) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"SHOP#{insert.shop_id}#INSERT",
                    "sk": insert.insert_id,
                    "name": insert.name,
                    "description": insert.description,
                }
            ),
        )

    def get_insert(self, shop_id: str, insert_id: str) -> Insert | None:
        item = self._client.get_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}#INSERT", insert_id)
        ).get("Item")
        if item is None:
            return None
        d = from_item(item)
        return Insert(shop_id, insert_id, d["name"], d.get("description"))

    def choose(self, delivery: Delivery, pending: PendingInsert) -> bool:
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": delivery_item(delivery),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(
                                {
                                    "pk": _pending_pk(pending.shop_id, pending.customer_id),
                                    "sk": _pending_sk(pending),
                                    "insert_id": pending.insert_id,
                                    "name": pending.name,
                                    "delivery_id": pending.delivery_id,
                                    "chosen_at": pending.chosen_at.isoformat(),
                                }
                            ),
                        }
                    },
                ]
            )
        except ClientError as err:
            if cancellation_codes(err)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def pending(self, shop_id: str, customer_id: str) -> list[PendingInsert]:
        items = query_prefix(
            self._client,
            self._table,
            _pending_pk(shop_id, customer_id),
            "PENDING#",
            ConsistentRead=True,
        )
        return [
            PendingInsert(
                shop_id=shop_id,
                customer_id=customer_id,
                insert_id=d["insert_id"],
                name=d["name"],
                delivery_id=d["delivery_id"],
                chosen_at=datetime.fromisoformat(d["chosen_at"]),
            )
            for d in items
        ]

    def attach(self, pending: PendingInsert, line: PickLine) -> bool:
        pick: dict[str, Any] = {
            "pk": _pick_pk(pending.shop_id, line.day),
            "sk": f"{line.order_id}#{line.delivery_id}",
            "order_id": line.order_id,
            "customer_id": line.customer_id,
            "insert_id": line.insert_id,
            "insert_name": line.insert_name,
            "delivery_id": line.delivery_id,
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": key(
                                _pending_pk(pending.shop_id, pending.customer_id),
                                _pending_sk(pending),
                            ),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": to_item(pick)}},
                ]
            )
        except ClientError as err:
            if cancellation_codes(err)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def pick_list(self, shop_id: str, day: date) -> list[PickLine]:
        items = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _pick_pk(shop_id, day)}},
        )
        return [_pick_line(day, d) for d in items]

    def pick_list_page(
        self, shop_id: str, day: date, limit: int, after: Position | None
    ) -> tuple[list[PickLine], Position | None]:
        items, last = partition_page(
            self._client, self._table, _pick_pk(shop_id, day), "", limit=limit, after=after
        )
        return [_pick_line(day, d) for d in items], last


def _pick_line(day: date, d: dict[str, Any]) -> PickLine:
    return PickLine(
        day=day,
        order_id=d["order_id"],
        customer_id=d["customer_id"],
        insert_id=d["insert_id"],
        insert_name=d["insert_name"],
        delivery_id=d["delivery_id"],
    )
