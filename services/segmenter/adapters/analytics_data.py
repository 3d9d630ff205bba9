"""What the analytics pass and reports read and keep in the segmenter's DynamoDB table.

- one pass over a shop's profiles and orders: a Scan filtered on the shop's key prefix
  (profiles ``SHOP#<shop>#CUST#…/PROFILE``, orders ``SHOP#<shop>#ORDER#…/ORDER``), handed
  on one item at a time (`scan_shop`): the pass keeps none of them
- ad spend   ``SHOP#<shop>#ADSPEND`` / ``<channel>#<YYYY-MM>`` → amount (a PUT replaces)
- message rates: the shop setting ``analytics.message_costs`` (channel → cost of one message)
- the CLV block (``clv``) the pass's fit writes on each profile it read, if the profile is
  unchanged since (its ``version``, bumped like the nightly's writes; an event that changed
  it meanwhile wins and the next pass scores it again)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from segmenter.adapters.codec import clv_to_dict, order_from_dict, profile_from_dict
from segmenter.domain.analytics.snapshot import ProfileRef
from segmenter.domain.analytics.views import AdSpend
from segmenter.domain.model import ClvScore, Order, Profile
from shared.adapters.dynamodb import (
    Position,
    from_item,
    is_condition_failure,
    key,
    partition_page,
    query_all,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MESSAGE_COSTS = "analytics.message_costs"


class AnalyticsData:
    """Port. Test fakes subclass it."""

    def read_shop(self, shop_id: str) -> tuple[list[Profile], list[Order]]:
        """Every profile and order of the shop, in memory (small shops, tests)."""
        raise NotImplementedError

    def scan_shop(self, shop_id: str) -> Iterator[Profile | Order]:
        """The shop's profiles and orders one at a time, in no particular order: what the
        pass reads (it holds none of them). By default, `read_shop`'s lists."""
        profiles, orders = self.read_shop(shop_id)
        yield from profiles
        yield from orders

    def put_ad_spend(self, shop_id: str, entries: Sequence[AdSpend]) -> None:
        raise NotImplementedError

    def list_ad_spend(self, shop_id: str) -> list[AdSpend]:
        raise NotImplementedError

    def put_clv(self, updates: Sequence[tuple[Profile | ProfileRef, ClvScore | None]]) -> int:
        """Store each profile's CLV block (None: remove it), if the profile is unchanged
        since it was read; returns how many were written."""
        raise NotImplementedError

    def ad_spend_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[AdSpend], Position | None]:
        """One page of the ad spend by (channel, month) key, and where the next starts."""
        raise NotImplementedError


class DynamoAnalyticsData(AnalyticsData):
    def __init__(self, client: DynamoDBClient, table: str, segments: int = 4) -> None:
        self._client = client
        self._table = table
        self._segments = segments

    def read_shop(self, shop_id: str) -> tuple[list[Profile], list[Order]]:
        profiles: list[Profile] = []
        orders: list[Order] = []
        for item in self.scan_shop(shop_id):
            if isinstance(item, Profile):
                profiles.append(item)
            else:
                orders.append(item)
        return profiles, orders

    def scan_shop(self, shop_id: str) -> Iterator[Profile | Order]:
        for segment in range(self._segments):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "Segment": segment,
                "TotalSegments": self._segments,
                "FilterExpression": "begins_with(pk, :p) AND (sk = :profile OR sk = :order)",
                "ExpressionAttributeValues": {
                    ":p": {"S": f"SHOP#{shop_id}#"},
                    ":profile": {"S": "PROFILE"},
                    ":order": {"S": "ORDER"},
                },
            }
            while True:
                page = self._client.scan(**kwargs)
                for item in page.get("Items", []):
                    data = from_item(item)
                    if data["sk"] == "PROFILE":
                        yield profile_from_dict(data)
                    else:
                        yield order_from_dict(data)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_ad_spend(self, shop_id: str, entries: Sequence[AdSpend]) -> None:
        # A handful of (channel, month) figures: one put each, every failure loud.
        for e in entries:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"SHOP#{shop_id}#ADSPEND",
                        "sk": f"{e.channel}#{e.month}",
                        "channel": e.channel,
                        "month": e.month,
                        "amount": Decimal(str(e.amount)),
                    }
                ),
            )

    def list_ad_spend(self, shop_id: str) -> list[AdSpend]:
        items = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#ADSPEND"}},
        )
        return [AdSpend(str(i["channel"]), str(i["month"]), float(i["amount"])) for i in items]

    def put_clv(self, updates: Sequence[tuple[Profile | ProfileRef, ClvScore | None]]) -> int:
        written = 0
        for profile, score in updates:
            block = clv_to_dict(score)
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(f"SHOP#{profile.shop_id}#CUST#{profile.customer_id}", "PROFILE"),
                    UpdateExpression="SET #clv = :clv, #ver = :next",
                    ConditionExpression="#ver = :v",
                    ExpressionAttributeNames={"#clv": "clv", "#ver": "version"},
                    ExpressionAttributeValues={
                        ":clv": to_item({"x": block}).get("x", {"NULL": True}),
                        ":v": {"N": str(profile.version)},
                        ":next": {"N": str(profile.version + 1)},
                    },
                )
            except ClientError as err:
                if not is_condition_failure(err):
                    raise
                continue
            written += 1
        return written

    def ad_spend_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[AdSpend], Position | None]:
        items, last = partition_page(
            self._client,
            self._table,
            f"SHOP#{shop_id}#ADSPEND",
            "",
            limit=limit,
            after=after,
        )
        return [
            AdSpend(str(i["channel"]), str(i["month"]), float(i["amount"])) for i in items
        ], last
