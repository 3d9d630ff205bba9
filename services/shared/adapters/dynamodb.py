"""DynamoDB access shared by the services' repositories.

Repositories talk to the low-level client (lighter to import and create than the
resource API). Items are converted here, with the rules of boto3's `TypeSerializer` /
`TypeDeserializer` (a test compares both on generated values): importing those would
import the whole `boto3` package (s3transfer among it) into every cold start, while the
functions only need botocore. The client is always injected; nothing here creates one at
import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]

_NUMBERS = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)
"""DynamoDB's number range and precision (boto3's `DYNAMODB_CONTEXT`): a number it would
round or clamp raises instead of being stored changed."""


def _number(value: int | Decimal) -> str:
    number = str(_NUMBERS.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)


def serialize(value: Any) -> dict[str, Any]:
    """One Python value → one DynamoDB attribute value (boto3's `TypeSerializer` rules)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": value}
    if isinstance(value, AbstractSet):
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, bytes | bytearray) for v in value):
            return {"BS": list(value)}
    elif isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    elif isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value → its Python value (boto3's `TypeDeserializer` rules,
    binaries as `bytes`)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, raw = next(iter(value.items()))
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL", "B"):
        return raw
    if kind == "N":
        return _NUMBERS.create_decimal(raw)
    if kind == "NS":
        return {_NUMBERS.create_decimal(v) for v in raw}
    if kind in ("SS", "BS"):
        return set(raw)
    if kind == "L":
        return [deserialize(v) for v in raw]
    if kind == "M":
        return {k: deserialize(v) for k, v in raw.items()}
    raise TypeError(f"Dynamodb type {kind} is not supported")


