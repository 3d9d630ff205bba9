"""`kizuna shop export` / `kizuna shop import`: one shop's whole state as JSONL.

Every table of the template is read (a Scan, filtered server-side to items that name the
shop, then classified here exactly), and every item that belongs to the shop is written
as it is stored, in DynamoDB's typed JSON (`{"S": ...}`, `{"N": "12.50"}`, `{"SS": [...]}`,
binaries base64): a Decimal stays a Decimal, a set a set. Lines are sorted (table, then
pk, sk; map keys and set members sorted), so two exports of the same state are the same
bytes.

The export streams: the Scan is read a page at a time (`page` items evaluated per
request), each page's lines are sorted and written to disk as a run (`Runs`, a temporary
directory), and the runs are merged into the file (at most `FAN_IN` open at once). What it
holds in memory is one page and one line per merged run, whatever the shop's size; the
file is the same bytes as sorting everything in memory would give.

An item belongs to a shop by its key; `owner` knows every key layout of the services
(the adapters' module docstrings list them) and refuses one it does not know, so a new
layout cannot silently be left out of a backup. Three kinds of items are not any shop's:
the journey workers' leases and daily scan claims (operational, rebuilt by the next
tick), and address suppressions (`SUPPRESS#email#<sha256>`: a bounce or complaint holds
for the address, whichever shop sent). The export carries the suppressions of the
addresses the shop's recipients have, so a restored shop does not mail a bounced
address again; the import adds them where the target has none.

Import writes only into a stack where the shop has nothing (checked first, as is every
line of the file: a bad file writes nothing), with BatchWriteItem, retrying what
DynamoDB leaves unprocessed. It streams too, reading the file twice: the first pass
checks every line holding only the previous key (the export's order makes keys strictly
increase, so a repeat is found without remembering keys) and the counts so far; the
second writes `BATCH` items at a time. The file must not change between the passes.

The analytics snapshot (S3) is derived from the tables and rebuilt by the next refresh;
LINE channel credentials (Secrets Manager) are not exported.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import ClientError

from shared.adapters.dynamodb import is_condition_failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FORMAT = "kizuna-shop-export"
VERSION = 1
TABLES = ("platform", "segmenter", "messenger", "journeys", "feedback")
"""The template's tables by their settings name (`<name>_table`), in export order."""

SHARED = "*"
"""The owner of an item every shop may need (an address suppression)."""

_BY_FIRST_SEGMENT = frozenset(
    {
        "SHOP",
        "CUST",
        "STOCK",
        "WANT",
        "USAGE",
        "STATS",
        "PEOPLE",
        "WEEK",
        "WEEKS",
        "WEEKPEOPLE",
        "PAUSED",
        "CAMPAIGN",
        "TRACK",
        "SEG",
    }
)
"""Partitions `<KIND>#<shop>[#...]`: the shop is the key's second segment."""
_BY_SORT_KEY = frozenset({"CAL", "CAMPAIGNS", "RELEASES"})
"""Shared partitions (`CAL#<MM-DD>`, `CAMPAIGNS#ACTIVE`, `RELEASES#OPEN`) whose sort key
starts with `<shop>#`."""
_NOBODYS = frozenset({"CALSCAN", "LEASE"})
"""Operational items of no shop: the daily birthday scan's claim, a due shard's lease."""
_CHUNK = 25
"""BatchWriteItem's limit."""
PAGE = 1000
"""Items one Scan request evaluates (its `Limit`): the most the export holds at once."""
FAN_IN = 64
"""Runs merged at once (a file and a line of each open)."""
BATCH = 1000
"""Items the import holds before writing them (BatchWriteItem requests of 25)."""

Key = tuple[int, str, str]
"""Where a line sorts: the table's place in `TABLES`, pk, sk."""
Line = tuple[Key, str]


class UnknownLayout(Exception):
    """An item whose key layout `owner` does not know: the backup would miss it."""


@dataclass(frozen=True)
class Refused(Exception):
    """The file or the target cannot be used; nothing was written."""

    field: str
    message: str


def owner(item: Mapping[str, Any]) -> str | None:
    """The shop an item (DynamoDB typed JSON) belongs to, `SHARED`, or None for an
    operational item of no shop."""
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    first, _, rest = pk.partition("#")
    if first in _BY_FIRST_SEGMENT and rest:
        return str(rest.split("#", 1)[0])
    if first in _BY_SORT_KEY:
        return str(sk.split("#", 1)[0])
    if first == "LINEUSER" and sk.startswith("SHOP#"):
        return str(sk.split("#", 2)[1])
    if first == "DUE" and "shop_id" in item:
        return str(item["shop_id"]["S"])
    if first == "SUPPRESS":
        return SHARED
    if first in _NOBODYS:
        return None
    raise UnknownLayout(f"no owner known for an item with pk {pk!r}: teach ops.backup.owner")


