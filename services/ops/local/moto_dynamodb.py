"""DynamoDB's guarantees on moto: isolated, atomic transactions without a copy of the table.

The local stack and the in-process tests run DynamoDB on moto. moto 5.2.5 breaks two of
DynamoDB's promises that Kizuna's exactly-once sending and its frequency cap stand on,
and its memory grows with the square of the data:

1. No isolation. moto serves requests on several threads (the server's, or the test's
   own) and nothing serialises them: a conditional write and a transaction interleave, and
   a scan that walks a table while another thread writes raises `RuntimeError: dictionary
   changed size during iteration`.
2. Rollback by copy. `DynamoDBBackend.transact_write_items` deep-copies every table it
   touches before it starts, and on a cancelled transaction puts the copy back, which
   also wipes every write other requests made meanwhile.
3. Every model object is kept. `moto.core.common_models.BaseModel.__new__` appends each
   instance to its class's `instances_tracked` list (for `/moto-api/data.json`), so every
   `Item` ever written, every item copied by `update_item` and every table copy above lives
   until moto is reset.

`install()` mends the three, each where moto does it:

- `DynamoHandler.call_action` (moto.dynamodb.responses) is where every DynamoDB API call
  enters the backend, in server mode and in-process alike: one re-entrant lock around it
  makes each call atomic and isolated from the others, as DynamoDB's are.
- `DynamoDBBackend.transact_write_items` (moto.dynamodb.models) is wrapped: before moto
  applies the operations, the wrapper keeps a copy of each item the transaction names
  (or that it is absent), and if moto cancels the transaction it puts back only those
  items. moto's own copy of whole tables is skipped by giving that module a `copy` whose
  `deepcopy` returns a `Table` itself (moto then "restores" the same object, a no-op);
  every other deep copy is the real one.
- `Item.__new__` and `StreamRecord.__new__` skip `BaseModel.__new__`'s append to
  `instances_tracked` (moto.core.common_models). DynamoDB items are then absent from
  `/moto-api/data.json`, which Kizuna reads only for sent mail (SES).

A fourth change is for speed only: moto 5.2 serialises every answer through a generic,
shape-walking serializer (`BaseResponse.serialized`), about 25 µs per attribute, which
made reading a customer profile cost more than the rest of an order's ingest. The item
operations' results are already in DynamoDB's wire shape, so `DynamoHandler.serialized`
answers them with `json.dumps`; a test checks both give the same JSON. And
requests are read the same way: moto 5.2 parses every request body by walking the
operation's shape (`BaseResponse.parse_parameters`, moto.core.parse), which for an item
operation only copies what `json.loads` gave it, except base64 blobs (`B`, `BS`) and
`null` members it drops; an item operation's body without either is taken as
`json.loads` gives it (a test checks both give the same parameters; a body where the
markers only appear inside strings, such as an outbox event's JSON, is checked member by
member while it is read). And
`Item.__init__` checked the 400 KB limit by re-measuring the whole item after each
attribute (`LimitedSizeDict.__setitem__`, quadratic in the attributes); the patched one
measures the item once, with the same limit and error, and only when the length of its
attributes' JSON (never less than moto's measure: `DynamoType.size` counts names, string
bytes and number digits, all of which its UTF-8 JSON holds) is over the limit: walking
every attribute of a profile was a sixth of an import's time in moto. moto's type checks
(`Table._validate_item_types`) are untouched. The undo below copies an item only for an
`Update`, which moto applies in place; for a `Put` or `Delete` (`Table.put_item` stores a
new `Item`, `Table.delete_item` pops it) it keeps the stored object itself, which nothing
changes afterwards (copying each profile was a tenth of an import's time).
`DynamoType.size` is moto's own measure without building a `DynamoType` per set member
and a copy per map value (a test compares it with moto's on every type; `BatchGetItem`
measures each item it answers twice for its 16 MB limit).
`DynamoDBBackend.update_item` deep-copies the item it updates, only to hand the old
image to the table's stream; on a table without a stream (none of Kizuna's has one) the
module's `copy.deepcopy` hands back the item itself (the answers' old images are copied
by `DynamoHandler.update_item`, which is untouched). Update expressions are parsed once
per spelling, like condition expressions (`_parse_updates_once`).

Queries: moto 5.2's `Table.query` walks and sorts every item of the table for each
query, on the table and on an index alike, so each query grew with the data (a shop's
history made every messenger read a full scan). The patched one hands moto only the
items of the queried hash key: on the table, `Table.items[hash]`; on an index, a
bucket of primary keys per index hash value, built on the table's first index query
and kept by each write (`Table.put_item`, `Table.delete_item`, the in-place
`DynamoDBBackend.update_item`, the undo above). moto still applies every condition,
sort, page and projection to those items; a test compares the answers with moto's own
walk after every kind of write. With a sort key condition, moto's walk still measured
and sorted the whole bucket (every `due_at <= now` poll of a journeys shard read all of the
shard's waiting enrolments): an index with one sort key keeps each bucket in moto's own
query order (`Table._generate_attr_to_sort_by`: the index's sort key, then the table's
hash and range keys), and a query hands moto only the bucket's entries inside its sort
key condition, found by bisection, and the entry on either side (moto looks one item past
a full page before it answers a LastEvaluatedKey), as a table query does.

And `BaseResponse.call_action` (moto.core.responses) listed the handler's method names
with `inspect.getmembers` on every request: the module's `method_names_from_class` is
replaced by one that lists `DynamoHandler`'s once (after the patches above are in place)
and every other class's as before.

Items at rest as JSON: moto holds each item as an `Item` whose `attrs` is a dict of
`DynamoType` objects, one per attribute and per list or map member, about 3.8 KB for an
order of 450 bytes of JSON; a shop's history of 360,000 items took 1.35 GB. The patched
`Item.__init__` keeps the item's wire attributes as compact UTF-8 JSON instead (the JSON
it already made for the size bound above), and `Item.attrs` becomes a property that
decodes them into moto's own `LimitedSizeDict` of `DynamoType`s on first use, so every
moto code path sees what it always saw. When the call ends (`call_action`, or an
`exclusive()` block), each item it decoded rests packed again: after a write it is
packed from its attributes (moto changes items in place: `update_item`, the undo), after
a pure read (`GetItem`, `BatchGetItem`, `Query`, `Scan`, `TransactGetItems`: none
assigns to an item) the decoded form is dropped; a read that decodes more than
`_DECODED_IN_A_READ` items (a scan, the nightly's whole-index query) drops them as it
goes, so no call holds the decoded table. Items whose attributes JSON does not give back
the same (blobs, values moto computed such as a Python set) stay decoded, as before. A
snapshot writes the packed JSON as it is (`stored_items_json`, no item decoded), the
undo of an `Update` keeps the packed JSON rather than a deep copy, and the index buckets
read the key attributes from it. moto internals this relies on: `Item.attrs` is an
instance attribute, set by `Item.__init__` and by `Item.__deepcopy__` on the copy, and
`Item` has no `__slots__` (`_packing_problems`).

`check_compatible()` fails loudly when a moto upgrade changes any of these, and the
project pins the moto version this was written against.

Upstream: the fix belongs in moto (getmoto/moto, "DynamoDB: TransactWriteItems deep-copies
whole tables for rollback; concurrent requests race"): keep an undo log of the touched
items instead of `copy.deepcopy(table)`, and hold a backend lock per request, as the
SQS backend already does for its queues. This module is written so that the proposal
is the same two changes.
"""

