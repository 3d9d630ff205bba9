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
`json.loads` gives it (a test checks both give the same parameters). And
`Item.__init__` checked the 400 KB limit by re-measuring the whole item after each
attribute (`LimitedSizeDict.__setitem__`, quadratic in the attributes); the patched one
measures the item once, with the same limit and error.

`check_compatible()` fails loudly when a moto upgrade changes any of these, and the
project pins the moto version this was written against.

Upstream: the fix belongs in moto (getmoto/moto, "DynamoDB: TransactWriteItems deep-copies
whole tables for rollback; concurrent requests race"): keep an undo log of the touched
items instead of `copy.deepcopy(table)`, and hold a backend lock per request, as the
SQS backend already does for its queues. This module is written so that the proposal
is the same two changes.
"""

from __future__ import annotations

import copy as _real_copy
import functools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto release whose internals this module was checked against."""

_lock = threading.RLock()
_MALFORMED = object()
_installed = False

Journal = Callable[[Any], None]
"""Called with moto's `DynamoHandler` after a DynamoDB call that changed state succeeded."""
_journal: Journal | None = None
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
_generic_serialized: Callable[[Any, Any], Any] | None = None
"""moto's own serializer, which the fast path replaces for item operations."""
_READ_ACTIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "ExecuteStatement"}
)


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
    if problems:
        raise MotoInternalsChanged("; ".join(problems))


def install() -> None:
    """Patch moto's DynamoDB in this process (idempotent). Call before any request."""
    global _installed  # noqa: PLW0603 - the patch is process-wide, as moto's backends are
    with _lock:
        if _installed:
            return
        check_compatible()
        _serialise_calls()
        _answer_items_as_json()
        _read_items_as_json()
        _undo_transactions_item_by_item()
        _measure_items_once()
        _keep_no_model_objects()
        _installed = True


def _serialise_calls() -> None:
    """One DynamoDB call at a time, journaled (if asked) once applied."""
    from moto.dynamodb.responses import DynamoHandler

    original_call = DynamoHandler.call_action

    @functools.wraps(original_call)
    def call_action(self: Any) -> Any:
        with _lock:
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


def _read_items_as_json() -> None:
    """Item operations' bodies read with `json.loads` instead of moto's shape walker."""
    global _generic_parse  # noqa: PLW0603 - kept for the equivalence test
    from moto.dynamodb.responses import DynamoHandler

    original_parse = DynamoHandler.parse_parameters
    _generic_parse = original_parse

    @functools.wraps(original_parse)
    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if (
            isinstance(body, bytes)
            and body
            and self._get_action() in _PLAIN_JSON_ACTIONS
            and not any(marker in body for marker in _NEEDS_SHAPE_PARSER)
        ):
            self.params = json.loads(body)
            return
        _generic_parse(self, request)  # moto's own (a test may wrap it to count)

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]


def _undo_transactions_item_by_item() -> None:
    """No table copy before a transaction; a cancelled one puts back only its items."""
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value  # the transaction wrapper below undoes item by item
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
    """`Item.__init__` with one size check instead of one per attribute."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: DynamoType(value) for key, value in attrs.items()}
        size = sum(bytesize(key) + value.size() for key, value in converted.items())
        if size > _ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict(converted)  # dict.update: no per-key re-check

    Item.__init__ = item_init  # type: ignore[method-assign]


def _keep_no_model_objects() -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord

    for cls in (Item, StreamRecord):
        cls.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]


@contextmanager
def exclusive() -> Iterator[None]:
    """No DynamoDB call runs while this is held: a consistent cut of every table."""
    with _lock:
        yield


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
    """(table, hash key, range key, copy of the item or None) for each item named."""
    undo = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto refuses it before writing anything
        _, op = next(iter(entry.items()))
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
            undo.append((table, hash_key, range_key, _real_copy.deepcopy(current)))
    return undo


def _restore(undo: list[tuple[Any, ...]]) -> None:
    """Put back each named item as it was, leaving every other item as it is now."""
    for table, hash_key, range_key, previous in reversed(undo):
        if range_key is not None:
            if previous is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = previous
        elif previous is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = previous
