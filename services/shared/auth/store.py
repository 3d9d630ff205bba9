"""Persistence of shops and API keys in the platform table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb import (
    Position,
    first_condition_refused,
    from_item,
    is_condition_failure,
    key,
    partition_page,
    to_item,
    write_unless_refused,
)
from shared.auth.keys import ApiKey, Shop
from shared.auth.sessions import LinkGrant, SessionRecord
from shared.errors import Conflict, NotFound, Unauthenticated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class KeyStore:
    """Port. Test fakes subclass it."""

    def create_shop(self, shop: Shop, first_key: ApiKey) -> None:
        raise NotImplementedError

    def add_key(self, api_key: ApiKey) -> None:
        raise NotImplementedError

    def save_key(self, api_key: ApiKey) -> None:
        raise NotImplementedError

    def get_key_and_shop(self, shop_id: str, key_id: str) -> tuple[ApiKey | None, Shop | None]:
        raise NotImplementedError

    def get_shop(self, shop_id: str) -> Shop | None:
        raise NotImplementedError

    def list_keys(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[ApiKey], Position | None]:
        """One page of the shop's keys by id, and where the next one starts."""
        raise NotImplementedError

    def list_shops(self) -> list[Shop]:
        raise NotImplementedError

    def open_session(self, record: SessionRecord, link: LinkGrant | None) -> None:
        """Keep a new session; one opened by a link spends the link's nonce with it, and a
        spent nonce opens nothing (Unauthenticated)."""
        raise NotImplementedError

    def get_session(
        self, shop_id: str, key_id: str, session_id: str
    ) -> tuple[SessionRecord | None, ApiKey | None, Shop | None]:
        """A session's record with its key and shop, read together."""
        raise NotImplementedError

    def end_session(self, shop_id: str, session_id: str, at: datetime) -> SessionRecord:
        """End a session (a sign-out or a revoke); ending it again changes nothing."""
        raise NotImplementedError

    def list_sessions(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SessionRecord], Position | None]:
        raise NotImplementedError


def _shop_key(shop_id: str) -> dict[str, Any]:
    return key(f"SHOP#{shop_id}", "SHOP")


def _api_key_key(shop_id: str, key_id: str) -> dict[str, Any]:
    return key(f"SHOP#{shop_id}", f"KEY#{key_id}")


