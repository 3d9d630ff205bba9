"""The messenger's own record of each person it may message, in the messenger table.

- profile   ``SHOP#<shop>#CUST#<customer>`` / ``PROFILE``: contact data, locale, time
            zone, active hour, consents (with source and time), unreachable channels,
            and the frequency-cap counter (``cap_times``, ``cap_version``)
- LINE link ``LINEUSER#<user id>`` / ``SHOP#<shop>#CUST#<customer>``: who a LINE webhook
            event is about

Kept up to date from `order.placed` and `customer.upserted`. Reading a recipient is one
Query that returns the profile and the person's unsubscribes together.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.adapters.repository import PROFILE_SK
from messenger.channels.names import ADDRESS_FIELDS, CHANNELS
from messenger.domain.model import ConsentState, Recipient, merge_consents
from messenger.services.ports import RecipientRepository
from shared.adapters.dynamodb import from_item, is_condition_failure, key, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_MAX_TRIES = 5


def _pk(shop_id: str, customer_id: str) -> str:
    return f"SHOP#{shop_id}#CUST#{customer_id}"


def _consent_out(c: ConsentState) -> dict[str, Any]:
    return {
        "channel": c.channel,
        "category": c.category,
        "granted": c.granted,
        "source": c.source,
        "recorded_at": c.recorded_at.isoformat() if c.recorded_at else None,
    }


def _consent_in(d: dict[str, Any]) -> ConsentState:
    return ConsentState(
        channel=d["channel"],
        category=d["category"],
        granted=bool(d["granted"]),
        source=d.get("source"),
        recorded_at=datetime.fromisoformat(d["recorded_at"]) if d.get("recorded_at") else None,
    )


def _recipient(item: dict[str, Any], unsubscribed: frozenset[tuple[str, str]]) -> Recipient:
    return Recipient(
        customer_id=item["customer_id"],
        **{field: item.get(field) for field in ADDRESS_FIELDS.values()},
        first_name=item.get("first_name"),
        last_name=item.get("last_name"),
        locale=item.get("locale", "ja"),
        consents=tuple(_consent_in(c) for c in item.get("consents", [])),
        timezone=item.get("timezone"),
        active_hour=int(item["active_hour"]) if item.get("active_hour") is not None else None,
        unreachable=frozenset((item.get("unreachable") or {}).keys()),
        unsubscribed=unsubscribed,
        cap_times=tuple(datetime.fromisoformat(t) for t in item.get("cap_times", [])),
        cap_version=int(item.get("cap_version", 0)),
        rank=item.get("rfm_rank"),
    )


_PROFILE_FIELDS = (
    *ADDRESS_FIELDS.values(),
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "active_hour",
)


class DynamoRecipientRepository(RecipientRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, shop_id: str, customer_id: str) -> Recipient | None:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": _pk(shop_id, customer_id)},
                ":lo": {"S": PROFILE_SK},
                ":hi": {"S": "UNSUB#\uffff"},
            },
            ConsistentRead=True,
        )
        profile: dict[str, Any] | None = None
        unsubscribed: set[tuple[str, str]] = set()
        for raw in response.get("Items", []):
            item = from_item(raw)
            if item["sk"] == PROFILE_SK:
                profile = item
            elif item["sk"].startswith("UNSUB#"):
                _, channel, category = item["sk"].split("#", 2)
                unsubscribed.add((channel, category))
        if profile is None:
            return None
        return _recipient(profile, frozenset(unsubscribed))

    def _raw_profile(self, shop_id: str, customer_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_pk(shop_id, customer_id), PROFILE_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def upsert(self, shop_id: str, update: Recipient, at: datetime) -> Recipient:
        for _ in range(_MAX_TRIES):
            stored = self._raw_profile(shop_id, update.customer_id)
            current = _recipient(stored, frozenset()) if stored else None
            merged, unreachable = _merge(current, update, (stored or {}).get("unreachable") or {})
            rev = int((stored or {}).get("profile_rev", 0))
            values: dict[str, Any] = {
                "customer_id": merged.customer_id,
                "shop_id": shop_id,
                **{f: getattr(merged, f) for f in _PROFILE_FIELDS},
                "consents": [_consent_out(c) for c in merged.consents],
                "unreachable": unreachable,
                "updated_at": at.isoformat(),
                "profile_rev": rev + 1,
            }
            present = {k: v for k, v in values.items() if v is not None}
            names = {f"#a{i}": k for i, k in enumerate(present)}
            attr_values = to_item({f":v{i}": v for i, v in enumerate(present.values())})
            sets = ", ".join(f"#a{i} = :v{i}" for i in range(len(present)))
            if rev:
                condition = "profile_rev = :rev"
                attr_values[":rev"] = {"N": str(rev)}
            else:
                condition = "attribute_not_exists(profile_rev)"
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(_pk(shop_id, update.customer_id), PROFILE_SK),
                    UpdateExpression=f"SET {sets}",
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=attr_values,
                )
            except ClientError as err:
                if is_condition_failure(err):
                    continue
                raise
            if merged.line_user_id and merged.line_user_id != (current and current.line_user_id):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(
                        {
                            "pk": f"LINEUSER#{merged.line_user_id}",
                            "sk": _pk(shop_id, merged.customer_id),
                            "shop_id": shop_id,
                            "customer_id": merged.customer_id,
                        }
                    ),
                )
            return merged
        raise RuntimeError("recipient kept changing while it was being updated")

    def set_reachability(
        self, shop_id: str, customer_id: str, channel: str, reachable: bool, at: datetime
    ) -> None:
        try:
            if reachable:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(_pk(shop_id, customer_id), PROFILE_SK),
                    UpdateExpression="REMOVE unreachable.#c",
                    ConditionExpression="attribute_exists(unreachable)",
                    ExpressionAttributeNames={"#c": channel},
                )
            else:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(_pk(shop_id, customer_id), PROFILE_SK),
                    UpdateExpression="SET unreachable.#c = :at",
                    ConditionExpression="attribute_exists(unreachable)",
                    ExpressionAttributeNames={"#c": channel},
                    ExpressionAttributeValues={":at": {"S": at.isoformat()}},
                )
        except ClientError as err:
            if not is_condition_failure(err):  # no profile: nothing to mark
                raise

    def set_rank(
        self, shop_id: str, customer_id: str, rank: str, entered: bool, at: datetime
    ) -> None:
        values = to_item({":r": rank, ":at": at.isoformat()})
        if entered:
            update = (
                "SET rfm_rank = :r, rfm_rank_at = :at, "
                "customer_id = if_not_exists(customer_id, :c), shop_id = if_not_exists(shop_id, :s)"
            )
            condition = "attribute_not_exists(rfm_rank_at) OR rfm_rank_at <= :at"
            values.update(to_item({":c": customer_id, ":s": shop_id}))
        else:
            update = "REMOVE rfm_rank SET rfm_rank_at = :at"
            condition = "rfm_rank = :r AND rfm_rank_at <= :at"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(_pk(shop_id, customer_id), PROFILE_SK),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if not is_condition_failure(err):  # a newer event already decided
                raise

    def find_by_line_user(
        self, line_user_id: str, shop_id: str | None = None
    ) -> list[tuple[str, str]]:
        if shop_id is None:
            condition, values = "pk = :pk", {}
        else:
            # `#CUST#` ends the shop id, so shop `a` never matches shop `a-2`.
            condition = "pk = :pk AND begins_with(sk, :shop)"
            values = {":shop": {"S": f"SHOP#{shop_id}#CUST#"}}
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues={":pk": {"S": f"LINEUSER#{line_user_id}"}, **values},
        )
        found = []
        for raw in response.get("Items", []):
            item = from_item(raw)
            found.append((str(item["shop_id"]), str(item["customer_id"])))
        return found


def _merge(
    current: Recipient | None, update: Recipient, unreachable: dict[str, Any]
) -> tuple[Recipient, dict[str, Any]]:
    if current is None:
        return update, dict(unreachable)
    changes: dict[str, Any] = {
        f: getattr(update, f) for f in _PROFILE_FIELDS if getattr(update, f) is not None
    }
    merged = replace(current, **changes, consents=merge_consents(current.consents, update.consents))
    still = dict(unreachable)
    for channel in CHANNELS:
        if update.address(channel) and update.address(channel) != current.address(channel):
            still.pop(channel, None)
    return merged, still
