"""Persistence of the segmenter's data in its one DynamoDB table.

Key design:
- profile      ``SHOP#<shop>#CUST#<customer>`` / ``PROFILE``; gsi1 lists a shop's profiles
- identity     ``SHOP#<shop>#ID#<kind>#<value>`` / ``ID`` → the owning customer id
- order        ``SHOP#<shop>#ORDER#<order>`` / ``ORDER``; gsi1 lists a customer's orders
- event        ``SHOP#<shop>#EVENT#<event id>`` / ``EVENT``; expires after 90 days. It keeps
  no personal data: type, subject (an order id, a SKU or a customer id the event named),
  times, and ``sent_pk``, a hash of the shop and the person. What an event about a person
  published (her email, phone, name) and the work it left for after its commit (a
  merge's identifiers) are kept in the item it points to,
  ``SHOP#<shop>#SENT#<hash>`` / ``SENT#<event id>`` (same expiry), which an erasure
  finds by key from the person's ids and deletes
- segment      ``SHOP#<shop>#SEGDEF`` / ``<segment id>``
- membership   ``SHOP#<shop>#SEG#<segment id>`` / ``CUST#<customer>``
- product      ``SHOP#<shop>#SKU#<sku>`` / ``PRODUCT`` (stock, category, tags)
- reco model   ``SHOP#<shop>#RECO`` / ``MODEL``
- counts       ``SHOP#<shop>#SEGCOUNT`` / ``COUNTS``: ``n#<segment id>`` per segment as the
  last recompute counted it, ``counted`` (the segments it counted) and ``counted_at``;
  events ADD their changes to one of 16 shards ``COUNTS#<00..15>`` (top-level
  ``n#<segment id>``, chosen by the event id), so concurrent events of a busy shop seldom
  meet on one item; a recount puts the base with ``taken#<segment id>``, what the shards
  held when it read them; a count is the base plus its shards less what was taken (one
  Query of the partition)
- activity     ``SHOP#<shop>#CUST#<customer>`` / ``ACT#<kind>#<utc instant>#<order or event>``:
  one item per event and kind (an order's lines together), so the profile item stays a
  few KB however much the person browses; gsi1 lists a shop's activities; expires with
  the history horizon of its kind

Every event lands as ONE TransactWriteItems (the event marker, the profile at the version
that was read, the order, identity claims, segment membership changes), so a retried or
duplicated event can never count twice and nothing is ever half-written. A transaction
holds at most 100 items: what may not fit (a merge's clean-up, membership items beyond
the budget) is recorded in the event marker as `AfterCommit` work, written right after the
transaction with idempotent writes, and redone when the same event is retried. The
transaction also ADDs the event's membership changes to the shop's segment counts (all of
them, the spilled ones too), so a count moves with the members exactly once per event.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from segmenter.domain.definitions import (
    DerivedChange,
    MemberCounts,
    SegmentDefinition,
    count_deltas,
)
from segmenter.domain.errors import ConcurrentUpdate, DuplicateEvent, OrderAlreadyRecorded
from segmenter.services.ports import MAX_TRANSACTION_ITEMS, ProfileRepository, ScanSegments
from shared import clock as shared_clock
from shared.adapters.dynamodb import (
    Position,
    batch_get_all,
    cancellation_codes,
    from_item,
    is_condition_failure,
    key,
    partition_page,
    query_all,
    query_page,
    scan_all,
    scan_raw,
    to_item,
)
from shared.errors import DependencyFailed
from shared.first_use import on_first_use

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from segmenter.adapters import codec
    from segmenter.domain import identity, model, records
    from segmenter.domain.identity import Identifier
    from segmenter.domain.membership import RfmInputs
    from segmenter.domain.model import Activity, Order, Profile
    from segmenter.domain.records import AfterCommit, BulkRead, ChangeSet, EventRead, Product
    from segmenter.domain.segments.stored import StoredProfiles
else:  # imported on first use: a segment list decodes no profile (a cold start's request)
    codec = on_first_use(lambda: importlib.import_module("segmenter.adapters.codec"))
    model = on_first_use(lambda: importlib.import_module("segmenter.domain.model"))
    records = on_first_use(lambda: importlib.import_module("segmenter.domain.records"))
    identity = on_first_use(lambda: importlib.import_module("segmenter.domain.identity"))

EVENT_RETENTION = timedelta(days=90)


def _profile_pk(shop_id: str, customer_id: str) -> str:
    return f"SHOP#{shop_id}#CUST#{customer_id}"


def _identity_pk(shop_id: str, identifier: Identifier) -> str:
    return f"SHOP#{shop_id}#ID#{identifier.key}"


def _order_pk(shop_id: str, order_id: str) -> str:
    return f"SHOP#{shop_id}#ORDER#{order_id}"


def _event_pk(shop_id: str, event_id: str) -> str:
    return f"SHOP#{shop_id}#EVENT#{event_id}"


SENT_PREFIX = "SENT#"


def sent_pk(shop_id: str, customer_id: str) -> str:
    """The partition of what a person's events published: a hash, so the processed-event
    markers, which point at it, hold no id of hers."""
    digest = hashlib.sha256(f"{shop_id}#{customer_id}".encode()).hexdigest()[:32]
    return f"SHOP#{shop_id}#SENT#{digest}"


COUNT_PREFIX = "n#"
TAKEN_PREFIX = "taken#"


COUNTS_SK = "COUNTS"
COUNT_SHARDS = 16
"""Event deltas are spread over this many items: a transaction on an item another
transaction holds is cancelled (TransactionConflict), and every membership-changing event
of a shop would otherwise name the same one."""


def _counts_pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}#SEGCOUNT"


def _counts_key(shop_id: str) -> dict[str, Any]:
    return key(_counts_pk(shop_id), COUNTS_SK)


def count_shard(spread: str) -> str:
    """The shard sort key for an event (or a person): stable, so a retried event names the
    same item, and even across events."""
    digest = hashlib.blake2b(spread.encode(), digest_size=4).digest()
    return f"{COUNTS_SK}#{int.from_bytes(digest, 'big') % COUNT_SHARDS:02d}"


def count_update(
    table: str, shop_id: str, deltas: Mapping[str, int], *, shard_by: str
) -> dict[str, Any]:
    """The TransactItem adding each segment's change to its member count, on the shard
    `shard_by` (the event id, or the person erased) picks. The counts are top-level numbers
    because ADD takes no nested path; a segment the recompute has not counted (`counted`)
    reads as computing whatever its shards hold."""
    ordered = sorted(deltas)
    return {
        "Update": {
            "TableName": table,
            "Key": key(_counts_pk(shop_id), count_shard(shard_by)),
            "UpdateExpression": "ADD " + ", ".join(f"#n{i} :d{i}" for i in range(len(ordered))),
            "ExpressionAttributeNames": {
                f"#n{i}": COUNT_PREFIX + seg for i, seg in enumerate(ordered)
            },
            "ExpressionAttributeValues": {
                f":d{i}": {"N": str(deltas[seg])} for i, seg in enumerate(ordered)
            },
        }
    }


def _product_pk(shop_id: str, sku: str) -> str:
    return f"SHOP#{shop_id}#SKU#{sku}"


ACTIVITY_PREFIX = "ACT#"


def _activity_sk(kind: str, at: datetime, group: str) -> str:
    return f"{ACTIVITY_PREFIX}{kind}#{at.astimezone(UTC).isoformat()}#{group}"


def _activity_items(
    shop_id: str, event_id: str, activities: Sequence[tuple[str, Activity]]
) -> list[dict[str, Any]]:
    """One item per (customer, kind, instant, order or event): an order's lines share one,
    so a cancellation deletes it by key; a view or an open is the event's own."""
    groups: dict[tuple[str, str, datetime, str], list[Activity]] = {}
    for customer_id, a in activities:
        groups.setdefault((customer_id, a.kind, a.at, a.ref or event_id), []).append(a)
    items = []
    for (customer_id, kind, at, group), acts in groups.items():
        sk = _activity_sk(kind, at, group)
        expires = at + timedelta(days=model.history_days(kind) + 1)
        items.append(
            to_item(
                {
                    "pk": _profile_pk(shop_id, customer_id),
                    "sk": sk,
                    "gsi1pk": f"SHOP#{shop_id}#ACTIVITY",
                    "gsi1sk": f"{customer_id}#{sk}",
                    "customer_id": customer_id,
                    "kind": kind,
                    "at": at.isoformat(),
                    "acts": codec.activities_to_dict(acts),
                    "expires_at": int(expires.timestamp()),
                }
            )
        )
    return items


