# ruff: noqa: S608 - every SQL string here is built from this module's constants and a date
"""The analytics engine: one shop's snapshot columns → DuckDB tables → Parquet files and
facts, in one process (DuckDB embedded, nothing to run beside it).

Imported only by the analytics function (`segmenter.entrypoints.analytics`) and the
benchmark: DuckDB and numpy never load in the API functions. The SQL here is the
definition of every report's numbers; `segmenter.domain.analytics.views` only adds facts
up over a period and divides.

Tables (also the Parquet layout, docs/analytics.md):
- ``orders``     one row per order (cancelled and returned ones too, ``active`` false),
                 ``seq`` = the order's number in the customer's active orders (F-stage);
                 the pass keeps the active orders and the columns the facts read, the
                 file has every order and every column
- ``customers``  one row per profile, with the order statistics and the per-customer
                 summary a BG/NBD + Gamma-Gamma fit reads: ``x`` (repeat purchase days),
                 ``t_x`` (days from first to last purchase), ``t`` (days from first purchase
                 to the as-of day) and ``monetary`` (mean revenue of the repeat days)
- ``customer_states`` one row per buyer and month end: state, previous state, recency and
                 frequency (what a list diagnosis cell of any month drills down to), held
                 as integer codes, labelled in the file (`write_customer_states`); also
                 written per month as the ``cells`` files the API reads (`write_cells`)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from segmenter.domain.analytics import views
from segmenter.domain.analytics.snapshot import (
    ATTRIBUTED_COLUMNS,
    CAMPAIGN_COLUMNS,
    CampaignColumns,
)

LTV_WINDOWS: tuple[tuple[str, int | None], ...] = (
    ("90d", 90),
    ("180d", 180),
    ("365d", 365),
    ("3y", 1095),
    ("lifetime", None),
)
"""Window label → days after the first purchase (None: every order so far)."""
MAX_F_STAGE = 10
DORMANT_AFTER_DAYS = 180
LOST_AFTER_DAYS = 365

_ORDER_SCHEMA = {
    "order_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "placed_at": "TIMESTAMP",
    "order_date": "DATE",
    "status": "VARCHAR",
    "active": "BOOLEAN",
    "currency": "VARCHAR",
    "total": "DOUBLE",
    "refunded": "DOUBLE",
    "revenue": "DOUBLE",
    "gross_profit": "DOUBLE",
    "discount": "DOUBLE",
    "coupon": "VARCHAR",
    "sales_channel": "VARCHAR",
    "first_sku": "VARCHAR",
}
_PROFILE_SCHEMA = {
    "customer_id": "VARCHAR",
    "acquisition_channel": "VARCHAR",
    "first_offer": "VARCHAR",
    "rfm_rank": "VARCHAR",
}
_CAMPAIGN_TYPES = {"sent_date": "DATE"}
_CAMPAIGN_SCHEMA = {c: _CAMPAIGN_TYPES.get(c, "VARCHAR") for c in CAMPAIGN_COLUMNS}
_ATTRIBUTED_SCHEMA = dict.fromkeys(ATTRIBUTED_COLUMNS, "VARCHAR")

FactsHook = Callable[["duckdb.DuckDBPyConnection"], dict[str, list[dict[str, Any]]]]
"""Extra facts computed in the same pass over the same tables (the CLV fit,
`segmenter.services.clv.ClvHook`, reads `clv_inputs`)."""


@dataclass(frozen=True)
class ClvInputs:
    """Every buyer's BG/NBD + Gamma-Gamma summary, from the ``customers`` table (days)."""

    customer_ids: list[str]
    x: np.ndarray[Any, Any]
    t_x_days: np.ndarray[Any, Any]
    t_days: np.ndarray[Any, Any]
    monetary: np.ndarray[Any, Any]
    """mean revenue of the repeat purchase days; NaN without a repeat"""
    first_day: np.ndarray[Any, Any]
    """the first purchase day, days since 1970-01-01"""
    as_of_day: int
    """the as-of day, days since 1970-01-01 (0 for a shop without buyers)"""


def clv_inputs(con: duckdb.DuckDBPyConnection) -> ClvInputs:
    """The CLV fit's inputs, read from the pass's ``buyers`` in one query."""
    cols = con.execute(
        """
        SELECT customer_id, x::DOUBLE AS x, t_x::DOUBLE AS t_x, t::DOUBLE AS t,
               coalesce(monetary, 'NaN'::DOUBLE) AS monetary,
               (first_order_date - DATE '1970-01-01')::BIGINT AS first_day,
               (first_order_date - DATE '1970-01-01' + t)::BIGINT AS as_of_day
        FROM buyers WHERE t >= 0 ORDER BY customer_id
        """
    ).fetchnumpy()
    as_of = np.asarray(cols["as_of_day"], dtype=np.int64)
    return ClvInputs(
        customer_ids=[str(c) for c in cols["customer_id"]],
        x=np.asarray(cols["x"], dtype=np.float64),
        t_x_days=np.asarray(cols["t_x"], dtype=np.float64),
        t_days=np.asarray(cols["t"], dtype=np.float64),
        monetary=np.asarray(cols["monetary"], dtype=np.float64),
        first_day=np.asarray(cols["first_day"], dtype=np.int64),
        as_of_day=int(as_of.max()) if len(as_of) else 0,
    )


@dataclass(frozen=True)
class EngineResult:
    facts: dict[str, list[dict[str, Any]]]
    files: dict[str, Path]
    """Table name → Parquet file written."""
    cells: dict[str, Path]
    """Month (YYYY-MM) → the month's drill-down file (`write_cells`)."""
    cohorts: dict[str, Path]
    """First-purchase month → the cohort's drill-down file (`write_cohort_cells`)."""
    orders: int
    customers: int


