"""What the built-in journeys need to know besides enrolments, in the journeys table.

- order     ``CUST#<shop>#<customer>`` / ``O#<order id>``: written by the engine on
            `order.placed` and, unless held already, on `order.imported` (imported
            history, `services/orders.py`) (`JourneyRepository.record_order`); read here
            as the person's order history (the first order of the win-back, the
            replenishment interval)
- cart      ``CUST#<shop>#<customer>`` / ``C#<cart id>``: the cart's latest lines and
            when they changed (`changed`, a UTC `stamp`; an older change never
            replaces them; expires `CART_DAYS` after its last change)
- told      ``CUST#<shop>#<customer>`` / ``N#<sku>``: the person was told this SKU is
            back (by a journey or by feedback's restock sign-up), written conditionally
- prefs     ``CUST#<shop>#<customer>`` / ``PREF``: survey preferences (`motive`, ...)
- stock     ``STOCK#<shop>`` / ``SKU#<sku>``: the latest quantity (older events ignored)
- usage     ``USAGE#<shop>`` / ``SKU#<sku>``: the product's usage days (days one unit
            lasts), a catalog field set over the API, read by replenishment
- birthday  ``CAL#<MM-DD>`` / ``<shop>#<customer>``: the people born on that day (the
            daily date-trigger scan reads tomorrow's), with ``CUST#..`` / ``BDAY`` pointing
            at the person's entry so a changed birthday moves it
- scanned   ``CALSCAN`` / ``<YYYY-MM-DD>``: that day's scan was claimed (once per day;
            expires `SCAN_DAYS` later)
- wanted    ``WANT#<shop>#<sku>`` / ``C#<customer>``: carted or viewed while sold out
            (expires `WANT_DAYS` after the last time; forgotten once the SKU's return
            was handed to the journeys), with ``CUST#<shop>#<customer>`` / ``W#<sku>``
            pointing at it, so the person's erasure finds it

What expires carries the table's TTL attribute ``ttl`` (epoch seconds).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from messenger.adapters.journeys import expiry
from messenger.domain.journeys.records import stamp
from messenger.services.ports import JourneyFacts
from shared.adapters.dynamodb import batch_get_all, from_item, key, query_all, query_prefix, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CART_DAYS = 30
"""A cart unchanged this long is no longer read by any cart mail (theirs go within days)."""
WANT_DAYS = 90
"""Someone who carted or viewed a sold-out SKU this long ago no longer waits for it."""
SCAN_DAYS = 8
"""A day's scan claim is only asked for on that day (kept a week more for the clock's sake)."""


class DynamoJourneyFacts(JourneyFacts):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def orders_of(self, shop_id: str, customer_id: str) -> list[Mapping[str, Any]]:
        items = query_prefix(self._client, self._table, f"CUST#{shop_id}#{customer_id}", "O#")
        return [json.loads(i["facts"]) for i in items]

    def record_cart(
        self,
        shop_id: str,
        customer_id: str,
        cart_id: str,
        lines: Sequence[Mapping[str, Any]],
        at: datetime,
    ) -> None:
        """The cart's lines as changed at `at`, unless a later change is stored. The change
        time is kept as `changed`, a fixed-width UTC `stamp`, so string order is time
        order whatever offset the storefront sent. Carts stored before carry `at`
        (`isoformat`, the storefront's offset, which does not compare as time) and no
        `changed`: any change replaces them (they expire within `CART_DAYS` anyway)."""
        changed = stamp(at)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"CUST#{shop_id}#{customer_id}",
                        "sk": f"C#{cart_id}",
                        "lines": json.dumps(list(lines), default=str),
                        "changed": changed,
                        "ttl": expiry(at + timedelta(days=CART_DAYS)),
                    }
                ),
                # An older change heard later (a replay) never overwrites the newer lines.
                ConditionExpression="attribute_not_exists(#changed) OR #changed <= :changed",
                ExpressionAttributeNames={"#changed": "changed"},
                ExpressionAttributeValues={":changed": {"S": changed}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return

    def cart(self, shop_id: str, customer_id: str, cart_id: str) -> list[dict[str, Any]]:
        got = self._client.get_item(
            TableName=self._table, Key=key(f"CUST#{shop_id}#{customer_id}", f"C#{cart_id}")
        ).get("Item")
        return list(json.loads(from_item(got)["lines"])) if got else []

    def record_stock(self, shop_id: str, sku: str, quantity: int, at: datetime) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"STOCK#{shop_id}",
                        "sk": f"SKU#{sku}",
                        "quantity": quantity,
                        "at": at.isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR #at <= :at",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":at": {"S": at.isoformat()}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def stock(self, shop_id: str, skus: Sequence[str]) -> dict[str, int]:
        return self._per_sku(f"STOCK#{shop_id}", skus, "quantity")

    def _per_sku(self, pk: str, skus: Sequence[str], attribute: str) -> dict[str, int]:
        """One number per SKU under `pk` (`SKU#<sku>` items), read in batches; absent SKUs
        are left out."""
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        items = batch_get_all(self._client, self._table, [key(pk, f"SKU#{s}") for s in wanted])
        return {str(i["sk"]).removeprefix("SKU#"): int(i[attribute]) for i in items}

    def want(self, shop_id: str, sku: str, customer_id: str, at: datetime) -> None:
        ttl = expiry(at + timedelta(days=WANT_DAYS))
        self._client.put_item(
            TableName=self._table,
            Item=to_item({"pk": f"CUST#{shop_id}#{customer_id}", "sk": f"W#{sku}", "ttl": ttl}),
        )
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"WANT#{shop_id}#{sku}",
                    "sk": f"C#{customer_id}",
                    "at": at.isoformat(),
                    "ttl": ttl,
                }
            ),
        )

    def wanting(self, shop_id: str, sku: str, limit: int) -> list[str]:
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"WANT#{shop_id}#{sku}"}},
            ConsistentRead=True,  # the page after this one must not find those forgotten
            Limit=limit,
        ).get("Items", [])
        return [str(from_item(i)["sk"]).removeprefix("C#") for i in items]

    def forget_want(self, shop_id: str, sku: str, customer_id: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key=key(f"WANT#{shop_id}#{sku}", f"C#{customer_id}")
        )
        self._client.delete_item(
            TableName=self._table, Key=key(f"CUST#{shop_id}#{customer_id}", f"W#{sku}")
        )

    def tell(self, shop_id: str, customer_id: str, sku: str, by: str) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item({"pk": f"CUST#{shop_id}#{customer_id}", "sk": f"N#{sku}", "by": by}),
                ConditionExpression="attribute_not_exists(pk) OR #by = :by",
                ExpressionAttributeNames={"#by": "by"},
                ExpressionAttributeValues={":by": {"S": by}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_preferences(
        self, shop_id: str, customer_id: str, preferences: Mapping[str, list[str]]
    ) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"CUST#{shop_id}#{customer_id}",
                    "sk": "PREF",
                    "preferences": json.dumps(dict(preferences)),
                }
            ),
        )

    def record_usage_days(self, shop_id: str, sku: str, days: int) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item({"pk": f"USAGE#{shop_id}", "sk": f"SKU#{sku}", "days": days}),
        )

    def record_birthday(self, shop_id: str, customer_id: str, day: str) -> None:
        pk = f"CUST#{shop_id}#{customer_id}"
        got = self._client.get_item(TableName=self._table, Key=key(pk, "BDAY")).get("Item")
        old = str(from_item(got)["day"]) if got else None
        if old == day:
            return
        entry = {"pk": f"CAL#{day[5:10]}", "sk": f"{shop_id}#{customer_id}"}
        self._client.put_item(TableName=self._table, Item=to_item({**entry, "day": day}))
        self._client.put_item(
            TableName=self._table, Item=to_item({"pk": pk, "sk": "BDAY", "day": day})
        )
        if old is not None and old[5:10] != day[5:10]:
            self._client.delete_item(
                TableName=self._table, Key=key(f"CAL#{old[5:10]}", f"{shop_id}#{customer_id}")
            )

    def born_on(self, month_day: str) -> Iterator[tuple[str, str, str]]:
        for item in query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CAL#{month_day}"}},
        ):
            shop_id, customer_id = str(item["sk"]).split("#", 1)
            yield shop_id, customer_id, str(item["day"])

    def claim_scan(self, day: str) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": "CALSCAN",
                        "sk": day,
                        "ttl": expiry(_midnight(day) + timedelta(days=SCAN_DAYS)),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def usage_days(self, shop_id: str, skus: Sequence[str]) -> dict[str, int]:
        return self._per_sku(f"USAGE#{shop_id}", skus, "days")

    def preferences(self, shop_id: str, customer_id: str) -> dict[str, list[str]]:
        got = self._client.get_item(
            TableName=self._table, Key=key(f"CUST#{shop_id}#{customer_id}", "PREF")
        ).get("Item")
        return dict(json.loads(from_item(got)["preferences"])) if got else {}


def _midnight(day: str) -> datetime:
    """The UTC start of an ISO date."""
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=UTC)
