"""What the messenger table holds on a person, read out whole (disclosure) or removed
(erasure): the recipient profile with its consents and unsubscribes, deliveries (and
their due entries and first-open marks), the LINE link, journey enrolments, guards and
facts (with the birthday calendar's entry and the sold-out SKUs' wish lists the person is
on), each enrolment's copy of the journey numbers it added (found through the guards,
which never expire) and its share of each week it was counted in (found through the
weeks that copy names), the marks that counted them once among a week's people (in
their partition), pending inserts, and the per-person campaign records. Aggregate
counters (journey and campaign stats, a week's people) hold no identity and stay.
Deleting is idempotent: a repeat finds, and counts, nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from messenger.adapters.journeys import people_pk, week_person_sk, week_pk
from messenger.adapters.repository import DUE_PK, PROFILE_SK, _due_sk
from shared.adapters.dynamodb import from_item, key, query_all
from shared.rights import PersonalData

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")

_KINDS = (
    ("DELIVERY#", "deliveries"),
    ("UNSUB#", "unsubscribes"),
    (PROFILE_SK, "recipient"),
    ("TOUCH", "last_touch"),
    ("E#", "journey_enrolments"),
    ("G#", "journey_guards"),
    ("O#", "journey_orders"),
    ("C#", "journey_carts"),
    ("N#", "journey_told"),
    ("PREF", "journey_preferences"),
    ("PENDING#", "pending_inserts"),
    ("WEEK#", "week_marks"),
    ("W#", "journey_wants"),
    ("BDAY", "journey_birthday"),
)


def _kind(sk: str) -> str:
    for prefix, kind in _KINDS:
        if sk.startswith(prefix):
            return kind
    return "other"


class DynamoMessengerPersonalData(PersonalData):
    def __init__(self, client: DynamoDBClient, table: str, journeys_table: str) -> None:
        self._client = client
        self._table = table
        self._journeys = journeys_table

    def _partitions(self, shop_id: str, customer_id: str) -> tuple[tuple[str, str], ...]:
        return (
            (self._table, f"SHOP#{shop_id}#CUST#{customer_id}"),
            (self._table, f"SHOP#{shop_id}#CUST#{customer_id}#INSERTS"),
            (self._journeys, f"CUST#{shop_id}#{customer_id}"),
        )

    def _items(self, shop_id: str, customer_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(table, item) of every item in the person's partitions."""
        items: list[tuple[str, dict[str, Any]]] = []
        for table, pk in self._partitions(shop_id, customer_id):
            items.extend(
                (table, item)
                for item in query_all(
                    self._client,
                    TableName=table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": pk}},
                    ConsistentRead=True,
                )
            )
        return items

    def _campaign_records(self, shop_id: str, customer_id: str) -> list[dict[str, Any]]:
        campaigns = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={
                ":pk": {"S": f"SHOP#{shop_id}"},
                ":c": {"S": "CAMPAIGN#"},
            },
            ProjectionExpression="sk",
        )
        found = []
        for campaign in campaigns:
            campaign_id = str(campaign["sk"]).removeprefix("CAMPAIGN#")
            got = self._client.get_item(
                TableName=self._table,
                Key=key(f"CAMPAIGN#{shop_id}#{campaign_id}", f"R#{customer_id}"),
                ConsistentRead=True,
            ).get("Item")
            if got:
                found.append(from_item(got))
        return found

    def _journey_numbers(
        self, shop_id: str, customer_id: str, items: list[tuple[str, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The person's enrolments' copies of the journey numbers, in the journeys their
        guards name (`G#<journey>#<key>`)."""
        journeys = sorted(
            {str(i["sk"]).split("#")[1] for _, i in items if str(i["sk"]).startswith("G#")}
        )
        return [
            item
            for journey_id in journeys
            for item in query_all(
                self._client,
                TableName=self._journeys,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :who)",
                ExpressionAttributeValues={
                    ":pk": {"S": people_pk(shop_id, journey_id)},
                    ":who": {"S": f"{customer_id}|"},
                },
                ConsistentRead=True,
            )
        ]

    def _week_keys(self, shop_id: str, numbers: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(journey, week partition, sort key) of the shares of the weeks an enrolment's
        copy names (`W#<Monday>|sent`...): written in the same transactions as it."""
        journey_id = str(numbers["pk"]).rsplit("#", 1)[-1]
        customer_id, _, enrolment_id = str(numbers["sk"]).partition("|")
        weeks = sorted({k.split("|")[0].removeprefix("W#") for k in numbers if k.startswith("W#")})
        sk = week_person_sk(customer_id, journey_id, enrolment_id)
        return [(journey_id, week_pk(shop_id, monday), sk) for monday in weeks]

    def export(self, shop_id: str, customer_ids: list[str]) -> dict[str, Any]:
        out: dict[str, list[dict[str, Any]]] = {kind: [] for _, kind in _KINDS}
        out["campaigns"] = []
        out["journey_numbers"] = []
        out["journey_weeks"] = []
        for customer_id in customer_ids:
            items = self._items(shop_id, customer_id)
            for _, item in items:
                public = {k: v for k, v in item.items() if k not in _KEYS}
                out.setdefault(_kind(str(item["sk"])), []).append(public)
            for numbers in self._journey_numbers(shop_id, customer_id, items):
                journey_id = str(numbers["pk"]).rsplit("#", 1)[-1]
                out["journey_numbers"].append({"journey": journey_id, **_public(numbers)})
                for journey, pk, sk in self._week_keys(shop_id, numbers):
                    got = self._client.get_item(
                        TableName=self._journeys, Key=key(pk, sk), ConsistentRead=True
                    ).get("Item")
                    if got:
                        share = {"journey": journey, "week": pk.rsplit("#", 1)[-1]}
                        out["journey_weeks"].append({**share, **_public(from_item(got))})
            for record in self._campaign_records(shop_id, customer_id):
                out["campaigns"].append(
                    {"campaign": str(record["pk"]).rsplit("#", 1)[-1], **_public(record)}
                )
        return out

    def erase(self, shop_id: str, customer_id: str) -> Iterator[dict[str, int]]:
        removed: dict[str, int] = {}

        def gone(kind: str, pk: str, sk: str, table: str = self._table) -> None:
            if self._delete(pk, sk, table):
                removed[kind] = removed.get(kind, 0) + 1

        for record in self._campaign_records(shop_id, customer_id):
            gone("campaign_records", str(record["pk"]), str(record["sk"]))
        yield removed
        removed = {}
        items = self._items(shop_id, customer_id)
        for numbers in self._journey_numbers(shop_id, customer_id, items):
            for _, pk, sk in self._week_keys(shop_id, numbers):  # first: the copy finds them
                gone("journey_weeks", pk, sk, self._journeys)
            gone("journey_numbers", str(numbers["pk"]), str(numbers["sk"]), self._journeys)
            yield removed
            removed = {}
        # The profile goes last: until it does, a retry still finds the LINE link's owner.
        items.sort(key=lambda i: i[1]["sk"] == PROFILE_SK)
        for table, item in items:
            sk = str(item["sk"])
            if sk.startswith("DELIVERY#"):
                self._forget_delivery(shop_id, item)
            if sk == PROFILE_SK and item.get("line_user_id"):
                gone("line_links", f"LINEUSER#{item['line_user_id']}", str(item["pk"]))
            # Entries about the person outside their partition, found through its pointers:
            # the birthday calendar's, and the wish lists of sold-out SKUs.
            if sk == "BDAY":
                day = str(item.get("day", ""))
                gone("journey_calendar", f"CAL#{day[5:10]}", f"{shop_id}#{customer_id}", table)
            if sk.startswith("W#"):
                sku = sk.removeprefix("W#")
                gone("journey_wishes", f"WANT#{shop_id}#{sku}", f"C#{customer_id}", table)
            gone(_kind(sk), str(item["pk"]), sk, table)
            yield removed
            removed = {}

    def _forget_delivery(self, shop_id: str, item: dict[str, Any]) -> None:
        """A delivery's due entry (so the dispatcher finds nothing to send) and its
        first-open marks."""
        delivery_id = str(item.get("delivery_id", ""))
        if item.get("due_at"):
            due_at = datetime.fromisoformat(str(item["due_at"]))
            self._delete(DUE_PK, _due_sk(due_at, delivery_id))
        for mark in ("open", "click"):
            self._delete(f"TRACK#{shop_id}#{delivery_id}", mark)

    def _delete(self, pk: str, sk: str, table: str | None = None) -> bool:
        gone = self._client.delete_item(
            TableName=table or self._table, Key=key(pk, sk), ReturnValues="ALL_OLD"
        )
        return bool(gone.get("Attributes"))


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _KEYS}
