"""The nightly recompute end to end at N profiles (default 1,000,000), reading and
building the table and the recommendation model included: the Step Functions fan-out
(`NightlyFanout`, its steps as the template's state machine runs them, over S
parallel-scan segments) as a ratio to the single-Lambda nightly (`Segments.refresh`:
`recompute`, then the model from every profile in one pass) on the same stored items, in
this process.

What is real: the stored items in DynamoDB's JSON wire form (each page `json.loads`-ed
as botocore does), our DynamoDB adapter's scan and query code (`from_item`,
`profile_from_dict`), RFM, the column-wise evaluation, the diff, the run files
(`np.savez` bytes). What is not: DynamoDB, EventBridge and S3 themselves, answered by
in-memory stand-ins at the client's method (`WireTable`, counting what is written). moto
holds 1M items in far more memory than this machine can spare.

The night is a quiet one: the profiles already hold tonight's scores and segments (set
up before the clock), so both paths read, score and compare everyone and write nothing;
the benchmark checks that they agree (no writes, no events, same counts, the same
recommendation model stored). The fan-out's apply children count their segment's
purchases column-wise and `finish` merges the counts (`reco_parts`); the single path
builds the model from decoded profiles (`recommend.build_model`).

The apply children read their rows as columns straight from the items
(`segment_columns`); the single-Lambda path decodes profiles and builds its table
through `profile_facts`, as it always did. `--single-customers N` measures the single
path on a shop of the first N profiles (the figures are then compared per million
profiles); by default both paths run on the same stored shop, built once.

The stored shop is moved out of the garbage collector's reach before each clock starts
(`gc.freeze()` after seeding): the stand-in keeps every item of the shop, millions of
them, in this one process, and each collection of the oldest generation would walk them
all, a cost a real Lambda (which holds only what it reads) never pays. Both paths run
with the seeding frozen.

Reported (wall seconds, and CPU seconds, which the shared machine's load does not
stretch): the single-Lambda path's seconds; the fan-out's wall time with its children
running side by side (plan + slowest rank child + pools + slowest apply child + finish,
as the Distributed Map runs them with MaxConcurrency >= S), and its Lambda-seconds (the
sum of every call); each per million profiles, and the ratio fan-out wall / single;
the finish step's seconds on their own (`finish_seconds`: the model's merge and store).

    python bench/nightly_fanout.py [--customers N] [--segments S] [--seed X]
        [--single-customers N]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from segmenter.adapters.nightly_runs import S3NightlyRuns  # noqa: E402
from segmenter.adapters.repository import (  # noqa: E402
    DynamoProfileRepository,
    _activity_items,
    _profile_item,
)
from segmenter.domain.membership import shop_memberships, shop_rfm  # noqa: E402
from segmenter.domain.model import (  # noqa: E402
    Activity,
    Attributes,
    Consent,
    Contact,
    OrderStats,
    Profile,
)
from segmenter.services.nightly import NightlyFanout  # noqa: E402
from segmenter.services.ports import SegmentLists  # noqa: E402
from segmenter.services.segments import SegmentCache, Segments  # noqa: E402
from shared.adapters.eventbridge import EventBridgePublisher  # noqa: E402

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
SHOP = "bench"
PAGE = 1000
RFM_FIELDS = ("order_count", "last_order_at", "revenue")
CATEGORIES = ("skincare", "haircare", "supplement", "food", "gift")


class WireTable:
    """A DynamoDB client's item methods over items kept as DynamoDB JSON text, the way
    the service answers: a scan segment is the items whose partition key hashes to it."""

    def __init__(self, segments: int) -> None:
        self.total = segments
        self.by_segment: list[list[str]] = [[] for _ in range(segments)]
        self.profiles_projected: list[list[str]] = [[] for _ in range(segments)]
        """The rank step's read (profile items, RFM's three fields), projected when
        stored, as DynamoDB sends only the projection."""
        self.by_gsi: dict[str, list[str]] = {}
        self.writes: dict[str, int] = {}
        self.models: list[str] = []
        """Each recommendation model stored (its JSON), in order."""

    def add(self, item: dict[str, Any]) -> None:
        text = json.dumps(item, separators=(",", ":"))
        pk = item["pk"]["S"]
        segment = int(hashlib.md5(pk.encode(), usedforsecurity=False).hexdigest(), 16)
        self.by_segment[segment % self.total].append(text)
        if item["sk"]["S"] == "PROFILE":
            stats = item.get("stats", {"M": {}})["M"]
            kept = {k: stats[k] for k in ("order_count", "last_order_at", "revenue") if k in stats}
            projected = {"shop_id": item["shop_id"], "stats": {"M": kept}}
            if "merged_into" in item:
                projected["merged_into"] = item["merged_into"]
            self.profiles_projected[segment % self.total].append(json.dumps(projected))
        if "gsi1pk" in item:
            self.by_gsi.setdefault(item["gsi1pk"]["S"], []).append(text)

    @staticmethod
    def _page(texts: list[str], start: int) -> dict[str, Any]:
        chunk = texts[start : start + PAGE]
        # botocore parses each page from JSON text
        page: dict[str, Any] = json.loads("[" + ",".join(chunk) + "]" if chunk else "[]")
        out: dict[str, Any] = {"Items": page}
        if start + PAGE < len(texts):
            out["LastEvaluatedKey"] = {"n": {"N": str(start + PAGE)}}
        return out

    def scan(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["TotalSegments"] == self.total
        start = int(kwargs.get("ExclusiveStartKey", {"n": {"N": "0"}})["n"]["N"])
        if "ProjectionExpression" in kwargs:
            names = set(kwargs["ExpressionAttributeNames"].values())
            assert names == {"shop_id", "merged_into", "stats", *RFM_FIELDS}, names
            return self._page(self.profiles_projected[kwargs["Segment"]], start)
        return self._page(self.by_segment[kwargs["Segment"]], start)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        partition = kwargs["ExpressionAttributeValues"][":pk"]["S"]
        start = int(kwargs.get("ExclusiveStartKey", {"n": {"N": "0"}})["n"]["N"])
        if kwargs.get("IndexName") == "gsi1":
            return self._page(self.by_gsi.get(partition, []), start)
        return {"Items": []}  # segment definitions, settings: none in this shop

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    def _write(self, name: str, n: int = 1) -> dict[str, Any]:
        self.writes[name] = self.writes.get(name, 0) + n
        return {}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["Item"]["pk"]["S"].endswith("#RECO"):
            self.models.append(kwargs["Item"]["model"]["S"])
        return self._write("PutItem")

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._write("UpdateItem")

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        self._write("BatchWriteItem", sum(len(v) for v in kwargs["RequestItems"].values()))
        return {"UnprocessedItems": {}}


class Bucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.objects[kwargs["Key"]] = kwargs["Body"]
        return {}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["Key"] not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[kwargs["Key"]])}


class Bus:
    def __init__(self) -> None:
        self.entries = 0

    def put_events(self, Entries: list[Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.entries += len(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}


def _profiles(n: int, seed: int) -> Iterator[tuple[Profile, list[Activity]]]:
    rng = random.Random(seed)
    for i in range(n):
        orders = rng.choice((0, 0, 1, 1, 1, 2, 3, 5, 8))
        last = NOW - timedelta(days=rng.randint(1, 900), minutes=rng.randint(0, 1439))
        category = rng.choice(CATEGORIES)
        bought = [
            Activity(
                "bought",
                last - timedelta(days=30 * k),
                f"SKU-{rng.randint(0, 199)}",
                category,
                1,
                f"o{i}-{k}",
            )
            for k in range(min(orders, 2))
        ]
        viewed = (
            [
                Activity(
                    "viewed",
                    NOW - timedelta(days=rng.randint(0, 60)),
                    f"SKU-{rng.randint(0, 199)}",
                    category,
                )
            ]
            if rng.random() < 0.3
            else []
        )
        stats = OrderStats(
            order_count=orders,
            first_order_at=last - timedelta(days=30 * orders) if orders else None,
            last_order_at=last if orders else None,
            revenue=Decimal(rng.randint(1, 40) * 990 * orders),
            categories=frozenset({category}) if orders else frozenset(),
            skus=frozenset(a.sku for a in bought if a.sku),
        )
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 20000))
        profile = Profile(
            SHOP,
            f"c{i:07d}",
            contact=Contact(email=f"c{i}@example.jp"),
            attributes=Attributes(
                birthday=born if rng.random() < 0.7 else None,
                gender=rng.choice(("female", "male", None)),
                prefecture=rng.choice(("東京都", "大阪府", "福岡県")),
                created_at=NOW - timedelta(days=1000),
            ),
            consents=(Consent("email", "marketing", True, "signup", NOW - timedelta(days=999)),),
            stats=stats,
            latest_activity={a.kind: a.at for a in [*bought, *viewed]},
            version=1,
        )
        yield profile, [*bought, *viewed]


def build(n: int, segments: int, seed: int) -> tuple[WireTable, dict[str, int]]:
    """The shop stored as items, already scored and segmented for tonight (memberships
    by the profile path, in chunks to bound memory), and its rank counts. The shop has
    the built-in segments (no stored definitions)."""
    profiles = [replace(p, activities=tuple(acts)) for p, acts in _profiles(n, seed)]
    empty = DynamoProfileRepository(WireTable(segments), "bench")  # type: ignore[arg-type]
    compiled = SegmentCache(empty).segments(SHOP)
    scores = shop_rfm(profiles, NOW)
    ranks: dict[str, int] = {}
    for score in scores:
        if score is not None:
            ranks[score.rank] = ranks.get(score.rank, 0) + 1
    table = WireTable(segments)
    chunk = 50_000
    for start in range(0, n, chunk):
        scored = [
            replace(p, rfm=s)
            for p, s in zip(
                profiles[start : start + chunk], scores[start : start + chunk], strict=True
            )
        ]
        for profile, members in zip(scored, shop_memberships(scored, compiled, NOW), strict=True):
            stored = replace(profile, segments=members, activities=())
            table.add(_profile_item(stored, stored.version))
            acts = [(profile.customer_id, a) for a in profile.activities]
            for item in _activity_items(SHOP, "bench", acts):
                table.add(item)
    return table, ranks


def _use_cases(table: WireTable, bus: Bus) -> tuple[DynamoProfileRepository, Segments]:
    repo = DynamoProfileRepository(table, "bench")  # type: ignore[arg-type]
    publisher = EventBridgePublisher(bus, "bench")  # type: ignore[arg-type]
    segs = Segments(
        repo, repo, repo, repo, SegmentLists(), SegmentCache(repo), publisher, lambda: NOW
    )
    return repo, segs


def _freeze() -> None:
    """What the seeding made is kept for the whole run: out of the collector's walks
    (the stand-in's millions of items are no part of a Lambda's own memory)."""
    gc.collect()
    gc.freeze()


def _single(table: WireTable, ranks: dict[str, int]) -> tuple[float, float, dict[str, int]]:
    """The single-Lambda nightly of the shop `table` holds (its segments, then its
    recommendation model): (wall seconds, CPU seconds, rank counts)."""
    bus = Bus()
    _, segs = _use_cases(table, bus)
    _freeze()
    t0, c0 = time.perf_counter(), time.process_time()
    single = segs.refresh(SHOP, NOW)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert (single.entered, single.exited) == (0, 0), "a quiet night changes nobody"
    assert single.ranks == ranks and bus.entries == 0
    return seconds, cpu, single.ranks


def _baseline(
    table: WireTable, ranks: dict[str, int], shop: tuple[int, int], seed: int
) -> tuple[float, float, dict[str, int]]:
    """The single-Lambda path on the same shop (`table`, `shop[0]` profiles), or on a
    shop of its first `shop[1]` profiles built for it; then the seeding frozen for the
    fan-out."""
    customers, single_customers = shop
    if single_customers >= customers:
        result = _single(table, ranks)
    else:
        small, small_ranks = build(single_customers, table.total, seed)
        result = _single(small, small_ranks)
        del small
    gc.unfreeze()
    _freeze()
    table.writes = {}
    return result


def _same_model(table: WireTable, before: int, same_shop: bool) -> bool | None:
    """The fan-out stored one model; on the same shop, the single path's (stored first)."""
    assert len(table.models) == before + 1, "the fan-out stored one model"
    if not same_shop:
        return None
    same: bool = json.loads(table.models[0]) == json.loads(table.models[-1])
    assert same, "the fan-out's model differs from the whole-shop build's"
    return same


