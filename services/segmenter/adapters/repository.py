"""Persistence of profiles, orders and processed event ids in the segmenter table.

Key design (one table, owned by the segmenter):
- profile  ``SHOP#<shop>#CUST#<customer>`` / ``PROFILE``
- order    ``SHOP#<shop>#ORDER#<order>`` / ``ORDER``; gsi1 lists a customer's orders by time
- event    ``SHOP#<shop>#EVENT#<event id>`` / ``EVENT``; expires after 90 days

An order lands with one TransactWriteItems (event marker, order, profile at the version
that was read), so a retried or duplicated event can never count twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from segmenter.domain.errors import ConcurrentUpdate, DuplicateEvent, OrderAlreadyRecorded
from segmenter.domain.model import Consent, Contact, Order, OrderLine, Profile
from shared.adapters.dynamodb import cancellation_codes, from_item, key, query_all, to_item
from shared.errors import Conflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EVENT_RETENTION = timedelta(days=90)


class ProfileRepository:
    """Port. Test fakes subclass it."""

    def get_profile(self, shop_id: str, customer_id: str) -> Profile | None:
        raise NotImplementedError

    def record_order(
        self,
        event_id: str,
        order: Order,
        profile: Profile,
        expected_version: int,
        envelope_json: str,
    ) -> None:
        raise NotImplementedError

    def get_order(self, shop_id: str, order_id: str) -> Order | None:
        raise NotImplementedError

    def list_orders(self, shop_id: str, customer_id: str) -> list[Order]:
        raise NotImplementedError

    def record_engagement(
        self, shop_id: str, customer_id: str, channel: str, kind: str, at: datetime
    ) -> None:
        raise NotImplementedError


def _profile_pk(shop_id: str, customer_id: str) -> str:
    return f"SHOP#{shop_id}#CUST#{customer_id}"


def _order_pk(shop_id: str, order_id: str) -> str:
    return f"SHOP#{shop_id}#ORDER#{order_id}"


def _event_pk(shop_id: str, event_id: str) -> str:
    return f"SHOP#{shop_id}#EVENT#{event_id}"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def profile_to_item(p: Profile) -> dict[str, Any]:
    return to_item(
        {
            "pk": _profile_pk(p.shop_id, p.customer_id),
            "sk": "PROFILE",
            "shop_id": p.shop_id,
            "customer_id": p.customer_id,
            "contact": {
                "email": p.contact.email,
                "phone": p.contact.phone,
                "line_user_id": p.contact.line_user_id,
                "first_name": p.contact.first_name,
                "last_name": p.contact.last_name,
                "locale": p.contact.locale,
            },
            "consents": [
                {
                    "channel": c.channel,
                    "category": c.category,
                    "granted": c.granted,
                    "source": c.source,
                    "recorded_at": c.recorded_at.isoformat(),
                }
                for c in p.consents
            ],
            "order_count": p.order_count,
            "first_order_at": p.first_order_at.isoformat() if p.first_order_at else None,
            "last_order_at": p.last_order_at.isoformat() if p.last_order_at else None,
            "revenue": p.revenue,
            "categories": sorted(p.categories),
            "version": p.version,
        }
    )


def profile_from_item(raw: dict[str, Any]) -> Profile:
    d = from_item(raw)
    contact = d.get("contact", {})
    return Profile(
        shop_id=d["shop_id"],
        customer_id=d["customer_id"],
        contact=Contact(
            email=contact.get("email"),
            phone=contact.get("phone"),
            line_user_id=contact.get("line_user_id"),
            first_name=contact.get("first_name"),
            last_name=contact.get("last_name"),
            locale=contact.get("locale", "ja"),
        ),
        consents=tuple(
            Consent(
                channel=c["channel"],
                category=c["category"],
                granted=bool(c["granted"]),
                source=c.get("source"),
                recorded_at=datetime.fromisoformat(c["recorded_at"]),
            )
            for c in d.get("consents", [])
        ),
        order_count=int(d.get("order_count", 0)),
        first_order_at=_dt(d.get("first_order_at")),
        last_order_at=_dt(d.get("last_order_at")),
        revenue=Decimal(d.get("revenue", 0)),
        categories=frozenset(d.get("categories", [])),
        version=int(d.get("version", 0)),
    )


def order_to_item(shop_id: str, o: Order) -> dict[str, Any]:
    return to_item(
        {
            "pk": _order_pk(shop_id, o.order_id),
            "sk": "ORDER",
            "gsi1pk": _profile_pk(shop_id, o.customer_id),
            "gsi1sk": f"ORDER#{o.placed_at.astimezone(UTC).isoformat()}#{o.order_id}",
            "shop_id": shop_id,
            "order_id": o.order_id,
            "customer_id": o.customer_id,
            "placed_at": o.placed_at.isoformat(),
            "currency": o.currency,
            "total": o.total,
            "sales_channel": o.sales_channel,
            "coupon": o.coupon,
            "status": "placed",
            "lines": [
                {
                    "sku": ln.sku,
                    "quantity": ln.quantity,
                    "unit_price": ln.unit_price,
                    "category": ln.category,
                    "list_price": ln.list_price,
                    "unit_cost": ln.unit_cost,
                }
                for ln in o.lines
            ],
        }
    )


def order_from_item(d: dict[str, Any]) -> Order:
    return Order(
        order_id=d["order_id"],
        customer_id=d["customer_id"],
        placed_at=datetime.fromisoformat(d["placed_at"]),
        currency=d["currency"],
        total=Decimal(d["total"]),
        sales_channel=d.get("sales_channel"),
        coupon=d.get("coupon"),
        lines=tuple(
            OrderLine(
                sku=ln["sku"],
                quantity=int(ln["quantity"]),
                unit_price=Decimal(ln["unit_price"]),
                category=ln.get("category"),
                list_price=Decimal(ln["list_price"]) if ln.get("list_price") is not None else None,
                unit_cost=Decimal(ln["unit_cost"]) if ln.get("unit_cost") is not None else None,
            )
            for ln in d.get("lines", [])
        ),
    )


class DynamoProfileRepository(ProfileRepository):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get_profile(self, shop_id: str, customer_id: str) -> Profile | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_profile_pk(shop_id, customer_id), "PROFILE"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return profile_from_item(item) if item else None

    def record_order(
        self,
        event_id: str,
        order: Order,
        profile: Profile,
        expected_version: int,
        envelope_json: str,
    ) -> None:
        now = datetime.now(UTC)
        event_item = to_item(
            {
                "pk": _event_pk(profile.shop_id, event_id),
                "sk": "EVENT",
                "type": "order.placed",
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "envelope": envelope_json,
                "recorded_at": now.isoformat(),
                "expires_at": int((now + EVENT_RETENTION).timestamp()),
            }
        )
        stored = profile_to_item(profile)
        stored["version"] = {"N": str(expected_version + 1)}
        if expected_version == 0:
            profile_condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            profile_condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": event_item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": order_to_item(profile.shop_id, order),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": stored, **profile_condition}},  # type: ignore[typeddict-item]
                ]
            )
        except ClientError as err:
            codes = cancellation_codes(err)
            if not codes:
                raise
            if codes[0] == "ConditionalCheckFailed":
                raise self._duplicate(profile.shop_id, event_id) from None
            if codes[1] == "ConditionalCheckFailed":
                raise OrderAlreadyRecorded(
                    f"order '{order.order_id}' was already recorded by another event",
                    field="order_id",
                ) from None
            if codes[2] == "ConditionalCheckFailed":
                raise ConcurrentUpdate("profile changed concurrently") from None
            raise

    def _duplicate(self, shop_id: str, event_id: str) -> DuplicateEvent:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_event_pk(shop_id, event_id), "EVENT"),
            ConsistentRead=True,
        )
        item = from_item(response.get("Item", {}))
        if "envelope" not in item:
            raise Conflict("event id already used by an event of another kind", field="event_id")
        return DuplicateEvent(item["envelope"], item.get("order_id"))

    def get_order(self, shop_id: str, order_id: str) -> Order | None:
        response = self._client.get_item(
            TableName=self._table, Key=key(_order_pk(shop_id, order_id), "ORDER")
        )
        item = response.get("Item")
        return order_from_item(from_item(item)) if item else None

    def list_orders(self, shop_id: str, customer_id: str) -> list[Order]:
        items = query_all(
            self._client,
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": _profile_pk(shop_id, customer_id)},
                ":prefix": {"S": "ORDER#"},
            },
        )
        return [order_from_item(i) for i in items]

    def record_engagement(
        self, shop_id: str, customer_id: str, channel: str, kind: str, at: datetime
    ) -> None:
        """Last open/click per channel, in an item beside the profile so that profile
        writes (whole-item puts) never erase it."""
        self._client.update_item(
            TableName=self._table,
            Key=key(_profile_pk(shop_id, customer_id), "ENGAGEMENT"),
            UpdateExpression="SET #k = :at",
            ExpressionAttributeNames={"#k": f"last_{kind}_{channel}"},
            ExpressionAttributeValues={":at": {"S": at.isoformat()}},
        )