from __future__ import annotations

import bisect
import copy as _real_copy
import functools
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto release whose internals this module was checked against."""

_lock = threading.RLock()
_updating = threading.local()
"""`streamless`: an `update_item` on a table without a stream is running in this thread
(its copy of the old item would never be read)."""
_MALFORMED = object()
_installed = False

Journal = Callable[[Any], None]
"""Called with moto's `DynamoHandler` after a DynamoDB call that changed state succeeded."""
_journal: Journal | None = None
_requests: dict[str, int] = {}
"""DynamoDB calls moto served in this process, by operation (`request_counts`)."""
_PLAIN_JSON_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
"""Item operations whose results moto already holds in DynamoDB's wire shape."""
_ITEM_SIZE_LIMIT = 405_000
"""moto's own limit for an item (DynamoDB's 400 KB, as moto measured it)."""
_moto_size: Callable[[Any], int] | None = None
"""moto's own `DynamoType.size`, which `_measure_items_once` replaces."""
_generic_serialized: Callable[[Any, Any], Any] | None = None
"""moto's own serializer, which the fast path replaces for item operations."""
_READ_ACTIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "ExecuteStatement"}
)
_PURE_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
"""Calls that read items and never change one (their decoded items are dropped unpacked)."""
_decoded: list[Any] = []
"""Stored items whose attributes were decoded since the last call ended (packed again then)."""
_call = threading.local()
"""`reading`: a call of `_PURE_READS` runs in this thread."""
_depth = 0
"""Calls (and `exclusive()` blocks) running, nested in this thread under `_lock`."""
_DECODED_IN_A_READ = 2048
"""Items a read call keeps decoded at once (a scan or a whole-index query decodes each)."""
_DynamoType: Any = None
"""moto's `DynamoType`, once installed."""


class MotoInternalsChanged(RuntimeError):
    """moto no longer looks the way this module relies on: re-check it before upgrading."""


def _untracked_new(cls: type, *_args: Any, **_kwargs: Any) -> Any:
    """`BaseModel.__new__` without the append to `instances_tracked`."""
    return object.__new__(cls)


def check_compatible() -> None:
    """Raise `MotoInternalsChanged` unless moto is the release and shape this relies on."""
    import moto
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord, Table

    problems = []
    if moto.__version__ != MOTO_VERSION:
        problems.append(f"moto is {moto.__version__}, this module was checked on {MOTO_VERSION}")
    for name in ("call_action", "serialized", "_get_action", "parse_parameters"):
        if not callable(getattr(ddb_responses.DynamoHandler, name, None)):
            problems.append(f"DynamoHandler.{name} is gone")
    backend = ddb_models.DynamoDBBackend
    for name in ("transact_write_items", "get_table", "get_keys_value"):
        if not callable(getattr(backend, name, None)):
            problems.append(f"DynamoDBBackend.{name} is gone")
    if getattr(ddb_models, "copy", None) not in (_real_copy,) and not _installed:
        problems.append("moto.dynamodb.models no longer imports `copy` as a module")
    for cls in (Item, StreamRecord):
        if not isinstance(getattr(cls, "instances_tracked", None), list):
            problems.append(f"{cls.__name__}.instances_tracked is not a list")
    if "items" not in Table.__init__.__code__.co_names:
        problems.append("Table keeps its items elsewhere than Table.items")
    problems += _query_problems(Table, backend)
    problems += _undo_and_size_problems(Table, backend)
    problems += _update_parser_problems()
    problems += _update_copy_problems()
    problems += _packing_problems(Item)
    from moto.core import responses as core_responses
    from moto.core.models import botocore_stubber

    if not callable(getattr(core_responses, "method_names_from_class", None)) or (
        "method_names_from_class" not in core_responses.BaseResponse.call_action.__code__.co_names
    ):
        problems.append("BaseResponse.call_action no longer finds methods by name")

    if not callable(getattr(botocore_stubber, "process_request", None)):
        problems.append("botocore_stubber.process_request is gone (ops.local.moto_client)")
    if problems:
        raise MotoInternalsChanged("; ".join(problems))


def _undo_and_size_problems(table: type, backend: type) -> list[str]:
    """What the undo's kept references and the item size bound rely on, if it changed."""
    import inspect

    from moto.dynamodb.models.dynamo_type import DynamoType

    problems = []
    put = inspect.unwrap(table.put_item)  # type: ignore[attr-defined]
    if "Item" not in put.__code__.co_names:
        problems.append("Table.put_item no longer stores a new Item (the undo keeps the old)")
    delete = inspect.unwrap(table.delete_item)  # type: ignore[attr-defined]
    if "pop" not in delete.__code__.co_names:
        problems.append("Table.delete_item no longer pops the Item (the undo keeps it)")
    transact = inspect.unwrap(backend.transact_write_items)  # type: ignore[attr-defined]
    kinds = {c for c in transact.__code__.co_consts if isinstance(c, frozenset)}
    if frozenset({"ConditionCheck", "Put", "Delete", "Update"}) not in kinds:
        problems.append("TransactWriteItems has other operations than the undo knows")
    size = inspect.getsource(_moto_size or DynamoType.size)  # moto's, even once replaced
    if not all(part in size for part in ("len(str(self.value))", "bytesize(k)", "bytesize(")):
        problems.append("DynamoType.size measures differently (the JSON bound may not hold)")
    return problems


