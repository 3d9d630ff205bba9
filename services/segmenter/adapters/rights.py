"""What the segmenter's table holds on a person, read out whole (disclosure) or removed
(erasure). Every write here is idempotent, so an erasure retried after a crash resumes
and a repeated one changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from segmenter.adapters.repository import (
    ACTIVITY_PREFIX,
    SENT_PREFIX,
    _identity_pk,
    _order_pk,
    _profile_pk,
    count_update,
    sent_pk,
)
from segmenter.domain.identity import Identifier
from segmenter.services.ports import PersonalDataStore
from shared.adapters.dynamodb import (
    cancellation_codes,
    from_item,
    is_condition_failure,
    key,
    query_all,
)
from shared.errors import DependencyFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "version")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _KEYS}


class DynamoPersonalData(PersonalDataStore):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _profile(self, shop_id: str, customer_id: str) -> dict[str, Any] | None:
        got = self._client.get_item(
            TableName=self._table,
            Key=key(_profile_pk(shop_id, customer_id), "PROFILE"),
            ConsistentRead=True,
        ).get("Item")
        return from_item(got) if got else None

    def _orders(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        return list(
            query_all(
                self._client,
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": _profile_pk(shop_id, customer_id)},
                    ":prefix": {"S": "ORDER#"},
                },
            )
        )

    def _partition(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
                ConsistentRead=True,
            )
        )

    def _activities(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        """The person's activity items (views, carts, purchases, opens, clicks)."""
        return self._partition(_profile_pk(shop_id, customer_id), ACTIVITY_PREFIX)

    def _sent(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        """What the person's events published and left (kept for replays, 90 days)."""
        return self._partition(sent_pk(shop_id, customer_id), SENT_PREFIX)

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        profiles: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        activities: list[dict[str, Any]] = []
        published: list[Any] = []
        for customer_id in customer_ids:
            profile = self._profile(shop_id, customer_id)
            if profile is not None:
                profiles.append(_public(profile))
            orders.extend(_public(o) for o in self._orders(shop_id, customer_id))
            activities.extend(_public(a) for a in self._activities(shop_id, customer_id))
            for sent in self._sent(shop_id, customer_id):
                published.extend(json.loads(e) for e in sent.get("published") or ())
        return {
            "profiles": profiles,
            "orders": orders,
            "activities": activities,
            "events_published": published,
        }

    def erase(self, shop_id: str, customer_id: str, anonymous_id: str) -> Iterator[dict[str, int]]:
        """Identity claims, segment memberships and the profile go; orders stay for the
        shop's statistics, filed under `anonymous_id`. Each step's count is yielded as the
        step completes (for the caller to log before the next). The profile goes last, so
        a crash or a refusal before it leaves it there for the retry to find."""
        profile = self._profile(shop_id, customer_id)
        anonymised = 0
        for order in self._orders(shop_id, customer_id):
            anonymised += self._update_if(
                key(_order_pk(shop_id, str(order["order_id"])), "ORDER"),
                "SET customer_id = :anon, gsi1pk = :pk",
                {":anon": anonymous_id, ":pk": _profile_pk(shop_id, anonymous_id)},
                customer_id,
            )
        yield {"orders_anonymised": anonymised}
        activities = self._activities(shop_id, customer_id)
        yield {"activities": sum(self._delete(key(a["pk"], a["sk"])) for a in activities)}
        sent = self._sent(shop_id, customer_id)
        yield {"events_published": sum(self._delete(key(s["pk"], s["sk"])) for s in sent)}
        if profile is None:
            yield {"identifiers": 0, "memberships": 0, "profiles": 0}
            return
        claims = 0
        for identifier in profile.get("identifiers") or ():
            pk = _identity_pk(shop_id, Identifier.from_key(str(identifier)))
            claims += self._delete_if(key(pk, "ID"), customer_id)
        yield {"identifiers": claims}
        segments = sorted(profile.get("segments") or ())
        yield {
            "memberships": sum(
                self._delete(key(f"SHOP#{shop_id}#SEG#{s}", f"CUST#{customer_id}"))
                for s in segments
            )
        }
        yield {"profiles": self._delete_profile(shop_id, customer_id, profile, segments)}

    def _delete_profile(
        self, shop_id: str, customer_id: str, profile: dict[str, Any], segments: list[str]
    ) -> int:
        """The profile goes in one transaction with its segments' member counts, on the
        version read: a retry finds no profile and counts nothing twice; an event that
        changed the profile meanwhile refuses it (retry the erasure)."""
        delete: dict[str, Any] = {
            "Delete": {
                "TableName": self._table,
                "Key": key(_profile_pk(shop_id, customer_id), "PROFILE"),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(profile["version"])}},
            }
        }
        items: list[Any] = [delete]
        if segments:
            items.append(
                count_update(
                    self._table, shop_id, dict.fromkeys(segments, -1), shard_by=customer_id
                )
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as err:
            if not cancellation_codes(err):
                raise
            raise DependencyFailed("the profile changed during its erasure; retry") from None
        return 1

    def _delete(self, item_key: dict[str, Any]) -> int:
        """1 if the item was there (so a retry does not count it twice), else 0."""
        gone = self._client.delete_item(TableName=self._table, Key=item_key, ReturnValues="ALL_OLD")
        return 1 if gone.get("Attributes") else 0

    def _update_if(
        self, item_key: dict[str, Any], expression: str, values: dict[str, str], owner: str
    ) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=item_key,
                UpdateExpression=expression,
                ConditionExpression="customer_id = :owner",
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    **{k: {"S": v} for k, v in values.items()},
                },
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def _delete_if(self, item_key: dict[str, Any], owner: str) -> bool:
        """Delete an identity claim only while it still points at the erased person."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=item_key,
                ConditionExpression="customer_id = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False
            raise
        return True
