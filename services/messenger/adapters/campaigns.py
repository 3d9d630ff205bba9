"""Campaigns, the messenger's copy of segment membership, engagement and conversions,
in the messenger table.

- campaign    ``SHOP#<shop>`` / ``CAMPAIGN#<id>``: the definition and its progress (JSON,
              with a version for conditional updates)
- week        ``SHOP#<shop>`` / ``WEEK#<Monday>#CAMPAIGN#<id>``: the campaigns scheduled in a
              week (shop time), written with the campaign (the overview's week tile)
- active      ``CAMPAIGNS#ACTIVE`` / ``<shop>#<id>``: scheduled and running campaigns,
              which the journey-dispatcher tick walks
- member      ``SEG#<shop>#<segment>`` / ``C#<customer>``: ``member`` and the time of the
              event that set it (an older event never undoes a newer one); kept from
              `segment.entered` / `segment.exited`, never read from the segmenter's table
- per person  ``CAMPAIGN#<shop>#<id>`` / ``R#<customer>`` and ``/ STATS`` (written with
              the delivery claim, see `repository`); ``/ ORDER#<order>`` marks an
              attributed order. STATS also keeps the campaign's week figures
              (``week_sent``, ``week_opened``, ``week_clicked``, ``week_converted``),
              added in the transaction that writes the record's time of each, under the
              record's condition: what its records say, without reading them (the
              overview's week table, from the week's index, one BatchGetItem per 100
              campaigns)
- first open  ``TRACK#<shop>#<delivery>`` / ``open`` | ``click`` (non-campaign deliveries)
- last touch  ``SHOP#<shop>#CUST#<customer>`` / ``TOUCH``: the campaign delivery the
              person last opened or clicked (for conversion attribution)
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.adapters.repository import (
    STATS_SK,
    CampaignWeeks,
    campaign_pk,
    stats_add,
    week_stat,
)
from messenger.domain.campaign import (
    ACTIVE,
    Campaign,
    CampaignStatus,
    Touch,
    Variant,
)
from messenger.domain.tracking import TrackedDelivery
from messenger.domain.week import WEEK_METRICS, week_of
from messenger.services.ports import CampaignRepository
from shared.adapters.dynamodb import (
    Position,
    batch_get_all,
    cancellation_codes,
    first_condition_refused,
    from_item,
    is_condition_failure,
    key,
    partition_page,
    query_all,
    query_prefix,
    to_item,
    transact_once,
    write_unless_refused,
)
from shared.errors import Conflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ACTIVE_PK = "CAMPAIGNS#ACTIVE"


def campaign_to_json(c: Campaign) -> dict[str, Any]:
    return {
        "campaign_id": c.campaign_id,
        "shop_id": c.shop_id,
        "name": c.name,
        "segment_id": c.segment_id,
        "variants": [{"name": v.name, "message_id": v.message_id} for v in c.variants],
        "scheduled_at": c.scheduled_at.isoformat(),
        "metric": c.metric,
        "topic": c.topic,
        "wave_size": c.wave_size,
        "wave_interval_seconds": int(c.wave_interval.total_seconds()),
        "status": c.status.value,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "cursor": c.cursor,
        "next_wave_at": c.next_wave_at.isoformat() if c.next_wave_at else None,
        "processed": c.processed,
        "skipped": dict(c.skipped),
        "waves": c.waves,
        "completed_at": c.completed_at.isoformat() if c.completed_at else None,
    }


def _week_key(c: Campaign) -> dict[str, Any]:
    monday = week_of(c.scheduled_at).isoformat()
    return key(f"SHOP#{c.shop_id}", f"WEEK#{monday}#CAMPAIGN#{c.campaign_id}")


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def campaign_from_json(d: dict[str, Any], version: int) -> Campaign:
    scheduled = _dt(d["scheduled_at"])
    assert scheduled is not None
    return Campaign(
        campaign_id=d["campaign_id"],
        shop_id=d["shop_id"],
        name=d["name"],
        segment_id=d["segment_id"],
        variants=tuple(Variant(v["name"], v["message_id"]) for v in d["variants"]),
        scheduled_at=scheduled,
        metric=d.get("metric", "opens"),
        topic=d.get("topic", "newsletter"),
        wave_size=int(d.get("wave_size", 500)),
        wave_interval=timedelta(seconds=int(d.get("wave_interval_seconds", 0))),
        status=CampaignStatus(d["status"]),
        created_at=_dt(d.get("created_at")),
        cursor=d.get("cursor"),
        next_wave_at=_dt(d.get("next_wave_at")),
        processed=int(d.get("processed", 0)),
        skipped={k: int(v) for k, v in (d.get("skipped") or {}).items()},
        waves=int(d.get("waves", 0)),
        completed_at=_dt(d.get("completed_at")),
        version=version,
    )


_ENGAGE = {
    "open": ("opened", "opened_at", "clicked_at"),
    "click": ("clicked", "clicked_at", "opened_at"),
}
"""A first open or click: its counter, its field on the record, and the other one's."""
_ENGAGE_TRIES = 3
"""Tries at a first open or click: the other's field only ever appears, so after one
refused try the record read says how it stands, and one more read covers a race."""