def _array(values: Any, sql_type: str) -> np.ndarray[Any, Any]:
    """A column as numpy (an array already of the right kind is taken as it is)."""
    if sql_type in ("DATE", "TIMESTAMP"):
        return np.asarray(values, dtype="datetime64[us]")
    if sql_type == "DOUBLE":
        return np.asarray(values, dtype=np.float64)
    if sql_type == "BOOLEAN":
        return np.asarray(values, dtype=np.bool_)
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    return np.array(values, dtype=object)


def _create(con: duckdb.DuckDBPyConnection, name: str, schema: Mapping[str, str]) -> None:
    con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in schema.items())})")


def _append(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Mapping[str, Any],
    schema: Mapping[str, str],
) -> None:
    """One chunk of columns into the DuckDB table `name`: registered as numpy arrays and
    copied once into DuckDB's own columnar storage (the chunk can be dropped after)."""
    if not len(columns[next(iter(schema))]):
        return
    arrays = {c: _array(columns[c], t) for c, t in schema.items()}
    con.register("chunk_in", arrays)
    try:
        casts = ", ".join(f"CAST({c} AS {t})" for c, t in schema.items())
        con.execute(f"INSERT INTO {name} SELECT {casts} FROM chunk_in")
    finally:
        con.unregister("chunk_in")


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
_FEW_VALUES = ("status", "currency", "coupon", "sales_channel", "first_sku")
"""Order columns with few distinct values, held dictionary-encoded (4 bytes an order
instead of the string's 8 to 10)."""
ORDERS_ARROW_SCHEMA = pa.schema(
    [
        (c, pa.dictionary(pa.int32(), pa.string()) if c in _FEW_VALUES else _ARROW_TYPES[t])
        for c, t in _ORDER_SCHEMA.items()
    ]
)
"""The orders as the pass holds them: Arrow columns, one batch per chunk read."""


def orders_batch(columns: Mapping[str, Any]) -> pa.RecordBatch:
    """One chunk of order columns (lists of Python values: str, None, float, bool, naive
    datetime, date) as an Arrow batch of `ORDERS_ARROW_SCHEMA`, converted in C."""
    return pa.record_batch(
        [pa.array(columns[f.name], type=f.type) for f in ORDERS_ARROW_SCHEMA],
        schema=ORDERS_ARROW_SCHEMA,
    )


def _with_survivors(table: pa.Table, survivors: Mapping[str, str]) -> pa.Table:
    """The orders with each merged-away customer's id replaced by their survivor's."""
    import pyarrow.compute as pc

    if not survivors:
        return table
    keys = pa.array(list(survivors), type=pa.string())
    at = pc.index_in(table.column("customer_id"), value_set=keys)
    mapped = pc.take(pa.array(list(survivors.values()), type=pa.string()), at)
    column = pc.coalesce(mapped, table.column("customer_id"))
    return table.set_column(table.schema.get_field_index("customer_id"), "customer_id", column)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


_MONTH_INDEX = "(year({d}) * 12 + month({d}) - 1)"
"""A month as an integer (year × 12 + month − 1): month arithmetic without dates."""
_MONTH_LABEL = "printf('%04d-%02d', {i} // 12, {i} % 12 + 1)"
"""A month's integer as its label, ``YYYY-MM``."""


def _month(expr: str) -> str:
    return f"strftime({expr}, '%Y-%m')"


PARQUET_BATCH_ROWS = 250_000
"""Rows per Arrow batch from DuckDB, and so per row group of a Parquet file: the batch is
what the writer adds to the pass's memory (a million rows cost 30 MiB more RSS for 3 %
less CPU)."""


def write_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> Path:
    """The query's rows as a Parquet file (snappy), streamed from DuckDB as Arrow batches
    into pyarrow's writer: a batch in memory at a time, and two thirds of the CPU
    DuckDB's own `COPY ... TO` spends on the same orders file (bench/analytics_reports.py)."""
    import pyarrow.parquet as pq

    reader = con.sql(query).to_arrow_reader(PARQUET_BATCH_ROWS)
    with pq.ParquetWriter(path, reader.schema, compression="snappy") as writer:
        for batch in reader:
            writer.write_batch(batch)
    return path


_FIRST_ORDER = ("customer_id", "first_sku", "coupon", "sales_channel")
"""What the customers table keeps of each buyer's first order."""


def order_stages(con: duckdb.DuckDBPyConnection, rows: int) -> np.ndarray[Any, Any]:
    """Each loaded order's F-stage (``seq``) by its row number (``rid``), from the window's
    ``orders``; 0 for an inactive order, which has none."""
    got = con.sql("SELECT rid, seq FROM orders").fetchnumpy()
    seq = np.zeros(rows, dtype=np.int32)
    seq[np.asarray(got["rid"], dtype=np.int64)] = np.asarray(got["seq"], dtype=np.int32)
    return seq


def build_firsts(
    con: duckdb.DuckDBPyConnection, orders: pa.Table, seq: np.ndarray[Any, Any]
) -> None:
    """The ``firsts`` table: each buyer's first order (``seq`` 1), taken from the pass's
    own Arrow batches, so the window that numbers the orders does not carry its strings."""
    table = orders.filter(pa.array(seq == 1)).select(list(_FIRST_ORDER))
    con.register("firsts_in", table)
    try:
        con.execute("CREATE TABLE firsts AS SELECT * FROM firsts_in")
    finally:
        con.unregister("firsts_in")


