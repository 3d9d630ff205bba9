"""Snapshots of the local state: one item per line, read back one at a time, and the first
format (one JSON document) still read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from ops.local import persistence


def _item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{n}"}, "sk": {"S": "x"}, "doc": {"M": {"n": {"N": str(n)}}}}


def test_a_snapshot_is_one_line_per_item_and_reads_back_the_same(tmp_path: Path) -> None:
    # Given items of two tables
    items = [("a", _item(n)) for n in range(3)] + [("b", _item(9))]
    path = tmp_path / persistence.SNAPSHOT_FILE
    # When they are written as a snapshot
    written = persistence.write_items(path, iter(items))
    # Then each is one line (so a start decodes one item at a time) and reads back as it was
    assert written == 4
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 4
    assert list(persistence.read_items(path)) == items


def test_a_snapshot_in_the_first_format_still_loads(tmp_path: Path) -> None:
    # Given a snapshot written before (one JSON document of every table's items)
    path = tmp_path / persistence.SNAPSHOT_FILE
    document = {"tables": {"a": [_item(1), _item(2)], "b": [_item(3)]}}
    path.write_bytes(gzip.compress(json.dumps(document).encode("utf-8")))
    # When it is read / Then every item comes back with its table
    assert list(persistence.read_items(path)) == [("a", _item(1)), ("a", _item(2)), ("b", _item(3))]