def _prepare(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _prepare(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_prepare(v) for v in value} or None
    return value


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """Python values → DynamoDB attribute values (None is dropped, floats become Decimal)."""
    prepared = _prepare(data)
    return {k: serialize(v) for k, v in prepared.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> Item:
    return {k: deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def first_condition_refused(error: ClientError) -> bool:
    """The condition of a single write, or of a transaction's first item, was refused:
    the "someone got there first" answer, whichever call carried the write."""
    return is_condition_failure(error) or cancellation_codes(error)[:1] == [
        "ConditionalCheckFailed"
    ]


def write_unless_refused(client: Any, items: list[dict[str, Any]]) -> bool:
    """Write `items` in one request: a lone Put as `put_item` (half a transaction's
    cost), more as one transaction. False when the first item's condition was refused
    (someone got there first); any other failure raises."""
    try:
        if len(items) == 1:
            client.put_item(**items[0]["Put"])
        else:
            client.transact_write_items(TransactItems=items)
    except ClientError as err:
        if first_condition_refused(err):
            return False
        raise
    return True


def transact_once(
    client: Any, items: list[dict[str, Any]], once: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """One transaction of `items` and, with them, each `once` pair: a marker Put
    conditioned on `attribute_not_exists(pk)` and the counter ADD it guards. A pair whose
    marker exists (counted before: a duplicate, a retry, the same person again) is
    dropped and the rest tried again, so a marker never cancels `items`: all of `items`
    or none, and each pair with them or not at all. A refusal of any of `items` raises
    as `transact_write_items` does, its reasons indexed as `items` (the pairs follow).
    Markers only ever appear, so each refused try drops a pair: at most one try more
    than there are pairs."""
    pending = list(once)
    while True:
        tail = [i for pair in pending for i in pair]
        try:
            client.transact_write_items(TransactItems=[*items, *tail])
            return
        except ClientError as err:
            codes = cancellation_codes(err)
            mine, theirs = codes[: len(items)], codes[len(items) :]
            refused = {
                n // 2 for n, c in enumerate(theirs) if c == "ConditionalCheckFailed" and n % 2 == 0
            }
            if "ConditionalCheckFailed" in mine or not refused:
                raise
            pending = [p for n, p in enumerate(pending) if n not in refused]


def cancellation_codes(error: ClientError) -> list[str | None]:
    """Per-item reasons of a cancelled TransactWriteItems (None where the item was fine)."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = error.response.get("CancellationReasons") or []
    codes: list[str | None] = []
    for reason in reasons:
        code = reason.get("Code")
        codes.append(None if code in (None, "None") else str(code))
    return codes


def query_all(client: DynamoDBClient, **kwargs: Any) -> Iterator[Item]:
    """Every item of a Query, page after page."""
    return _every_page(client.query, kwargs)


def scan_all(client: DynamoDBClient, **kwargs: Any) -> Iterator[Item]:
    """Every item of a Scan (or of one parallel-scan segment), page after page."""
    return _every_page(client.scan, kwargs)


def scan_raw(client: DynamoDBClient, **kwargs: Any) -> Iterator[Item]:
    """`scan_all`'s items as DynamoDB sends them (attribute values, not converted): for a
    reader that takes a few values of many items (the nightly's columns)."""
    return _every_page(client.scan, kwargs, convert=None)


def _every_page(
    call: Callable[..., Any],
    kwargs: dict[str, Any],
    convert: Callable[[Mapping[str, Any]], Item] | None = from_item,
) -> Iterator[Item]:
    while True:
        page = call(**kwargs)
        for item in page.get("Items", []):
            yield item if convert is None else convert(item)
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def query_prefix(
    client: DynamoDBClient, table: str, pk: str, prefix: str, **kwargs: Any
) -> Iterator[Item]:
    """Every item of partition `pk` whose sort key starts with `prefix`."""
    return query_all(
        client,
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": prefix}},
        **kwargs,
    )


Position = dict[str, str]
"""Where a page ended: the key attributes (all strings) of its last item."""


def query_page(
    client: DynamoDBClient,
    *,
    limit: int,
    after: Position | None,
    partition: Mapping[str, str],
    sort_prefixes: Mapping[str, str],
    **kwargs: Any,
) -> tuple[list[Item], Position | None]:
    """One page of a Query in the table's (or index's) key order: at most `limit` items
    after the position `after` (what the page before returned), and the position of the
    last one when more follow (None on the last page). DynamoDB pages (Limit,
    ExclusiveStartKey); nothing is read past the page but one item, to know if more follow.

    `partition` holds the exact values of the partition attributes this query reads (the
    caller builds them from the caller's own shop), `sort_prefixes` the prefix every other
    key attribute has in it (the table's `pk` of a GSI item holds its shop, so give the
    shop's prefix there). A position that does not fit both, e.g. one another shop was
    given or one of another list, is an InvalidInput naming `cursor`: a cursor can never
    reach into items this query does not read."""
    names = (*partition, *sort_prefixes)
    if after is not None:
        fits = (
            set(after) == set(names)
            and all(after[k] == v for k, v in partition.items())
            and all(after[k].startswith(p) for k, p in sort_prefixes.items())
        )
        if not fits:
            raise InvalidInput("not a cursor of this list (pass it back as is)", field="cursor")
        kwargs["ExclusiveStartKey"] = {k: {"S": after[k]} for k in names}
    found: list[Item] = []
    while len(found) <= limit:
        response = client.query(**kwargs, Limit=limit + 1 - len(found))
        found.extend(from_item(i) for i in response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if not last:
            break
        kwargs["ExclusiveStartKey"] = last
    page = found[:limit]
    more = len(found) > limit
    return page, ({k: str(page[-1][k]) for k in names} if more and page else None)


def partition_page(
    client: DynamoDBClient,
    table: str,
    pk: str,
    sk_prefix: str,
    *,
    limit: int,
    after: Position | None,
    **kwargs: Any,
) -> tuple[list[Item], Position | None]:
    """`query_page` over one partition of the table's own key (`pk`), the items whose `sk`
    starts with `sk_prefix`: the key condition and the cursor check come from one place."""
    condition = "pk = :pk"
    values: dict[str, Any] = {":pk": {"S": pk}}
    if sk_prefix:
        condition += " AND begins_with(sk, :prefix)"
        values[":prefix"] = {"S": sk_prefix}
    return query_page(
        client,
        limit=limit,
        after=after,
        partition={"pk": pk},
        sort_prefixes={"sk": sk_prefix},
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        **kwargs,
    )


def batch_get_all(
    client: DynamoDBClient,
    table: str,
    keys: list[dict[str, Any]],
    *,
    consistent: bool = False,
) -> Iterator[Item]:
    """Every item of `keys` that exists: BatchGetItem in chunks of 100, with the keys
    DynamoDB left unprocessed asked for again, so none is silently missing."""
    for start in range(0, len(keys), 100):
        pending: Any = {table: {"Keys": keys[start : start + 100], "ConsistentRead": consistent}}
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(table, []):
                yield from_item(raw)
            pending = response.get("UnprocessedKeys") or {}


@dataclass
class RequestCounter:
    """Counts DynamoDB API calls made through a client (for bench/ and tests)."""

    calls: list[str] = field(default_factory=list)
    table: str | None = None
    """Count only requests that touch this table (None: every request)."""

    def attach(self, client: Any) -> RequestCounter:
        client.meta.events.register("provide-client-params.dynamodb.*", self._on_call)
        return self

    def _on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        tables = {params.get("TableName")} | set(params.get("RequestItems") or {})
        for item in params.get("TransactItems") or []:
            tables |= {op.get("TableName") for op in item.values()}
        if self.table is None or self.table in tables:
            self.calls.append(f"{model.name}:{','.join(sorted(t for t in tables if t))}")

    @property
    def count(self) -> int:
        return len(self.calls)

    def reset(self) -> None:
        self.calls.clear()