class DynamoCampaignRepository(CampaignRepository):
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        people_table: str,
        weeks: CampaignWeeks | None = None,
    ) -> None:
        self._client = client
        self._table = table
        self._weeks = weeks or CampaignWeeks(client, table, people_table)

    def _item(self, c: Campaign, version: int) -> dict[str, Any]:
        return to_item(
            {
                "pk": f"SHOP#{c.shop_id}",
                "sk": f"CAMPAIGN#{c.campaign_id}",
                "body": json.dumps(campaign_to_json(c), ensure_ascii=False),
                "version": version,
            }
        )

    def create(self, campaign: Campaign) -> None:
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._item(campaign, 1),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": key(ACTIVE_PK, f"{campaign.shop_id}#{campaign.campaign_id}"),
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": _week_key(campaign)}},
                ]
            )
        except ClientError as err:
            if first_condition_refused(err):
                raise Conflict(
                    f"campaign {campaign.campaign_id!r} already exists", field="campaign_id"
                ) from None
            raise

    def week_campaigns(self, shop_id: str, monday: date) -> list[str]:
        found = query_prefix(
            self._client, self._table, f"SHOP#{shop_id}", f"WEEK#{monday.isoformat()}#CAMPAIGN#"
        )
        return [str(i["sk"]).rsplit("#", 1)[-1] for i in found]

    def index_week(self, campaign: Campaign) -> None:
        self._client.put_item(TableName=self._table, Item=_week_key(campaign))

    def week_figures(self, shop_id: str, campaign_ids: list[str]) -> dict[str, dict[str, int]]:
        wanted = [key(campaign_pk(shop_id, c), STATS_SK) for c in campaign_ids]
        found = {
            str(i["pk"]).rsplit("#", 1)[-1]: i
            for i in batch_get_all(self._client, self._table, wanted)
        }
        return {
            c: {m: int(found.get(c, {}).get(week_stat(m), 0)) for m in WEEK_METRICS}
            for c in campaign_ids
        }

    def get(self, shop_id: str, campaign_id: str) -> Campaign | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(f"SHOP#{shop_id}", f"CAMPAIGN#{campaign_id}"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        plain = from_item(item)
        return campaign_from_json(json.loads(plain["body"]), int(plain["version"]))

    def campaigns_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[Campaign], Position | None]:
        items, last = partition_page(
            self._client,
            self._table,
            f"SHOP#{shop_id}",
            "CAMPAIGN#",
            limit=limit,
            after=after,
        )
        return [campaign_from_json(json.loads(i["body"]), int(i["version"])) for i in items], last

    def active(self) -> list[tuple[str, str]]:
        items = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": ACTIVE_PK}},
        )
        out = []
        for i in items:
            shop, _, campaign = str(i["sk"]).partition("#")
            out.append((shop, campaign))
        return out

    def save_progress(self, before: Campaign, after: Campaign) -> bool:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": self._item(after, before.version + 1),
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(before.version)}},
        }
        items: list[dict[str, Any]] = [{"Put": put}]
        if after.status not in ACTIVE:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key(ACTIVE_PK, f"{after.shop_id}#{after.campaign_id}"),
                    }
                }
            )
        return write_unless_refused(self._client, items)

    def stats(self, shop_id: str, campaign_id: str) -> dict[str, int]:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(campaign_pk(shop_id, campaign_id), STATS_SK),
            ConsistentRead=True,
        )
        item = from_item(response["Item"]) if response.get("Item") else {}
        return {k: int(v) for k, v in item.items() if k not in ("pk", "sk")}

    def records(self, shop_id: str, campaign_id: str) -> list[dict[str, Any]]:
        return list(
            query_prefix(self._client, self._table, campaign_pk(shop_id, campaign_id), "R#")
        )

    # ------------------------------------------------------------ membership
    def set_membership(
        self, shop_id: str, segment_id: str, customer_id: str, member: bool, at: datetime
    ) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"SEG#{shop_id}#{segment_id}",
                        "sk": f"C#{customer_id}",
                        "member": member,
                        "changed_at": at.isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR changed_at <= :at",
                ExpressionAttributeValues={":at": {"S": at.isoformat()}},
            )
        except ClientError as err:
            if is_condition_failure(err):
                return False  # a newer event already decided
            raise
        return True

    def has_segment(self, shop_id: str, segment_id: str) -> bool:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SEG#{shop_id}#{segment_id}"}},
            Limit=1,
        )
        return bool(response.get("Items"))

    def is_member(self, shop_id: str, segment_id: str, customer_id: str) -> bool:
        got = self._client.get_item(
            TableName=self._table,
            Key=key(f"SEG#{shop_id}#{segment_id}", f"C#{customer_id}"),
            ProjectionExpression="#m",
            ExpressionAttributeNames={"#m": "member"},
        ).get("Item")
        return bool(got and got.get("member", {}).get("BOOL"))

    def members(self, shop_id: str, segment_id: str, after: str | None, limit: int) -> list[str]:
        found: list[str] = []
        start: dict[str, Any] | None = (
            key(f"SEG#{shop_id}#{segment_id}", f"C#{after}") if after is not None else None
        )
        while len(found) < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "#m = :yes",
                "ExpressionAttributeNames": {"#m": "member"},
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"SEG#{shop_id}#{segment_id}"},
                    ":yes": {"BOOL": True},
                },
                "Limit": limit - len(found),
            }
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            response = self._client.query(**kwargs)
            found.extend(str(from_item(i)["sk"])[2:] for i in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return found[:limit]

    # ------------------------------------------------------------ engagement
    def first_engagement(self, tracked: TrackedDelivery, kind: str, at: datetime) -> bool:
        if tracked.campaign_id is None:
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(
                        {
                            "pk": f"TRACK#{tracked.shop_id}#{tracked.delivery_id}",
                            "sk": kind,
                            "at": at.isoformat(),
                        }
                    ),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as err:
                if first_condition_refused(err):
                    return False
                raise
            return True
        # The week's `opened` is a record opened or clicked (`recipient_result`): the
        # first of the two counts it. Which one that is, the record's condition decides:
        # tried as the usual order has it (an open before any click); refused, the record
        # read says whether it is a repeat (nothing counted) or the other came first.
        metric, mine, other = _ENGAGE[kind]
        other_seen = kind == "click"
        for _ in range(_ENGAGE_TRIES):
            if self._engage(tracked, mine, other, other_seen, metric, at):
                return True
            record = self._record(tracked)
            if record is None or mine in record or "sent_at" not in record:
                return False
            if record.get("delivery_id") != tracked.delivery_id:
                return False
            other_seen = other in record
        return False

    def _record(self, tracked: TrackedDelivery) -> dict[str, Any] | None:
        assert tracked.campaign_id is not None
        got = self._client.get_item(
            TableName=self._table,
            Key=key(campaign_pk(tracked.shop_id, tracked.campaign_id), f"R#{tracked.customer_id}"),
            ConsistentRead=True,
        ).get("Item")
        return from_item(got) if got else None

    def _engage(
        self,
        tracked: TrackedDelivery,
        field: str,
        other: str,
        other_seen: bool,
        metric: str,
        at: datetime,
    ) -> bool:
        """One try at a campaign record's first open or click: its time on the record
        and its counters (the week's `opened` too when the other is not there yet), in
        one transaction, if the record is as the try expects it."""
        assert tracked.campaign_id is not None
        pk = campaign_pk(tracked.shop_id, tracked.campaign_id)
        week = (metric,) if metric != "opened" else ()
        if not other_seen:
            week = ("opened", *week)
        test = "attribute_exists" if other_seen else "attribute_not_exists"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key(pk, f"R#{tracked.customer_id}"),
                    "UpdateExpression": f"SET {field} = :at",
                    "ConditionExpression": "attribute_exists(sent_at) AND "
                    f"attribute_not_exists({field}) AND {test}({other}) AND delivery_id = :d",
                    "ExpressionAttributeValues": {
                        ":at": {"S": at.isoformat()},
                        ":d": {"S": tracked.delivery_id},
                    },
                }
            },
            stats_add(
                self._table,
                tracked.shop_id,
                tracked.campaign_id,
                tracked.variant,
                metric,
                week=week,
            ),
        ]
        marks = self._weeks.marks(tracked.shop_id, tracked.campaign_id, tracked.customer_id, week)
        try:
            transact_once(self._client, items, marks)
        except ClientError as err:
            if first_condition_refused(err):
                return False
            raise
        return True

    def touch(self, shop_id: str, customer_id: str, touch: Touch) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"SHOP#{shop_id}#CUST#{customer_id}",
                        "sk": "TOUCH",
                        "campaign_id": touch.campaign_id,
                        "variant": touch.variant,
                        "delivery_id": touch.delivery_id,
                        "at": touch.at.isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR #at <= :at",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":at": {"S": touch.at.isoformat()}},
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise

    def last_touch(self, shop_id: str, customer_id: str) -> Touch | None:
        response = self._client.get_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}#CUST#{customer_id}", "TOUCH")
        )
        if not response.get("Item"):
            return None
        i = from_item(response["Item"])
        return Touch(
            i["campaign_id"], i.get("variant"), i["delivery_id"], datetime.fromisoformat(i["at"])
        )

    def record_conversion(
        self,
        shop_id: str,
        customer_id: str,
        touch: Touch,
        order_id: str,
        total: Decimal,
        at: datetime,
    ) -> bool:
        # A person converts once (`converted_at`), however many orders they place: the
        # first order counts the week's `converted`, a later one adds revenue only.
        for first in (True, False):
            refused = self._convert(shop_id, customer_id, touch, order_id, total, at, first)
            if refused is None:
                return True
            if refused == 0:
                return False  # this order was attributed before
        return False  # the person was never reached

    def _convert(
        self,
        shop_id: str,
        customer_id: str,
        touch: Touch,
        order_id: str,
        total: Decimal,
        at: datetime,
        first: bool,
    ) -> int | None:
        """One try at recording an attributed order, as the person's first conversion
        or a later one: None when written, else the index of the refused item."""
        pk = campaign_pk(shop_id, touch.campaign_id)
        converted = "attribute_not_exists" if first else "attribute_exists"
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(
                        {
                            "pk": pk,
                            "sk": f"ORDER#{order_id}",
                            "customer_id": customer_id,
                            "total": str(total),
                            "at": at.isoformat(),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key(pk, f"R#{customer_id}"),
                    "UpdateExpression": "SET converted_at = "
                    "if_not_exists(converted_at, :at) ADD revenue :total, orders :one",
                    "ConditionExpression": "attribute_exists(sent_at) AND "
                    f"{converted}(converted_at)",
                    "ExpressionAttributeValues": {
                        ":at": {"S": at.isoformat()},
                        ":total": {"N": str(total)},
                        ":one": {"N": "1"},
                    },
                }
            },
        ]
        marks = []
        if first:
            items.append(
                stats_add(self._table, shop_id, touch.campaign_id, None, None, ("converted",))
            )
            marks = self._weeks.marks(shop_id, touch.campaign_id, customer_id, ("converted",))
        try:
            transact_once(self._client, items, marks)
        except ClientError as err:
            codes = cancellation_codes(err)
            if "ConditionalCheckFailed" in codes:
                return codes.index("ConditionalCheckFailed")
            raise
        return None
