"""The analytics pass's peak memory at the issue's size: the real pass (`run_pass`, the same
code as the nightly function) over a synthetic shop whose stored items are generated and
decoded one at a time (profile and order dicts in their stored shape, through the same
codec as the DynamoDB scan), so the source holds nothing: what the process holds is the
pass's own (the chunk being flattened, DuckDB's tables, one small record per profile, the
CLV fit's arrays). Target: fit one 10 GB Lambda at 1,000,000 customers / 10,000,000 orders.

    python bench/analytics_memory.py                        # 20,000 customers, ~200,000 orders
    python bench/analytics_memory.py --customers 1000000 --orders-per-customer 10

Peak memory is the process's peak RSS (resource.getrusage ru_maxrss), printed with the
pass's wall and CPU time and the Parquet sizes.

Latest, 2026-12-05 (load 1.4-1.9): 1,000,000 customers / 9,989,911 orders, peak RSS 2,832
MiB (83 MiB before the pass), 146 s CPU, 140 s wall, every buyer scored. The pass now runs
pyarrow on the system allocator (as the function does: ARROW_DEFAULT_MEMORY_POOL=system in
infra/template.yaml) and writes the orders file on a thread of its own while DuckDB builds
the customers, taking the orders' Arrow batches off as each row group is written and
handing their memory back (`release_unused`) group by group. Per step (RSS sampled every
20 ms): the chunks in 1,414 MiB, the window 2,264, the customers 2,477, the month files
2,831 (the peak). Handing the memory back only when the pass ended, the peak was 3,719-
3,794 MiB (the system allocator keeps freed memory for reuse); once the file was written,
3,163 MiB (in the customers step, the batches alive beside it); on pyarrow's default pool
(mimalloc) with the thread and no release, 3,293 MiB.

Measured 2026-12-04 on 2 cores shared with several other jobs (the process got ~17 % of a
core, so the wall times are not the pass's):
- 100,000 customers / 998,716 orders: peak RSS 545 MiB, 50 s CPU; 586 MiB, 18 s CPU once
  the Parquet files went through pyarrow in 250,000-row Arrow batches (626 MiB with
  batches of a million; the older 10M-order figure below is from before that change).
- 1,000,000 customers / 9,989,911 orders, 2026-12-04 late (load 6.7 -> 6.3, the 10M
  reports bench running beside it): peak RSS 3,509 MiB (50 MiB before the pass), 158 s
  CPU, 579 s wall, every buyer scored; Parquet 160 MB orders, 31 MB customers, 59 MB
  customer_states; JSON 292 MB cells, 118 MB cohorts. Down from 5,835 MiB (2.3 GB less):
  the pass's ``customer_states`` table is held as integer codes (661 MiB for ~29.5M
  buyer-month rows, ten times the 1M-order shop's; as five labels per row it took 2.9
  times that, measured at 1M orders), and the month cells files are written 4,000,000
  buyer-month rows per statement (all the months at once held every month's customer id
  lists, 1.3 GB above the tables; bench/analytics_reports.py has the steps). Fits the
  AnalyticsFunction's 10 GB with room; DuckDB would spill past its limit (80 % of the
  memory) into the pass's temporary directory. Then, with the orders' Arrow batches
  handed back to the system before the customers are built instead of after (the
  campaign facts, their last reader, computed first), the same evening (load 4.3 -> 5.1,
  alone): peak RSS 2,791 MiB, 149 s CPU, 300 s wall, every buyer scored.
- 1,000,000 customers / 9,989,911 orders, 2026-12-04 evening, the orders held as Arrow
  batches (converted from the builder's lists in C; DuckDB reads them in place): peak RSS
  5,835 MiB, 174 s CPU, 786 s wall (load 10-12, another 10M-order job beside it).
  The same run of the code before that change, the same evening: 5,782 MiB, 211 s CPU,
  1,061 s wall. The peak grew after the 2,540 MiB below (not bisected; at 1M orders it
  is while the month cells files are written, 870 MiB, against 520-580 MiB while the
  orders are numbered and written): it is over the AnalyticsFunction's 3,008 MB (a 10 GB
  function would hold it). CPU is three quarters decoding the items and flattening them
  (the orders' Python objects), common to any engine. Parquet 189 MB (orders, with each
  batch's dictionaries; plain strings since, 16.7 MB against 19.0 MB at 1M orders).
- 1,000,000 customers / 9,989,911 orders, after the engine's changes of the afternoon
  (the orders file's seq by row id, the first order's strings from the file's batches,
  the window over the active orders): peak RSS 2,540 MiB (50 MiB before the pass), 181 s
  CPU, 807 s wall at load 14-21, every buyer scored; Parquet 166 MB + 31 MB. Before
  those changes:
- 1,000,000 customers / 9,989,911 orders: peak RSS 2,851 MiB (57 MiB before the pass),
  511 s CPU (most of it decoding the items, as the DynamoDB scan would), every buyer
  scored; Parquet 175 MB (orders) + 30 MB (customers). Fits one 10 GB Lambda. Before
  the pass streamed, it held every Profile and Order object, and the engine's input lists
  alone took 4.9 GB at this size.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from segmenter.adapters.analytics_data import AnalyticsData  # noqa: E402
from segmenter.adapters.campaign_results import CampaignResults  # noqa: E402
from segmenter.adapters.codec import order_from_dict, profile_from_dict  # noqa: E402
from segmenter.bootstrap import AnalyticsPorts  # noqa: E402
from segmenter.domain.analytics.snapshot import CampaignColumns, ProfileRef  # noqa: E402
from segmenter.domain.model import ClvScore, Order, Profile  # noqa: E402
from segmenter.services import analytics  # noqa: E402
from segmenter.services.ports import AnalyticsStore  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CHANNELS = ("web", "ads", "line", "affiliate")
BLOCK = 10_000


def stored_items(customers: int, per_customer: float, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Profiles and orders in their stored shape, a block of customers at a time (drawn
    like bench/analytics_reports.py's shop: geometric order counts, gaps of 60 days),
    each block's numbers drawn at once so the generator costs little beside the pass."""
    rng = np.random.default_rng(seed)
    order_no = 0
    for start in range(0, customers, BLOCK):
        size = min(BLOCK, customers - start)
        counts = rng.geometric(1 / per_customer, size)
        n = int(counts.sum())
        first = rng.integers(0, 3 * 365, size)
        channel = rng.integers(0, 4, size).tolist()
        owner = np.repeat(np.arange(size), counts)
        opens = np.repeat(np.cumsum(counts) - counts, counts)
        gaps = np.where(np.arange(n) == opens, 0, rng.exponential(60, n).astype(int))
        cum = np.cumsum(gaps)
        days = first[owner] + cum - np.repeat(cum[np.cumsum(counts) - counts], counts)
        days = np.minimum(days, 3 * 365 + 320)
        placed = np.datetime64("2023-01-01T01:00") + days.astype("timedelta64[D]")
        stamps = [f"{t}:00+00:00" for t in np.datetime_as_string(placed, unit="m")]
        totals = rng.integers(1000, 20000, n).tolist()
        skus = rng.integers(0, 50, n).tolist()
        sales = rng.integers(0, 4, n).tolist()
        owners = owner.tolist()
        row = 0
        for i in range(size):
            customer = f"c{start + i}"
            yield {
                "sk": "PROFILE",
                "shop_id": "bench",
                "customer_id": customer,
                "attributes": {"acquisition_channel": CHANNELS[channel[i]]},
                "version": 1,
            }
            while row < n and owners[row] == i:
                total = totals[row]
                yield {
                    "sk": "ORDER",
                    "order_id": f"o{order_no}",
                    "customer_id": customer,
                    "placed_at": stamps[row],
                    "currency": "JPY",
                    "total": str(total),
                    "sales_channel": CHANNELS[sales[row]],
                    "lines": [
                        {
                            "sku": f"SKU-{skus[row]}",
                            "quantity": 1,
                            "unit_price": str(total),
                            "unit_cost": str(int(total * 0.4)),
                        }
                    ],
                }
                order_no += 1
                row += 1