def _packing_problems(item: type) -> list[str]:
    """What `_keep_items_packed` relies on: `Item.attrs` is an instance attribute (so a
    property can stand in for it), set by `__init__` and by `__deepcopy__` on the copy."""
    import inspect

    problems = []
    if "__slots__" in vars(item):
        problems.append("Item has __slots__ (the packed form needs instance attributes)")
    attrs = vars(item).get("attrs")
    if attrs is not None and not (_installed and isinstance(attrs, property)):
        problems.append("Item.attrs is a class attribute (the packed form's property)")
    if "result.attrs = attrs_copy" not in inspect.getsource(item.__deepcopy__):  # type: ignore[attr-defined]
        problems.append("Item.__deepcopy__ no longer sets the copy's attrs")
    if not _installed and "attrs" not in vars(item)["__init__"].__code__.co_names:
        problems.append("Item.__init__ no longer sets self.attrs")
    return problems


def _update_copy_problems() -> list[str]:
    """`update_item` copies the old item only for a stream record (the copy is skipped
    on a table without a stream)."""
    import inspect

    from moto.dynamodb.models import DynamoDBBackend

    source = inspect.getsource(inspect.unwrap(DynamoDBBackend.update_item))
    uses = [line.strip() for line in source.splitlines() if "orig_item" in line]
    if (
        uses
        != [
            "orig_item = copy.deepcopy(item)",
            "table.stream_shard.add(orig_item, item)",
        ]
        or "if table.stream_shard is not None:" not in source
    ):
        return ["DynamoDBBackend.update_item uses its copy of the old item for more than a stream"]
    return []


def _update_parser_problems() -> list[str]:
    """What `_parse_updates_once` relies on: the two modules call
    `UpdateExpressionParser.make`, and the validator copies the tree before changing it."""
    import inspect

    from moto.dynamodb import models as ddb_models
    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.parsing import validators

    problems = []
    if not _installed:
        for module in (ddb_models, ddb_responses):
            if not callable(getattr(getattr(module, "UpdateExpressionParser", None), "make", None)):
                problems.append(f"{module.__name__} no longer uses UpdateExpressionParser")
    if "deepcopy(expression)" not in inspect.getsource(validators.Validator.__init__):
        problems.append("moto's Validator no longer copies the update tree before changing it")
    return problems


def _query_problems(table: type, backend: type) -> list[str]:
    """What `_query_through_keys` relies on, if it changed."""
    import inspect

    problems = []
    query_parameters = inspect.signature(table.query).parameters  # type: ignore[attr-defined]
    for name in ("hash_key", "index_name", "hash_key_conditions"):
        if name not in query_parameters:
            problems.append(f"Table.query has no parameter {name}")
    if "all_items" not in inspect.unwrap(table.query).__code__.co_names:  # type: ignore[attr-defined]
        problems.append("Table.query no longer reads Table.all_items")
    delete = list(inspect.signature(table.delete_item).parameters)  # type: ignore[attr-defined]
    if delete != ["self", "hash_key", "range_key"]:
        problems.append("Table.delete_item's parameters changed")
    if not callable(getattr(backend, "update_item", None)):
        problems.append("DynamoDBBackend.update_item is gone")
    order = getattr(table, "_generate_attr_to_sort_by", None)
    if not callable(order) or order(None, ["g", "pk"], ["gs", "sk"]) != ["g", "gs", "pk", "sk"]:
        problems.append("an index query no longer orders by sort key, then the table's keys")
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.models import table as table_module

    for module in (ddb_models, table_module):
        if not callable(getattr(module, "get_filter_expression", None)):
            problems.append(f"{module.__name__} no longer imports get_filter_expression")
    if not callable(getattr(ddb_responses, "create_condition_expression_parser", None)):
        problems.append("DynamoHandler no longer parses through create_condition_expression_parser")
    return problems


def request_counts() -> dict[str, int]:
    """The DynamoDB calls served since the patch was installed, by operation (`Query`,
    `TransactWriteItems`, ...): what a bench divides by the work it did."""
    with _lock:
        return dict(_requests)


def install() -> None:
    """Patch moto's DynamoDB in this process (idempotent). Call before any request."""
    global _installed  # noqa: PLW0603 - the patch is process-wide, as moto's backends are
    with _lock:
        if _installed:
            return
        check_compatible()
        global _DynamoType  # noqa: PLW0603 - moto's class, read by the packing helpers
        from moto.dynamodb.models.dynamo_type import DynamoType

        _DynamoType = DynamoType
        _serialise_calls()
        _answer_items_as_json()
        _read_items_as_json()
        _undo_transactions_item_by_item()
        _measure_items_once()
        _query_through_keys()
        _parse_conditions_once()
        _parse_updates_once()
        _keep_no_model_objects()
        _keep_items_packed()
        _list_handler_methods_once()
        _installed = True


