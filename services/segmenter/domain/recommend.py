"""Recommendations per customer. Pure domain.

A shop-wide model is built nightly from recent purchases: best sellers per category over
90 days and how often two SKUs are bought by the same customer. A customer then gets
co-purchased items first, best sellers of their categories next, the shop's best sellers
last; never something they already bought, something out of stock, or something whose SKU,
category or tag they said they dislike.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from segmenter.domain.model import Profile

BEST_SELLER_WINDOW = timedelta(days=90)
TOP_PER_LIST = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Recommendation:
    sku: str
    reason: str  # co_purchased | category_best_seller | best_seller
    score: float


@dataclass
class PurchaseCounts:
    """What the model is built from, additive over customers (each customer counted by
    one part): units sold per SKU and per category and SKU in the best-seller window,
    customers who bought both of two SKUs, and each SKU's category as of its latest
    purchase (epoch microseconds, category: the larger wins). A nightly fan-out child
    counts its scan segment's customers; the parts summed are the whole shop's."""

    sold: Counter[str] = field(default_factory=Counter)
    by_category: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pairs: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    category_of: dict[str, tuple[int, str]] = field(default_factory=dict)


def count_purchases(profiles: Iterable[Profile], now: datetime) -> PurchaseCounts:
    """The counts of `profiles`' kept purchase lines (a line with no SKU counts nowhere)."""
    since = now - BEST_SELLER_WINDOW
    counts = PurchaseCounts()
    for profile in profiles:
        bought: set[str] = set()
        for a in profile.activities:
            if a.kind != "bought" or not a.sku:
                continue
            bought.add(a.sku)
            if a.category:
                seen = ((a.at - _EPOCH) // _MICROSECOND, a.category)
                held = counts.category_of.get(a.sku)
                if held is None or seen > held:
                    counts.category_of[a.sku] = seen
            if a.at >= since:
                counts.sold[a.sku] += a.quantity
                if a.category:
                    counts.by_category[a.category][a.sku] += a.quantity
        for sku in bought:
            for other in bought - {sku}:
                counts.pairs[sku][other] += 1
    return counts


def model_of(counts: PurchaseCounts, now: datetime) -> dict[str, object]:
    """The stored model: each list the top `TOP_PER_LIST` by count, a tie by SKU (so the
    model does not depend on the order customers were read in)."""
    return {
        "best_sellers": _top(counts.sold),
        "by_category": {c: _top(n) for c, n in counts.by_category.items()},
        "co_purchased": {s: _top(n) for s, n in counts.pairs.items()},
        "category_of": {s: c for s, (_, c) in counts.category_of.items()},
        "built_at": now.isoformat(),
    }


def build_model(profiles: Iterable[Profile], now: datetime) -> dict[str, object]:
    """The nightly model in one pass over the shop's profiles, small enough to store in
    one item (the fan-out builds it from its children's counts: `reco_parts`)."""
    return model_of(count_purchases(profiles, now), now)


def _top(counts: Mapping[str, int]) -> list[str]:
    return [s for s, _ in heapq.nsmallest(TOP_PER_LIST, counts.items(), key=_by_count)]


def _by_count(entry: tuple[str, int]) -> tuple[int, str]:
    return -entry[1], entry[0]


def recommend(
    profile: Profile,
    model: dict[str, object],
    is_available: Callable[[str], bool],
    tags_of: Callable[[str], Iterable[str]],
    limit: int = 10,
) -> list[Recommendation]:
    bought = set(profile.stats.skus)
    dislikes = {d.lower() for d in profile.preferences.get("dislike", frozenset())}
    category_of: dict[str, str] = model.get("category_of", {})  # type: ignore[assignment]
    scores: dict[str, Recommendation] = {}

    def offer(sku: str, reason: str, score: float) -> None:
        if sku in bought or sku in scores:
            return
        attributes = {
            sku.lower(),
            category_of.get(sku, "").lower(),
            *(t.lower() for t in tags_of(sku)),
        }
        if dislikes & attributes or not is_available(sku):
            return
        scores[sku] = Recommendation(sku, reason, score)

    co: dict[str, list[str]] = model.get("co_purchased", {})  # type: ignore[assignment]
    together: Counter[str] = Counter()
    for sku in bought:
        for rank, other in enumerate(co.get(sku, [])):
            together[other] += TOP_PER_LIST - rank
    for sku, score in together.most_common():
        offer(sku, "co_purchased", float(score))
    by_category: dict[str, list[str]] = model.get("by_category", {})  # type: ignore[assignment]
    for category in sorted(profile.stats.categories):
        for rank, sku in enumerate(by_category.get(category, [])):
            offer(sku, "category_best_seller", float(TOP_PER_LIST - rank) / 100)
    best: list[str] = model.get("best_sellers", [])  # type: ignore[assignment]
    for rank, sku in enumerate(best):
        offer(sku, "best_seller", float(TOP_PER_LIST - rank) / 1000)
    return list(scores.values())[:limit]
