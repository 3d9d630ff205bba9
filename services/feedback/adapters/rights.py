"""What the feedback table holds on a person, read out whole (disclosure) or removed
(erasure): survey responses (and their idempotency markers), restock sign-ups (with the
address), the copy of their segment memberships, and restock notifications.

The table has no index by person, so both read the shop's items with a filtered Scan:
slow on a large table, but an erasure or a disclosure is a rare admin request. A
notification keeps its marker without the person (it guards the release wave against a
second send) and the release's counters stay; the rest is deleted. Every write is
idempotent: a repeat finds, and counts, nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from feedback.adapters.repository import CONDITION_FAILED, signup_count_key
from shared.adapters.dynamodb import (
    cancellation_codes,
    is_condition_failure,
    key,
    scan_all,
)
from shared.rights import PersonalData

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEYS = ("pk", "sk")


def _kind(pk: str, sk: str) -> str:
    if sk == "RESPONSE":
        return "response_markers"
    if pk.endswith("#RESP"):
        return "survey_responses"
    if pk.endswith("#SIGNUPS"):
        return "restock_signups"
    if pk.endswith("#SEGS"):
        return "segment_memberships"
    if sk.startswith("N#"):
        return "restock_notifications"
    return "other"


class DynamoFeedbackPersonalData(PersonalData):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _items(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        shop = f"SHOP#{shop_id}"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :shop) AND (customer_id = :c OR pk = :segs)",
            "ExpressionAttributeValues": {
                ":shop": {"S": f"{shop}#"},
                ":c": {"S": customer_id},
                ":segs": {"S": f"{shop}#CUST#{customer_id}#SEGS"},
            },
            "ConsistentRead": True,
        }
        return list(scan_all(self._client, **kwargs))

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        out: dict[str, list[dict[str, Any]]] = {
            "survey_responses": [],
            "restock_signups": [],
            "restock_notifications": [],
            "segment_memberships": [],
        }
        for customer_id in customer_ids:
            for item in self._items(shop_id, customer_id):
                kind = _kind(str(item["pk"]), str(item["sk"]))
                if kind == "response_markers":
                    continue  # the same answers as the response record
                public = {k: v for k, v in item.items() if k not in _KEYS}
                if kind == "segment_memberships":
                    public = {"segment_id": item["sk"]}
                out.setdefault(kind, []).append(public)
        return out

    def erase(self, shop_id: str, customer_id: str) -> dict[str, int]:
        removed: dict[str, int] = {}
        for item in self._items(shop_id, customer_id):
            pk, sk = str(item["pk"]), str(item["sk"])
            kind = _kind(pk, sk)
            if kind == "restock_notifications":
                done = self._forget_person(pk, sk, customer_id)
            elif kind == "restock_signups":
                done = self._delete_signup(shop_id, item)
            else:
                done = self._delete(pk, sk)
            if done:
                removed[kind] = removed.get(kind, 0) + 1
        return removed

    def _delete(self, pk: str, sk: str) -> bool:
        gone = self._client.delete_item(
            TableName=self._table, Key=key(pk, sk), ReturnValues="ALL_OLD"
        )
        return bool(gone.get("Attributes"))

    def _delete_signup(self, shop_id: str, item: dict[str, Any]) -> bool:
        """The sign-up, and one off its SKU's count of its status, in one transaction (if
        it is still there: a repeat takes nothing off twice)."""
        status = str(item["status"])
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": key(str(item["pk"]), str(item["sk"])),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": signup_count_key(shop_id, str(item["sku"])),
                            "UpdateExpression": "ADD #s :minus",
                            "ExpressionAttributeNames": {"#s": status},
                            "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                        }
                    },
                ]
            )
        except ClientError as err:
            if CONDITION_FAILED in cancellation_codes(err):
                return False
            raise
        return True

    def _forget_person(self, pk: str, sk: str, customer_id: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(pk, sk),
                UpdateExpression="REMOVE customer_id",
                ConditionExpression="customer_id = :c",
                ExpressionAttributeValues={":c": {"S": customer_id}},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True
