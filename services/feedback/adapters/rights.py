"""What the feedback table holds on a person, read out whole (disclosure), removed
(erasure) or moved to the survivor of a merge (`customer.merged`): survey responses (and
their idempotency markers), restock sign-ups (with the address), restock notifications,
and the copy of their segment memberships.

A person's items are read with two Queries, never a Scan: the sparse `person` index
(every item naming a customer carries ``person``) and the person's membership partition.
An erased person's notification keeps its marker without the person (it guards the
release wave against a second send) and the release's counters stay; the rest is
deleted. A merge moves answers to the survivor and re-keys sign-ups and notifications to
the survivor's sign-up id (a sign-up id hashes SKU, channel and customer: the survivor
signing up again must find it); where the survivor already has that sign-up, the
merged-away one goes and its SKU's count with it. Every write is conditional on the item
still naming the old id: a repeat, or a redelivered event, finds and counts nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from feedback.adapters.repository import (
    CONDITION_FAILED,
    PERSON_INDEX,
    person_key,
    signup_count_key,
)
from feedback.domain.restock import Recipient, signup_id_for
from feedback.services.ports import PersonRecords
from shared.adapters.dynamodb import (
    cancellation_codes,
    is_condition_failure,
    key,
    query_all,
    scan_all,
    to_item,
)
from shared.rights import PersonalData

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEYS = ("pk", "sk", "person")


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


class DynamoFeedbackPersonalData(PersonalData, PersonRecords):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _indexed(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        """The items naming the person: one Query of the `person` index."""
        return list(
            query_all(
                self._client,
                TableName=self._table,
                IndexName=PERSON_INDEX,
                KeyConditionExpression="person = :p",
                ExpressionAttributeValues={":p": {"S": str(person_key(shop_id, customer_id))}},
            )
        )

    def _items(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        memberships = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#CUST#{customer_id}#SEGS"}},
            ConsistentRead=True,
        )
        return [*self._indexed(shop_id, customer_id), *memberships]

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

    def erase(self, shop_id: str, customer_id: str) -> Iterator[dict[str, int]]:
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
                yield {kind: 1}

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
                UpdateExpression="REMOVE customer_id, person",
                ConditionExpression="customer_id = :c",
                ExpressionAttributeValues={":c": {"S": customer_id}},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    # ------------------------------------------------------------------ customer.merged
    def move_person(self, shop_id: str, from_customer: str, to_customer: str) -> dict[str, int]:
        moved: dict[str, int] = {}
        for item in self._indexed(shop_id, from_customer):
            pk, sk = str(item["pk"]), str(item["sk"])
            kind = _kind(pk, sk)
            if kind in ("restock_signups", "restock_notifications") and item.get("sku"):
                done = self._move(shop_id, item, from_customer, to_customer, str(item["sku"]))
            else:  # answers and their markers, a notification written before it held the SKU
                done = self._rename(shop_id, pk, sk, from_customer, to_customer)
            if done:
                moved[kind] = moved.get(kind, 0) + 1
        return moved

    # ------------------------------------------------------------------ backfill
    def index_people(self, shop_id: str) -> tuple[int, int]:
        unindexed = scan_all(
            self._client,
            TableName=self._table,
            FilterExpression="begins_with(pk, :shop) AND attribute_exists(customer_id)"
            " AND attribute_not_exists(person)",
            ExpressionAttributeValues={":shop": {"S": f"SHOP#{shop_id}#"}},
        )
        found = indexed = 0
        for item in unindexed:
            found += 1
            if self._index(shop_id, str(item["pk"]), str(item["sk"]), str(item["customer_id"])):
                indexed += 1
        return found, indexed

    def _index(self, shop_id: str, pk: str, sk: str, customer_id: str) -> bool:
        """Only while the item still names that person and has no key yet (an erasure or a
        merge meanwhile wins)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(pk, sk),
                UpdateExpression="SET person = :p",
                ConditionExpression="attribute_not_exists(person) AND customer_id = :c",
                ExpressionAttributeValues={
                    ":c": {"S": customer_id},
                    ":p": {"S": str(person_key(shop_id, customer_id))},
                },
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def _rename(self, shop_id: str, pk: str, sk: str, old: str, new: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(pk, sk),
                UpdateExpression="SET customer_id = :new, person = :p",
                ConditionExpression="customer_id = :old",
                ExpressionAttributeValues={
                    ":new": {"S": new},
                    ":old": {"S": old},
                    ":p": {"S": str(person_key(shop_id, new))},
                },
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def _move(self, shop_id: str, item: dict[str, Any], old: str, new: str, sku: str) -> bool:
        """A sign-up (sort key: its id) or a notification (``N#<sign-up id>``) under the
        survivor's sign-up id, in one transaction with the old one's delete; where the
        survivor has it already, only the old one goes (a sign-up's count with it)."""
        pk, sk = str(item["pk"]), str(item["sk"])
        signup_id = signup_id_for(sku, item["channel"], Recipient(customer_id=new))
        notification = sk.startswith("N#")
        moved = {**item, "sk": f"N#{signup_id}" if notification else signup_id}
        moved.update(customer_id=new, person=person_key(shop_id, new))
        delete_old = {
            "Delete": {
                "TableName": self._table,
                "Key": key(pk, sk),
                "ConditionExpression": "customer_id = :old",
                "ExpressionAttributeValues": {":old": {"S": old}},
            }
        }
        put_new = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(moved),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        codes = self._cancelled([put_new, delete_old])
        if not codes:
            return True
        if codes[1] == CONDITION_FAILED:
            return False  # moved (or erased) already
        if notification:
            return not self._cancelled([delete_old])
        count = {
            "Update": {
                "TableName": self._table,
                "Key": signup_count_key(shop_id, sku),
                "UpdateExpression": "ADD #s :minus",
                "ExpressionAttributeNames": {"#s": str(item["status"])},
                "ExpressionAttributeValues": {":minus": {"N": "-1"}},
            }
        }
        return not self._cancelled([delete_old, count])

    def _cancelled(self, items: list[dict[str, Any]]) -> list[str | None]:
        """[] when the transaction went through, else its per-item cancellation codes
        (a failed condition among them; any other failure raises)."""
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as err:
            codes = cancellation_codes(err)
            if CONDITION_FAILED in codes:
                return codes
            raise
        return []