def activities_of_item(d: dict[str, Any]) -> list[Activity]:
    return codec.activities_from_dict(d["kind"], datetime.fromisoformat(d["at"]), d.get("acts", []))


def _profile_item(p: Profile, version: int) -> dict[str, Any]:
    data = codec.profile_to_dict(p)
    data.update(
        pk=_profile_pk(p.shop_id, p.customer_id),
        sk="PROFILE",
        gsi1pk=f"SHOP#{p.shop_id}#PROFILES",
        gsi1sk=p.customer_id,
        version=version,
    )
    return to_item(data)


def _order_item(shop_id: str, o: Order) -> dict[str, Any]:
    data = codec.order_to_dict(o)
    data.update(
        pk=_order_pk(shop_id, o.order_id),
        sk="ORDER",
        shop_id=shop_id,
        gsi1pk=_profile_pk(shop_id, o.customer_id),
        gsi1sk=f"ORDER#{o.placed_at.astimezone(UTC).isoformat()}#{o.order_id}",
    )
    return to_item(data)


def _product_item(shop_id: str, p: Product) -> dict[str, Any]:
    return to_item(
        {
            "pk": _product_pk(shop_id, p.sku),
            "sk": "PRODUCT",
            "sku": p.sku,
            "quantity": p.quantity,
            "category": p.category,
            "tags": list(p.tags),
            "name": p.name,
        }
    )


def _product_from(d: dict[str, Any]) -> Product:
    quantity = d.get("quantity")
    return records.Product(
        sku=d["sku"],
        quantity=int(quantity) if quantity is not None else None,
        category=d.get("category"),
        tags=tuple(d.get("tags", [])),
        name=d.get("name"),
    )


def _segment_from(d: dict[str, Any]) -> SegmentDefinition:
    return SegmentDefinition(
        segment_id=d["sk"],
        name=d["name"],
        rule=json.loads(d["rule"]),
        description=d.get("description", ""),
        builtin=bool(d.get("builtin", False)),
        created_at=datetime.fromisoformat(d["created_at"]) if d.get("created_at") else None,
        tagging=bool(d.get("tagging", False)),
    )