def suppression_key(channel: str, address: str) -> dict[str, Any]:
    """The messenger's suppression key of an address (as `_suppress_key` writes it)."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()
    return {"pk": {"S": f"SUPPRESS#{channel}#{digest}"}, "sk": {"S": "SUPPRESS"}}


# ----------------------------------------------------------------------------- encoding


def _canonical(value: Mapping[str, Any]) -> Any:
    """A typed attribute value as JSON: binaries base64, set members sorted."""
    kind, raw = next(iter(value.items()))
    if kind == "B":
        return {"B": base64.b64encode(bytes(raw)).decode()}
    if kind == "BS":
        return {"BS": sorted(base64.b64encode(bytes(b)).decode() for b in raw)}
    if kind == "SS":
        return {"SS": sorted(raw)}
    if kind == "NS":
        return {"NS": sorted(raw, key=Decimal)}
    if kind == "M":
        return {"M": {k: _canonical(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_canonical(v) for v in raw]}
    return {kind: raw}


def _typed(value: Mapping[str, Any]) -> Any:
    """The inverse of `_canonical`: what the low-level client takes."""
    kind, raw = next(iter(value.items()))
    if kind == "B":
        return {"B": base64.b64decode(raw, validate=True)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b, validate=True) for b in raw]}
    if kind == "M":
        return {"M": {k: _typed(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_typed(v) for v in raw]}
    if kind not in ("S", "N", "BOOL", "NULL", "SS", "NS"):
        raise ValueError(f"unknown attribute type {kind!r}")
    return {kind: raw}


def encode_line(table: str, item: Mapping[str, Any]) -> str:
    """One item as its JSONL line."""
    canonical = {k: _canonical(v) for k, v in item.items()}
    line = {"table": table, "item": canonical}
    return json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sort_key(item: Mapping[str, Any]) -> tuple[str, str]:
    return str(item["pk"]["S"]), str(item["sk"]["S"])


def _lines(table: str, items: Iterable[Mapping[str, Any]]) -> list[Line]:
    """Items as their lines, sorted as the file holds them."""
    index = TABLES.index(table)
    keyed = (((index, *_sort_key(i)), encode_line(table, i)) for i in items)
    return sorted(keyed, key=itemgetter(0))


def _unique(lines: Iterable[Line]) -> Iterator[Line]:
    """Sorted lines without repeats."""
    last: Key | None = None
    for key, line in lines:
        if key != last:
            yield key, line
        last = key


# ----------------------------------------------------------------------------- runs


class Runs:
    """Sorted runs of lines in files of a directory, merged back in key order: how the
    export sorts a shop of any size holding one page. A test injects a subclass to see
    what it is handed."""

    def __init__(self, directory: Path, fan_in: int = FAN_IN) -> None:
        if fan_in < 2:
            raise ValueError("fan_in must be at least 2")
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._fan_in = fan_in
        self._paths: list[Path] = []
        self._made = 0

    def add(self, run: Sequence[Line]) -> int:
        """Write a run the caller holds (one page's lines, sorted by key) to its own file;
        how many lines it had."""
        return self._write(run)

    def add_merged(self, other: Runs) -> int:
        """Another's runs merged into one run of these, streamed, a repeated key once (two
        recipients of the shop with one address share its suppression); how many lines."""
        return self._write(_unique(other.merged()))

    def _write(self, run: Iterable[Line]) -> int:
        path = self._directory / f"run-{self._made:08d}"
        self._made += 1
        written = 0
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            for key, line in run:
                handle.write(json.dumps(key, ensure_ascii=False) + "\t" + line + "\n")
                written += 1
        if written:
            self._paths.append(path)
        else:
            path.unlink()
        return written

    def merged(self) -> Iterator[Line]:
        """Every line added, in key order (runs merged `fan_in` at a time, on disk, until
        that many are left)."""
        while len(self._paths) > self._fan_in:
            first, self._paths = self._paths[: self._fan_in], self._paths[self._fan_in :]
            self._write(self._merge(first))
            for path in first:
                path.unlink()
        yield from self._merge(self._paths)

    def _merge(self, paths: list[Path]) -> Iterator[Line]:
        """The runs' lines in key order, one line of each held."""
        return heapq.merge(*(_read_run(p) for p in paths), key=itemgetter(0))


