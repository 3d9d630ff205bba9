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
)
from shared.auth.keys import ApiKey, Shop
from shared.errors import Conflict, NotFound

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