def write_orders(batches: deque[pa.RecordBatch], seq: np.ndarray[Any, Any], path: Path) -> Path:
    """The orders Parquet file: every loaded column and the F-stage (``seq``, `order_stages`,
    by row number), written from the pass's own Arrow batches (`Snapshot.append`: nothing
    is exported from DuckDB), each taken off `batches` as it is written, so the memory goes
    back a row group at a time. It touches no DuckDB connection: `Snapshot.run` writes it
    on a thread of its own while DuckDB builds the customers and the facts (pyarrow's
    writer runs on one core without the GIL, and DuckDB's statements leave the second
    core idle part of the time; bench/analytics_reports.py).

    The few-valued columns go to the writer as the batches' dictionaries, unified per row
    group (casting them to plain strings first cost a quarter of the write), and
    ``order_id``, one value per order, is not dictionary-encoded (the writer gave up on
    its dictionary after the first megabyte anyway): 1M orders 0.18 s CPU against 0.25 s,
    16.3 MB against 17.0 MB; DuckDB's own ``COPY ... TO`` of the same table 0.39 s CPU,
    0.28 s wall (bench/analytics_reports.py). The file's Parquet schema is the same
    (plain strings: no Arrow schema is stored, so no reader sees the dictionaries)."""
    import pyarrow.parquet as pq

    schema = ORDERS_ARROW_SCHEMA.append(pa.field("seq", pa.int32()))
    encoded = [c for c in schema.names if c != "order_id"]
    start = 0
    with pq.ParquetWriter(
        path, schema, compression="snappy", use_dictionary=encoded, store_schema=False
    ) as writer:
        while batches:
            group = [batches.popleft()]
            while batches and sum(b.num_rows for b in group) < PARQUET_BATCH_ROWS:
                group.append(batches.popleft())
            part = pa.Table.from_batches(group).select(ORDERS_ARROW_SCHEMA.names)
            del group
            part = part.unify_dictionaries()
            stage = seq[start : start + part.num_rows]
            start += part.num_rows
            out = part.append_column(schema.field("seq"), pa.array(stage, mask=stage == 0))
            writer.write_table(out, row_group_size=PARQUET_BATCH_ROWS)
            # the system allocator keeps freed memory for reuse: hand the written group's
            # batches back now (1-8 ms a call), or the pass's peak grows by what they held
            pa.default_memory_pool().release_unused()
    return path


def _release_arrow_memory(_: object) -> None:
    """What the last row group's buffers held goes back to the system once the orders
    file is written (the system allocator keeps freed memory for reuse: the pass at 10M
    orders peaked at 3,719 MiB when it was handed back only at the end, 2,832 MiB group
    by group; bench/analytics_memory.py)."""
    pa.default_memory_pool().release_unused()


def build_orders(con: duckdb.DuckDBPyConnection) -> None:
    """The numbered ``orders``: the active ones of the loaded ``orders_raw`` (what every
    fact counts; the file has the inactive ones too, without ``seq``).

    One window over each customer's active orders (by time) gives every order its F-stage
    (``seq``), its customer's first purchase day (``first_date``) and the days of the
    orders before and after it (``prev_date``, ``next_date``; ``order_date`` is the day of
    ``placed_at``, so days follow the window's order). The window carries only the
    columns the facts read: the orders file takes ``seq`` back by row id and the first
    order's strings come from the loaded batches (`build_firsts`)."""
    con.execute(
        """
        CREATE TABLE orders AS
        SELECT rid, customer_id, order_date, revenue, gross_profit,
               (row_number() OVER w)::INTEGER AS seq,
               first_value(order_date) OVER w AS first_date,
               lag(order_date) OVER w AS prev_date,
               lead(order_date) OVER w AS next_date
        FROM orders_raw r WHERE active
        WINDOW w AS (PARTITION BY customer_id ORDER BY placed_at, order_id)
        """
    )