class DynamoProfileRepository(ProfileRepository, ScanSegments):
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    # ------------------------------------------------------------------ reads
    def load(
        self, shop_id: str, identifiers: Sequence[Identifier], likely_customer: str | None
    ) -> tuple[dict[Identifier, str], Profile | None]:
        read = self._batch_load(shop_id, None, identifiers, likely_customer)
        return read.owners, read.profile

    def load_for_event(
        self,
        shop_id: str,
        event_id: str,
        identifiers: Sequence[Identifier],
        likely_customer: str | None,
    ) -> EventRead:
        return self._batch_load(shop_id, event_id, identifiers, likely_customer)

    def _batch_load(
        self,
        shop_id: str,
        event_id: str | None,
        identifiers: Sequence[Identifier],
        likely_customer: str | None,
    ) -> EventRead:
        keys = [key(_identity_pk(shop_id, i), "ID") for i in dict.fromkeys(identifiers)]
        if likely_customer:
            keys.append(key(_profile_pk(shop_id, likely_customer), "PROFILE"))
        if event_id is not None:
            keys.append(key(_event_pk(shop_id, event_id), "EVENT"))
        pending: Any = {self._table: {"Keys": keys, "ConsistentRead": True}}
        owners: dict[Identifier, str] = {}
        profile: Profile | None = None
        marker: dict[str, Any] | None = None
        while pending:
            response = self._client.batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(self._table, []):
                d = from_item(raw)
                if d["sk"] == "PROFILE":
                    profile = codec.profile_from_dict(d)
                elif d["sk"] == "EVENT":
                    marker = self._with_sent(d)
                else:
                    claimed = identity.Identifier.from_key(d["pk"].split("#ID#", 1)[1])
                    owners[claimed] = d["customer_id"]
            pending = response.get("UnprocessedKeys") or {}
        return records.EventRead(owners, profile, marker)

    def load_many(
        self,
        shop_id: str,
        event_ids: Sequence[str],
        identifiers: Sequence[Identifier],
        customer_ids: Sequence[str],
        order_ids: Sequence[str] = (),
    ) -> BulkRead:
        keys = [key(_event_pk(shop_id, e), "EVENT") for e in dict.fromkeys(event_ids)]
        keys += [key(_order_pk(shop_id, o), "ORDER") for o in dict.fromkeys(order_ids)]
        keys += [key(_identity_pk(shop_id, i), "ID") for i in dict.fromkeys(identifiers)]
        keys += [key(_profile_pk(shop_id, c), "PROFILE") for c in dict.fromkeys(customer_ids)]
        markers: dict[str, dict[str, Any]] = {}
        owners: dict[Identifier, str] = {}
        profiles: dict[str, Profile] = {}
        orders: set[str] = set()
        event_prefix = _event_pk(shop_id, "")
        order_prefix = _order_pk(shop_id, "")
        for d in batch_get_all(self._client, self._table, keys, consistent=True):
            if d["sk"] == "ORDER":
                orders.add(d["pk"].removeprefix(order_prefix))
            elif d["sk"] == "PROFILE":
                profile = codec.profile_from_dict(d)
                profiles[profile.customer_id] = profile
            elif d["sk"] == "EVENT":
                markers[d["pk"].removeprefix(event_prefix)] = self._with_sent(d)
            else:
                owners[identity.Identifier.from_key(d["pk"].split("#ID#", 1)[1])] = d["customer_id"]
        return records.BulkRead(markers, owners, profiles, frozenset(orders))

    def get_profile(self, shop_id: str, customer_id: str) -> Profile | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_profile_pk(shop_id, customer_id), "PROFILE"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return codec.profile_from_dict(from_item(item)) if item else None

    def owner_of(self, shop_id: str, identifier: Identifier) -> str | None:
        response = self._client.get_item(
            TableName=self._table, Key=key(_identity_pk(shop_id, identifier), "ID")
        )
        item = response.get("Item")
        return str(from_item(item)["customer_id"]) if item else None

    def get_order(self, shop_id: str, order_id: str) -> Order | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_order_pk(shop_id, order_id), "ORDER"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return codec.order_from_dict(from_item(item)) if item else None

    def list_orders(self, shop_id: str, customer_id: str) -> list[Order]:
        items = query_all(self._client, **self._customer_orders(shop_id, customer_id))
        return [codec.order_from_dict(i) for i in items]

    def orders_page(
        self, shop_id: str, customer_id: str, limit: int, after: Position | None
    ) -> tuple[list[Order], Position | None]:
        items, last = query_page(
            self._client,
            limit=limit,
            after=after,
            partition={"gsi1pk": _profile_pk(shop_id, customer_id)},
            sort_prefixes={"gsi1sk": "ORDER#", "pk": f"SHOP#{shop_id}#ORDER#", "sk": "ORDER"},
            **self._customer_orders(shop_id, customer_id),
        )
        return [codec.order_from_dict(i) for i in items], last

    def _customer_orders(self, shop_id: str, customer_id: str) -> dict[str, Any]:
        """The query of one customer's orders (gsi1: the profile's partition)."""
        return {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": _profile_pk(shop_id, customer_id)},
                ":prefix": {"S": "ORDER#"},
            },
        }

    def iter_profiles(self, shop_id: str, now: datetime | None = None) -> Iterator[Profile]:
        """The shop's live profiles; given `now`, each with its kept activity history
        (all activity items of the shop are read once, grouped by customer)."""
        history: dict[str, list[Activity]] = {}
        if now is not None:
            for d in self.iter_activities(shop_id):
                history.setdefault(d["customer_id"], []).extend(activities_of_item(d))
        for item in query_all(
            self._client,
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#PROFILES"}},
        ):
            profile = codec.profile_from_dict(item)
            if profile.merged_into is None:
                acts = history.get(profile.customer_id)
                yield (
                    replace(profile, activities=model.kept_activities(acts, now))
                    if acts and now
                    else profile
                )

    def _profiles_scan(self, segment: int, total: int) -> dict[str, Any]:
        """One parallel-scan segment's profile and activity items (the nightly's read)."""
        return {
            "TableName": self._table,
            "Segment": segment,
            "TotalSegments": total,
            "FilterExpression": "sk = :profile OR begins_with(sk, :act)",
            "ExpressionAttributeValues": {
                ":profile": {"S": "PROFILE"},
                ":act": {"S": ACTIVITY_PREFIX},
            },
        }

    def segment_profiles(self, segment: int, total: int, now: datetime) -> dict[str, list[Profile]]:
        """Scan segment `segment` of `total`: its live profiles by shop, each with its kept
        history (a customer's activity items share the profile's partition key, hence its
        segment). The profiles of a shop come in customer id order."""
        history: dict[tuple[str, str], list[Activity]] = {}
        found: dict[str, list[Profile]] = {}
        for item in scan_all(self._client, **self._profiles_scan(segment, total)):
            if item["sk"] == "PROFILE":
                profile = codec.profile_from_dict(item)
                if profile.merged_into is None:
                    found.setdefault(profile.shop_id, []).append(profile)
            else:
                shop_id = item["pk"].removeprefix("SHOP#").rsplit("#CUST#", 1)[0]
                owner = (shop_id, item["customer_id"])
                history.setdefault(owner, []).extend(activities_of_item(item))
        for shop_id, profiles in found.items():
            profiles.sort(key=lambda p: p.customer_id)
            for i, p in enumerate(profiles):
                acts = history.get((shop_id, p.customer_id))
                if acts:
                    profiles[i] = replace(p, activities=model.kept_activities(acts, now))
        return found

    def segment_columns(self, segment: int, total: int, now: datetime) -> dict[str, StoredProfiles]:
        """`segment_profiles` as columns: the items' attribute values appended to lists
        as they come (`profile_columns`), no profile object per customer."""
        from segmenter.adapters.profile_columns import add_activities, add_profile
        from segmenter.domain.segments.stored import StoredColumns

        found: dict[str, StoredColumns] = {}
        for item in scan_raw(self._client, **self._profiles_scan(segment, total)):
            if item["sk"]["S"] == "PROFILE":
                add_profile(found.setdefault(item["shop_id"]["S"], StoredColumns()), item)
            else:
                shop_id = item["pk"]["S"].removeprefix("SHOP#").rsplit("#CUST#", 1)[0]
                add_activities(found.setdefault(shop_id, StoredColumns()), item)
        return {shop: columns.build(now) for shop, columns in found.items() if columns.size}

    def segment_rfm_inputs(self, segment: int, total: int) -> dict[str, RfmInputs]:
        """Scan segment `segment` of `total`, profile items only and only what RFM reads
        (a projection), decoded as `profile_from_dict` decodes those fields."""
        from segmenter.domain.membership import RfmInputs

        found: dict[str, RfmInputs] = {}
        for item in scan_all(
            self._client,
            TableName=self._table,
            Segment=segment,
            TotalSegments=total,
            FilterExpression="sk = :profile",
            ProjectionExpression="#shop, #merged, #s.#count, #s.#last, #s.#revenue",
            ExpressionAttributeNames={
                "#shop": "shop_id",
                "#merged": "merged_into",
                "#s": "stats",
                "#count": "order_count",
                "#last": "last_order_at",
                "#revenue": "revenue",
            },
            ExpressionAttributeValues={":profile": {"S": "PROFILE"}},
        ):
            if item.get("merged_into") is not None:
                continue
            s = item.get("stats") or {}
            last = s.get("last_order_at")
            found.setdefault(item["shop_id"], RfmInputs()).add(
                int(s.get("order_count", 0)),
                datetime.fromisoformat(last) if last else None,
                float(Decimal(s.get("revenue", 0))),
            )
        return found

    def load_activities(
        self,
        shop_id: str,
        profile: Profile,
        windows: Mapping[str, int | None],
        now: datetime,
    ) -> tuple[Activity, ...]:
        """The kept history of the kinds in `windows`, each over its window (None: all it
        keeps): one descending query per kind, newest first, stopping at the kind's cap.
        A kind whose newest activity is older than the window costs no request."""
        found: list[Activity] = []
        for kind, days in sorted(windows.items()):
            kept = model.history_days(kind)
            span = min(days, kept) if days is not None else kept
            since = now - timedelta(days=span)
            latest = profile.latest_activity.get(kind)
            if latest is None or latest <= since:
                continue
            limit = model.history_limit(kind)
            found += self._recent(shop_id, profile.customer_id, kind, since, limit)
        return model.kept_activities(found, now)

    def _recent(
        self, shop_id: str, customer_id: str, kind: str, since: datetime, limit: int
    ) -> list[Activity]:
        prefix = f"{ACTIVITY_PREFIX}{kind}#"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": _profile_pk(shop_id, customer_id)},
                ":lo": {"S": prefix + since.astimezone(UTC).isoformat()},
                ":hi": {"S": prefix + "~"},
            },
            "ScanIndexForward": False,
            "Limit": limit,
            "ConsistentRead": True,
        }
        found: list[Activity] = []
        while len(found) < limit:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                found += activities_of_item(from_item(raw))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return found

    def iter_activities(self, shop_id: str) -> Iterator[dict[str, Any]]:
        """Every stored activity item of the shop (the nightly's read), by customer."""
        return query_all(
            self._client,
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#ACTIVITY"}},
        )

    def move_activities(self, shop_id: str, from_customer: str, to_customer: str) -> None:
        """A merged-away profile's activity items, copied under the survivor then removed:
        idempotent (same keys), so a retried merge redoes it safely."""
        items = list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :act)",
                ExpressionAttributeValues={
                    ":pk": {"S": _profile_pk(shop_id, from_customer)},
                    ":act": {"S": ACTIVITY_PREFIX},
                },
            )
        )
        if not items:
            return
        puts = []
        for d in items:
            moved = {
                **d,
                "pk": _profile_pk(shop_id, to_customer),
                "gsi1sk": f"{to_customer}#{d['sk']}",
                "customer_id": to_customer,
            }
            puts.append({"PutRequest": {"Item": to_item(moved)}})
        self._batch_write(puts)
        self._batch_write([{"DeleteRequest": {"Key": key(d["pk"], d["sk"])}} for d in items])

    def get_event(self, shop_id: str, event_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_event_pk(shop_id, event_id), "EVENT"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return self._with_sent(from_item(item)) if item else None

    def _with_sent(self, marker: dict[str, Any]) -> dict[str, Any]:
        """The marker with what its event published and left, read where `sent_pk` points
        (a duplicate only). Once the person is erased there is nothing to redo."""
        pointer = marker.get("sent_pk")
        if not pointer:
            return marker
        event_id = str(marker["pk"]).rsplit("#EVENT#", 1)[1]
        got = self._client.get_item(
            TableName=self._table,
            Key=key(str(pointer), SENT_PREFIX + event_id),
            ConsistentRead=True,
        ).get("Item")
        record = from_item(got) if got else {}
        return {**marker, **{k: record[k] for k in ("published", "after_commit") if k in record}}

    # ------------------------------------------------------------------ the event write
    def commit(self, change: ChangeSet) -> AfterCommit:
        entries, after_commit, deltas = self._transact_items(change)
        if deltas:
            entries.append(
                (
                    "count",
                    count_update(self._table, change.shop_id, deltas, shard_by=change.event_id),
                )
            )
        kinds = [kind for kind, _ in entries]
        try:
            self._client.transact_write_items(TransactItems=[item for _, item in entries])
        except ClientError as err:
            codes = cancellation_codes(err)
            if not codes:
                raise
            failed = {kinds[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            if "event" in failed:
                raise self._duplicate(change.shop_id, change.event_id) from None
            if "new_order" in failed:
                raise OrderAlreadyRecorded(
                    "order was already recorded by another event", field="order_id"
                ) from None
            if failed or "TransactionConflict" in codes:
                raise ConcurrentUpdate("data changed concurrently") from None
            raise
        return after_commit

    def commit_many(self, changes: Sequence[ChangeSet]) -> None:
        """One TransactWriteItems for several events (an import's orders): each keeps its
        own conditions (marker, order, profile version, claims), and all land or none."""
        entries: list[Any] = []
        summed: dict[str, int] = {}
        for change in changes:
            items, after_commit, deltas = self._transact_items(change)
            if not after_commit.empty:
                raise ValueError("a change with after-commit work must be committed alone")
            entries += [item for _, item in items]
            for seg, delta in deltas.items():
                summed[seg] = summed.get(seg, 0) + delta
        summed = {seg: delta for seg, delta in summed.items() if delta}
        if summed:  # one update of the counts item: a transaction names an item once
            entries.append(
                count_update(self._table, changes[0].shop_id, summed, shard_by=changes[0].event_id)
            )
        if len(entries) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(entries)} items do not fit in one transaction")
        if not entries:
            return
        try:
            self._client.transact_write_items(TransactItems=entries)
        except ClientError as err:
            if not cancellation_codes(err):
                raise
            raise ConcurrentUpdate("a change of the batch was refused") from None

    def _transact_items(
        self, change: ChangeSet
    ) -> tuple[list[tuple[str, Any]], AfterCommit, dict[str, int]]:
        """(kind, TransactItem) pairs, the kind mapping a cancellation reason back to its
        cause; with the counts update the caller adds, at most `MAX_TRANSACTION_ITEMS` of
        them. Membership items beyond that go to the returned after-commit work (the
        profile's `segments` stays the truth); the returned count changes cover them all,
        and a merged-away profile's segments (`unlisted`)."""
        s = change.shop_id
        entries: list[tuple[str, Any]] = []
        for profile, read in change.profiles:
            condition = (
                ("attribute_not_exists(pk)", {})
                if read == 0
                else ("version = :v", {":v": {"N": str(read)}})
            )
            entries.append(("profile", self._put(_profile_item(profile, read + 1), *condition)))
        for order in change.new_orders:
            entries.append(
                ("new_order", self._put(_order_item(s, order), "attribute_not_exists(pk)"))
            )
        for order, status in change.updated_orders:
            entries.append(
                (
                    "order",
                    self._put(
                        _order_item(s, order),
                        "#st = :st",
                        {":st": {"S": status}},
                        {"#st": "status"},
                    ),
                )
            )
        for identifier, owner, read_owner in change.claims:
            item = to_item({"pk": _identity_pk(s, identifier), "sk": "ID", "customer_id": owner})
            if read_owner is None:
                entries.append(("claim", self._put(item, "attribute_not_exists(pk)")))
            else:
                entries.append(
                    ("claim", self._put(item, "customer_id = :o", {":o": {"S": read_owner}}))
                )
        entries += self._activity_entries(change)
        if change.product is not None:
            product, read_quantity = change.product
            if read_quantity is None:
                put = self._put(_product_item(s, product), "attribute_not_exists(quantity)")
            else:
                put = self._put(
                    _product_item(s, product), "quantity = :q", {":q": {"N": str(read_quantity)}}
                )
            entries.append(("product", put))
        deltas = count_deltas(change.entered, [*change.exited, *change.after_commit.unlisted])
        kept = 2 if change.profiles else 1  # the marker, what it sent and left
        kept += 1 if deltas else 0  # the counts
        room = max(MAX_TRANSACTION_ITEMS - kept - len(entries), 0)
        members, after_commit = self._member_entries(change, room)
        entries += members
        event, *sent = self._marker_entries(change, after_commit)
        return [event, *sent, *entries], after_commit, deltas

    def _marker_entries(
        self, change: ChangeSet, after_commit: AfterCommit
    ) -> list[tuple[str, Any]]:
        """The event marker, and for an event about a person what it published and
        left, apart (the marker keeps no personal data, see the module's key design)."""
        now = shared_clock.now()
        s = change.shop_id
        entries: list[tuple[str, Any]] = []
        expires_at = int((now + EVENT_RETENTION).timestamp())
        marker: dict[str, Any] = {
            "pk": _event_pk(s, change.event_id),
            "sk": "EVENT",
            "type": change.event_type,
            "subject": change.subject,
            "recorded_at": now.isoformat(),
            "expires_at": expires_at,
        }
        record: dict[str, Any] = {}
        if not after_commit.empty:
            record["after_commit"] = json.dumps(after_commit.to_dict())
        if change.published:
            record["published"] = change.published
        if record and change.profiles:
            # What was published and left names the person: kept apart from the marker.
            pointer = sent_pk(s, change.profiles[0][0].customer_id)
            marker["sent_pk"] = pointer
            sent = {"pk": pointer, "sk": SENT_PREFIX + change.event_id, **record}
            entries.append(("sent", self._put(to_item({**sent, "expires_at": expires_at}))))
        else:
            marker.update(record)  # about no person (a SKU's stock)
        event = ("event", self._put(to_item(marker), "attribute_not_exists(pk)"))
        return [event, *entries]

    def _activity_entries(self, change: ChangeSet) -> list[tuple[str, Any]]:
        """The event's activity items; a cancelled or returned order's purchases leave
        the history with it (deleted by key)."""
        s = change.shop_id
        entries = [
            ("activity", self._put(item))
            for item in _activity_items(s, change.event_id, change.activities)
        ]
        for order, _ in change.updated_orders:
            if not order.active:
                dropped = key(
                    _profile_pk(s, order.customer_id),
                    _activity_sk("bought", order.placed_at, order.order_id),
                )
                entries.append(("activity", {"Delete": {"TableName": self._table, "Key": dropped}}))
        return entries

    def _member_entries(
        self, change: ChangeSet, room: int
    ) -> tuple[list[tuple[str, Any]], AfterCommit]:
        """Member item writes for the transaction, up to `room`; the rest spill over."""
        changes = [(g, c, True) for g, c in change.entered]
        changes += [(g, c, False) for g, c in change.exited]
        after_commit = change.after_commit
        if len(changes) > room:
            after_commit = replace(
                after_commit, spilled=after_commit.spilled + tuple(changes[room:])
            )
        entries: list[tuple[str, Any]] = []
        for segment_id, customer_id, member in changes[:room]:
            if member:
                item = self._put(self._member_item(change.shop_id, segment_id, customer_id))
            else:
                member_key = key(f"SHOP#{change.shop_id}#SEG#{segment_id}", f"CUST#{customer_id}")
                item = {"Delete": {"TableName": self._table, "Key": member_key}}
            entries.append(("member", item))
        return entries, after_commit

    def _put(
        self,
        item: dict[str, Any],
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = values
        if names:
            put["ExpressionAttributeNames"] = names
        return {"Put": put}

    @staticmethod
    def _member_item(shop_id: str, segment_id: str, customer_id: str) -> dict[str, Any]:
        return to_item(
            {
                "pk": f"SHOP#{shop_id}#SEG#{segment_id}",
                "sk": f"CUST#{customer_id}",
                "customer_id": customer_id,
            }
        )

    def _duplicate(self, shop_id: str, event_id: str) -> DuplicateEvent:
        return records.duplicate_of(self.get_event(shop_id, event_id) or {})

    # ------------------------------------------------------------------ bulk writes
    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: Any = {self._table: requests[start : start + 25]}
            for _ in range(8):
                response = self._client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
            if pending:
                # Never drop membership items silently: the caller's retry redoes the work.
                raise DependencyFailed("DynamoDB left writes unprocessed; retry")

    def move_orders(self, shop_id: str, from_customer: str, to_customer: str) -> None:
        """One conditional update per order, so a status change landing meanwhile is kept."""
        for order in self.list_orders(shop_id, from_customer):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key(_order_pk(shop_id, order.order_id), "ORDER"),
                    UpdateExpression="SET customer_id = :to, gsi1pk = :pk",
                    ConditionExpression="customer_id = :from",
                    ExpressionAttributeValues={
                        ":to": {"S": to_customer},
                        ":pk": {"S": _profile_pk(shop_id, to_customer)},
                        ":from": {"S": from_customer},
                    },
                )
            except ClientError as err:
                if not is_condition_failure(err):
                    raise

    def move_identifiers(
        self, shop_id: str, identifiers: Sequence[tuple[Identifier, str]], to_customer: str
    ) -> None:
        for identifier, owner in identifiers:
            item = {"pk": _identity_pk(shop_id, identifier), "sk": "ID", "customer_id": to_customer}
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="customer_id = :o",
                    ExpressionAttributeValues={":o": {"S": owner}},
                )
            except ClientError as err:
                if not is_condition_failure(err):
                    raise

    def get_profiles(self, shop_id: str, customer_ids: Sequence[str]) -> list[Profile]:
        unique = list(dict.fromkeys(customer_ids))
        keys = [key(_profile_pk(shop_id, c), "PROFILE") for c in unique]
        found = {
            p.customer_id: p
            for p in map(codec.profile_from_dict, batch_get_all(self._client, self._table, keys))
        }
        return [found[c] for c in unique if c in found]

    def _update_at_version(
        self,
        shop_id: str,
        customer_id: str,
        version: int,
        sets: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> bool:
        """SET `sets` on the profile only if it is still at `version`, and move it to the
        next one (False: an event changed it since it was read, and wins)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(_profile_pk(shop_id, customer_id), "PROFILE"),
                UpdateExpression=f"SET {sets}, #ver = :next",
                ConditionExpression="#ver = :v",
                ExpressionAttributeNames={**names, "#ver": "version"},
                ExpressionAttributeValues={
                    **values,
                    ":v": {"N": str(version)},
                    ":next": {"N": str(version + 1)},
                },
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise
            return False
        return True

    def update_derived(self, changes: Sequence[DerivedChange]) -> list[DerivedChange]:
        written = []
        for p in changes:
            rfm = {"r": p.rfm.r, "f": p.rfm.f, "m": p.rfm.m, "rank": p.rfm.rank} if p.rfm else None
            if self._update_at_version(
                p.shop_id,
                p.customer_id,
                p.version,
                "#rfm = :rfm, #seg = :seg",
                {"#rfm": "rfm", "#seg": "segments"},
                {
                    ":rfm": to_item({"x": rfm}).get("x", {"NULL": True}),
                    ":seg": to_item({"x": sorted(p.segments)})["x"],
                },
            ):
                written.append(p)
        return written

    def put_first_product(self, profile: Profile, sku: str) -> bool:
        return self._update_at_version(
            profile.shop_id,
            profile.customer_id,
            profile.version,
            "#stats.#first = :sku",
            {"#stats": "stats", "#first": "first_product"},
            {":sku": {"S": sku}},
        )

    def add_tag(self, shop_id: str, customer_id: str, tag: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(_profile_pk(shop_id, customer_id), "PROFILE"),
                UpdateExpression="SET #tags = list_append(#tags, :tag), #ver = #ver + :one",
                ConditionExpression=(
                    "attribute_exists(#tags) AND NOT contains(#tags, :name) "
                    "AND attribute_not_exists(#merged)"
                ),
                ExpressionAttributeNames={
                    "#tags": "tags",
                    "#ver": "version",
                    "#merged": "merged_into",
                },
                ExpressionAttributeValues={
                    ":tag": {"L": [{"S": tag}]},
                    ":name": {"S": tag},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise
            return False
        return True

    def get_member_counts(self, shop_id: str) -> MemberCounts:
        items = list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _counts_pk(shop_id)}},
            )
        )
        base = next((i for i in items if i["sk"] == COUNTS_SK), {})
        if "counts" in base and "counted" not in base:  # as stored before counts were live
            return MemberCounts({k: int(v) for k, v in base["counts"].items()})
        counted_at = base.get("counted_at")
        return MemberCounts(
            {
                seg: sum(int(i.get(COUNT_PREFIX + seg, 0)) for i in items)
                - int(base.get(TAKEN_PREFIX + seg, 0))
                for seg in base.get("counted", ())
            },
            datetime.fromisoformat(counted_at) if counted_at else None,
        )

    def put_member_counts(self, shop_id: str, counts: dict[str, int], counted_at: datetime) -> None:
        """One PutItem of the base: the recount's counts and, per segment, what the shards
        held when it read them (`taken#`), which a count subtracts. So a recount drops what
        events added before it, an event landing after keeps its delta, two overlapping
        recounts each leave a whole answer (the later write wins), and the shards are never
        written back (a transaction over them would be cancelled by any event in flight).
        A recount older than the stored one (a run redriven late) is not put."""
        shards = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :shard)",
            ExpressionAttributeValues={
                ":pk": {"S": _counts_pk(shop_id)},
                ":shard": {"S": COUNTS_SK + "#"},
            },
        )
        taken = dict.fromkeys(counts, 0)
        for shard in shards:
            for seg in counts:
                taken[seg] += int(shard.get(COUNT_PREFIX + seg, 0))
        stamp = counted_at.astimezone(UTC).isoformat(timespec="microseconds")
        base: dict[str, Any] = {
            "pk": _counts_pk(shop_id),
            "sk": COUNTS_SK,
            "counted_at": stamp,
            "counted": set(counts) or None,  # (DynamoDB keeps no empty set)
            **{COUNT_PREFIX + seg: n for seg, n in counts.items()},
            **{TAKEN_PREFIX + seg: n for seg, n in taken.items() if n},
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(base),
                ConditionExpression="attribute_not_exists(counted_at) OR counted_at <= :at",
                ExpressionAttributeValues={":at": {"S": stamp}},
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise  # (else a newer recount is stored: it stays)

    def forget_member_count(self, shop_id: str, segment_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_counts_key(shop_id),
                UpdateExpression="REMOVE #n DELETE #counted :seg",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={
                    "#n": COUNT_PREFIX + segment_id,
                    "#counted": "counted",
                },
                ExpressionAttributeValues={":seg": {"SS": [segment_id]}},
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise  # (no counts yet: every segment reads as computing)

    def set_memberships(
        self, shop_id: str, entered: Sequence[tuple[str, str]], exited: Sequence[tuple[str, str]]
    ) -> None:
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": self._member_item(shop_id, seg, cust)}} for seg, cust in entered
        ]
        requests += [
            {"DeleteRequest": {"Key": key(f"SHOP#{shop_id}#SEG#{seg}", f"CUST#{cust}")}}
            for seg, cust in exited
        ]
        self._batch_write(requests)

    # ------------------------------------------------------------------ segments
    def list_segments(self, shop_id: str) -> list[SegmentDefinition]:
        items = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#SEGDEF"}},
        )
        return [_segment_from(i) for i in items]

    def segments_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SegmentDefinition], Position | None]:
        items, last = partition_page(
            self._client,
            self._table,
            f"SHOP#{shop_id}#SEGDEF",
            "",
            limit=limit,
            after=after,
        )
        return [_segment_from(i) for i in items], last

    def put_segment(self, shop_id: str, segment: SegmentDefinition) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "pk": f"SHOP#{shop_id}#SEGDEF",
                    "sk": segment.segment_id,
                    "name": segment.name,
                    "rule": json.dumps(segment.rule, ensure_ascii=False, sort_keys=True),
                    "description": segment.description,
                    "builtin": segment.builtin,
                    "created_at": segment.created_at.isoformat() if segment.created_at else None,
                    "member_count": segment.member_count,
                    "tagging": segment.tagging,
                }
            ),
        )

    def mark_tagged(self, shop_id: str, segment_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key(f"SHOP#{shop_id}#SEGDEF", segment_id),
                UpdateExpression="REMOVE tagging",
                ConditionExpression="attribute_exists(sk)",
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise  # (deleted meanwhile: nothing to bring back)

    def delete_segment(self, shop_id: str, segment_id: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}#SEGDEF", segment_id)
        )
        members = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}#SEG#{segment_id}"}},
            ProjectionExpression="pk, sk",
        )
        self._batch_write([{"DeleteRequest": {"Key": to_item(m)}} for m in members])

    def segment_members(
        self, shop_id: str, segment_id: str, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"SHOP#{shop_id}#SEG#{segment_id}"}},
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = key(f"SHOP#{shop_id}#SEG#{segment_id}", f"CUST#{cursor}")
        response = self._client.query(**kwargs)
        members = [from_item(i)["customer_id"] for i in response.get("Items", [])]
        more = response.get("LastEvaluatedKey")
        return members, (members[-1] if more and members else None)

    # ---------------------------------------------------------- products and recommendations
    def get_product(self, shop_id: str, sku: str) -> Product | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=key(_product_pk(shop_id, sku), "PRODUCT"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _product_from(from_item(item)) if item else None

    def get_products(self, shop_id: str, skus: Sequence[str]) -> dict[str, Product]:
        keys = [key(_product_pk(shop_id, sku), "PRODUCT") for sku in dict.fromkeys(skus)]
        products = map(_product_from, batch_get_all(self._client, self._table, keys))
        return {p.sku: p for p in products}

    def get_reco_model(self, shop_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}#RECO", "MODEL")
        )
        item = response.get("Item")
        return json.loads(from_item(item)["model"]) if item else None

    def put_reco_model(self, shop_id: str, model: dict[str, Any]) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item({"pk": f"SHOP#{shop_id}#RECO", "sk": "MODEL", "model": json.dumps(model)}),
        )

    # ---------------------------------------------------------- listings and settings
    def list_profiles(
        self, shop_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Profile], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"SHOP#{shop_id}#PROFILES"}},
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {
                **key(_profile_pk(shop_id, cursor), "PROFILE"),
                "gsi1pk": {"S": f"SHOP#{shop_id}#PROFILES"},
                "gsi1sk": {"S": cursor},
            }
        response = self._client.query(**kwargs)
        profiles = [codec.profile_from_dict(from_item(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        next_cursor = str(from_item(last)["gsi1sk"]) if last else None
        return [p for p in profiles if p.merged_into is None], next_cursor

    def get_setting(self, shop_id: str, name: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key=key(f"SHOP#{shop_id}#SETTINGS", name)
        )
        item = response.get("Item")
        return json.loads(from_item(item)["value"]) if item else None

    def put_setting(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {"pk": f"SHOP#{shop_id}#SETTINGS", "sk": name, "value": json.dumps(value)}
            ),
        )
