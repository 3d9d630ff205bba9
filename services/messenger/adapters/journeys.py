"""Journeys in DynamoDB (the journeys table).

- head        ``SHOP#<shop>`` / ``JOURNEY#<id>``: name, status, latest version, the event
              types that enrol (read on every event: one Query per shop)
- version     ``SHOP#<shop>#JOURNEY#<id>`` / ``V#<nnnnnn>``: the JSON as written
- enrolment   ``CUST#<shop>#<customer>`` / ``E#<journey>#<enrolment>``: a person's place
              in one version; ``due_shard`` / ``due_at`` only while a step is due (the
              sparse ``due`` index, partitioned by shard; a step of a paused journey
              is parked in the index's ``PAUSED#<shop>#<journey>`` partition instead,
              which no dispatcher shard reads)
- guard       ``CUST#<shop>#<customer>`` / ``G#<journey>#<key>``: the re-entry rule's
              record; created in the same transaction as the enrolment, conditionally
- order       ``CUST#<shop>#<customer>`` / ``O#<order id>``: what `order.placed` said
              about an order (the `order.*` facts of a later `order.shipped`)
- lease       ``LEASE#DUE#<shard>`` / ``LEASE``: the worker that works a due shard now,
              until ``expires_at`` (taken by a conditional write; SQS may hand the same
              shard to two workers, and only one of them gets it)
- counters    ``STATS#<shop>#<journey>`` / ``V#<nnnnnn>#<scope>#<shard>``: numbers only
              ever added to, in the same transaction as the change they count, sharded
              like the due index so no counter is a hot key; scope ``J`` (the journey),
              ``S#<step>``, or ``C#<YYYY-MM>#<rank>`` (the entry cohort's share)
- counted     ``CUST#<shop>#<customer>`` / ``COUNTED#<marker>``: an outcome counted once
- people      ``PEOPLE#<shop>#<journey>`` / ``<customer>|<enrolment>``: the journey's and
              its steps' people-numbers of one enrolment (``J|entered``, ``S#<step>|sent``
              ...: `people.kept_values`), added in the same transaction as the counters
              they mirror, so a count drills down to exactly its people; no TTL, like
              the counters (erasure finds them through the person's guards, which never
              expire)
- week        ``WEEK#<shop>#<Monday>`` / ``P#<customer>|<journey>|<enrolment>``: the
              enrolment's numbers of that week (``sent``, ``opened``... of the ``W#``
              counters) and ``/ T#<journey>#<shard>`` the journey's week totals (each
              naming its ``journey_id``; ``T#<shard>``, written before the totals were
              split per journey, none), added in the same
              transaction as the counters: the overview's week tile and its people in one
              partition (`week`); no TTL, like the people items (erasure finds a person's
              through the weeks their people items name)
- week marks  ``CUST#<shop>#<customer>`` / ``WEEK#<Monday>#<metric>``: the person was
              counted among the week's people of that metric (the overview tile's "M人"),
              put under ``attribute_not_exists`` with the one ADD of ``WEEKPEOPLE#<shop>
              #<Monday>`` / ``<metric>#<shard>`` (``people``) it guards, in the
              transaction that counts the message (`transact_once`: an existing mark
              drops the pair, never the message); in the person's partition, so
              disclosure and erasure find them with the rest of it; expiring `KEEP`
              after the week began. Erasure leaves the counts, like every aggregate
              counter
- weeks since ``WEEKS#<shop>`` / ``SINCE``: the Monday from which every week partition is
              whole (`kizuna shop create` writes a new shop's, `kizuna backfill` an
              upgraded one's; earlier weeks are read the old way); ``/ CAMPAIGNS`` the
              same for the campaigns' week figures (their STATS ``week_*``), ``/ PEOPLE``
              for the week's people (``WEEKPEOPLE#``)

The table's TTL attribute is ``ttl`` (epoch seconds; the lease's ``expires_at`` is a
string the lease condition compares, not a TTL). A finished or held-out enrolment and a
`counted` marker expire `KEEP` after the enrolment entered: past every goal window, so
nothing they are read for can still happen. Guards, orders, heads, versions and counters
never expire (a guard is the re-entry rule; the orders are the win-back's first order).

Every state change of an enrolment is one conditional write that expects the `seq` it
read: a second worker on the same step loses (`StaleEnrolment`) and does nothing more.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from messenger.domain.journeys.cohorts import WEEK_PREFIX, cohort_values
from messenger.domain.journeys.enrolment import FINISHED, Enrolment, EnrolmentStatus
from messenger.domain.journeys.people import kept_values
from messenger.domain.journeys.records import (
    AlreadyEntered,
    Counter,
    Guard,
    JourneyHead,
    StaleEnrolment,
    stamp,
)
from messenger.domain.week import WEEK_METRICS, WeekCounts, week_period
from messenger.services.ports import JourneyRepository
from shared.adapters.dynamodb import (
    Position,
    cancellation_codes,
    from_item,
    key,
    partition_page,
    query_all,
    query_prefix,
    to_item,
    transact_once,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUE_INDEX = "due"
KEEP = timedelta(days=400)
"""How long after entering a finished (or held-out) enrolment and its counted markers are
kept: longer than the longest goal window (365 days) and the F2 window (90)."""


def people_pk(shop_id: str, journey_id: str) -> str:
    return f"PEOPLE#{shop_id}#{journey_id}"


def people_sk(e: Enrolment) -> str:
    """`<customer>|<enrolment>`: no customer id holds `|`, so a person's items share the
    prefix `<customer>|` and nobody else's do."""
    return f"{e.customer_id}|{e.enrolment_id}"