def _read_run(path: Path) -> Iterator[Line]:
    with path.open(encoding="utf-8", newline="\n") as handle:
        for text in handle:
            head, _, line = text.removesuffix("\n").partition("\t")
            index, pk, sk = json.loads(head)
            yield (int(index), str(pk), str(sk)), line


# ----------------------------------------------------------------------------- export


class ShopBackup:
    """Reads and writes a shop's items in the template's tables (client injected)."""

    def __init__(
        self,
        client: DynamoDBClient,
        tables: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
        page: int = PAGE,
        runs: Callable[[Path], Runs] = Runs,
        spool: Path | None = None,
        batch: int = BATCH,
    ) -> None:
        """`page`: items a Scan request evaluates; `runs`: where the export's sorted runs
        go; `spool`: the directory of their temporary folder (the system's by default);
        `batch`: items the import holds before writing them."""
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise ValueError(f"no table name for {missing}")
        if page < 1:
            raise ValueError("page must be at least 1")
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._client = client
        self._tables = dict(tables)
        self._sleep = sleep
        self._page = page
        self._runs = runs
        self._spool = spool
        self._batch = batch

    def _pages(self, table: str, shop_id: str, **extra: Any) -> Iterator[list[dict[str, Any]]]:
        """The table's items that name the shop in a key or in `shop_id` (a superset of
        its items: `owner` decides), one Scan page at a time."""
        kwargs: dict[str, Any] = {
            "TableName": self._tables[table],
            "FilterExpression": "contains(pk, :s) OR contains(sk, :s) OR shop_id = :s",
            "ExpressionAttributeValues": {":s": {"S": shop_id}},
            "ConsistentRead": True,
            "Limit": self._page,
            **extra,
        }
        while True:
            page = self._client.scan(**kwargs)
            yield page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _suppressions(self, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        addresses = {
            str(i["email"]["S"])
            for i in items
            if i["sk"]["S"] == "PROFILE" and "S" in i.get("email", {})
        }
        keys = {json.dumps(suppression_key("email", a), sort_keys=True) for a in addresses}
        found: list[dict[str, Any]] = []
        pending = [json.loads(k) for k in sorted(keys)]
        table = self._tables["messenger"]
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request: dict[str, Any] = {table: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                got = self._client.batch_get_item(RequestItems=request)
                found += got.get("Responses", {}).get(table, [])
                request = got.get("UnprocessedKeys") or {}
        return found

    def export(self, shop_id: str, out: TextIO) -> dict[str, int]:
        """Write the shop's JSONL to `out`: a header line, then one line per item, with
        the suppressions of the addresses its recipients have (in the messenger's table).
        The counts per table. Each Scan page becomes a sorted run on disk; the runs are
        merged into `out` once the counts (the header's) are known."""
        counts = dict.fromkeys(TABLES, 0)
        with tempfile.TemporaryDirectory(prefix="kizuna-export-", dir=self._spool) as tmp:
            items, shared = self._runs(Path(tmp, "items")), self._runs(Path(tmp, "shared"))
            for table in TABLES:
                for page in self._pages(table, shop_id):
                    own = [i for i in page if owner(i) == shop_id]
                    counts[table] += items.add(_lines(table, own))
                    if table == "messenger":
                        shared.add(_lines(table, self._suppressions(own)))
            counts["messenger"] += items.add_merged(shared)
            header = {"format": FORMAT, "version": VERSION, "shop": shop_id, "counts": counts}
            out.write(json.dumps(header, sort_keys=True, separators=(",", ":")) + "\n")
            for _, line in items.merged():
                out.write(line + "\n")
        return counts

    # ------------------------------------------------------------------------- import

    def holds(self, shop_id: str) -> tuple[str, str] | None:
        """Where the target already holds something of the shop (table, pk), or None."""
        for table in TABLES:
            for page in self._pages(table, shop_id, ProjectionExpression="pk, sk, shop_id"):
                for item in page:
                    if owner(item) == shop_id:
                        return table, str(item["pk"]["S"])
        return None

    def import_(self, shop_id: str, source: Callable[[], Iterable[str]]) -> dict[str, int]:
        """Write a file `export` wrote into a target where the shop has nothing, in two
        passes over it (`source` opens it afresh each time): the first checks every line
        holding nothing but the previous key and the counts; only then, and only if the
        target holds nothing of the shop, the second writes `batch` items at a time. A
        refusal writes nothing; memory does not grow with the file."""
        counts = check_export(shop_id, source())
        where = self.holds(shop_id)
        if where is not None:
            table, pk = where
            raise Refused(
                "shop",
                f"the target already holds shop {shop_id!r} ({table} table, {pk}): import "
                "only into a stack without it",
            )
        held: list[tuple[str, dict[str, Any]]] = []
        for table, item in _checked(shop_id, source()):
            if owner(item) == SHARED:
                self._put_if_absent(self._tables[table], item)
                continue
            held.append((table, item))
            if len(held) >= self._batch:
                self._write_held(held)
                held = []
        self._write_held(held)
        return counts

    def _write_held(self, held: list[tuple[str, dict[str, Any]]]) -> None:
        """One batch of the file's items (sorted: a table's items are contiguous)."""
        for table in TABLES:
            self._batch_write(self._tables[table], [i for t, i in held if t == table])

    def _batch_write(self, table: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), _CHUNK):
            request: dict[str, Any] = {
                table: [{"PutRequest": {"Item": i}} for i in items[start : start + _CHUNK]]
            }
            delay = 0.05
            while request:
                answer = self._client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if request:
                    self._sleep(delay)
                    delay = min(delay * 2, 2.0)

    def _put_if_absent(self, table: str, item: dict[str, Any]) -> None:
        """A suppression the target already has (another shop's mail bounced there too)
        stays as it is."""
        try:
            self._client.put_item(
                TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as err:
            if not is_condition_failure(err):
                raise


def check_export(shop_id: str, lines: Iterable[str]) -> dict[str, int]:
    """Check a whole export file, holding one line and the previous key: the counts per
    table (as the header has them). A `Refused` names the line."""
    counts = dict.fromkeys(TABLES, 0)
    for table, _ in _checked(shop_id, lines):
        counts[table] += 1
    return counts


def read_export(shop_id: str, lines: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The items of an export file, per table, checked (all in memory: for tests and
    small files; the import streams with `check_export`)."""
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for table, item in _checked(shop_id, lines):
        found[table].append(item)
    return found


def _checked(shop_id: str, lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The file's items in order, each checked as it is read: the header names this
    format and shop, every line is a known table and an item of the shop (or a
    suppression), keys strictly increase (as the export sorts them: so no key comes
    twice, with only the previous one held), and, once the file ends, the counts match
    the header's. A `Refused` names the line."""
    it = iter(lines)
    try:
        header = json.loads(next(it))
    except StopIteration:
        raise Refused("in", "the file is empty") from None
    except json.JSONDecodeError:
        raise Refused("in", "line 1 is not JSON: not a `kizuna shop export` file") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise Refused("in", "line 1 is not the header of a `kizuna shop export` file")
    if header.get("version") != VERSION:
        raise Refused("in", f"format version {header.get('version')!r}; this reads {VERSION}")
    if header.get("shop") != shop_id:
        raise Refused("shop", f"the file holds shop {header.get('shop')!r}, not {shop_id!r}")
    tally = dict.fromkeys(TABLES, 0)
    last: Key | None = None
    for number, text in enumerate(it, start=2):
        if not text.strip():
            continue
        table, item = _parse_line(number, text)
        try:
            belongs = owner(item)
        except (UnknownLayout, KeyError, TypeError) as err:
            raise Refused("in", f"line {number}: {err}") from None
        if belongs not in (shop_id, SHARED):
            raise Refused("in", f"line {number}: an item of another shop ({belongs!r})")
        where = (TABLES.index(table), *_sort_key(item))
        if last is not None and where == last:
            raise Refused("in", f"line {number}: a second item with the key of an earlier one")
        if last is not None and where < last:
            raise Refused(
                "in", f"line {number}: out of order (an export is sorted by table, pk, sk)"
            )
        last = where
        tally[table] += 1
        yield table, item
    if header.get("counts") != tally:
        raise Refused("in", f"the file is incomplete: header counts {header.get('counts')}")


def _parse_line(number: int, text: str) -> tuple[str, dict[str, Any]]:
    try:
        line = json.loads(text)
        table, raw = line["table"], line["item"]
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        item = {str(k): _typed(v) for k, v in raw.items()}
        if not isinstance(item["pk"].get("S"), str) or not isinstance(item["sk"].get("S"), str):
            raise ValueError("pk and sk must be strings")
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as err:
        raise Refused("in", f"line {number}: not an exported item ({err})") from None
    return str(table), item