def _serialise_calls() -> None:
    """One DynamoDB call at a time, journaled (if asked) once applied."""
    from moto.dynamodb.responses import DynamoHandler

    original_call = DynamoHandler.call_action

    @functools.wraps(original_call)
    def call_action(self: Any) -> Any:
        action = self._get_action()
        with _lock, _call_scope(reading=action in _PURE_READS):
            _requests[action] = _requests.get(action, 0) + 1
            response = original_call(self)
            if _journal is not None and _changed_state(self, response):
                _journal(self)
            return response

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _answer_items_as_json() -> None:
    """Item operations answered with `json.dumps` instead of moto's generic serializer."""
    global _generic_serialized  # noqa: PLW0603 - kept for the equivalence test
    from moto.dynamodb.responses import DynamoHandler

    original_serialized = DynamoHandler.serialized
    _generic_serialized = original_serialized

    @functools.wraps(original_serialized)
    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in _PLAIN_JSON_ACTIONS:
            try:
                body = json.dumps(result)
            except (TypeError, ValueError):
                pass  # binary attributes: moto's serializer base64-encodes them
            else:
                headers = {"Content-Type": "application/x-amz-json-1.0"}
                headers.update(self.response_headers)
                return 200, headers, body
        return original_serialized(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


_NEEDS_SHAPE_PARSER = (b'"B"', b'"BS"', b"null")
"""What only moto's parser reads right: blobs (base64-decoded) and null members (dropped).
Found anywhere, even inside a string, the body goes the generic way (slower, same)."""
_generic_parse: Callable[[Any, Any], None] | None = None
"""moto's own request parser, which the fast path skips for item operations."""


class _NeedsShapeParser(Exception):
    """A body with a blob or a null member: only moto's parser reads it right."""


def _plain_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object of a body that had a marker: refused if the marker is real (a
    `B`/`BS` member, a null value), not text inside a string."""
    for key, value in pairs:
        if value is None or key in ("B", "BS"):
            raise _NeedsShapeParser
    return dict(pairs)


def _read_items_as_json() -> None:
    """Item operations' bodies read with `json.loads` instead of moto's shape walker."""
    global _generic_parse  # noqa: PLW0603 - kept for the equivalence test
    from moto.dynamodb.responses import DynamoHandler

    original_parse = DynamoHandler.parse_parameters
    _generic_parse = original_parse

    @functools.wraps(original_parse)
    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if isinstance(body, bytes) and body and self._get_action() in _PLAIN_JSON_ACTIONS:
            if not any(marker in body for marker in _NEEDS_SHAPE_PARSER):
                self.params = json.loads(body)
                return
            try:  # a marker, maybe only inside a string (an event's JSON in an item)
                self.params = json.loads(body, object_pairs_hook=_plain_object)
            except _NeedsShapeParser:
                pass
            else:
                return
        _generic_parse(self, request)  # moto's own (a test may wrap it to count)

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]


def _undo_transactions_item_by_item() -> None:
    """No table copy before a transaction; a cancelled one puts back only its items."""
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value  # the transaction wrapper below undoes item by item
        if isinstance(value, Item) and getattr(_updating, "streamless", False):
            return value  # `update_item`'s old image, read only for a stream record
        return _real_copy.deepcopy(value, memo)

    ddb_models.copy = SimpleNamespace(deepcopy=deepcopy, copy=_real_copy.copy)  # type: ignore[attr-defined,assignment]

    backend = ddb_models.DynamoDBBackend
    original_transact = backend.transact_write_items

    @functools.wraps(original_transact)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        undo = _touched_items(self, transact_items)
        try:
            original_transact(self, transact_items)
        except BaseException:
            _restore(undo)
            raise

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _measure_items_once() -> None:
    """`Item.__init__` with one size check instead of one per attribute; attribute names
    and type tags interned (`DynamoType.__init__` too, for the names inside maps)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        packed = _pack_wire(attrs)
        if packed is not None and len(packed) <= _ITEM_SIZE_LIMIT:
            self._packed = packed  # at rest as JSON (`_keep_items_packed`)
            self._attrs = None
            return
        converted = {_intern(key): DynamoType(value) for key, value in attrs.items()}
        # Over the limit as JSON, or not plain JSON: may be too large, measure as moto does.
        size = sum(bytesize(key) + value.size() for key, value in converted.items())
        if size > _ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        if packed is not None:
            self._packed = packed
            self._attrs = None
            return
        self.attrs = LimitedSizeDict(converted)  # dict.update: no per-key re-check

    Item.__init__ = item_init  # type: ignore[method-assign]

    original_init = DynamoType.__init__

    def dynamo_init(self: Any, type_as_dict: Any) -> None:
        if type(type_as_dict) is not dict or not type_as_dict:
            original_init(self, type_as_dict)  # a copy of a DynamoType, or moto's error
            return
        first, value = next(iter(type_as_dict.items()))  # the first, as moto takes it
        kind = _intern(first)
        if kind == "L":
            value = [DynamoType(v) for v in value]
        elif kind == "M":
            value = {_intern(k): DynamoType(v) for k, v in value.items()}
        self.type = kind
        self.value = value

    DynamoType.__init__ = dynamo_init  # type: ignore[method-assign]

    global _moto_size  # noqa: PLW0603 - kept for the equivalence test
    _moto_size = DynamoType.size

    def member_size(sub: str, member: Any) -> int:
        if sub == "N":
            return len(str(member))
        return 1 if isinstance(member, bool) else bytesize(member)

    def size(self: Any) -> int:
        """moto's `DynamoType.size`, without building a `DynamoType` per set member and
        a copy per map value (`BatchGetItem` measures each item it answers twice)."""
        kind, value = self.type, self.value
        if kind == "N":
            return len(str(value))
        if kind in ("SS", "NS", "BS"):
            return sum(member_size(kind[0], member) for member in value)
        if kind == "L":
            return sum(member.size() for member in value)
        if kind == "M":
            return sum(
                bytesize(k) + (v if type(v) is DynamoType else DynamoType(v)).size()
                for k, v in value.items()
            )
        if isinstance(value, bool):
            return 1
        return bytesize(value)

    DynamoType.size = size  # type: ignore[method-assign]


def _pack_wire(attrs: dict[str, Any]) -> bytes | None:
    """An item's wire attributes as compact UTF-8 JSON, or None when they are not plain
    JSON (binary values) or not shaped as `DynamoType` reads them (moto's own path then
    raises as before). Its length is an upper bound of moto's `DynamoType.size()` sum:
    every name, string (as UTF-8 bytes), number and set member is in it, with quotes."""
    if not all(type(key) is str and _well_formed(value) for key, value in attrs.items()):
        return None
    try:
        return json.dumps(attrs, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError):  # bytes, or a lone surrogate that UTF-8 cannot hold
        return None


def _well_formed(value: Any) -> bool:
    """A wire attribute value that `DynamoType(value)` reads without an error, the same
    before and after a JSON round trip (plain JSON: no bytes, no sets)."""
    if type(value) is not dict or not value:
        return False
    kind, inner = next(iter(value.items()))
    if kind in ("B", "BS"):
        return False  # moto reads blobs as bytes: kept decoded
    if kind == "L":
        return type(inner) is list and all(_well_formed(member) for member in inner)
    if kind == "M":
        return type(inner) is dict and all(
            type(k) is str and _well_formed(v) for k, v in inner.items()
        )
    return True


class _NotPlain(Exception):
    """Decoded attributes that JSON would not give back the same (kept decoded)."""


def _wire(value: Any) -> dict[str, Any]:
    """A `DynamoType` back in its wire shape, for `_pack_attrs`."""
    if type(value) is not _DynamoType:
        raise _NotPlain
    kind, inner = value.type, value.value
    if kind == "L":
        if type(inner) is not list:
            raise _NotPlain
        return {kind: [_wire(member) for member in inner]}
    if kind == "M":
        if type(inner) is not dict:
            raise _NotPlain
        return {kind: {name: _wire(member) for name, member in inner.items()}}
    if kind in ("B", "BS") or type(inner) not in (str, bool, list):
        raise _NotPlain  # blobs, or values moto computed (a set, a Decimal)
    if type(inner) is list and not all(type(member) is str for member in inner):
        raise _NotPlain
    return {kind: inner}


def _pack_attrs(attrs: dict[str, Any]) -> bytes | None:
    """Decoded attributes packed again, or None when JSON would not give them back."""
    try:
        wire = {name: _wire(value) for name, value in attrs.items()}
    except _NotPlain:
        return None
    return _pack_wire(wire)


def _decode(packed: bytes) -> Any:
    """Packed attributes as moto holds them: a `LimitedSizeDict` of `DynamoType`s."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    return LimitedSizeDict(
        {_intern(name): _DynamoType(value) for name, value in json.loads(packed).items()}
    )


def _rest_decoded(changed: bool) -> None:
    """Pack again the items decoded since the last call ended, and drop their decoded
    attributes. `changed`: the call may have changed them (a write), so they are packed
    from their attributes; after a pure read the packed form they came from still holds."""
    global _decoded  # swapped whole, under `_lock`
    items, _decoded = _decoded, []
    for item in items:
        attrs = item._attrs
        if attrs is None:
            continue
        if changed or item._packed is None:
            packed = _pack_attrs(attrs)
            item._packed = packed
            if packed is None:
                continue  # binary or computed values: the decoded form is the only one
        item._attrs = None


def _keep_items_packed() -> None:
    """`Item.attrs` as a property over the packed JSON (see the module's docstring)."""
    from moto.dynamodb.models.dynamo_type import Item

    def get_attrs(self: Any) -> Any:
        found = getattr(self, "_attrs", None)
        if found is not None:
            return found
        packed = getattr(self, "_packed", None)
        if packed is None:
            if "attrs" in self.__dict__:  # an item made before `install()`
                return self.__dict__["attrs"]
            raise AttributeError("attrs")
        found = self._attrs = _decode(packed)
        _decoded.append(self)
        if getattr(_call, "reading", False) and len(_decoded) > _DECODED_IN_A_READ:
            _rest_decoded(changed=False)  # the caller keeps `found`; others decode again
        return found

    def set_attrs(self: Any, attrs: Any) -> None:
        self._attrs = attrs  # a new item (moto's copy): its own attributes
        self._packed = None

    Item.attrs = property(get_attrs, set_attrs)  # type: ignore[assignment]


def _resting(item: Any) -> bytes | None:
    """The item's packed JSON if it rests packed (not decoded), else None. (Read as
    attributes: touching `__dict__` would give each item a dict of its own.)"""
    if getattr(item, "_attrs", None) is not None:
        return None
    packed: bytes | None = getattr(item, "_packed", None)
    return packed


def stored_items_json(table: Any) -> Iterator[bytes]:
    """Each item of a moto table as its attributes' UTF-8 JSON, from the packed form (no
    item decoded, no list of the table: a snapshot of a shop's history had every item
    decoded at once). Call it inside `exclusive()`."""
    for bucket in table.items.values():
        for item in bucket.values() if table.range_key_attr else (bucket,):
            packed = _resting(item)
            if packed is None:
                attrs = item.to_json()["Attributes"]
                packed = json.dumps(attrs, ensure_ascii=False).encode("utf-8")
            yield packed


def _key_values(item: Any, names: list[str]) -> tuple[Any, ...]:
    """`_values` of an item's attributes `names`, read from its packed JSON when it rests
    packed (building an index decodes no item)."""
    packed = _resting(item)
    if packed is not None:
        wire = json.loads(packed)
        return _values(_DynamoType(wire[name]) if name in wire else None for name in names)
    return _values(item.attrs.get(name) for name in names)


class _SecondaryIndexes:
    """Each secondary index of one table as hash-key value -> primary keys of the items
    that have it, built on the table's first index query and kept up by every write;
    for an index with one sort key, each bucket is also kept in moto's query order (sort
    key, then the table's keys), so a query with a sort key condition finds its range by
    bisection.

    A candidate list, not an answer: moto still checks each candidate against the key
    conditions, so a stale entry only costs a check. What must never happen is an item
    missing from its bucket; every way moto changes an item goes through `refresh`
    (`Table.put_item`, `Table.delete_item`, `DynamoDBBackend.update_item`, the undo of a
    cancelled transaction), and a table whose `items` dict or index list was replaced
    is rebuilt."""

    def __init__(self, table: Any) -> None:
        self.items = table.items
        self.shape = self.shape_of(table)
        self.hash_names = {
            index.name: [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            for index in table.all_indexes()
        }
        self.range_names = {
            index.name: [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            for index in table.all_indexes()
        }
        self.buckets: dict[str, dict[tuple[Any, ...], dict[tuple[Any, Any], None]]] = {
            name: {} for name in self.hash_names
        }
        self.ordered: dict[str, dict[tuple[Any, ...], list[tuple[Any, ...]] | None]] = {
            name: {} for name, ranges in self.range_names.items() if len(ranges) == 1
        }
        """Per bucket: (sort key value, table hash key, table range key, primary key) in
        moto's query order, or None once two of its values could not be compared (a
        mixed-type sort key: such a bucket is handed whole to moto, as before)."""
        self.placed: dict[tuple[Any, Any], tuple[tuple[str, tuple[Any, ...], Any], ...]] = {}
        self.shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        """One tuple per index key value, shared by every item that has it."""
        for bucket in table.items.values():
            for item in bucket.values() if table.range_key_attr else (bucket,):
                self.place(item)

    @staticmethod
    def shape_of(table: Any) -> tuple[Any, ...]:
        return tuple(
            (index.name, tuple((k["AttributeName"], k["KeyType"]) for k in index.schema))
            for index in table.all_indexes()
        )

    def place(self, item: Any) -> None:
        pk = (item.hash_key, item.range_key)
        spots = []
        for name, attrs in self.hash_names.items():
            values = _key_values(item, attrs)
            if not attrs or None in values or not _hashable(values):
                continue  # not in the index, or a value no key condition can equal
            values = self.shared.setdefault(values, values)
            self.buckets[name].setdefault(values, {})[pk] = None
            entry = self._order(name, values, item, pk)
            spots.append((name, values, entry))
        if spots:
            self.placed[pk] = tuple(spots)

    def _order(self, name: str, values: tuple[Any, ...], item: Any, pk: Any) -> Any:
        """The item's place in its bucket's query order (None: not in that order)."""
        ordered = self.ordered.get(name)
        if ordered is None:
            return None
        (sort_value,) = _key_values(item, [self.range_names[name][0]])  # decodes no item
        if sort_value is None:
            return None  # moto leaves an item without the index's sort key out
        entry = (sort_value[1], *_table_order(item), pk)
        entries = ordered.setdefault(values, [])
        if entries is not None:
            try:
                bisect.insort(entries, entry)
            except TypeError:  # values that do not compare: the bucket is handed whole
                ordered[values] = None
        return entry

    def refresh(self, table: Any, hash_key: Any, range_key: Any) -> None:
        pk = (hash_key, range_key)
        for name, values, entry in self.placed.pop(pk, ()):
            bucket = self.buckets[name].get(values)
            if bucket is not None:
                bucket.pop(pk, None)
                if not bucket:
                    del self.buckets[name][values]
                    self.shared.pop(values, None)
            ordered = self.ordered.get(name)
            if ordered is not None and entry is not None:
                entries = ordered.get(values)
                if entries is not None:
                    at = bisect.bisect_left(entries, entry)
                    if at < len(entries) and entries[at] == entry:
                        del entries[at]
                if not entries and values not in self.buckets[name]:
                    ordered.pop(values, None)
        item = _stored(table, hash_key, range_key)
        if item is not None:
            self.place(item)

    def candidates(
        self, table: Any, name: str, values: tuple[Any, ...], arguments: dict[str, Any]
    ) -> list[Any]:
        keys: Iterable[tuple[Any, Any]] = self.buckets[name].get(values, {})
        entries = self.ordered.get(name, {}).get(values)
        if entries is not None:
            found = _in_sorted_range(entries, self.range_names[name][0], arguments)
            if found is not None:
                keys = found
        items = []
        for hash_key, range_key in keys:
            item = _stored(table, hash_key, range_key)
            if item is not None:
                items.append(item)
        return items


def _table_order(item: Any) -> tuple[Any, ...]:
    """The table's keys as moto orders an index query's ties (hash key, then range key)."""
    if item.range_key is None:
        return (_cast(item.hash_key),)
    return (_cast(item.hash_key), _cast(item.range_key))


def _in_sorted_range(
    entries: list[tuple[Any, ...]], sort_name: str, arguments: dict[str, Any]
) -> list[tuple[Any, Any]] | None:
    """The primary keys of an index bucket (in query order) inside the query's sort key
    condition, and the nearest entry on either side of that range (moto looks one item
    past a full page before it answers a LastEvaluatedKey), or None when the bucket is
    to be handed whole (no sort key condition, another shape, a type it cannot bisect)."""
    comparison = arguments.get("range_comparison")
    conditions = arguments.get("range_key_conditions") or []
    if not comparison or arguments.get("filter_kwargs") or len(conditions) > 1:
        return None
    if conditions and conditions[-1][0] != sort_name:
        return None
    bounds = [_cast(bound) for bound in arguments.get("range_objs") or []]
    if not entries:
        return []
    kind = type(entries[0][0])
    if not bounds or any(type(b) is not kind for b in bounds) or kind not in _BISECTABLE:
        return None
    block = _block(entries, comparison, bounds)
    if block is None:
        return None
    first, last = block
    if first >= last:
        return []
    return [entry[-1] for entry in entries[max(first - 1, 0) : last + 1]]


def _block(
    entries: list[tuple[Any, ...]], comparison: str, bounds: list[Any]
) -> tuple[int, int] | None:
    """(first, last): the entries whose sort key value meets the condition, by bisection
    (they are next to each other in query order), or None for a condition it cannot find
    so."""

    def value(entry: tuple[Any, ...]) -> Any:
        return entry[0]

    (low, *rest), size = bounds, len(entries)
    left = functools.partial(bisect.bisect_left, entries, key=value)
    right = functools.partial(bisect.bisect_right, entries, key=value)
    if comparison in ("=", "EQ"):
        return left(low), right(low)
    if comparison in ("<", "LT"):
        return 0, left(low)
    if comparison in ("<=", "LE"):
        return 0, right(low)
    if comparison in (">", "GT"):
        return right(low), size
    if comparison in (">=", "GE"):
        return left(low), size
    if comparison == "BETWEEN" and rest:
        return left(low), right(rest[0])
    if comparison == "BEGINS_WITH" and not isinstance(low, Decimal):
        first = last = left(low)
        while last < size and entries[last][0].startswith(low):
            last += 1
        return first, last
    return None


_BISECTABLE = (str, bytes, Decimal)
"""What moto compares a sort key as (`_cast`): strings, numbers (`Decimal`), binaries."""


def _values(dynamo_values: Iterable[Any]) -> tuple[Any, ...]:
    """Bucket keys as plain tuples (`DynamoType` compares and hashes as its type and cast
    value; a tuple of those cannot change under the bucket if moto edits the object)."""
    return tuple(None if v is None else (v.type, v.cast_value) for v in dynamo_values)


def _hashable(values: tuple[Any, ...]) -> bool:
    try:
        hash(values)
    except TypeError:  # a set, list or map: never a key attribute's type
        return False
    return True


def _stored(table: Any, hash_key: Any, range_key: Any) -> Any:
    """The item under this primary key in moto's `Table.items`, or None (no insert into
    its defaultdict)."""
    bucket = table.items.get(hash_key)
    if bucket is None or not table.range_key_attr:
        return bucket
    return bucket.get(range_key)


def _indexes(table: Any, build: bool) -> _SecondaryIndexes | None:
    kept: _SecondaryIndexes | None = table.__dict__.get("_kizuna_indexes")
    if kept is not None and (
        kept.items is not table.items or kept.shape != _SecondaryIndexes.shape_of(table)
    ):
        kept = None
    if kept is None and build:
        kept = _SecondaryIndexes(table)
    table.__dict__["_kizuna_indexes"] = kept
    return kept


def _refresh(table: Any, hash_key: Any, range_key: Any) -> None:
    kept = _indexes(table, build=False)
    if kept is not None:
        kept.refresh(table, hash_key, range_key)


_scanning_query: Callable[..., Any] | None = None
"""moto's own `Table.query`, which walks (and sorts) every item of the table."""


def _query_candidates(table: Any, arguments: dict[str, Any]) -> list[Any] | None:
    """The items a query can match (by its hash key), or None for moto's own scan."""
    index_name = arguments.get("index_name")
    if not index_name:
        hash_key = arguments.get("hash_key")
        if hash_key is None:
            return None
        bucket = table.items.get(hash_key)
        if bucket is None:
            return []
        if not table.range_key_attr:
            return [bucket]
        return _in_key_range(list(bucket.values()), arguments, table.range_key_attr)
    conditions = dict(arguments.get("hash_key_conditions") or ())
    kept = _indexes(table, build=True)
    assert kept is not None
    names = kept.hash_names.get(index_name)
    if not names or set(conditions) != set(names):
        return None  # an unknown index (moto names the error) or another condition shape
    return kept.candidates(table, index_name, _values(conditions[n] for n in names), arguments)


def _in_key_range(items: list[Any], arguments: dict[str, Any], sort_key: str) -> list[Any]:
    """The items of a table query's partition inside its sort key condition (compared as
    moto compares them), and the nearest item on either side of that range: moto looks
    one item past a full page before it answers a LastEvaluatedKey, and that answer stays
    moto's own. DynamoDB reads only the range; moto sorts the whole partition and
    measures each item in it against the 1 MB page, so every query of a customer with
    10,000 activity items read all of them. The sort key is read from the item's
    `range_key` (the same value), so no item of the partition is decoded for it."""
    comparison = arguments.get("range_comparison")
    if not comparison or arguments.get("filter_kwargs"):
        return items  # no sort key condition, or the legacy KeyConditions filters
    from moto.dynamodb.comparisons import get_comparison_func

    matches = get_comparison_func(comparison)
    bounds = [_cast(bound) for bound in arguments.get("range_objs") or []]
    conditions = arguments.get("range_key_conditions")
    name = conditions[-1][0] if conditions else None
    inside: list[tuple[Any, Any]] = []
    outside: list[tuple[Any, Any]] = []
    for item in items:
        value = item.range_key if name == sort_key else item.attrs.get(name) if name else None
        held = _cast(value if value else item.range_key)
        (inside if matches(held, *bounds) else outside).append((_cast(item.range_key), item))
    if not inside:
        return []
    low = min(key for key, _ in inside)
    high = max(key for key, _ in inside)
    found = [item for _, item in inside]
    below = [(key, item) for key, item in outside if key < low]
    above = [(key, item) for key, item in outside if key > high]
    if below:
        found.append(max(below, key=lambda pair: pair[0])[1])
    if above:
        found.append(min(above, key=lambda pair: pair[0])[1])
    return found


def _cast(value: Any) -> Any:
    """What moto compares a `DynamoType` as (its `cast_value`), a string without the call."""
    return value.value if value.type == "S" else value.cast_value


def _query_through_keys() -> None:
    """`Table.query` reads the items of the queried hash key instead of every item."""
    import inspect

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    global _scanning_query  # noqa: PLW0603 - kept for the equivalence test
    original_query = Table.query
    _scanning_query = original_query
    signature = inspect.signature(original_query)

    @functools.wraps(original_query)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        candidates = _query_candidates(self, arguments)
        if candidates is None:
            return original_query(self, *args, **kwargs)
        # Under the module's lock: no other call sees the instance attribute.
        self.all_items = lambda: candidates
        try:
            return original_query(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]

    original_put = Table.put_item

    @functools.wraps(original_put)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        _refresh(self, item.hash_key, item.range_key)
        return item

    Table.put_item = put_item  # type: ignore[method-assign]

    original_delete = Table.delete_item

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return original_delete(self, hash_key, range_key)
        finally:
            _refresh(self, hash_key, range_key)

    Table.delete_item = delete_item  # type: ignore[method-assign]

    original_update = DynamoDBBackend.update_item

    @functools.wraps(original_update)
    def update_item(self: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        table = self.tables.get(table_name)
        _updating.streamless = table is not None and table.stream_shard is None
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:  # moto changes the item in place, even part way before an error
            _updating.streamless = False
            table = self.tables.get(table_name)
            if table is not None:
                try:
                    hash_key, range_key = self.get_keys_value(table, key)
                except Exception:  # a key moto refused: rebuild on the next query
                    table.__dict__["_kizuna_indexes"] = None
                else:
                    _refresh(table, hash_key, range_key)

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


_intern = sys.intern
"""Attribute names and type tags, one string each for the whole process: every request
body decodes its own copies, and a stored item kept them (a fifth of an item's memory)."""


_PARSED_LIMIT = 4096
"""Parsed condition expressions kept (all dropped when full: a simple bound)."""


def _parse_conditions_once() -> None:
    """Condition expressions parsed once per (expression, names, values): a transaction's
    `Put` had each condition parsed three times (the request's check, the transaction's,
    then `put_item`'s) and an import's conditions repeat from item to item; parsing was a
    fifth of an import's time in moto. moto's condition trees are not changed by
    evaluating them (no assignment outside their constructors), so one tree serves every
    request that spells the same; the names and values a parse found are kept with it
    (the request checks read them) and handed out as fresh lists."""
    from moto.dynamodb import comparisons
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.models import table as table_module

    parsed: dict[tuple[Any, str, str], tuple[Any, list[str], list[str]]] = {}

    def kept(expr: Any, names: Any, values: Any) -> tuple[Any, list[str], list[str]]:
        try:
            key = (expr, json.dumps(names, sort_keys=True), json.dumps(values, sort_keys=True))
        except (TypeError, ValueError):  # binary values: not kept
            key = None
        found = parsed.get(key) if key is not None else None
        if found is None:
            parser = comparisons.ConditionExpressionParser(expr, names, values)
            op = parser.parse()
            found = (op, parser.expr_attr_names_found, parser.expr_attr_values_found)
            if key is not None:
                if len(parsed) >= _PARSED_LIMIT:
                    parsed.clear()
                parsed[key] = found
        return found

    class KeptParser:
        """What moto's request checks use of a `ConditionExpressionParser`."""

        def __init__(self, expr: Any, names: Any, values: Any) -> None:
            self._args = (expr, names, values)
            self.expr_attr_names_found: list[str] = []
            self.expr_attr_values_found: list[str] = []

        def parse(self) -> Any:
            op, names_found, values_found = kept(*self._args)
            self.expr_attr_names_found = list(names_found)
            self.expr_attr_values_found = list(values_found)
            return op

    def get_filter_expression(expr: Any, names: Any, values: Any) -> Any:
        return kept(expr, names, values)[0]

    ddb_models.get_filter_expression = get_filter_expression  # type: ignore[attr-defined]
    table_module.get_filter_expression = get_filter_expression  # type: ignore[attr-defined]
    ddb_responses.create_condition_expression_parser = KeptParser  # type: ignore[assignment,attr-defined]


def _parse_updates_once() -> None:
    """Update expressions parsed once per spelling: `UpdateItem` parsed each one twice
    (the request's check of the names used, then the backend), a transaction's `Update`
    twice too, and the messenger's and the segmenter's expressions repeat from call to
    call. The parsed tree is only read (`find_clauses`) or deep-copied before it is
    changed (`Validator.__init__`: `deepcopy(expression)`; the executor works on that
    copy), so one tree serves every call that spells the same. An expression moto
    refuses raises as before and is not kept."""
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    parsed: dict[str, Any] = {}

    def make(expression: str) -> Any:
        found = parsed.get(expression)
        if found is None:
            found = UpdateExpressionParser.make(expression)
            if len(parsed) >= _PARSED_LIMIT:
                parsed.clear()
            parsed[expression] = found
        return found

    kept = SimpleNamespace(make=make)
    ddb_models.UpdateExpressionParser = kept  # type: ignore[attr-defined]
    ddb_responses.UpdateExpressionParser = kept  # type: ignore[attr-defined]


def _list_handler_methods_once() -> None:
    """`DynamoHandler`'s method names listed once: moto's `BaseResponse.call_action` lists
    them (`inspect.getmembers` over some 300 members) on every request to find the
    action's method, a sixth of a journey step's time in moto. Other services' handlers
    are listed as before."""
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler

    core_responses: Any = responses  # the name is imported there, not exported
    original: Callable[[object], list[str]] = core_responses.method_names_from_class
    listed: list[str] = []

    def method_names_from_class(clazz: object) -> list[str]:
        if clazz is not DynamoHandler:
            return original(clazz)
        if not listed:
            listed.extend(original(clazz))
        return listed

    core_responses.method_names_from_class = method_names_from_class


def _keep_no_model_objects() -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord

    for cls in (Item, StreamRecord):
        cls.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]


@contextmanager
def exclusive() -> Iterator[None]:
    """No DynamoDB call runs while this is held: a consistent cut of every table. Items
    decoded inside are packed again when it ends (see `_keep_items_packed`)."""
    with _lock, _call_scope(reading=False):
        yield


@contextmanager
def _call_scope(reading: bool) -> Iterator[None]:
    """One call (under `_lock`): when the outermost ends, the items it decoded rest packed."""
    global _depth  # noqa: PLW0603 - guarded by `_lock`, held by this thread
    outer = getattr(_call, "reading", False)
    _call.reading = reading and (outer or _depth == 0)  # a read inside a write is a write
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        _call.reading = outer
        if _depth == 0:
            _rest_decoded(changed=not reading)


def set_journal(journal: Journal | None) -> None:
    """Have `journal` see every state-changing DynamoDB call, after moto applied it and
    before its answer leaves (under the lock, so in the order they were applied)."""
    global _journal  # noqa: PLW0603 - one journal per process, as moto's backends are
    with _lock:
        _journal = journal


def _changed_state(handler: Any, response: Any) -> bool:
    action = handler.get_endpoint_name(handler.headers) or ""
    if action in _READ_ACTIONS or action.startswith(("Describe", "List")):
        return False
    status = response[0] if isinstance(response, tuple) and response else 200
    return isinstance(status, int) and status < 400


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(table, hash key, range key, the item as it is now or None) for each item named:
    a copy for an Update, the object itself otherwise (moto replaces it, never edits it).
    Undone in reverse order, so an item named twice (moto refuses that part way) ends as
    it was before the first."""
    undo = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto refuses it before writing anything
        kind, op = next(iter(entry.items()))
        table_name = op.get("TableName")
        if not table_name or table_name not in backend.tables:
            continue
        table = backend.tables[table_name]
        key = op.get("Key")
        if key is None and "Item" in op:
            names = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
            key = {n: op["Item"][n] for n in names if n in op["Item"]}
        try:
            hash_key, range_key = backend.get_keys_value(table, key)
            current = table.get_item(hash_key, range_key)
        except Exception:  # a malformed key: moto refuses it before writing anything
            current = _MALFORMED
        if current is not _MALFORMED:
            # A Put puts a new `Item` in the table and a Delete removes it, leaving the old
            # object as it was: keeping it is enough. Only an Update changes it in place.
            kept = _kept_copy(current) if kind == "Update" else current
            undo.append((table, hash_key, range_key, kept))
    return undo


def _kept_copy(item: Any) -> Any:
    """A copy of an item for the undo: its packed JSON when it rests packed (no decode),
    moto's deep copy otherwise."""
    if item is None:
        return None
    packed = _resting(item)
    if packed is None:
        return _real_copy.deepcopy(item)
    kept = _untracked_new(type(item))
    kept.hash_key, kept.range_key = item.hash_key, item.range_key
    kept._packed, kept._attrs = packed, None
    return kept


def _restore(undo: list[tuple[Any, ...]]) -> None:
    """Put back each named item as it was, leaving every other item as it is now."""
    for table, hash_key, range_key, previous in reversed(undo):
        if previous is not None and getattr(previous, "_attrs", None) is not None:
            _decoded.append(previous)  # packed when the call ends
        if range_key is not None:
            if previous is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = previous
        elif previous is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = previous
        _refresh(table, hash_key, range_key)
