"""Recommendations per customer. Pure domain.

A shop-wide model is built nightly from recent purchases: best sellers per category over
90 days and how often two SKUs are bought by the same customer. A customer then gets
co-purchased items first, best sellers of their categories next, the shop's best sellers
last; never something they already bought, something out of stock, or something whose SKU,
category or tag they said they dislike.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from segmenter.domain.model import Profile

BEST_SELLER_WINDOW = timedelta(days=90)
TOP_PER_LIST = 20


@dataclass(frozen=True)
class Recommendation:
    sku: str
    reason: str  # co_purchased | category_best_seller | best_seller
    score: float


def build_model(profiles: Iterable[Profile], now: datetime) -> dict[str, object]:
    """The nightly model, small enough to store in one item."""
    since = now - BEST_SELLER_WINDOW
    sold: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    category_of: dict[str, str] = {}
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    for profile in profiles:
        bought = {a.sku for a in profile.activities if a.kind == "bought" and a.sku}
        for a in profile.activities:
            if a.kind != "bought" or not a.sku:
                continue
            if a.category:
                category_of[a.sku] = a.category
            if a.at >= since:
                sold[a.sku] += a.quantity
                if a.category:
                    by_category[a.category][a.sku] += a.quantity
        for sku in bought:
            for other in bought - {sku}:
                pairs[sku][other] += 1
    return {
        "best_sellers": [s for s, _ in sold.most_common(TOP_PER_LIST)],
        "by_category": {
            c: [s for s, _ in n.most_common(TOP_PER_LIST)] for c, n in by_category.items()
        },
        "co_purchased": {s: [o for o, _ in n.most_common(TOP_PER_LIST)] for s, n in pairs.items()},
        "category_of": category_of,
        "built_at": now.isoformat(),
    }


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