class SyntheticShop(AnalyticsData):
    """The scan, over generated items: each decoded by the codec and handed on."""

    def __init__(self, customers: int, per_customer: float) -> None:
        self.customers = customers
        self.per_customer = per_customer
        self.orders = 0
        self.written = 0

    def scan_shop(self, shop_id: str) -> Iterator[Profile | Order]:
        for item in stored_items(self.customers, self.per_customer):
            if item["sk"] == "PROFILE":
                yield profile_from_dict(item)
            else:
                self.orders += 1
                yield order_from_dict(item)

    def put_clv(self, updates: Sequence[tuple[Profile | ProfileRef, ClvScore | None]]) -> int:
        self.written += len(updates)
        return len(updates)


class Sizes(AnalyticsStore):
    def __init__(self) -> None:
        self.bytes: dict[str, int] = {}

    def put_table(self, shop_id: str, table: str, path: Path) -> str:
        self.bytes[table] = path.stat().st_size
        return str(path)

    def put_json(self, shop_id: str, name: str, value: dict[str, Any]) -> None:
        pass

    def put_cells(self, shop_id: str, month: str, path: Path, kind: str = "cells") -> None:
        self.bytes[kind] = self.bytes.get(kind, 0) + path.stat().st_size


class NoCampaigns(CampaignResults):
    def read(self, shop_id: str) -> CampaignColumns:
        return CampaignColumns()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(customers: int, per_customer: float) -> dict[str, Any]:
    import pyarrow as pa

    # the function's Arrow pool (infra/template.yaml: ARROW_DEFAULT_MEMORY_POOL=system)
    pa.set_memory_pool(pa.system_memory_pool())
    before = peak_mib()
    data, store = SyntheticShop(customers, per_customer), Sizes()
    t, cpu = time.perf_counter(), time.process_time()
    summary = analytics.run_pass(AnalyticsPorts(data, store, NoCampaigns()), "bench", NOW)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak = peak_mib()
    result = {
        "benchmark": "analytics_memory",
        "customers": summary.customers,
        "orders": summary.orders,
        "pass_seconds": round(wall, 1),
        "pass_cpu_seconds": round(cpu, 1),
        "peak_rss_mib_before": round(before),
        "peak_rss_mib": round(peak),
        "clv_scored": summary.clv_scored,
        "clv_refused": summary.clv_refused,
        "parquet_bytes": store.bytes,
    }
    print(
        f"pass over {summary.customers:,} customers / {summary.orders:,} orders: "
        f"{wall:,.0f} s ({cpu:,.0f} s CPU), peak RSS {peak:,.0f} MiB "
        f"({before:,.0f} MiB before it started); 10 GB Lambda: "
        f"{'fits' if peak < 10 * 1024 else 'does NOT fit'}"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    args = parser.parse_args()
    main(args.customers, args.orders_per_customer)