def build_customers(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """The ``customers`` table (and its ``buyers`` view) and ``customer_months`` from the
    numbered ``orders`` and the buyers' first orders (``firsts``, `build_firsts`).

    The customers table is one group-by of the orders, the LTV windows need no join back
    to the customers, and ``customer_months`` one group-by too: per buyer and month with
    orders, the orders so far (``cum_n``, the month's last ``seq``), the last order day
    before the month (``prev_last``) and the latest of the days that follow the month's
    orders (``next_date``: in a later month when the buyer ordered again), which the
    month-end states read without a window of their own. ``customer_months`` carries the
    buyer's first month and channel (null for orders of a customer without a profile), so
    no fact joins it to the customers."""
    today = f"DATE '{as_of.isoformat()}'"
    con.execute(
        f"""
        CREATE TABLE customers AS
        WITH a AS (
            SELECT customer_id,
                   min(order_date) AS first_order_date,
                   max(order_date) AS last_order_date,
                   count(*)::INTEGER AS orders,
                   count(*) FILTER (WHERE order_date IS DISTINCT FROM prev_date)::INTEGER
                       AS purchase_days,
                   sum(revenue) AS revenue,
                   sum(gross_profit) AS gross_profit,
                   sum(revenue) FILTER (WHERE order_date = first_date) AS first_day_revenue
            FROM orders GROUP BY customer_id
        )
        SELECT p.customer_id,
               a.first_order_date, a.last_order_date,
               coalesce(a.orders, 0)::INTEGER AS orders,
               coalesce(a.purchase_days, 0)::INTEGER AS purchase_days,
               coalesce(a.revenue, 0) AS revenue,
               coalesce(a.gross_profit, 0) AS gross_profit,
               -- the first order's values, NULL included (a first order without a
               -- coupon has no first offer, whatever a later order carried)
               coalesce(p.acquisition_channel, f.sales_channel) AS acquisition_channel,
               coalesce(p.first_offer, f.coupon) AS first_offer,
               f.first_sku,
               p.rfm_rank,
               (a.purchase_days - 1)::INTEGER AS x,
               (a.last_order_date - a.first_order_date)::INTEGER AS t_x,
               ({today} - a.first_order_date)::INTEGER AS t,
               CASE WHEN a.purchase_days > 1 THEN
                   (a.revenue - a.first_day_revenue) / (a.purchase_days - 1) END AS monetary
        FROM profiles p LEFT JOIN a USING (customer_id) LEFT JOIN firsts f USING (customer_id)
        """
    )
    con.execute("CREATE VIEW buyers AS SELECT * FROM customers WHERE orders > 0")
    con.execute(
        f"""
        CREATE TABLE customer_months AS
        WITH m AS (
            SELECT customer_id, {_MONTH_INDEX.format(d="order_date")}::INTEGER AS i,
                   count(*) AS n, max(order_date) AS last, sum(gross_profit) AS gross_profit,
                   max(seq) AS cum_n,
                   CASE WHEN max(seq) > count(*) THEN min(prev_date) END AS prev_last,
                   max(next_date) AS next_date
            FROM orders GROUP BY ALL
        )
        SELECT m.*, {_MONTH_INDEX.format(d="c.first_order_date")}::INTEGER AS first_i,
               coalesce(c.acquisition_channel, '(none)') AS channel
        FROM m LEFT JOIN buyers c USING (customer_id)
        """
    )


def ltv_facts(con: duckdb.DuckDBPyConnection, as_of: date) -> list[dict[str, Any]]:
    today = f"DATE '{as_of.isoformat()}'"
    sums, aggs = [], []
    for label, days in LTV_WINDOWS:
        inside = "TRUE" if days is None else f"o.order_date < o.first_date + {days}"
        matured = "TRUE" if days is None else f"first_order_date + {days} <= {today}"
        sums.append(f"sum(o.revenue) FILTER (WHERE {inside}) AS r_{label}")
        sums.append(f"sum(o.gross_profit) FILTER (WHERE {inside}) AS g_{label}")
        aggs.append(f"count(*) FILTER (WHERE {matured}) AS matured_{label}")
        aggs.append(f"coalesce(sum(r_{label}) FILTER (WHERE {matured}), 0) AS revenue_{label}")
        aggs.append(f"coalesce(sum(g_{label}) FILTER (WHERE {matured}), 0) AS gross_profit_{label}")
    return _rows(
        con,
        f"""
        WITH sums AS (
            SELECT o.customer_id, {", ".join(sums)}
            FROM orders o GROUP BY o.customer_id
        ), per AS (
            SELECT c.first_order_date, {_month("c.first_order_date")} AS month,
                   coalesce(c.acquisition_channel, '(none)') AS channel,
                   coalesce(c.first_sku, '(none)') AS first_product,
                   coalesce(c.first_offer, '(none)') AS first_offer, sums.*
            FROM sums JOIN buyers c USING (customer_id)
        ), dims AS (
            SELECT 'cohort' AS dimension, month AS key, * FROM per
            UNION ALL SELECT 'channel', channel, * FROM per
            UNION ALL SELECT 'first_product', first_product, * FROM per
            UNION ALL SELECT 'first_offer', first_offer, * FROM per
        )
        SELECT dimension, key, month, count(*) AS customers, {", ".join(aggs)}
        FROM dims GROUP BY dimension, key, month ORDER BY dimension, key, month
        """,
    )


def repeat_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        WITH f AS (
            SELECT date_trunc('month', first_order_date) AS m,
                   least(orders, {MAX_F_STAGE}) AS orders, count(*) AS customers
            FROM buyers GROUP BY ALL
        )
        SELECT {_month("m")} AS month, n, sum(customers)::BIGINT AS customers
        FROM f, range(1, {MAX_F_STAGE + 1}) r(n)
        WHERE orders >= n GROUP BY ALL ORDER BY month, n
        """,
    )


SECOND_PURCHASE_BUCKETS = (*views.SECOND_PURCHASE_BUCKETS, "none")
"""The report's buckets (one list, in the domain), then those with no second order."""


_SECOND_PURCHASE_BUCKET = """
    CASE WHEN days IS NULL THEN 'none'
         WHEN days = 0 THEN 'same_day'
         WHEN days <= 10 THEN '1-10'
         WHEN days <= 30 THEN '11-30'
         WHEN days <= 60 THEN '31-60'
         WHEN days <= 90 THEN '61-90'
         WHEN days <= 180 THEN '91-180'
         WHEN days <= 360 THEN '181-360'
         ELSE 'later' END"""
"""A buyer's bucket of days from the first to the second purchase (`days`; NULL: none):
the report's and its drill-down cells' one definition."""


def second_purchase_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        WITH d AS (
            SELECT c.first_order_date, o.order_date - c.first_order_date AS days
            FROM buyers c LEFT JOIN orders o ON o.customer_id = c.customer_id AND o.seq = 2
        )
        SELECT {_month("first_order_date")} AS month, {_SECOND_PURCHASE_BUCKET} AS bucket,
               count(*) AS customers
        FROM d GROUP BY ALL ORDER BY month, bucket
        """,
    )


def retention_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        SELECT {_MONTH_LABEL.format(i="first_i")} AS month,
               (i - first_i)::INTEGER AS month_offset, count(*) AS customers
        FROM customer_months WHERE first_i IS NOT NULL GROUP BY first_i, i - first_i
        ORDER BY month, month_offset
        """,
    )


