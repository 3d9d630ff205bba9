"""The pass streams the shop's rows into the engine a chunk at a time: the chunk size
changes nothing, and an order of a merged-away profile counts for its survivor."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb

from segmenter.adapters import duckdb_engine
from segmenter.domain.analytics.snapshot import SnapshotBuilder
from segmenter.domain.model import Order, Profile
from tests.segmenter.test_clv_pass import NOW, shop


def _pass(items: list[Profile | Order], chunk_rows: int, tmp: Path) -> duckdb_engine.EngineResult:
    with duckdb_engine.Snapshot() as snapshot:
        builder = SnapshotBuilder(snapshot.append, chunk_rows=chunk_rows)
        for item in items:
            builder.add(item)
        survivors = builder.finish()
        return snapshot.run(NOW.date(), tmp, survivors=survivors)


def test_chunks_of_any_size_give_the_same_facts(tmp_path: Path) -> None:
    # Given a shop's profiles and orders, orders first (a scan has no order)
    data = shop(60)
    items: list[Profile | Order] = [*data.orders, *data.profiles]
    # When the pass reads them in chunks of 7 rows, and in one chunk
    small = _pass(items, 7, tmp_path / "small")
    whole = _pass(items, 100_000, tmp_path / "whole")
    # Then every fact and count is the same
    assert small.facts == whole.facts
    assert (
        (small.orders, small.customers)
        == (whole.orders, whole.customers)
        == (
            len(data.orders),
            60,
        )
    )


def test_orders_of_a_merged_profile_count_for_the_end_of_its_merge_chain(tmp_path: Path) -> None:
    # Given c0001 merged into c0002, which was merged into c0003 (read after the orders)
    data = shop(6)
    merged = {"c0001": "c0002", "c0002": "c0003"}
    profiles = [replace(p, merged_into=merged.get(p.customer_id)) for p in data.profiles]
    expected = sum(1 for o in data.orders if o.customer_id in ("c0001", "c0002", "c0003"))
    # When the pass runs
    result = _pass([*data.orders, *profiles], 2, tmp_path)
    # Then the merged-away profiles are gone and c0003 has all three people's orders
    assert result.customers == 4
    con = duckdb.connect()
    rows = con.execute(
        "SELECT customer_id, orders FROM read_parquet(?) ORDER BY customer_id",
        [str(result.files["customers"])],
    ).fetchall()
    assert [c for c, _ in rows] == ["c0000", "c0003", "c0004", "c0005"]
    assert dict(rows)["c0003"] == expected