def main(customers: int, segments: int, seed: int, single_customers: int) -> dict[str, Any]:
    import logging

    logging.disable(logging.INFO)
    load_before = os.getloadavg()
    started = time.perf_counter()
    table, ranks = build(customers, segments, seed)
    build_seconds = time.perf_counter() - started
    single_seconds, single_cpu, single_ranks = _baseline(
        table, ranks, (customers, single_customers), seed
    )
    bus = Bus()
    repo, segs = _use_cases(table, bus)
    items = sum(len(s) for s in table.by_segment)
    if single_customers == customers:
        assert single_ranks == ranks, "the two paths disagree"
    models = len(table.models)

    fanout = NightlyFanout(repo, S3NightlyRuns(Bucket(), "runs"), segs, lambda: [SHOP])
    timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def step(name: str, call: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        out = call()
        timings.setdefault(name, []).append(time.perf_counter() - t)
        cpu.setdefault(name, []).append(time.process_time() - c)
        return out

    plan = step("plan", lambda: fanout.plan(NOW, segments))
    run, now, total = plan["run"], datetime.fromisoformat(plan["now"]), plan["total"]
    for k in plan["segments"]:
        step("rank", lambda k=k: fanout.rank(run, now, k, total))
    step("pools", lambda: fanout.pools(run, total))
    for k in plan["segments"]:
        step("apply", lambda k=k: fanout.apply(run, now, k, total))
    result = step("finish", lambda: fanout.finish(run, now, total))
    fanned = result["shops"][SHOP]
    assert (fanned["entered"], fanned["exited"]) == (0, 0), "a quiet night changes nobody"
    assert fanned["ranks"] == ranks, "the fan-out disagrees with the profile path"
    assert bus.entries == 0 and not table.writes.get("UpdateItem")
    same_model = _same_model(table, models, single_customers == customers)

    phases = ("plan", "rank", "pools", "apply", "finish")
    wall = sum(max(timings[s]) for s in phases)
    wall_cpu = sum(max(cpu[s]) for s in phases)
    lambda_seconds = sum(sum(v) for v in timings.values())
    fan_per_million = 1_000_000 / customers
    single_per_million = 1_000_000 / single_customers
    single_pm = single_seconds * single_per_million
    single_cpu_pm = single_cpu * single_per_million
    report = {
        "benchmark": "nightly_fanout",
        "baseline": f"single-Lambda Segments.refresh at {single_customers:,} profiles",
        "customers": customers,
        "single_customers": single_customers,
        "items": items,
        "scan_segments": segments,
        "single_seconds": round(single_seconds, 2),
        "single_cpu_seconds": round(single_cpu, 2),
        "fanout_wall_seconds": round(wall, 2),
        "fanout_wall_cpu_seconds": round(wall_cpu, 2),
        "fanout_lambda_seconds": round(lambda_seconds, 2),
        "single_s_per_million": round(single_pm, 1),
        "single_cpu_s_per_million": round(single_cpu_pm, 1),
        "fanout_wall_s_per_million": round(wall * fan_per_million, 1),
        "fanout_wall_cpu_s_per_million": round(wall_cpu * fan_per_million, 1),
        "fanout_lambda_s_per_million": round(lambda_seconds * fan_per_million, 1),
        "ratio_wall_to_single": round(wall * fan_per_million / single_pm, 4),
        "ratio_wall_cpu_to_single_cpu": round(wall_cpu * fan_per_million / single_cpu_pm, 4),
        "slowest_child_s": {s: round(max(timings[s]), 2) for s in ("rank", "apply")},
        "finish_seconds": round(timings["finish"][0], 2),
        "finish_cpu_seconds": round(cpu["finish"][0], 2),
        "model_same_as_single": same_model,
        "apply_cpu_us_per_profile": round(sum(cpu["apply"]) / customers * 1e6),
        "apply_wall_us_per_profile": round(sum(timings["apply"]) / customers * 1e6),
        "single_cpu_us_per_profile": round(single_cpu / single_customers * 1e6),
        "writes": table.writes,
        "events": bus.entries,
        "setup_seconds": round(build_seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
    }
    print(f"{customers:,} profiles, {items:,} items, {segments} scan segments")
    print(
        f"single Lambda (Segments.refresh) at {single_customers:,}: {single_seconds:8.2f} s"
        f" ({single_pm:,.0f} s per million)"
    )
    print(f"fan-out wall (children in parallel): {wall:7.2f} s ({wall * fan_per_million:.1f} s/M)")
    print(f"fan-out Lambda-seconds (all calls):  {lambda_seconds:7.2f} s")
    print(f"ratio per million, wall: {wall * fan_per_million / single_pm:.4f}")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--single-customers",
        type=int,
        default=None,
        help="measure the single-Lambda path on a shop of the first N profiles "
        "(default: the same shop); figures are compared per million profiles",
    )
    args = parser.parse_args()
    main(args.customers, args.segments, args.seed, args.single_customers or args.customers)