def revenue_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Orders, buyers, first orders, revenue and gross profit per calendar month. Grouped
    by the month's integer; the buyers are the month's rows of ``customer_months`` (a
    distinct count over the orders was nine tenths of this query's time)."""
    index = _MONTH_INDEX.format(d="order_date")
    return _rows(
        con,
        f"""
        WITH m AS (
            SELECT {index}::INTEGER AS i, count(*) AS orders,
                   count(*) FILTER (WHERE seq = 1) AS first_orders,
                   coalesce(sum(revenue), 0) AS revenue,
                   coalesce(sum(gross_profit), 0) AS gross_profit
            FROM orders GROUP BY ALL
        ), c AS (SELECT i, count(*) AS customers FROM customer_months GROUP BY i)
        SELECT {_MONTH_LABEL.format(i="i")} AS month, orders, customers,
               first_orders, revenue, gross_profit
        FROM m JOIN c USING (i) ORDER BY month
        """,
    )


def payback_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Gross profit per acquisition channel, cohort month and month of age."""
    return _rows(
        con,
        f"""
        WITH p AS (
            SELECT channel, first_i, (i - first_i)::INTEGER AS age,
                   sum(gross_profit) AS gross_profit
            FROM customer_months WHERE first_i IS NOT NULL GROUP BY ALL
        )
        SELECT channel, {_MONTH_LABEL.format(i="first_i")} AS month, age, gross_profit
        FROM p ORDER BY channel, month, age
        """,
    )


STATES = ("new", "repeat", "loyal", "dormant", "lost")
RECENCY_BUCKETS = ("0", "1", "2", *["3-5"] * 3, *["6-11"] * 6, "12+")
"""Label of each month of recency, 0..11, then 12 and more."""


def _state(end: str, last: str, orders: str) -> str:
    """A buyer's state code (an index into STATES) at the day `end`."""
    return (
        f"CASE WHEN {end} - {last} > {LOST_AFTER_DAYS} THEN 4 "
        f"WHEN {end} - {last} > {DORMANT_AFTER_DAYS} THEN 3 "
        f"WHEN {orders} >= 3 THEN 2 WHEN {orders} = 2 THEN 1 ELSE 0 END"
    )


def _label(column: str, labels: Sequence[str]) -> str:
    return f"[{', '.join(repr(x) for x in labels)}][{column} + 1]"


def build_states(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Every buyer's state at each month end since their first month (the as-of day for
    the current month): new (F1), repeat (F2), loyal (F3+) while the last order is at most
    180 days old; dormant up to 365 days; lost after. Kept as counts per month, state,
    previous month's state, recency (months since the last order's month, 12 = 12+) and
    frequency (orders so far, 5 = 5+): what the list analysis, the calendar diagnosis and
    the lifecycle report add up.

    A buyer's cumulative orders and last order date only change in months with an order,
    so they are computed once per (buyer, month with orders) (a "span" running to the
    next such month: a row of ``customer_months``, which has the orders so far, the last
    order day before and the next order's day from the orders' window) and each span is
    unrolled into its months: no buyer × month grid is joined or windowed. Spans alike
    after their first month (same months, last order day and orders, counted to 5+) are
    counted together before they are unrolled; a span's first month, whose previous state
    is the span before's, is counted apart. Months are counted as integers (year × 12 +
    month − 1)."""
    today = f"DATE '{as_of.isoformat()}'"
    month_index = _MONTH_INDEX
    now = month_index.format(d=today)
    con.execute(
        f"""
        CREATE TABLE months AS
        SELECT i::INTEGER AS i, m, least(last_day(m), {today}) AS e, (m - 1)::DATE AS pe,
               {_month("m")} AS label
        FROM (SELECT i, make_date((i // 12)::INTEGER, (i % 12 + 1)::INTEGER, 1) AS m
              FROM range(
                  (SELECT coalesce(min({month_index.format(d="first_order_date")}), {now})
                   FROM buyers), {now} + 1) t(i))
        """
    )
    con.execute(
        f"""
        CREATE TABLE state_counts AS
        WITH spans AS (
            SELECT i AS start, last, least(cum_n, 5) AS cum_n, least(cum_n - n, 5) AS prev_n,
                   prev_last,
                   CASE WHEN {month_index.format(d="next_date")} > i
                        THEN least({month_index.format(d="next_date")}, {now} + 1)
                        ELSE {now} + 1 END AS stop
            FROM customer_months WHERE i <= {now} AND first_i IS NOT NULL
        ), firsts AS (
            SELECT start AS i, last, cum_n, prev_n, prev_last, count(*) AS customers
            FROM spans GROUP BY ALL
        ), rest AS (
            SELECT last, cum_n, unnest(range(start + 1, stop))::INTEGER AS i,
                   count(*) AS customers
            FROM spans WHERE stop > start + 1 GROUP BY start, stop, last, cum_n
        ), g AS (
            SELECT f.i, {_state("mo.e", "last", "cum_n")} AS state,
                   CASE WHEN prev_n > 0 THEN {_state("mo.pe", "prev_last", "prev_n")} END
                   AS previous,
                   last, cum_n, customers
            FROM firsts f JOIN months mo ON mo.i = f.i
            UNION ALL
            SELECT r.i, {_state("mo.e", "last", "cum_n")}, {_state("mo.pe", "last", "cum_n")},
                   last, cum_n, customers
            FROM rest r JOIN months mo ON mo.i = r.i
        )
        SELECT i, state, previous,
               least(i - {month_index.format(d="last")}, 12) AS recency,
               cum_n AS frequency, sum(customers)::BIGINT AS customers
        FROM g GROUP BY ALL
        """
    )


_RECENCY_LABELS = tuple(dict.fromkeys(RECENCY_BUCKETS))
"""The recency buckets' labels, once each: ``customer_states`` holds an index into them."""
_RECENCY_CODE = [_RECENCY_LABELS.index(label) for label in RECENCY_BUCKETS]
_PREVIOUS_LABELS = (*STATES, "none")
_FREQUENCY_LABELS = ("0", "1", "2", "3", "4", "5+")


def build_customer_states(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Each buyer's row per month end since their first month (the as-of day for the
    current one): state, the previous month end's state (``none`` in the first month),
    recency bucket and frequency, as the list analysis, the calendar diagnosis and the
    lifecycle count them. What a cell of an earlier month drills down to: the profiles
    hold today's state only. The same spans as `build_states`, unrolled per buyer.

    Held as small integer codes (the month's index, state, previous state, recency bucket,
    frequency: 1 byte each but the month), labelled only where the rows leave the engine
    (`write_customer_states`, `CELLS_QUERY`): a buyer-month row as five labels took four
    times the memory (the pass's peak at 10M orders) and each label was made per row."""
    today = f"DATE '{as_of.isoformat()}'"
    month_index = _MONTH_INDEX
    now = month_index.format(d=today)
    next_i = month_index.format(d="next_date")
    months_since = f"least(u.i - {month_index.format(d='last')}, 12)"
    con.execute(
        f"""
        CREATE TABLE customer_states AS
        WITH spans AS (
            SELECT customer_id, i AS start, last, least(cum_n, 5) AS cum_n,
                   least(cum_n - n, 5) AS prev_n, prev_last,
                   CASE WHEN {next_i} > i THEN least({next_i}, {now} + 1)
                        ELSE {now} + 1 END AS stop
            FROM customer_months WHERE i <= {now} AND first_i IS NOT NULL
        ), u AS (
            SELECT customer_id, start, last, cum_n, prev_n, prev_last,
                   unnest(range(start, stop))::INTEGER AS i
            FROM spans
        )
        SELECT u.i, u.customer_id,
               ({_state("mo.e", "last", "cum_n")})::UTINYINT AS state,
               (CASE WHEN u.i > start THEN {_state("mo.pe", "last", "cum_n")}
                     WHEN prev_n > 0 THEN {_state("mo.pe", "prev_last", "prev_n")}
                     ELSE {len(STATES)} END)::UTINYINT AS previous,
               ({_RECENCY_CODE}[{months_since} + 1])::UTINYINT AS recency,
               cum_n::UTINYINT AS frequency
        FROM u JOIN months mo ON mo.i = u.i
        """
    )


def write_customer_states(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """The ``customer_states`` file (month, customer, state, previous state, recency and
    frequency, as labels): the codes streamed from DuckDB as Arrow batches become
    dictionary columns over the labels, which the writer stores as they are (labels made
    per row by DuckDB and hashed again by the writer cost twice the CPU). No Arrow schema
    is stored: every reader sees plain strings, as in the Glue table."""
    import pyarrow.parquet as pq

    months = con.sql("SELECT i, label FROM months ORDER BY i").fetchall()
    first = int(months[0][0]) if months else 0
    labels = {
        "month": [str(m[1]) for m in months],
        "state": list(STATES),
        "previous": list(_PREVIOUS_LABELS),
        "recency": list(_RECENCY_LABELS),
        "frequency": list(_FREQUENCY_LABELS),
    }
    dictionaries = {c: pa.array(v, type=pa.string()) for c, v in labels.items()}
    coded = pa.dictionary(pa.int32(), pa.string())
    names = ("month", "customer_id", "state", "previous", "recency", "frequency")
    schema = pa.schema([(c, coded if c in labels else pa.string()) for c in names])
    reader = con.sql(
        f"""SELECT (i - {first})::INTEGER AS month, customer_id, state::INTEGER AS state,
                   previous::INTEGER AS previous, recency::INTEGER AS recency,
                   frequency::INTEGER AS frequency
            FROM customer_states"""
    ).to_arrow_reader(PARQUET_BATCH_ROWS)
    with pq.ParquetWriter(path, schema, compression="snappy", store_schema=False) as writer:
        for batch in reader:
            columns = [
                pa.DictionaryArray.from_arrays(batch.column(c), dictionaries[c])
                if c in labels
                else batch.column(c)
                for c in names
            ]
            writer.write_batch(pa.record_batch(columns, schema=schema))
    return path


CELLS_QUERY = f"""
    SELECT mo.label AS month, {_label("state", STATES)} AS state,
           {_label("previous", _PREVIOUS_LABELS)} AS previous,
           {_label("recency", _RECENCY_LABELS)} AS recency,
           {_label("frequency", _FREQUENCY_LABELS)} AS frequency, customer_ids
    FROM (SELECT i, state, previous, recency, frequency, list(customer_id) AS customer_ids
          FROM customer_states WHERE i BETWEEN $first AND $last GROUP BY ALL)
    JOIN months mo USING (i)
"""
"""The drill-down file of each month: the buyers of each (state, previous state, recency,
frequency) combination, for the months ``$first`` to ``$last`` (indices); any cell of
the three reports is a union of these rows. Grouped
by the codes and labelled after (the month's label from the ``months`` table: one made
per row cost as much as the rest). Unsorted: sorting in the list took half of the files'
time, and the API sorts the one cell it reads."""


CELLS_BATCH_ROWS = 4_000_000
"""Buyer-month rows grouped per statement by `write_cells`: the lists of customer ids are
held until the statement's files are written (all the months at once took 1.3 GB above
the ``customer_states`` table at 10M orders, the pass's peak)."""


def write_cells(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, Path]:
    """The month files of `CELLS_QUERY` (JSON lines, one directory per month, written by
    DuckDB): month → file. Consecutive months are written together up to
    `CELLS_BATCH_ROWS` buyer-month rows (a month is never split)."""
    counts = con.sql("SELECT i, count(*) FROM customer_states GROUP BY i ORDER BY i").fetchall()
    batches: list[tuple[int, int]] = []
    rows = 0
    for i, n in counts:
        if batches and rows + n <= CELLS_BATCH_ROWS:
            batches[-1] = (batches[-1][0], i)
            rows += n
        else:
            batches.append((i, i))
            rows = n
    files: dict[str, Path] = {}
    (out_dir / "cells").mkdir(parents=True, exist_ok=True)
    for k, (first, last) in enumerate(batches):
        query = CELLS_QUERY.replace("$first", str(first)).replace("$last", str(last))
        files.update(_write_partitioned(con, query, out_dir / "cells" / f"part-{k}"))
    return files


def _write_partitioned(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> dict[str, Path]:
    """The query's rows as JSON lines, one file per ``month`` (DuckDB's parts joined)."""
    con.execute(f"COPY ({query}) TO '{target}' (FORMAT JSON, PARTITION_BY (month))")
    files: dict[str, Path] = {}
    for folder in sorted(target.glob("month=*")):
        parts = sorted(folder.glob("*.json"))
        if len(parts) > 1:  # one file per month: join DuckDB's parts
            with parts[0].open("a", encoding="utf-8") as joined:
                for extra in parts[1:]:
                    joined.write(extra.read_text(encoding="utf-8"))
        files[folder.name.removeprefix("month=")] = parts[0]
    return files


COHORT_CELLS_QUERY = f"""
    WITH b AS (
        SELECT c.customer_id, {_month("c.first_order_date")} AS month,
               least(c.orders, {MAX_F_STAGE}) AS stage,
               o.order_date - c.first_order_date AS days,
               coalesce(c.acquisition_channel, '(none)') AS channel,
               coalesce(c.first_sku, '(none)') AS first_product,
               coalesce(c.first_offer, '(none)') AS first_offer
        FROM buyers c LEFT JOIN orders o ON o.customer_id = c.customer_id AND o.seq = 2
    )
    SELECT month, 'buyers' AS kind, NULL::INTEGER AS month_offset, stage,
           {_SECOND_PURCHASE_BUCKET} AS bucket, channel, first_product, first_offer,
           list(customer_id) AS customer_ids
    FROM b GROUP BY ALL
    UNION ALL
    SELECT {_MONTH_LABEL.format(i="first_i")}, 'retention', (i - first_i)::INTEGER,
           NULL, NULL, NULL, NULL, NULL, list(customer_id)
    FROM customer_months WHERE first_i IS NOT NULL GROUP BY first_i, i - first_i
"""
"""The drill-down file of each first-purchase month (cohort): its buyers per (orders so
far up to 10+, days-to-second-purchase bucket, acquisition channel, first product,
first offer), what the F-stage funnel, the second-purchase buckets and the LTV rows
count (kind ``buyers``), and per month since the first (kind ``retention``) the buyers
of the retention matrix's cell, from the same ``customer_months`` rows its facts count."""


def write_cohort_cells(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, Path]:
    """The cohort month files of `COHORT_CELLS_QUERY`: cohort month → file."""
    return _write_partitioned(con, COHORT_CELLS_QUERY, out_dir / "cohorts")


def list_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        SELECT {_month("m")} AS month, {_label("state", STATES)} AS state,
               sum(customers)::BIGINT AS customers
        FROM state_counts JOIN months USING (i) GROUP BY ALL ORDER BY month, state
        """,
    )


def calendar_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        SELECT {_month("m")} AS month, {_label("recency", RECENCY_BUCKETS)} AS recency,
               CASE WHEN frequency >= 5 THEN '5+' ELSE frequency::VARCHAR END AS frequency,
               sum(customers)::BIGINT AS customers
        FROM state_counts JOIN months USING (i) GROUP BY ALL ORDER BY month, recency, frequency
        """,
    )


def lifecycle_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        SELECT {_month("m")} AS month,
               coalesce({_label("previous", STATES)}, 'none') AS from_state,
               {_label("state", STATES)} AS to_state, sum(customers)::BIGINT AS customers
        FROM state_counts JOIN months USING (i) GROUP BY ALL ORDER BY month, from_state, to_state
        """,
    )


def campaign_facts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per campaign, month sent, rank and channel: messages, attributed orders (net
    revenue of the ones still active) and the discounts those orders carried."""
    return _rows(
        con,
        f"""
        WITH att AS (
            SELECT a.source_id, o.customer_id, count(*) AS orders,
                   sum(o.revenue) AS revenue, sum(o.discount) AS discount
            FROM attributed a JOIN orders_raw o ON o.order_id = a.order_id AND o.active
            GROUP BY ALL
        )
        SELECT r.source, r.source_id, r.name, {_month("r.sent_date")} AS month,
               coalesce(r.rank, 'unranked') AS rank, r.channel,
               count(*) AS sent,
               count(att.orders) AS converted,
               coalesce(sum(att.orders), 0) AS orders,
               coalesce(sum(att.revenue), 0) AS revenue,
               coalesce(sum(att.discount), 0) AS discount
        FROM campaign_records r
        LEFT JOIN att ON att.source_id = r.source_id AND att.customer_id = r.customer_id
        GROUP BY ALL ORDER BY r.source_id, month, rank, r.channel
        """,
    )


_INPUTS = {
    "profiles": ("profiles", _PROFILE_SCHEMA),
    "campaign_records": ("campaign_records", _CAMPAIGN_SCHEMA),
    "attributed": ("attributed", _ATTRIBUTED_SCHEMA),
}


class Snapshot:
    """One pass's DuckDB connection: the shop's rows are appended chunk by chunk as they
    are read (`append`, a `segmenter.domain.analytics.snapshot.ChunkSink`), then `run`
    builds the snapshot tables, writes them as Parquet and computes every fact.

    The orders stay Arrow batches, converted from the chunk's Python values in C, which
    DuckDB reads in place as ``orders_raw`` and the orders file is written from: 0.5 s
    CPU for 1M orders, where numpy arrays of the same lists inserted chunk by chunk cost
    3.1 s (bench/analytics_reports.py, "Like for like")."""

    def __init__(self, threads: int | None = None) -> None:
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET preserve_insertion_order = false")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        for name, schema in _INPUTS.values():
            _create(self._con, name, schema)
        self._orders: list[pa.RecordBatch] = []
        self.orders = 0

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The pass's tables after `run` (the bench times one statement over them)."""
        return self._con

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def append(self, table: str, columns: Mapping[str, Any]) -> None:
        if table == "orders":
            batch = orders_batch(columns)
            if batch.num_rows:
                self._orders.append(batch)
                self.orders += batch.num_rows
            return
        name, schema = _INPUTS[table]
        _append(self._con, name, columns, schema)

    def _orders_table(self, survivors: Mapping[str, str] | None) -> pa.Table:
        """The appended orders as one Arrow table (no copy), each merged-away customer's
        orders under their survivor, and each row's number (``rid``)."""
        table = pa.Table.from_batches(self._orders, schema=ORDERS_ARROW_SCHEMA)
        self._orders = []
        table = _with_survivors(table, survivors or {})
        return table.append_column("rid", pa.array(np.arange(table.num_rows, dtype=np.int64)))

    def run(
        self,
        as_of: date,
        out_dir: Path,
        survivors: Mapping[str, str] | None = None,
        campaigns: CampaignColumns | None = None,
        hooks: Sequence[FactsHook] = (),
        drill_down: bool = True,
    ) -> EngineResult:
        """Build the snapshot tables, write them as Parquet, compute the facts and run the
        hooks (the CLV fit) on the same tables. `survivors`: merged-away customer → the
        person their orders count for. `drill_down`: also keep who is in each list
        diagnosis cell per month (``customer_states`` and the month files; the bench
        times the pass without it against a pandas side that does not do it either)."""
        con = self._con
        out_dir.mkdir(parents=True, exist_ok=True)
        # spills (past DuckDB's memory limit, 80 % of the machine's) go beside the files:
        # the default, ./.tmp, is the function's read-only code directory on Lambda
        con.execute(f"SET temp_directory = '{out_dir / 'duckdb-temp'}'")
        orders_raw = self._orders_table(survivors)
        con.register("orders_raw", orders_raw)
        if campaigns is not None:
            self.append("campaign_records", campaigns.records)
            self.append("attributed", campaigns.attributed)
        build_orders(con)
        seq = order_stages(con, orders_raw.num_rows)
        build_firsts(con, orders_raw, seq)
        campaigns_facts = campaign_facts(con)  # the attributed orders by order id
        con.unregister("orders_raw")  # the facts read the narrow orders from here on
        # the orders file on one core while DuckDB builds the customers and the facts on
        # both; the batches (0.9 GB at 10M orders) go back to the system as they are written
        # views of the batches, which the file's writer drops as it goes (without the row
        # numbers: every batch's slice of them would hold the whole column)
        batches = deque(orders_raw.drop_columns(["rid"]).to_batches())
        del orders_raw
        writer = ThreadPoolExecutor(1, thread_name_prefix="orders-file")
        orders_file = writer.submit(write_orders, batches, seq, out_dir / "orders.parquet")
        orders_file.add_done_callback(_release_arrow_memory)
        del batches, seq
        try:
            result = self._facts(as_of, out_dir, campaigns_facts, hooks, drill_down)
            result = replace(result, files={"orders": orders_file.result(), **result.files})
        except BaseException as failure:
            writer.shutdown()  # the writer's own failure, if any, is told with this one
            error = orders_file.exception()
            if error is not None and error is not failure:
                failure.add_note(f"the orders file's writer failed too: {error!r}")
            raise
        finally:
            writer.shutdown()
        return result

    def _facts(
        self,
        as_of: date,
        out_dir: Path,
        campaigns_facts: list[dict[str, Any]],
        hooks: Sequence[FactsHook],
        drill_down: bool,
    ) -> EngineResult:
        """Everything after the numbered orders: the customers, their file, the month-end
        states, the drill-down files and every fact."""
        con = self._con
        build_customers(con, as_of)
        files = {
            "customers": write_parquet(
                con, "SELECT * FROM customers", out_dir / "customers.parquet"
            )
        }
        build_states(con, as_of)
        cells: dict[str, Path] = {}
        cohorts: dict[str, Path] = {}
        if drill_down:
            build_customer_states(con, as_of)
            files["customer_states"] = write_customer_states(
                con, out_dir / "customer_states.parquet"
            )
            cells = write_cells(con, out_dir)
            con.execute("DROP TABLE customer_states")
            cohorts = write_cohort_cells(con, out_dir)
        facts: dict[str, list[dict[str, Any]]] = {
            "ltv": ltv_facts(con, as_of),
            "repeat": repeat_facts(con),
            "second_purchase": second_purchase_facts(con),
            "retention": retention_facts(con),
            "payback": payback_facts(con),
            "revenue": revenue_facts(con),
            "list": list_facts(con),
            "calendar": calendar_facts(con),
            "lifecycle": lifecycle_facts(con),
            "campaigns": campaigns_facts,
        }
        for hook in hooks:
            facts.update(hook(con))
        customers = con.execute("SELECT count(*) FROM customers").fetchone()
        return EngineResult(
            facts, files, cells, cohorts, self.orders, int(customers[0]) if customers else 0
        )
