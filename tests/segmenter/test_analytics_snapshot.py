"""The pass streams the shop's rows into the engine a chunk at a time: the chunk size
changes nothing, and an order of a merged-away profile counts for its survivor. The
orders file numbers each customer's active orders (F-stage) as a plain sort does."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from segmenter.adapters import duckdb_engine
from segmenter.domain.analytics.snapshot import SnapshotBuilder
from segmenter.domain.model import Order, OrderLine, Profile
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


def test_the_orders_file_numbers_each_customers_active_orders_by_time(tmp_path: Path) -> None:
    # Given 40 customers' orders in a random read order: some cancelled or returned, some
    # placed at the same instant (the order id breaks the tie), coupons and SKUs on some
    rng = random.Random(11)
    data = shop(40)
    orders: list[Order] = []
    for i, o in enumerate(data.orders):
        same = i % 7 == 3  # placed at the same instant as the customer's order before
        orders.append(
            replace(
                o,
                order_id=f"o-{rng.randrange(10**6):06d}-{i}",
                placed_at=orders[-1].placed_at
                if same and orders and orders[-1].customer_id == o.customer_id
                else o.placed_at + timedelta(minutes=rng.randrange(600)),
                status=rng.choice(["placed", "placed", "placed", "cancelled", "returned"]),
                coupon=rng.choice([None, None, "WELCOME"]),
                lines=(OrderLine(f"SKU-{rng.randrange(5)}", 1, o.total),),
            )
        )
    rng.shuffle(orders)
    # When the pass runs, in chunks of 9 rows
    result = _pass([*orders, *data.profiles], 9, tmp_path)
    # Then each active order's seq is its place among its customer's active orders by
    # (placed_at, order_id), an inactive order has none (a plain-Python sort)
    expected: dict[str, int | None] = {o.order_id: None for o in orders}
    firsts: dict[str, Order] = {}
    for customer in {o.customer_id for o in orders}:
        mine = sorted(
            (o for o in orders if o.customer_id == customer and o.active),
            key=lambda o: (o.placed_at, o.order_id),
        )
        expected.update({o.order_id: n for n, o in enumerate(mine, start=1)})
        if mine:
            firsts[customer] = mine[0]
    con = duckdb.connect()
    got = dict(
        con.execute(
            "SELECT order_id, seq FROM read_parquet(?)", [str(result.files["orders"])]
        ).fetchall()
    )
    assert got == expected
    assert any(v is None for v in got.values()) and max(v or 0 for v in got.values()) > 3
    # And each buyer's first SKU and first offer are those of that first order (none
    # when it had no coupon, whatever a later order carried), its orders and revenue
    # those of its active orders
    rows = con.execute(
        "SELECT customer_id, first_sku, first_offer, orders, revenue FROM read_parquet(?) "
        "WHERE orders > 0",
        [str(result.files["customers"])],
    ).fetchall()
    assert {c: (sku, offer) for c, sku, offer, _, _ in rows} == {
        c: (o.lines[0].sku, o.coupon) for c, o in firsts.items()
    }
    active = [o for o in orders if o.active]
    assert {c: (n, revenue) for c, _, _, n, revenue in rows} == {
        c: (
            sum(1 for o in active if o.customer_id == c),
            float(sum(o.revenue for o in active if o.customer_id == c)),
        )
        for c in firsts
    }


def test_a_pass_whose_orders_file_cannot_be_written_fails_and_leaves_no_writer_running(
    tmp_path: Path,
) -> None:
    # Given a shop, and an output folder where the orders file's path is taken by a folder
    data = shop(30)
    (tmp_path / "orders.parquet").mkdir()
    threads_before = {t.name for t in threading.enumerate()}
    # When the pass runs (the file is written on a thread of its own)
    with pytest.raises(OSError):
        _pass([*data.profiles, *data.orders], 50, tmp_path)
    # Then the writer's failure is the pass's, and its thread is gone with it
    assert {t.name for t in threading.enumerate()} <= threads_before


def test_a_failure_beside_the_writers_own_keeps_both(tmp_path: Path) -> None:
    # Given an orders file that cannot be written, and a hook (the CLV fit's place) that fails
    data = shop(30)
    (tmp_path / "orders.parquet").mkdir()

    def failing_fit(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, object]]]:
        raise RuntimeError("fit failed")

    items: list[Profile | Order] = [*data.profiles, *data.orders]
    with duckdb_engine.Snapshot() as snapshot:
        builder = SnapshotBuilder(snapshot.append, chunk_rows=50)
        for item in items:
            builder.add(item)
        survivors = builder.finish()
        # When the pass runs
        with pytest.raises(RuntimeError, match="fit failed") as failed:
            snapshot.run(NOW.date(), tmp_path, survivors=survivors, hooks=[failing_fit])
    # Then the hook's error is raised and tells the writer's too
    assert any("orders file's writer failed too" in n for n in failed.value.__notes__)
