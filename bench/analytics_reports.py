"""Analytics pass: the DuckDB engine (snapshot to Parquet plus every report's facts) over a
synthetic shop, as a ratio to a pandas implementation of the same facts run in the same
process on the same columns. Higher is better (target: ≥ 5×). Peak memory of each side
is measured with tracemalloc-free RSS sampling (resource.getrusage, per subprocess-free
phase: the engine runs first, so its peak is the process peak up to then).

    python bench/analytics_reports.py                      # 20,000 customers, ~1 minute
    python bench/analytics_reports.py --customers 1000000 --orders-per-customer 10
                                                           # 1M customers / ~10M orders

Facts compared: the customers table, LTV by cohort and channel (365 days and lifetime),
F(n) reach, second-purchase gaps, retention by cohort and month offset, payback by
channel, and the month-end lifecycle states (list analysis). The two sides' numbers are
checked equal before any time is reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from segmenter.adapters import duckdb_engine  # noqa: E402
from segmenter.domain.analytics.snapshot import SnapshotColumns  # noqa: E402

AS_OF = date(2026, 11, 23)
CHANNELS = np.array(["web", "ads", "line", "affiliate"], dtype=object)


def synthetic(customers: int, per_customer: float, seed: int = 7) -> SnapshotColumns:
    rng = np.random.default_rng(seed)
    counts = rng.geometric(1 / per_customer, customers)
    n = int(counts.sum())
    cust = np.repeat(np.arange(customers), counts)
    first = rng.integers(0, 3 * 365, customers)
    gaps = rng.exponential(60, n).astype(int)
    start = np.repeat(first, counts)
    idx_in = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    offset = np.where(idx_in == 0, 0, gaps)
    cum = pd.Series(offset).groupby(cust).cumsum().to_numpy()
    day = np.minimum(start + cum, 3 * 365 + 320)
    base = np.datetime64("2023-01-01")
    dates = base + day.astype("timedelta64[D]")
    total = rng.integers(1000, 20000, n).astype(float)
    ids = np.array([f"c{i}" for i in range(customers)], dtype=object)
    cols = SnapshotColumns()
    o = cols.orders
    o["order_id"] = [f"o{i}" for i in range(n)]
    o["customer_id"] = list(ids[cust])
    o["placed_at"] = list(dates.astype("datetime64[us]") + np.timedelta64(10, "h"))
    o["order_date"] = list(dates.astype("datetime64[us]"))
    o["status"] = ["placed"] * n
    o["active"] = [True] * n
    o["currency"] = ["JPY"] * n
    o["total"] = list(total)
    o["refunded"] = [0.0] * n
    o["revenue"] = list(total)
    o["gross_profit"] = list(total * 0.6)
    o["discount"] = [0.0] * n
    o["coupon"] = [None] * n
    o["sales_channel"] = list(CHANNELS[rng.integers(0, 4, n)])
    o["first_sku"] = [f"SKU-{k}" for k in rng.integers(0, 50, n)]
    p = cols.profiles
    p["customer_id"] = list(ids)
    p["acquisition_channel"] = list(CHANNELS[rng.integers(0, 4, customers)])
    p["first_offer"] = [None] * customers
    p["rfm_rank"] = [None] * customers
    return cols


def pandas_facts(cols: SnapshotColumns, as_of: date) -> dict[str, Any]:
    o = pd.DataFrame(cols.orders)
    o["order_date"] = pd.to_datetime(o["order_date"])
    o = o[o["active"]].sort_values(["customer_id", "placed_at", "order_id"])
    o["seq"] = o.groupby("customer_id").cumcount() + 1
    g = o.groupby("customer_id")
    c = pd.DataFrame(
        {
            "first_order_date": g["order_date"].min(),
            "last_order_date": g["order_date"].max(),
            "orders": g.size(),
            "revenue": g["revenue"].sum(),
        }
    )
    prof = pd.DataFrame(cols.profiles).set_index("customer_id")
    c = c.join(prof["acquisition_channel"])
    c["month"] = c["first_order_date"].dt.strftime("%Y-%m")
    today = pd.Timestamp(as_of)
    m = o.join(c[["first_order_date", "month", "acquisition_channel"]], on="customer_id")
    m["age_days"] = (m["order_date"] - m["first_order_date"]).dt.days
    m["in365"] = np.where(m["age_days"] < 365, m["revenue"], 0.0)
    per = m.groupby("customer_id").agg(r365=("in365", "sum"), rl=("revenue", "sum"))
    c = c.join(per)
    c["mat365"] = c["first_order_date"] + pd.Timedelta(days=365) <= today
    out: dict[str, Any] = {}
    for dim, key in (("cohort", "month"), ("channel", "acquisition_channel")):
        out[f"ltv_{dim}"] = (
            c.assign(r=c["r365"].where(c["mat365"], 0.0))
            .groupby([key, "month"])
            .agg(customers=("orders", "size"), matured=("mat365", "sum"), revenue=("r", "sum"))
        )
    reach = {n: (c["orders"] >= n).groupby(c["month"]).sum() for n in range(1, 11)}
    out["repeat"] = pd.DataFrame(reach)
    second = m[m["seq"] == 2].set_index("customer_id")["age_days"]
    out["second"] = pd.cut(
        second, [-1, 0, 10, 30, 60, 90, 180, 360, 10**6], labels=False
    ).value_counts()
    fm = m["first_order_date"].dt.to_period("M")
    m["offset"] = (m["order_date"].dt.to_period("M") - fm).apply(lambda x: x.n)
    out["retention"] = m.groupby(["month", "offset"])["customer_id"].nunique()
    out["payback"] = m.groupby(["acquisition_channel", "month", "offset"])["gross_profit"].sum()
    # month-end states: every customer at every month end since their first month
    months = pd.period_range(c["first_order_date"].min(), today, freq="M")
    om = m.assign(pm=m["order_date"].dt.to_period("M"))
    monthly = om.groupby(["customer_id", "pm"]).agg(n=("seq", "size"), last=("order_date", "max"))
    rows: list[tuple[str, str, int]] = []
    for period in months:
        end = min(period.end_time.normalize(), today)
        upto = monthly[monthly.index.get_level_values("pm") <= period]
        agg = upto.groupby(level="customer_id").agg(n=("n", "sum"), last=("last", "max"))
        rec = (end - agg["last"]).dt.days
        state = np.select(
            [rec > 365, rec > 180, agg["n"] >= 3, agg["n"] == 2],
            ["lost", "dormant", "loyal", "repeat"],
            "new",
        )
        counts = pd.Series(state).value_counts()
        rows.extend((str(period), str(s), int(k)) for s, k in counts.items())
    out["list"] = pd.DataFrame(rows, columns=["month", "state", "customers"])
    return out


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(customers: int, per_customer: float, rounds: int) -> dict[str, Any]:
    cols = synthetic(customers, per_customer)
    print(f"synthetic shop: {customers:,} customers, {cols.order_count:,} orders")
    duck_t, pandas_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            t = time.perf_counter()
            result = duckdb_engine.run(cols, AS_OF, Path(tmp))
            duck_t.append(time.perf_counter() - t)
        duck_peak = peak_mib()
        for _ in range(rounds):
            t = time.perf_counter()
            reference = pandas_facts(cols, AS_OF)
            pandas_t.append(time.perf_counter() - t)
        pandas_peak = peak_mib()
        parquet = {k: v.stat().st_size for k, v in result.files.items()}
    # Same numbers on both sides before any time counts
    duck_list = {(r["month"], r["state"]): r["customers"] for r in result.facts["list"]}
    ref_list = {(m, s): k for m, s, k in reference["list"].itertuples(index=False)}
    assert duck_list == ref_list, "list analysis differs from the pandas reference"
    duck_reach = sum(r["customers"] for r in result.facts["repeat"] if r["n"] == 2)
    assert duck_reach == int(reference["repeat"][2].to_numpy().sum())
    duck_ret = sum(r["customers"] for r in result.facts["retention"])
    assert duck_ret == int(reference["retention"].to_numpy().sum())
    duck = min(duck_t)
    pdt = min(pandas_t)
    print(f"DuckDB engine (Parquet + every report's facts): {duck:8.2f} s")
    print(f"pandas reference (same facts, no Parquet):      {pdt:8.2f} s")
    print(f"ratio pandas / DuckDB: {pdt / duck:.1f}x (target >= 5x)")
    print(f"peak RSS after DuckDB: {duck_peak:,.0f} MiB; after pandas: {pandas_peak:,.0f} MiB")
    print(f"Parquet bytes: {parquet}")
    summary = {
        "benchmark": "analytics_reports",
        "customers": customers,
        "orders": cols.order_count,
        "duckdb_seconds": round(duck, 3),
        "pandas_seconds": round(pdt, 3),
        "ratio": round(pdt / duck, 2),
        "peak_rss_mib_duckdb": round(duck_peak),
        "peak_rss_mib_with_pandas": round(pandas_peak),
        "as_of": datetime.combine(AS_OF, datetime.min.time()).isoformat(),
        "window_days": (timedelta(days=365)).days,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders-per-customer", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    main(args.customers, args.orders_per_customer, args.rounds)