def week_pk(shop_id: str, monday: str) -> str:
    return f"WEEK#{shop_id}#{monday}"


def week_person_sk(customer_id: str, journey_id: str, enrolment_id: str) -> str:
    """`P#<customer>|<journey>|<enrolment>`: sorted by customer, a person's share of a
    week is one run of the partition."""
    return f"P#{customer_id}|{journey_id}|{enrolment_id}"


def week_total_sk(journey_id: str, shard: int) -> str:
    """`T#<journey>#<shard>`: one journey's share of the week's totals, sharded like the
    counters (the item also names its journey: `journey_id`)."""
    return f"T#{journey_id}#{shard:03d}"


WEEK_PEOPLE_SHARDS = 16
"""Counter shards of a week's people per metric (a Query reads at most 64 small items)."""


def week_mark(
    table: str, shop_id: str, monday: str, customer_id: str, metric: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pair counting one person once among a week's people of `metric`: the mark in
    their partition (new only) and the ADD of one counter shard (by customer, so no shard
    is a hot key), for `transact_once`. The mark expires `KEEP` after its week began: a
    campaign's late open or order still lands in its week for a while, none that late."""
    shard = zlib.crc32(customer_id.encode()) % WEEK_PEOPLE_SHARDS
    mark = {
        "Put": {
            "TableName": table,
            "Item": to_item(
                {
                    "pk": f"CUST#{shop_id}#{customer_id}",
                    "sk": f"WEEK#{monday}#{metric}",
                    "week": monday,
                    "metric": metric,
                    "ttl": expiry(week_period(date.fromisoformat(monday))[0] + KEEP),
                }
            ),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    count = {
        "Update": {
            "TableName": table,
            "Key": key(week_people_pk(shop_id, monday), f"{metric}#{shard:03d}"),
            "UpdateExpression": "SET metric = :m ADD people :one",
            "ExpressionAttributeValues": {":m": {"S": metric}, ":one": {"N": "1"}},
        }
    }
    return mark, count


def week_people_pk(shop_id: str, monday: str) -> str:
    """`WEEKPEOPLE#<shop>#<Monday>`: the week's distinct people per metric, sharded."""
    return f"WEEKPEOPLE#{shop_id}#{monday}"


WEEKS_SINCE_SK = "SINCE"
_SINCE_SK: dict[WeekCounts, str] = {
    "journeys": WEEKS_SINCE_SK,
    "campaigns": "CAMPAIGNS",
    "people": "PEOPLE",
}
"""The marks of `WEEKS#<shop>`: from when the journeys' week partitions are whole, and
from when the campaigns' week figures (`campaigns.week_figures`) are."""
_NOT_NUMBERS = frozenset({"pk", "sk", "customer_id", "journey_id"})


def expiry(at: datetime) -> int:
    """The table's `ttl` value for `at` (epoch seconds, as DynamoDB's TTL reads it)."""
    return int(at.timestamp())


def _parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _enrolment_item(e: Enrolment) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"CUST#{e.shop_id}#{e.customer_id}",
        "sk": f"E#{e.journey_id}#{e.enrolment_id}",
        "shop_id": e.shop_id,
        "journey_id": e.journey_id,
        "version": e.version,
        "customer_id": e.customer_id,
        "enrolment_id": e.enrolment_id,
        "key": e.key,
        "entered_at": e.entered_at.isoformat(),
        "status": e.status.value,
        "step": e.step,
        "seq": e.seq,
        "waiting": e.waiting,
        "anchors": {k: v.isoformat() for k, v in e.anchors.items()},
        "facts": json.dumps(dict(e.facts), default=str, sort_keys=True),
        "variants": dict(e.variants) or None,
        "exit_reason": e.exit_reason,
        "finished_at": e.finished_at.isoformat() if e.finished_at else None,
        "converted_at": e.converted_at.isoformat() if e.converted_at else None,
        "shard": e.shard,
        "parked": e.parked or None,
        "rank": e.rank,
    }
    if e.status in FINISHED or e.status is EnrolmentStatus.HOLDOUT:
        item["ttl"] = expiry(e.entered_at + KEEP)
    if e.due_at is not None and e.status in (EnrolmentStatus.ACTIVE, EnrolmentStatus.SCHEDULED):
        item["due_shard"] = (
            _parked_shard(e.shop_id, e.journey_id) if e.parked else f"DUE#{e.shard:03d}"
        )
        item["due_at"] = stamp(e.due_at)
    return item


def _parked_shard(shop_id: str, journey_id: str) -> str:
    return f"PAUSED#{shop_id}#{journey_id}"


def enrolment_of(item: Mapping[str, Any]) -> Enrolment:
    return Enrolment(
        shop_id=item["shop_id"],
        journey_id=item["journey_id"],
        version=int(item["version"]),
        customer_id=item["customer_id"],
        enrolment_id=item["enrolment_id"],
        key=item["key"],
        entered_at=datetime.fromisoformat(item["entered_at"]),
        status=EnrolmentStatus(item["status"]),
        step=item.get("step"),
        due_at=_parse_stamp(item["due_at"]) if item.get("due_at") else None,
        seq=int(item["seq"]),
        waiting=bool(item.get("waiting")),
        anchors={k: datetime.fromisoformat(v) for k, v in (item.get("anchors") or {}).items()},
        facts=json.loads(item.get("facts") or "{}"),
        variants=dict(item.get("variants") or {}),
        exit_reason=item.get("exit_reason"),
        finished_at=_dt(item.get("finished_at")),
        converted_at=_dt(item.get("converted_at")),
        shard=int(item.get("shard", 0)),
        parked=bool(item.get("parked")),
        rank=item.get("rank"),
    )


def _head_item(h: JourneyHead) -> dict[str, Any]:
    return {
        "pk": f"SHOP#{h.shop_id}",
        "sk": f"JOURNEY#{h.journey_id}",
        "shop_id": h.shop_id,
        "journey_id": h.journey_id,
        "name": h.name,
        "status": h.status,
        "version": h.version,
        "enrols_on": sorted(h.enrols_on),
        "listens_to": sorted(h.listens_to),
        "created_at": h.created_at.isoformat(),
        "updated_at": h.updated_at.isoformat(),
        "rev": h.rev + 1,
    }


def _head_of(item: Mapping[str, Any]) -> JourneyHead:
    return JourneyHead(
        shop_id=item["shop_id"],
        journey_id=item["journey_id"],
        name=item["name"],
        status=item["status"],
        version=int(item["version"]),
        enrols_on=frozenset(item.get("enrols_on") or ()),
        listens_to=frozenset(item.get("listens_to") or ()),
        created_at=datetime.fromisoformat(item["created_at"]),
        updated_at=datetime.fromisoformat(item["updated_at"]),
        rev=int(item.get("rev", 0)),
    )


class DynamoJourneyRepository(JourneyRepository):
    def __init__(self, client: DynamoDBClient, table: str, counter_shards: int = 16) -> None:
        self._client = client
        self._table = table
        self._shards = counter_shards

    # ------------------------------------------------------------ definitions
    def _version_put(self, head: JourneyHead, source: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(
                    {
                        "pk": f"SHOP#{head.shop_id}#JOURNEY#{head.journey_id}",
                        "sk": f"V#{head.version:06d}",
                        "version": head.version,
                        "body": json.dumps(dict(source), sort_keys=True, ensure_ascii=False),
                        "created_at": head.updated_at.isoformat(),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def create(self, head: JourneyHead, source: Mapping[str, Any]) -> None:
        from shared.errors import Conflict

        refused = Conflict(
            f"journey {head.journey_id!r} exists; post a new version instead", field="journey_id"
        )
        new = {"ConditionExpression": "attribute_not_exists(pk)"}
        self._write_version(head, source, new, refused)

    def add_version(self, head: JourneyHead, source: Mapping[str, Any]) -> None:
        from shared.errors import Conflict

        unchanged = {
            "ConditionExpression": "rev = :rev",
            "ExpressionAttributeValues": {":rev": {"N": str(head.rev)}},
        }
        refused = Conflict("the journey changed meanwhile; read it and try again")
        self._write_version(head, source, unchanged, refused)

    def _write_version(
        self,
        head: JourneyHead,
        source: Mapping[str, Any],
        head_condition: Mapping[str, Any],
        refused: Exception,
    ) -> None:
        """The head and the new version in one transaction; the head's condition (new, or
        unchanged since read) decides, and its refusal is `refused`."""
        head_put = {"TableName": self._table, "Item": to_item(_head_item(head)), **head_condition}
        try:
            self._client.transact_write_items(
                TransactItems=[{"Put": head_put}, self._version_put(head, source)]  # type: ignore[list-item,typeddict-item]
            )
        except self._client.exceptions.TransactionCanceledException:
            raise refused from None

    def save_head(self, head: JourneyHead) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(_head_item(head)),
                ConditionExpression="rev = :rev",
                ExpressionAttributeValues={":rev": {"N": str(head.rev)}},
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def head(self, shop_id: str, journey_id: str) -> JourneyHead | None:
        got = self._client.get_item(
            TableName=self._table,
            Key=key(f"SHOP#{shop_id}", f"JOURNEY#{journey_id}"),
            ConsistentRead=True,
        ).get("Item")
        return _head_of(from_item(got)) if got else None

    def heads(self, shop_id: str) -> list[JourneyHead]:
        items = query_prefix(self._client, self._table, f"SHOP#{shop_id}", "JOURNEY#")
        return [_head_of(i) for i in items]

    def heads_page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[JourneyHead], Position | None]:
        items, last = partition_page(
            self._client, self._table, f"SHOP#{shop_id}", "JOURNEY#", limit=limit, after=after
        )
        return [_head_of(i) for i in items], last

    def version(self, shop_id: str, journey_id: str, version: int) -> Mapping[str, Any] | None:
        got = self._client.get_item(
            TableName=self._table,
            Key=key(f"SHOP#{shop_id}#JOURNEY#{journey_id}", f"V#{version:06d}"),
        ).get("Item")
        return json.loads(from_item(got)["body"]) if got else None

    # ------------------------------------------------------------ enrolments
    def _counter_updates(self, e: Enrolment, counters: list[Counter]) -> list[dict[str, Any]]:
        """One ADD per counter item, and the same numbers once more in the enrolment's
        cohort (`messenger.domain.journeys.cohorts`), in the same transaction."""
        out = []
        if e.cohort is not None:
            extra = cohort_values((c.scope, c.values) for c in counters)
            counters = [*counters, Counter(e.cohort, extra)]
        for c in counters:
            if not c.values:
                continue
            names = {f"#c{i}": k for i, k in enumerate(c.values)}
            values = to_item({f":c{i}": v for i, v in enumerate(c.values.values())})
            out.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": key(
                            f"STATS#{e.shop_id}#{e.journey_id}",
                            f"V#{e.version:06d}#{c.scope}#{e.shard % self._shards:03d}",
                        ),
                        "UpdateExpression": "ADD "
                        + ", ".join(f"#c{i} :c{i}" for i in range(len(c.values))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        if not out:
            return out
        return [*out, *self._people_update(e, counters), *self._week_updates(e, counters)]

    def _week_updates(self, e: Enrolment, counters: list[Counter]) -> list[dict[str, Any]]:
        """The week counters (`W#<Monday>`) once more in the week's partition: the
        enrolment's share (its people item there) and the week's totals (sharded like
        the counters), so a week tile and its people are one Query."""
        out = []
        for c in counters:
            if not c.scope.startswith(WEEK_PREFIX) or not c.values:
                continue
            pk = week_pk(e.shop_id, c.scope.removeprefix(WEEK_PREFIX))
            names = {f"#w{i}": k for i, k in enumerate(c.values)}
            adds = to_item({f":w{i}": v for i, v in enumerate(c.values.values())})
            expression = "ADD " + ", ".join(f"#w{i} :w{i}" for i in range(len(c.values)))
            person = week_person_sk(e.customer_id, e.journey_id, e.enrolment_id)
            total = week_total_sk(e.journey_id, e.shard % self._shards)
            for sk, field, value in (
                (person, "customer_id", e.customer_id),
                (total, "journey_id", e.journey_id),
            ):
                update: dict[str, Any] = {
                    "TableName": self._table,
                    "Key": key(pk, sk),
                    "UpdateExpression": f"SET {field} = :who " + expression,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {**adds, ":who": {"S": value}},
                }
                out.append({"Update": update})
        return out

    def _week_marks(
        self, e: Enrolment, counters: list[Counter]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The person once among each week's people of each metric these counters add
        to (`week_mark`)."""
        return [
            week_mark(
                self._table,
                e.shop_id,
                c.scope.removeprefix(WEEK_PREFIX),
                e.customer_id,
                m,
            )
            for c in counters
            if c.scope.startswith(WEEK_PREFIX)
            for m in WEEK_METRICS
            if c.values.get(m, 0) > 0
        ]

    def week_people(self, shop_id: str, monday: str) -> dict[str, int]:
        """The week's distinct people per metric: one Query of its counter shards."""
        people = dict.fromkeys(WEEK_METRICS, 0)
        for item in query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": week_people_pk(shop_id, monday)}},
        ):
            metric = str(item["metric"])
            people[metric] = people.get(metric, 0) + int(item["people"])
        return people

    def _people_update(self, e: Enrolment, counters: list[Counter]) -> list[dict[str, Any]]:
        """The enrolment's own copy of the journey and step numbers a drill-down lists
        people by (`people.kept_values`), one item per enrolment: the drill-down reads
        who, the counters how many. None when the change counts nothing of those."""
        values = {k: v for c in counters for k, v in kept_values(c.scope, c.values).items()}
        if not values:
            return []
        names = {f"#p{i}": k for i, k in enumerate(values)}
        adds = to_item({f":p{i}": v for i, v in enumerate(values.values())})
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key(people_pk(e.shop_id, e.journey_id), people_sk(e)),
                    "UpdateExpression": "SET customer_id = :who ADD "
                    + ", ".join(f"#p{i} :p{i}" for i in range(len(values))),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {":who": {"S": e.customer_id}, **adds},
                }
            }
        ]

    def people(self, shop_id: str, journey_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for item in query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": people_pk(shop_id, journey_id)}},
        ):
            numbers = {k: v for k, v in item.items() if "|" in k}
            yield str(item["customer_id"]), numbers

    def week(
        self, shop_id: str, monday: str
    ) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, int]]:
        """(customer, numbers) of every enrolment's share of a week, and the week's
        totals: one Query of its partition (a page a megabyte)."""
        people: list[tuple[str, dict[str, Any]]] = []
        totals: dict[str, int] = {}
        for item in query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": week_pk(shop_id, monday)}},
        ):
            numbers = {k: v for k, v in item.items() if k not in _NOT_NUMBERS}
            if str(item["sk"]).startswith("T#"):
                for k, v in numbers.items():
                    totals[k] = totals.get(k, 0) + int(v)
            else:
                people.append((str(item["customer_id"]), numbers))
        return people, totals

    def week_totals(self, shop_id: str, monday: str) -> dict[str | None, dict[str, int]]:
        """The week's totals per journey alone: one Query of its partition's `T#` shards
        (a few items per journey), none of the enrolments' shares. Shards written before
        the totals named their journey (`T#<shard>`) are the None journey's."""
        totals: dict[str | None, dict[str, int]] = {}
        for item in query_prefix(self._client, self._table, week_pk(shop_id, monday), "T#"):
            journey = item.get("journey_id")
            mine = totals.setdefault(None if journey is None else str(journey), {})
            for k, v in item.items():
                if k not in _NOT_NUMBERS:
                    mine[k] = mine.get(k, 0) + int(v)
        return totals

    def weeks_since(self, shop_id: str, counts: WeekCounts = "journeys") -> str | None:
        got = self._client.get_item(
            TableName=self._table, Key=key(f"WEEKS#{shop_id}", _SINCE_SK[counts])
        ).get("Item")
        return str(from_item(got)["since"]) if got else None

    def mark_weeks_since(self, shop_id: str, monday: str, counts: WeekCounts = "journeys") -> str:
        """Keep the first Monday ever marked (a second run does not move it later)."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.put_item(
                TableName=self._table,
                Item=to_item({"pk": f"WEEKS#{shop_id}", "sk": _SINCE_SK[counts], "since": monday}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        return self.weeks_since(shop_id, counts) or monday

    def count_once(self, e: Enrolment, marker: str, counters: list[Counter]) -> bool:
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(
                        {
                            "pk": f"CUST#{e.shop_id}#{e.customer_id}",
                            "sk": f"COUNTED#{marker}",
                            "ttl": expiry(e.entered_at + KEEP),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            *self._counter_updates(e, counters),
        ]
        try:
            transact_once(self._client, items, self._week_marks(e, counters))
        except self._client.exceptions.TransactionCanceledException as err:
            if cancellation_codes(err)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def enrol(self, enrolment: Enrolment, guard: Guard, counters: list[Counter]) -> None:
        pk = f"CUST#{enrolment.shop_id}#{enrolment.customer_id}"
        guard_put: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_item(
                {
                    "pk": pk,
                    "sk": f"G#{enrolment.journey_id}#{guard.key}",
                    "entered_at": stamp(enrolment.entered_at),
                    "enrolment_id": enrolment.enrolment_id,
                }
            ),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if guard.not_since is not None:
            guard_put["ConditionExpression"] = "attribute_not_exists(pk) OR entered_at <= :since"
            guard_put["ExpressionAttributeValues"] = {":since": {"S": stamp(guard.not_since)}}
        items: list[Any] = [
            {"Put": guard_put},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(_enrolment_item(enrolment)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            *self._counter_updates(enrolment, counters),
        ]
        try:
            transact_once(self._client, items, self._week_marks(enrolment, counters))
        except self._client.exceptions.TransactionCanceledException as err:
            codes = cancellation_codes(err)
            if "ConditionalCheckFailed" in codes[:2]:
                raise AlreadyEntered(enrolment.enrolment_id) from None
            raise

    def advance(self, before: Enrolment, after: Enrolment, counters: list[Counter]) -> None:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_item(_enrolment_item(after)),
            "ConditionExpression": "seq = :seq",
            "ExpressionAttributeValues": {":seq": {"N": str(before.seq)}},
        }
        updates = self._counter_updates(after, counters)
        try:
            if not updates:
                self._client.put_item(**put)
                return
            items: list[Any] = [{"Put": put}, *updates]
            transact_once(self._client, items, self._week_marks(after, counters))
        except self._client.exceptions.TransactionCanceledException as err:
            if cancellation_codes(err)[:1] == ["ConditionalCheckFailed"]:
                raise StaleEnrolment(before.enrolment_id) from None
            raise
        except self._client.exceptions.ConditionalCheckFailedException:
            raise StaleEnrolment(before.enrolment_id) from None

    def enrolments_of(self, shop_id: str, customer_id: str) -> list[Enrolment]:
        pk = f"CUST#{shop_id}#{customer_id}"
        items = query_prefix(self._client, self._table, pk, "E#", ConsistentRead=True)
        return [enrolment_of(i) for i in items]

    def _due_query(self, shard: int, until: datetime, **extra: Any) -> Any:
        """One shard of the sparse `due` index, due by `until`, earliest first."""
        return self._client.query(
            TableName=self._table,
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_shard = :s AND due_at <= :until",
            ExpressionAttributeValues={
                ":s": {"S": f"DUE#{shard:03d}"},
                ":until": {"S": stamp(until)},
            },
            **extra,
        )

    def due(self, shard: int, until: datetime, limit: int) -> list[Enrolment]:
        response = self._due_query(shard, until, Limit=limit)
        return [enrolment_of(from_item(i)) for i in response.get("Items", [])]

    def parked(self, shop_id: str, journey_id: str) -> Iterator[Enrolment]:
        for item in query_all(
            self._client,
            TableName=self._table,
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_shard = :s",
            ExpressionAttributeValues={":s": {"S": _parked_shard(shop_id, journey_id)}},
        ):
            yield enrolment_of(item)

    def has_due(self, shard: int, until: datetime) -> bool:
        return int(self._due_query(shard, until, Select="COUNT", Limit=1).get("Count", 0)) > 0

    # ------------------------------------------------------------ shard leases
    def lease(self, shard: int, owner: str, now: datetime, until: datetime) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "pk": f"LEASE#DUE#{shard:03d}",
                        "sk": "LEASE",
                        "owner": owner,
                        "expires_at": stamp(until),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"S": stamp(now)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, shard: int, owner: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=key(f"LEASE#DUE#{shard:03d}", "LEASE"),
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return  # expired and taken by another worker: theirs now

    # ------------------------------------------------------------ facts
    def record_order(
        self, shop_id: str, customer_id: str, order_id: str, facts: Any, *, only_new: bool = False
    ) -> bool:
        item = {
            "pk": f"CUST#{shop_id}#{customer_id}",
            "sk": f"O#{order_id}",
            "facts": json.dumps(facts, default=str, sort_keys=True),
        }
        if not only_new:
            self._client.put_item(TableName=self._table, Item=to_item(item))
            return True
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def order(self, shop_id: str, customer_id: str, order_id: str) -> Mapping[str, Any]:
        got = self._client.get_item(
            TableName=self._table, Key=key(f"CUST#{shop_id}#{customer_id}", f"O#{order_id}")
        ).get("Item")
        return json.loads(from_item(got)["facts"]) if got else {}

    # ------------------------------------------------------------ stats
    def counters(self, shop_id: str, journey_id: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        for item in query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"STATS#{shop_id}#{journey_id}"}},
        ):
            _, version, rest = item["sk"].split("#", 2)
            scope = rest.rsplit("#", 1)[0]
            values = {k: v for k, v in item.items() if k not in ("pk", "sk")}
            yield int(version), scope, values