def _key_to_item(k: ApiKey) -> dict[str, Any]:
    return to_item(
        {
            "pk": f"SHOP#{k.shop_id}",
            "sk": f"KEY#{k.key_id}",
            "key_id": k.key_id,
            "shop_id": k.shop_id,
            "name": k.name,
            "scopes": sorted(k.scopes),
            "secret_hash": k.secret_hash,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
    )


def _key_from_item(raw: dict[str, Any]) -> ApiKey:
    d = from_item(raw)
    return ApiKey(
        key_id=d["key_id"],
        shop_id=d["shop_id"],
        name=d["name"],
        scopes=frozenset(d["scopes"]),
        secret_hash=d["secret_hash"],
        created_at=datetime.fromisoformat(d["created_at"]),
        revoked_at=datetime.fromisoformat(d["revoked_at"]) if d.get("revoked_at") else None,
    )


def _shop_from_item(raw: dict[str, Any]) -> Shop:
    d = from_item(raw)
    return Shop(
        shop_id=d["shop_id"],
        name=d["name"],
        created_at=datetime.fromisoformat(d["created_at"]),
        active=bool(d.get("active", True)),
    )


def _session_key(shop_id: str, session_id: str) -> dict[str, Any]:
    return key(f"SHOP#{shop_id}", f"SESSION#{session_id}")


def _session_from_item(raw: dict[str, Any]) -> SessionRecord:
    d = from_item(raw)
    return SessionRecord(
        shop_id=d["shop_id"],
        session_id=d["session_id"],
        key_id=d["key_id"],
        created_at=datetime.fromisoformat(d["created_at"]),
        expires_at=datetime.fromisoformat(d["expires"]),
        ended_at=datetime.fromisoformat(d["ended_at"]) if d.get("ended_at") else None,
    )


class DynamoKeyStore(KeyStore):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def create_shop(self, shop: Shop, first_key: ApiKey) -> None:
        shop_item = to_item(
            {
                "pk": f"SHOP#{shop.shop_id}",
                "sk": "SHOP",
                "shop_id": shop.shop_id,
                "name": shop.name,
                "created_at": shop.created_at.isoformat(),
                "active": shop.active,
            }
        )
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": shop_item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": _key_to_item(first_key)}},
                ]
            )
        except ClientError as err:
            if first_condition_refused(err):
                raise Conflict(f"shop '{shop.shop_id}' already exists", field="shop_id") from None
            raise

    def add_key(self, api_key: ApiKey) -> None:
        self._client.put_item(TableName=self._table, Item=_key_to_item(api_key))

    def save_key(self, api_key: ApiKey) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_key_to_item(api_key),
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as err:
            if is_condition_failure(err):
                raise NotFound("API key not found", field="key_id") from None
            raise

    def get_key_and_shop(self, shop_id: str, key_id: str) -> tuple[ApiKey | None, Shop | None]:
        response = self._client.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [_shop_key(shop_id), _api_key_key(shop_id, key_id)],
                    "ConsistentRead": True,
                }
            }
        )
        found_key: ApiKey | None = None
        found_shop: Shop | None = None
        for raw in response.get("Responses", {}).get(self._table, []):
            if raw["sk"]["S"] == "SHOP":
                found_shop = _shop_from_item(raw)
            else:
                found_key = _key_from_item(raw)
        return found_key, found_shop

    def open_session(self, record: SessionRecord, link: LinkGrant | None) -> None:
        """The session's item (and the link's spent nonce) carry `expires_at` in epoch
        seconds: the table's TTL removes them some time after they stop mattering."""
        item = {
            "pk": f"SHOP#{record.shop_id}",
            "sk": f"SESSION#{record.session_id}",
            "shop_id": record.shop_id,
            "session_id": record.session_id,
            "key_id": record.key_id,
            "created_at": record.created_at.isoformat(),
            "expires": record.expires_at.isoformat(),
            "expires_at": int(record.expires_at.timestamp()),
        }
        writes: list[dict[str, Any]] = []
        if link is not None:
            spent = {
                "pk": f"SHOP#{record.shop_id}",
                "sk": f"LINK#{link.nonce}",
                "expires_at": int(link.expires_at.timestamp()),
            }
            put = {"TableName": self._table, "Item": to_item(spent)}
            writes.append({"Put": {**put, "ConditionExpression": "attribute_not_exists(pk)"}})
        writes.append({"Put": {"TableName": self._table, "Item": to_item(item)}})
        if not write_unless_refused(self._client, writes):
            raise Unauthenticated("this sign-in link was already used; ask for a new one")

    def get_session(
        self, shop_id: str, key_id: str, session_id: str
    ) -> tuple[SessionRecord | None, ApiKey | None, Shop | None]:
        keys = [_shop_key(shop_id), _session_key(shop_id, session_id)]
        keys.append(_api_key_key(shop_id, key_id))
        response = self._client.batch_get_item(
            RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
        )
        record: SessionRecord | None = None
        found_key: ApiKey | None = None
        found_shop: Shop | None = None
        for raw in response.get("Responses", {}).get(self._table, []):
            sk = raw["sk"]["S"]
            if sk == "SHOP":
                found_shop = _shop_from_item(raw)
            elif sk.startswith("SESSION#"):
                record = _session_from_item(raw)
            else:
                found_key = _key_from_item(raw)
        return record, found_key, found_shop

    def end_session(self, shop_id: str, session_id: str, at: datetime) -> SessionRecord:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_session_key(shop_id, session_id),
                UpdateExpression="SET ended_at = if_not_exists(ended_at, :at)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": {"S": at.isoformat()}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if is_condition_failure(err):
                raise NotFound("no such session", field="session_id") from None
            raise
        return _session_from_item(response["Attributes"])

    def list_sessions(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SessionRecord], Position | None]:
        items, last = partition_page(
            self._client, self._table, f"SHOP#{shop_id}", "SESSION#", limit=limit, after=after
        )
        return [_session_from_item(to_item(i)) for i in items], last

    def get_shop(self, shop_id: str) -> Shop | None:
        raw = self._client.get_item(
            TableName=self._table, Key=_shop_key(shop_id), ConsistentRead=True
        ).get("Item")
        return _shop_from_item(raw) if raw else None

    def list_keys(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[ApiKey], Position | None]:
        items, last = partition_page(
            self._client,
            self._table,
            f"SHOP#{shop_id}",
            "KEY#",
            limit=limit,
            after=after,
        )
        return [_key_from_item(to_item(i)) for i in items], last

    def list_shops(self) -> list[Shop]:
        """Every active shop (the nightly jobs walk them); a scan of a small table."""
        shops: list[Shop] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :shop",
            "ExpressionAttributeValues": {":shop": {"S": "SHOP"}},
        }
        while True:
            page = self._client.scan(**kwargs)
            shops.extend(_shop_from_item(raw) for raw in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return [s for s in shops if s.active]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
