"""Coupon pools and codes in the messenger table.

- pool        ``SHOP#<shop>#POOL#<pool>`` / ``META``
- free code   ``SHOP#<shop>#POOL#<pool>`` / ``FREE#<code>`` (only while nobody has it)
- given       ``SHOP#<shop>#POOL#<pool>`` / ``GIVEN#<sha256(customer, anchor)>`` → code
- code        ``SHOP#<shop>#COUPON#<code>`` / ``COUPON`` (pool, status, who, when, order)

A code's item is unique per shop, so one code cannot sit in two pools. Giving a code is
one transaction: the free entry deleted (it must still be there), the code marked
assigned (it must still be free; a signed code: it must not exist yet) and the given
entry written (it must not exist yet). Whatever runs concurrently, a code goes to one
person and a person gets one code per (pool, anchor).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.domain.coupons import AssignResult, CodeStatus, CouponCode, CouponPool, PoolKind
from messenger.services.ports import CouponRepository
from shared.adapters.dynamodb import (
    cancellation_codes,
    from_item,
    is_condition_failure,
    key,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _pool_pk(shop_id: str, pool_id: str) -> str:
    return f"SHOP#{shop_id}#POOL#{pool_id}"


def _code_key(shop_id: str, code: str) -> dict[str, Any]:
    return key(f"SHOP#{shop_id}#COUPON#{code}", "COUPON")


def _given_sk(customer_id: str, anchor: str) -> str:
    return "GIVEN#" + hashlib.sha256(f"{customer_id}\x1f{anchor}".encode()).hexdigest()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class DynamoCouponRepository(CouponRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def create_pool(self, pool: CouponPool) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": _pool_pk(pool.shop_id, pool.pool_id),
                        "sk": "META",
                        "name": pool.name,
                        "kind": pool.kind.value,
                        "prefix": pool.prefix,
                        "description": pool.description,
                        "created_at": pool.created_at.isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def get_pool(self, shop_id: str, pool_id: str) -> CouponPool | None:
        item = self._client.get_item(
            TableName=self._table, Key=key(_pool_pk(shop_id, pool_id), "META")
        ).get("Item")
        if item is None:
            return None
        d = from_item(item)
        return CouponPool(
            shop_id=shop_id,
            pool_id=pool_id,
            name=d["name"],
            kind=PoolKind(d["kind"]),
            created_at=datetime.fromisoformat(d["created_at"]),
            prefix=d.get("prefix") or "",
            description=d.get("description"),
        )

    def add_code(self, shop_id: str, pool_id: str, code: str) -> bool:
        pk = _pool_pk(shop_id, pool_id)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                **_code_key(shop_id, code),
                                **to_item({"pool_id": pool_id, "status": CodeStatus.FREE.value}),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item({"pk": pk, "sk": f"FREE#{code}", "code": code}),
                        }
                    },
                ]
            )
        except ClientError as err:
            if cancellation_codes(err)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def free_codes(self, shop_id: str, pool_id: str, limit: int) -> list[str]:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :free)",
            ExpressionAttributeValues={
                ":pk": {"S": _pool_pk(shop_id, pool_id)},
                ":free": {"S": "FREE#"},
            },
            ConsistentRead=True,
            Limit=limit,
        )
        return [from_item(i)["code"] for i in response.get("Items", [])]

    def count_free(self, shop_id: str, pool_id: str) -> int:
        total, kwargs = (
            0,
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :free)",
                "ExpressionAttributeValues": {
                    ":pk": {"S": _pool_pk(shop_id, pool_id)},
                    ":free": {"S": "FREE#"},
                },
                "Select": "COUNT",
            },
        )
        while True:
            page = self._client.query(**kwargs)  # type: ignore[arg-type]
            total += page.get("Count", 0)
            last = page.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    def assign(
        self,
        pool: CouponPool,
        code: str,
        customer_id: str,
        anchor: str,
        at: datetime,
    ) -> AssignResult:
        pk = _pool_pk(pool.shop_id, pool.pool_id)
        assigned = {
            "pool_id": pool.pool_id,
            "status": CodeStatus.ASSIGNED.value,
            "customer_id": customer_id,
            "anchor": anchor,
            "assigned_at": at.isoformat(),
        }
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item({"pk": pk, "sk": _given_sk(customer_id, anchor), "code": code}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if pool.kind is PoolKind.SIGNED:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {**_code_key(pool.shop_id, code), **to_item(assigned)},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        else:
            items += [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key(pk, f"FREE#{code}"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _code_key(pool.shop_id, code),
                        "UpdateExpression": "SET #s = :assigned, customer_id = :c, anchor = :a, "
                        "assigned_at = :t",
                        "ConditionExpression": "#s = :free AND pool_id = :p",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":assigned": CodeStatus.ASSIGNED.value,
                                ":free": CodeStatus.FREE.value,
                                ":c": customer_id,
                                ":a": anchor,
                                ":t": at.isoformat(),
                                ":p": pool.pool_id,
                            }
                        ),
                    }
                },
            ]
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as err:
            reasons = cancellation_codes(err)
            if not reasons:
                raise
            if reasons[0] == "ConditionalCheckFailed":
                return AssignResult.ALREADY_GIVEN
            if "ConditionalCheckFailed" in reasons[1:]:
                return AssignResult.CODE_TAKEN
            return AssignResult.CONFLICT
        return AssignResult.ASSIGNED

    def given(self, shop_id: str, pool_id: str, customer_id: str, anchor: str) -> str | None:
        item = self._client.get_item(
            TableName=self._table,
            Key=key(_pool_pk(shop_id, pool_id), _given_sk(customer_id, anchor)),
            ConsistentRead=True,
        ).get("Item")
        return str(from_item(item)["code"]) if item else None

    def get_code(self, shop_id: str, code: str) -> CouponCode | None:
        item = self._client.get_item(
            TableName=self._table, Key=_code_key(shop_id, code), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        d = from_item(item)
        return CouponCode(
            shop_id=shop_id,
            pool_id=d["pool_id"],
            code=code,
            status=CodeStatus(d["status"]),
            customer_id=d.get("customer_id"),
            anchor=d.get("anchor"),
            assigned_at=_dt(d.get("assigned_at")),
            redeemed_at=_dt(d.get("redeemed_at")),
            order_id=d.get("order_id"),
            redeemed_by=d.get("redeemed_by"),
        )

    def redeem(
        self, shop_id: str, code: str, order_id: str, customer_id: str, at: datetime
    ) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_code_key(shop_id, code),
                UpdateExpression="SET #s = :redeemed, order_id = :o, redeemed_by = :c, "
                "redeemed_at = :t",
                ConditionExpression="#s = :assigned",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":redeemed": CodeStatus.REDEEMED.value,
                        ":assigned": CodeStatus.ASSIGNED.value,
                        ":o": order_id,
                        ":c": customer_id,
                        ":t": at.isoformat(),
                    }
                ),
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True
