"""Persistence of deliveries and unsubscribes in the messenger table.

- delivery     ``SHOP#<shop>#CUST#<customer>`` / ``DELIVERY#<trigger>#<anchor>``;
               gsi1 lists a shop's deliveries newest first
- unsubscribe  ``SHOP#<shop>#CUST#<customer>`` / ``UNSUB#<channel>#<category>``
               (channel ``all`` covers every channel of the category);
               ``UNSUB#all#topic:<topic>``: one topic left, on every channel
- suppression  ``SUPPRESS#<channel>#<sha256 of the address>`` / ``SUPPRESS`` (bounces,
               complaints: per address, whatever the shop, as SES reputation is shared)
- due entry    ``DUE`` / ``<due_at>#<delivery_id>``: deferred sends and retries that the
               journey-dispatcher schedule picks up when due; ``<due_at>#<delivery_id>
               #unconfirmed`` (kind ``unconfirmed``): a claim's watch, written with the
               claim and removed by the write that moves the delivery on, so the
               dispatcher finds a delivery left `sending` by a dead process without a scan
- campaign     ``CAMPAIGN#<shop>#<campaign>`` / ``R#<customer>`` (one per person reached:
               variant, rank, sent/delivered/opened/clicked/converted, revenue) and
               ``/ STATS`` (per-variant counters the A/B waves read, and the campaign's
               ``week_<metric>`` figures the overview's week table reads)

A campaign delivery's first claim also writes its campaign record and counts it as
sent (``sent_<variant>`` and ``week_sent``), and its `sent` transition counts it as
delivered, in the same transaction: the counts are exact through retries and crashes.

A claim is one transaction: the unsubscribes must be absent, the address not
suppressed, the delivery new (or still in the state it was read in) and, for
marketing, the person's frequency-cap counter unchanged since it was read. The claim
is written before the provider is called, so no retry sends twice. A marketing send
that reached nobody gives its slot back (`release_cap_slot`), under the same counter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.adapters.journeys import week_mark
from messenger.domain.model import (
    RESUMABLE,
    Delivery,
    DeliveryKey,
    DeliveryStatus,
    topic_scope,
)
from messenger.domain.records import CapUpdate, ClaimResult, DueEntry, DueKind
from messenger.domain.week import week_of
from messenger.services.ports import DeliveryRepository
from shared.adapters.dynamodb import (
    cancellation_codes,
    from_item,
    is_condition_failure,
    key,
    query_all,
    query_prefix,
    to_item,
    transact_once,
    write_unless_refused,
)
from shared.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


DUE_PK = "DUE"
PROFILE_SK = "PROFILE"
_RELEASE_TRIES = 5


def _cust_pk(shop_id: str, customer_id: str) -> str:
    return f"SHOP#{shop_id}#CUST#{customer_id}"


def _delivery_sk(k: DeliveryKey) -> str:
    return f"DELIVERY#{k.trigger}#{k.anchor}"


def _unsub_sk(channel: str, category: str) -> str:
    return f"UNSUB#{channel}#{category}"


def _suppress_key(channel: str, address: str) -> dict[str, Any]:
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()
    return key(f"SUPPRESS#{channel}#{digest}", "SUPPRESS")


def _due_sk(due_at: datetime, delivery_id: str, kind: DueKind = DueKind.SEND) -> str:
    """Watches get their own key: a retry due at the same moment is another entry."""
    sk = f"{due_at.astimezone(UTC).isoformat()}#{delivery_id}"
    return sk if kind is DueKind.SEND else f"{sk}#{kind.value}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _to_item(d: Delivery) -> dict[str, Any]:
    return to_item(
        {
            "pk": _cust_pk(d.key.shop_id, d.key.customer_id),
            "sk": _delivery_sk(d.key),
            "gsi1pk": f"SHOP#{d.key.shop_id}#DELIVERIES",
            "gsi1sk": f"{d.created_at.isoformat()}#{d.delivery_id}",
            "delivery_id": d.delivery_id,
            "shop_id": d.key.shop_id,
            "trigger": d.key.trigger,
            "customer_id": d.key.customer_id,
            "anchor": d.key.anchor,
            "channel": d.channel,
            "category": d.category,
            "status": d.status.value,
            "created_at": d.created_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "provider_message_id": d.provider_message_id,
            "skip_reason": d.skip_reason,
            "message_id": d.message_id,
            "priority": d.priority,
            "due_at": _iso(d.due_at),
            "expires_at_time": _iso(d.expires_at),
            "attempts": d.attempts,
            "cap_counted": d.cap_counted or None,
            "cap_slot": _iso(d.cap_slot),
            "outcome_unknown": d.outcome_unknown or None,
            "variables": json.dumps(dict(d.variables), default=str) if d.variables else None,
            "campaign_id": d.campaign_id,
            "variant": d.variant,
            "rank": d.rank,
            "claims": d.claims or None,
            "only_channels": list(d.only_channels) or None,
            "unconfirmed_at": _iso(d.unconfirmed_at),
            "topic": d.topic,
        }
    )


def delivery_item(d: Delivery) -> dict[str, Any]:
    """A delivery as its DynamoDB item (for another adapter's transaction)."""
    return _to_item(d)


def _from_item(d: dict[str, Any]) -> Delivery:
    return Delivery(
        key=DeliveryKey(d["shop_id"], d["trigger"], d["customer_id"], d["anchor"]),
        channel=d["channel"],
        category=d["category"],
        status=DeliveryStatus(d["status"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        sent_at=datetime.fromisoformat(d["sent_at"]) if d.get("sent_at") else None,
        provider_message_id=d.get("provider_message_id"),
        skip_reason=d.get("skip_reason"),
        message_id=d.get("message_id"),
        priority=int(d.get("priority", 0)),
        due_at=datetime.fromisoformat(d["due_at"]) if d.get("due_at") else None,
        expires_at=(
            datetime.fromisoformat(d["expires_at_time"]) if d.get("expires_at_time") else None
        ),
        attempts=int(d.get("attempts", 0)),
        cap_counted=bool(d.get("cap_counted", False)),
        cap_slot=datetime.fromisoformat(d["cap_slot"]) if d.get("cap_slot") else None,
        outcome_unknown=bool(d.get("outcome_unknown", False)),
        variables=json.loads(d["variables"]) if d.get("variables") else {},
        campaign_id=d.get("campaign_id"),
        variant=d.get("variant"),
        rank=d.get("rank"),
        claims=int(d.get("claims", 0)),
        only_channels=tuple(d.get("only_channels") or ()),
        topic=d.get("topic"),
        unconfirmed_at=(
            datetime.fromisoformat(d["unconfirmed_at"]) if d.get("unconfirmed_at") else None
        ),
    )


def campaign_pk(shop_id: str, campaign_id: str) -> str:
    return f"CAMPAIGN#{shop_id}#{campaign_id}"


STATS_SK = "STATS"


def stat_name(metric: str, variant: str | None) -> str:
    """The counter attribute of one metric of one variant in the STATS item."""
    return f"{metric}_{variant or '-'}"


def week_stat(metric: str) -> str:
    """The counter attribute of one of the overview's week figures (`week.WEEK_METRICS`)
    in the STATS item: the campaign's whole, counted as its recipient records count it
    (`campaign.recipient_result`: one sent per record, a click is an open too)."""
    return f"week_{metric}"


def stats_add(
    table: str,
    shop_id: str,
    campaign_id: str | None,
    variant: str | None,
    metric: str | None,
    week: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The transaction item counting one more `metric` for a campaign's variant (sent,
    delivered, opened, clicked) and one more of each `week` figure: every campaign
    counter is written through here, in the transaction of the change it counts."""
    assert campaign_id is not None
    names = [stat_name(metric, variant)] if metric is not None else []
    names += [week_stat(m) for m in week]
    return {
        "Update": {
            "TableName": table,
            "Key": key(campaign_pk(shop_id, campaign_id), STATS_SK),
            "UpdateExpression": "ADD " + ", ".join(f"#m{i} :one" for i in range(len(names))),
            "ExpressionAttributeNames": {f"#m{i}": n for i, n in enumerate(names)},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


class CampaignWeeks:
    """The week (Monday, shop time) each campaign is scheduled in, and the marks that
    count a person once among that week's people (`journeys.week_mark`, in the journeys
    table). A campaign's scheduled time never changes once it is created, so each is
    read once (one GetItem) and kept for the life of the process."""

    def __init__(self, client: DynamoDBClient, table: str, people_table: str) -> None:
        self._client = client
        self._table = table
        self._people = people_table
        self._mondays: dict[tuple[str, str], str | None] = {}

    def monday(self, shop_id: str, campaign_id: str) -> str | None:
        known = (shop_id, campaign_id)
        if known not in self._mondays:
            got = self._client.get_item(
                TableName=self._table,
                Key=key(f"SHOP#{shop_id}", f"CAMPAIGN#{campaign_id}"),
                ProjectionExpression="body",
            ).get("Item")
            scheduled = json.loads(from_item(got)["body"])["scheduled_at"] if got else None
            self._mondays[known] = (
                week_of(datetime.fromisoformat(scheduled)).isoformat() if scheduled else None
            )  # none: no such campaign (its deliveries are made after it), no week to mark
        return self._mondays[known]

    def marks(
        self, shop_id: str, campaign_id: str, customer_id: str, metrics: tuple[str, ...]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The person once among the campaign's week's people of each of `metrics`."""
        monday = self.monday(shop_id, campaign_id)
        if monday is None:
            return []
        return [week_mark(self._people, shop_id, monday, customer_id, m) for m in metrics]


def _campaign_record_key(delivery: Delivery) -> dict[str, Any]:
    assert delivery.campaign_id is not None
    return key(
        campaign_pk(delivery.key.shop_id, delivery.campaign_id), f"R#{delivery.key.customer_id}"
    )


class DynamoDeliveryRepository(DeliveryRepository):
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

    def _customer_deliveries(self, shop_id: str, customer_id: str) -> Iterator[dict[str, Any]]:
        """Every delivery of one customer (their partition), in key order."""
        return query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": _cust_pk(shop_id, customer_id)},
                ":prefix": {"S": "DELIVERY#"},
            },
        )

    def _shop_deliveries(self, shop_id: str, status: str | None, limit: int) -> dict[str, Any]:
        """The query of a shop's deliveries, newest first (gsi1), of one status if given."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"SHOP#{shop_id}#DELIVERIES"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status is not None:
            kwargs["FilterExpression"] = "#s = :status"
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
            kwargs["ExpressionAttributeValues"][":status"] = {"S": status}
        return kwargs

    def deliveries_page(
        self,
        shop_id: str,
        customer_id: str | None,
        limit: int,
        status: str | None,
        after: dict[str, str] | None,
    ) -> tuple[list[Delivery], dict[str, str] | None]:
        if after is not None and not _is_position(after, customer_id is not None):
            raise InvalidInput("not a cursor of this list", field="cursor")
        if customer_id is not None:
            items = self._customer_deliveries(shop_id, customer_id)
            rows = sorted(items, key=lambda i: str(i.get("gsi1sk", "")), reverse=True)
            if after is not None:
                rows = [i for i in rows if str(i.get("gsi1sk", "")) < after["gsi1sk"]]
            if status is not None:
                rows = [i for i in rows if i.get("status") == status]
            page = rows[:limit]
            more = len(rows) > limit
            last = {"gsi1sk": str(page[-1].get("gsi1sk", ""))} if more and page else None
            return [_from_item(i) for i in page], last
        kwargs = self._shop_deliveries(shop_id, status, max(limit, 100))
        if after is not None:
            kwargs["ExclusiveStartKey"] = {
                "pk": {"S": after["pk"]},
                "sk": {"S": after["sk"]},
                "gsi1pk": {"S": f"SHOP#{shop_id}#DELIVERIES"},
                "gsi1sk": {"S": after["gsi1sk"]},
            }
        found: list[dict[str, Any]] = []
        exhausted = False
        while len(found) <= limit:
            response = self._client.query(**kwargs)
            found.extend(from_item(i) for i in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                exhausted = True
                break
            kwargs["ExclusiveStartKey"] = last_key
        page = found[:limit]
        more = len(found) > limit or not exhausted
        position = {k: str(page[-1][k]) for k in ("pk", "sk", "gsi1sk")} if more and page else None
        return [_from_item(i) for i in page], position

    def list_deliveries(
        self, shop_id: str, customer_id: str | None, limit: int, status: str | None = None
    ) -> list[Delivery]:
        if customer_id is not None:
            items = self._customer_deliveries(shop_id, customer_id)
            found = sorted((_from_item(i) for i in items), key=lambda d: d.created_at, reverse=True)
            if status is not None:
                found = [d for d in found if d.status.value == status]
            return found[:limit]
        if status is None:
            response = self._client.query(**self._shop_deliveries(shop_id, None, limit))
            return [_from_item(from_item(i)) for i in response.get("Items", [])]
        kwargs = self._shop_deliveries(shop_id, status, max(limit, 100))
        matching: list[Delivery] = []
        for item in query_all(self._client, **kwargs):
            matching.append(_from_item(item))
            if len(matching) >= limit:
                break
        return matching

    # ------------------------------------------------------------ dispatch
    def _due_put(self, delivery: Delivery, due_at: datetime, kind: DueKind) -> dict[str, Any]:
        k = delivery.key
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(
                    {
                        "pk": DUE_PK,
                        "sk": _due_sk(due_at, delivery.delivery_id, kind),
                        "kind": kind.value,
                        "shop_id": k.shop_id,
                        "trigger": k.trigger,
                        "customer_id": k.customer_id,
                        "anchor": k.anchor,
                        "priority": delivery.priority,
                        "due_at": due_at.isoformat(),
                    }
                ),
            }
        }

    def _delivery_write(self, delivery: Delivery, expect: DeliveryStatus | None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": _to_item(delivery)}
        if expect is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#s = :expect"
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = {":expect": {"S": expect.value}}
        return {"Put": put}

    def claim_send(
        self,
        delivery: Delivery,
        *,
        expect: DeliveryStatus | None,
        cap: CapUpdate | None,
        address: str | None,
    ) -> ClaimResult:
        k = delivery.key
        pk = _cust_pk(k.shop_id, k.customer_id)
        labels: list[ClaimResult] = []
        items: list[dict[str, Any]] = []
        scopes = [(delivery.channel, delivery.category), ("all", delivery.category)]
        if delivery.topic is not None and delivery.category == "marketing":
            scopes.append(("all", topic_scope(delivery.topic)))
        for channel, scope in scopes:
            labels.append(ClaimResult.UNSUBSCRIBED)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": key(pk, _unsub_sk(channel, scope)),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        if address is not None:
            labels.append(ClaimResult.SUPPRESSED)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": _suppress_key(delivery.channel, address),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        labels.append(ClaimResult.ALREADY_DELIVERED)
        items.append(self._delivery_write(delivery, expect))
        marks: list[tuple[dict[str, Any], dict[str, Any]]] = []
        if delivery.campaign_id is not None and delivery.claims <= 1:
            # First claim: the person's campaign record, one more 'sent', and the person
            # once among the campaign's week's people sent to.
            marks = self._weeks.marks(k.shop_id, delivery.campaign_id, k.customer_id, ("sent",))
            labels.append(ClaimResult.ALREADY_DELIVERED)
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _campaign_record_key(delivery),
                        "UpdateExpression": "SET variant = :v, #r = :r, delivery_id = :d, "
                        "sent_at = :t, channel = :c",
                        "ConditionExpression": "attribute_not_exists(sent_at)",
                        "ExpressionAttributeNames": {"#r": "rank"},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":v": delivery.variant or "-",
                                ":r": delivery.rank or "unranked",
                                ":d": delivery.delivery_id,
                                ":t": delivery.created_at.isoformat(),
                                ":c": delivery.channel,
                            }
                        ),
                    }
                }
            )
            labels.append(ClaimResult.ALREADY_DELIVERED)
            items.append(
                stats_add(
                    self._table,
                    delivery.key.shop_id,
                    delivery.campaign_id,
                    delivery.variant,
                    "sent",
                    week=("sent",),
                )
            )
        if cap is not None:
            labels.append(ClaimResult.CAP_CONFLICT)
            values: dict[str, Any] = {
                ":times": {"L": [{"S": t.isoformat()} for t in cap.times]},
                ":next": {"N": str(cap.version + 1)},
            }
            if cap.version == 0:
                condition = "attribute_exists(pk) AND attribute_not_exists(cap_version)"
            else:
                condition = "cap_version = :v"
                values[":v"] = {"N": str(cap.version)}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(pk, PROFILE_SK),
                        "UpdateExpression": "SET cap_times = :times, cap_version = :next",
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        if delivery.unconfirmed_at is not None:
            # The claim's watch (a fallback's claim puts the first claim's entry again).
            labels.append(ClaimResult.ALREADY_DELIVERED)
            items.append(self._due_put(delivery, delivery.unconfirmed_at, DueKind.UNCONFIRMED))
        try:
            transact_once(self._client, items, marks)
        except ClientError as err:
            codes = cancellation_codes(err)
            for label, code in zip(labels, codes, strict=False):
                if code == "ConditionalCheckFailed":
                    return label
            raise
        return ClaimResult.CLAIMED

    def transition(self, delivery: Delivery, *, expect: DeliveryStatus | None) -> bool:
        watch = delivery.unconfirmed_at if delivery.status is not DeliveryStatus.SENDING else None
        if watch is not None:
            delivery = replace(delivery, unconfirmed_at=None)
        items = [self._delivery_write(delivery, expect)]
        if delivery.status is DeliveryStatus.SENT and delivery.campaign_id is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _campaign_record_key(delivery),
                        "UpdateExpression": "SET delivered_at = :t, channel = :c",
                        "ExpressionAttributeValues": to_item(
                            {
                                ":t": (delivery.sent_at or delivery.created_at).isoformat(),
                                ":c": delivery.channel,
                            }
                        ),
                    }
                }
            )
            items.append(
                stats_add(
                    self._table,
                    delivery.key.shop_id,
                    delivery.campaign_id,
                    delivery.variant,
                    "delivered",
                )
            )
        if delivery.status in RESUMABLE and delivery.due_at is not None:
            items.append(self._due_put(delivery, delivery.due_at, DueKind.SEND))
        if watch is not None:
            # Left `sending`: its watch goes in the same request (a transaction, not a
            # second request), so a send that is recorded never looks unconfirmed.
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key(
                            DUE_PK, _due_sk(watch, delivery.delivery_id, DueKind.UNCONFIRMED)
                        ),
                    }
                }
            )
        return write_unless_refused(self._client, items)

    def release_cap_slot(self, shop_id: str, customer_id: str, slot: datetime) -> bool:
        profile = key(_cust_pk(shop_id, customer_id), PROFILE_SK)
        for _ in range(_RELEASE_TRIES):
            item = self._client.get_item(
                TableName=self._table,
                Key=profile,
                ConsistentRead=True,
                ProjectionExpression="cap_times, cap_version",
            ).get("Item")
            if item is None:
                return False
            current = from_item(item)
            times = [datetime.fromisoformat(t) for t in current.get("cap_times", [])]
            if slot not in times:
                return False
            times.remove(slot)  # one occurrence: a slot another send reserved stays
            version = int(current.get("cap_version", 0))
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=profile,
                    UpdateExpression="SET cap_times = :times, cap_version = :next",
                    ConditionExpression="cap_version = :v",
                    ExpressionAttributeValues={
                        ":times": {"L": [{"S": t.isoformat()} for t in times]},
                        ":next": {"N": str(version + 1)},
                        ":v": {"N": str(version)},
                    },
                )
            except ClientError as err:
                if is_condition_failure(err):
                    continue  # another send reserved or released meanwhile: read again
                raise
            return True
        return False

    def find(self, shop_id: str, customer_id: str, delivery_id: str) -> Delivery | None:
        found = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression="delivery_id = :id",
            ExpressionAttributeValues={
                ":pk": {"S": _cust_pk(shop_id, customer_id)},
                ":prefix": {"S": "DELIVERY#"},
                ":id": {"S": delivery_id},
            },
            ConsistentRead=True,
        )
        item = next(found, None)
        return _from_item(item) if item is not None else None

    def get(self, key_: DeliveryKey) -> Delivery | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_cust_pk(key_.shop_id, key_.customer_id), _delivery_sk(key_)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _from_item(from_item(item)) if item else None

    def due(self, now: datetime, limit: int) -> list[DueEntry]:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk <= :now",
            ExpressionAttributeValues={
                ":pk": {"S": DUE_PK},
                ":now": {"S": f"{now.astimezone(UTC).isoformat()}#~"},
            },
            Limit=limit,
        )
        entries = []
        for raw in response.get("Items", []):
            i = from_item(raw)
            entries.append(
                DueEntry(
                    due_at=datetime.fromisoformat(i["due_at"]),
                    key=DeliveryKey(i["shop_id"], i["trigger"], i["customer_id"], i["anchor"]),
                    priority=int(i.get("priority", 0)),
                    kind=DueKind(i.get("kind", DueKind.SEND.value)),
                )
            )
        return entries

    def remove_due(self, entry: DueEntry) -> None:
        self._client.delete_item(
            TableName=self._table,
            Key=key(DUE_PK, _due_sk(entry.due_at, entry.key.delivery_id, entry.kind)),
        )

    def suppress(self, channel: str, address: str, reason: str, at: datetime) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **_suppress_key(channel, address),
                "reason": {"S": reason},
                "suppressed_at": {"S": at.isoformat()},
            },
        )

    def is_suppressed(self, channel: str, address: str) -> bool:
        response = self._client.get_item(
            TableName=self._table, Key=_suppress_key(channel, address), ConsistentRead=True
        )
        return "Item" in response

    def unsubscribe(
        self, shop_id: str, customer_id: str, channel: str, category: str, at: datetime
    ) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": _cust_pk(shop_id, customer_id),
                    "sk": _unsub_sk(channel, category),
                    "unsubscribed_at": at.isoformat(),
                }
            ),
        )

    def is_unsubscribed(self, shop_id: str, customer_id: str, channel: str, category: str) -> bool:
        return self.unsubscribed_at(shop_id, customer_id, channel, category) is not None

    def carry_unsubscribes(self, shop_id: str, from_customer: str, to_customer: str) -> int:
        carried = 0
        for item in query_prefix(
            self._client, self._table, _cust_pk(shop_id, from_customer), "UNSUB#"
        ):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item({**item, "pk": _cust_pk(shop_id, to_customer)}),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as err:
                if not is_condition_failure(err):
                    raise
                continue
            carried += 1
        return carried

    def unsubscribed_at(
        self, shop_id: str, customer_id: str, channel: str, category: str
    ) -> datetime | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_cust_pk(shop_id, customer_id), _unsub_sk(channel, category)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        return datetime.fromisoformat(from_item(item)["unsubscribed_at"])


def _is_position(after: dict[str, str], of_customer: bool) -> bool:
    keys = {"gsi1sk"} if of_customer else {"pk", "sk", "gsi1sk"}
    return set(after) == keys and all(after[k] for k in keys)
