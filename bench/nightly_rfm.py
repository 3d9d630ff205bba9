"""The nightly's RFM scoring at N customers (default 200,000), as a ratio of the
vectorised path the nightly now runs (`membership.shop_rfm`: three columns read off the
profiles, `batch.score_rfm`) to the pure-Python path it ran before
(`rfm.score_customers` over one `RfmInput` per profile), both in this process on the same
profiles. Lower is better. The two must give every customer the same score.

Also prints, as seconds of this run only, what the profile path pays per customer in
Python outside RFM: reading the stored items into `Profile` objects and building the
columnar table through `profile_facts` (the single-Lambda recompute's way; the fan-out's
apply children read columns straight from the items, see bench/nightly_fanout.py).

    python bench/nightly_rfm.py [--customers N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from segmenter.adapters.codec import profile_from_dict, profile_to_dict  # noqa: E402
from segmenter.domain.membership import profile_facts, shop_rfm  # noqa: E402
from segmenter.domain.model import Contact, OrderStats, Profile, RfmScore  # noqa: E402
from segmenter.domain.segments import rfm  # noqa: E402
from segmenter.domain.segments.batch import ProfileTable  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _profiles(count: int, seed: int) -> list[Profile]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        orders = rng.choice((0, 1, 1, 2, 3, 5, 8))
        last = NOW - timedelta(days=rng.randint(1, 900)) if orders else None
        stats = OrderStats(
            order_count=orders,
            first_order_at=last - timedelta(days=30 * orders) if last else None,
            last_order_at=last,
            revenue=Decimal(rng.randint(1, 40) * 990 * orders),
            skus=frozenset({f"SKU-{rng.randint(0, 99)}"}) if orders else frozenset(),
        )
        out.append(
            Profile("bench", f"c{i}", contact=Contact(email=f"c{i}@example.jp"), stats=stats)
        )
    return out


def _python_path(profiles: list[Profile], config: rfm.RfmConfig) -> list[RfmScore | None]:
    """What `Segments.recompute` ran before: one RfmInput per profile, pure Python."""
    scored = rfm.score_customers(
        [
            rfm.RfmInput(
                p.customer_id, p.stats.last_order_at, p.stats.order_count, float(p.stats.revenue)
            )
            for p in profiles
        ],
        NOW,
        config,
    )
    return [
        None if s.rank is None or s.r is None else RfmScore(s.r, s.f or 0, s.m or 0, s.rank.value)
        for s in scored
    ]


def main(customers: int, seed: int) -> dict[str, float]:
    profiles = _profiles(customers, seed)
    config = rfm.RfmConfig()
    shop_rfm(profiles[:10], NOW, config)  # numpy imported outside the clock

    started = time.perf_counter()
    before = _python_path(profiles, config)
    python_seconds = time.perf_counter() - started
    started = time.perf_counter()
    after = shop_rfm(profiles, NOW, config)
    vector_seconds = time.perf_counter() - started
    assert before == after, "the two paths disagree"

    stored = [profile_to_dict(replace(p, version=1)) for p in profiles]
    started = time.perf_counter()
    read = [profile_from_dict(d) for d in stored]
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ProfileTable.from_facts([profile_facts(p, NOW) for p in read])
    table_seconds = time.perf_counter() - started

    result = {
        "customers": customers,
        "rfm_ratio": round(vector_seconds / python_seconds, 4),
        "rfm_python_s": round(python_seconds, 3),
        "rfm_vectorised_s": round(vector_seconds, 3),
        "read_profiles_s": round(read_seconds, 3),
        "table_from_facts_s": round(table_seconds, 3),
    }
    print(f"Nightly RFM at {customers:,} customers (same process, same profiles):")
    print(f"  pure Python  {python_seconds:8.3f} s")
    print(f"  vectorised   {vector_seconds:8.3f} s   ratio {result['rfm_ratio']:.4f}")
    print("Still per customer in Python (not yet from the items):")
    print(f"  items -> Profile           {read_seconds:8.3f} s")
    print(f"  profile_facts + from_facts {table_seconds:8.3f} s")
    print(json.dumps({"benchmark": "nightly_rfm", **result}))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    main(args.customers, args.seed)
