"""Persistence of deliveries and unsubscribes in the messenger table.

- delivery     ``SHOP#<shop>#CUST#<customer>`` / ``DELIVERY#<trigger>#<anchor>``;
               gsi1 lists a shop's deliveries newest first
- unsubscribe  ``SHOP#<shop>#CUST#<customer>`` / ``UNSUB#<channel>#<category>``

A claim is one transaction: the unsubscribe must be absent and the delivery must be
new. The claim is written before the provider is called, so no retry sends twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.domain.model import Delivery, DeliveryKey, DeliveryStatus, SkipReason
from shared.adapters.dynamodb import cancellation_codes, from_item, key, query_all, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DeliveryRepository:
    """Port. Test fakes subclass it."""

    def claim(self, delivery: Delivery) -> SkipReason | None:
        """Record the intent to send; the reason it must not be sent, or None."""
        raise NotImplementedError

    def release(self, delivery: Delivery) -> None:
        """Drop a claim whose send failed before reaching the provider, so a retry can send."""
        raise NotImplementedError

    def mark_sent(self, delivery: Delivery, provider_message_id: str | None, at: datetime) -> None:
        raise NotImplementedError

    def mark_failed(self, delivery: Delivery, error: str, at: datetime) -> None:
        raise NotImplementedError

    def record_skip(self, delivery: Delivery) -> None:
        raise NotImplementedError

    def list_deliveries(self, shop_id: str, customer_id: str | None, limit: int) -> list[Delivery]:
        raise NotImplementedError

    def unsubscribe(
        self, shop_id: str, customer_id: str, channel: str, category: str, at: datetime
    ) -> None:
        raise NotImplementedError

    def is_unsubscribed(self, shop_id: str, customer_id: str, channel: str, category: str) -> bool:
        raise NotImplementedError


def _cust_pk(shop_id: str, customer_id: str) -> str:
    return f"SHOP#{shop_id}#CUST#{customer_id}"


def _delivery_sk(k: DeliveryKey) -> str:
    return f"DELIVERY#{k.trigger}#{k.anchor}"


def _unsub_sk(channel: str, category: str) -> str:
    return f"UNSUB#{channel}#{category}"


def _to_item(d: Delivery) -> dict[str, Any]:
    return to_item(
        {
            "pk": _cust_pk(d.key.shop_id, d.key.customer_id),
            "sk": _delivery_sk(d.key),
            "gsi1pk": f"SHOP#{d.key.shop_id}#DELIVERIES",
            "gsi1sk": f"{d.created_at.isoformat()}#{d.delivery_id}",
            "delivery_id": d.delivery_id,
            "shop_id": d.key.shop_id,
            "trigger": d.key.trigger,
            "customer_id": d.key.customer_id,
            "anchor": d.key.anchor,
            "channel": d.channel,
            "category": d.category,
            "status": d.status.value,
            "created_at": d.created_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "provider_message_id": d.provider_message_id,
            "skip_reason": d.skip_reason,
        }
    )


def _from_item(d: dict[str, Any]) -> Delivery:
    return Delivery(
        key=DeliveryKey(d["shop_id"], d["trigger"], d["customer_id"], d["anchor"]),
        channel=d["channel"],
        category=d["category"],
        status=DeliveryStatus(d["status"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        sent_at=datetime.fromisoformat(d["sent_at"]) if d.get("sent_at") else None,
        provider_message_id=d.get("provider_message_id"),
        skip_reason=d.get("skip_reason"),
    )


class DynamoDeliveryRepository(DeliveryRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, delivery: Delivery) -> SkipReason | None:
        k = delivery.key
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": key(
                                _cust_pk(k.shop_id, k.customer_id),
                                _unsub_sk(delivery.channel, delivery.category),
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _to_item(delivery),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as err:
            codes = cancellation_codes(err)
            if codes[:1] == ["ConditionalCheckFailed"]:
                return SkipReason.UNSUBSCRIBED
            if codes[1:2] == ["ConditionalCheckFailed"]:
                return SkipReason.ALREADY_DELIVERED
            raise
        return None

    def release(self, delivery: Delivery) -> None:
        k = delivery.key
        self._client.delete_item(
            TableName=self._table,
            Key=key(_cust_pk(k.shop_id, k.customer_id), _delivery_sk(k)),
            ConditionExpression="#s = :sending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":sending": {"S": DeliveryStatus.SENDING.value}},
        )

    def mark_sent(self, delivery: Delivery, provider_message_id: str | None, at: datetime) -> None:
        k = delivery.key
        values: dict[str, Any] = {
            ":sent": {"S": DeliveryStatus.SENT.value},
            ":at": {"S": at.isoformat()},
        }
        expression = "SET #s = :sent, sent_at = :at"
        if provider_message_id:
            expression += ", provider_message_id = :mid"
            values[":mid"] = {"S": provider_message_id}
        self._client.update_item(
            TableName=self._table,
            Key=key(_cust_pk(k.shop_id, k.customer_id), _delivery_sk(k)),
            UpdateExpression=expression,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )

    def mark_failed(self, delivery: Delivery, error: str, at: datetime) -> None:
        k = delivery.key
        self._client.update_item(
            TableName=self._table,
            Key=key(_cust_pk(k.shop_id, k.customer_id), _delivery_sk(k)),
            UpdateExpression="SET #s = :failed, failed_at = :at, skip_reason = :err",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":failed": {"S": DeliveryStatus.FAILED.value},
                ":at": {"S": at.isoformat()},
                ":err": {"S": error},
            },
        )

    def record_skip(self, delivery: Delivery) -> None:
        """Keep why a message was not sent (once), so support can answer 'why no mail?'."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(delivery),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def list_deliveries(self, shop_id: str, customer_id: str | None, limit: int) -> list[Delivery]:
        if customer_id is not None:
            items = query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": _cust_pk(shop_id, customer_id)},
                    ":prefix": {"S": "DELIVERY#"},
                },
            )
            found = sorted((_from_item(i) for i in items), key=lambda d: d.created_at, reverse=True)
            return found[:limit]
        response = self._client.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#DELIVERIES"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_from_item(from_item(i)) for i in response.get("Items", [])]

    def unsubscribe(
        self, shop_id: str, customer_id: str, channel: str, category: str, at: datetime
    ) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": _cust_pk(shop_id, customer_id),
                    "sk": _unsub_sk(channel, category),
                    "unsubscribed_at": at.isoformat(),
                }
            ),
        )

    def is_unsubscribed(self, shop_id: str, customer_id: str, channel: str, category: str) -> bool:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_cust_pk(shop_id, customer_id), _unsub_sk(channel, category)),
            ConsistentRead=True,
        )
        return "Item" in response
