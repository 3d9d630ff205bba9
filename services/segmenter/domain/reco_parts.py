"""The recommendation model built by the nightly fan-out: each apply child counts its scan
segment's purchase lines column-wise (`part_of`, from the activity table it already
built, no profile object per customer), the run keeps each part as arrays, and `finish`
sums the parts (`merged`) into the counts `recommend.model_of` turns into the model.

A customer's lines all sit in one scan segment (they share the profile's partition
key), so the summed parts are the counts `recommend.count_purchases` takes over the
whole shop, and the model is the one `recommend.build_model` builds
(tests/segmenter/test_nightly_fanout.py). Imports numpy: loaded by the nightly only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from segmenter.domain.recommend import BEST_SELLER_WINDOW, PurchaseCounts
from segmenter.domain.segments.batch import KIND_ORDER, ActivityTable, Int64s, epoch_micros

Arrays = Mapping[str, NDArray[np.generic]]
_BOUGHT = KIND_ORDER.index("bought")


def part_of(activities: ActivityTable | None, now: datetime) -> dict[str, NDArray[np.generic]]:
    """One child's counts as arrays (names, then index/count columns): `sold_*` and
    `cat_*` in the best-seller window, `of_*` each SKU's latest (instant, category),
    `pair_*` customers per ordered pair of distinct SKUs bought."""
    if activities is None or activities.quantities is None:
        none = np.zeros(0, np.int64)
        return _part(none, none, none, none, none, [], [], now)
    names = list(activities.skus.categories)
    categories = list(activities.categories.categories)
    sku = activities.skus.codes.astype(np.int64)
    cat = activities.categories.codes.astype(np.int64)
    named = np.asarray([bool(n) for n in names] + [False], dtype=bool)  # [-1]: no SKU
    keep = (activities.kinds == _BOUGHT) & named[sku]
    labelled = np.asarray([bool(c) for c in categories] + [False], dtype=bool)
    return _part(
        activities.rows[keep],
        sku[keep],
        np.where(labelled[cat[keep]], cat[keep], -1),
        activities.at[keep],
        activities.quantities[keep],
        names,
        categories,
        now,
    )


def _part(
    rows: Int64s,
    sku: Int64s,
    cat: Int64s,
    at: Int64s,
    quantity: Int64s,
    names: Sequence[str],
    categories: Sequence[str],
    now: datetime,
) -> dict[str, NDArray[np.generic]]:
    width = max(len(names), 1)
    recent = at >= epoch_micros(now - BEST_SELLER_WINDOW)
    sold_sku, sold_n = _summed(sku[recent], quantity[recent])
    in_cat = recent & (cat >= 0)
    cat_key, cat_n = _summed(cat[in_cat] * width + sku[in_cat], quantity[in_cat])
    rank = np.argsort(np.argsort(np.asarray(categories, dtype=np.str_)))  # name order
    of_sku, of_at, of_cat = _latest(sku[cat >= 0], at[cat >= 0], cat[cat >= 0], rank)
    first, second = _pairs(rows, sku)
    pair_key, pair_n = _summed(first * width + second, np.ones(len(first), np.int64))
    return {
        "skus": np.asarray(names, dtype=np.str_),
        "categories": np.asarray(categories, dtype=np.str_),
        "sold_sku": sold_sku,
        "sold_n": sold_n,
        "cat_cat": cat_key // width,
        "cat_sku": cat_key % width,
        "cat_n": cat_n,
        "of_sku": of_sku,
        "of_at": of_at,
        "of_cat": of_cat,
        "pair_a": pair_key // width,
        "pair_b": pair_key % width,
        "pair_n": pair_n,
    }


def merged(parts: Sequence[Arrays]) -> PurchaseCounts:
    """The parts summed: each part's names mapped onto the union of names, every count
    added up, each SKU's latest (instant, category) kept."""
    names = np.unique(np.concatenate([p["skus"] for p in parts] or [np.zeros(0, np.str_)]))
    categories = np.unique(
        np.concatenate([p["categories"] for p in parts] or [np.zeros(0, np.str_)])
    )

    def onto(part: Arrays, field: str, vocabulary: NDArray[np.str_], local: str) -> Int64s:
        mapped = np.searchsorted(vocabulary, part[local]).astype(np.int64)
        return mapped[part[field].astype(np.int64)]

    def joined(field: str, vocabulary: NDArray[np.str_], local: str) -> Int64s:
        return np.concatenate(
            [onto(p, field, vocabulary, local) for p in parts] or [np.zeros(0, np.int64)]
        )

    def column(field: str) -> Int64s:
        return np.concatenate([p[field].astype(np.int64) for p in parts] or [np.zeros(0, np.int64)])

    width = max(len(names), 1)
    counts = PurchaseCounts()
    sold_sku, sold_n = _summed(joined("sold_sku", names, "skus"), column("sold_n"))
    counts.sold = Counter(dict(zip(names[sold_sku].tolist(), sold_n.tolist(), strict=True)))
    cat_key, cat_n = _summed(
        joined("cat_cat", categories, "categories") * width + joined("cat_sku", names, "skus"),
        column("cat_n"),
    )
    counts.by_category = _nested(categories[cat_key // width], names[cat_key % width], cat_n)
    pair_key, pair_n = _summed(
        joined("pair_a", names, "skus") * width + joined("pair_b", names, "skus"),
        column("pair_n"),
    )
    counts.pairs = _nested(names[pair_key // width], names[pair_key % width], pair_n)
    of_cat = joined("of_cat", categories, "categories")
    of_sku, of_at, of_cat = _latest(
        joined("of_sku", names, "skus"), column("of_at"), of_cat, np.arange(len(categories))
    )
    counts.category_of = {
        s: (t, c)
        for s, t, c in zip(
            names[of_sku].tolist(), of_at.tolist(), categories[of_cat].tolist(), strict=True
        )
    }
    return counts


def _summed(keys: Int64s, values: Int64s) -> tuple[Int64s, Int64s]:
    """Each distinct key (sorted) and the sum of its values (a zero sum kept, as a
    Counter keeps it)."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    sums = np.zeros(len(distinct), np.int64)
    np.add.at(sums, inverse.reshape(-1), values)
    return distinct.astype(np.int64), sums


def _latest(sku: Int64s, at: Int64s, cat: Int64s, rank: Int64s) -> tuple[Int64s, Int64s, Int64s]:
    """Per SKU the line with the largest (instant, category name)."""
    if not len(sku):
        return sku, at, cat
    order = np.lexsort((rank[cat], at, sku))
    last = np.flatnonzero(np.r_[sku[order][1:] != sku[order][:-1], True])
    chosen = order[last]
    return sku[chosen], at[chosen], cat[chosen]


def _pairs(rows: Int64s, sku: Int64s) -> tuple[Int64s, Int64s]:
    """Every ordered pair of distinct SKUs one customer bought, once per customer."""
    if not len(rows):
        return rows, sku
    width = int(sku.max()) + 1
    held = np.unique(rows * width + sku)  # (customer, SKU) once, grouped by customer
    owner, item = held // width, held % width
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sizes = np.diff(np.r_[starts, len(held)])
    size_of = np.repeat(sizes, sizes)  # per held line, its customer's number of SKUs
    start_of = np.repeat(starts, sizes)
    left = np.repeat(np.arange(len(held)), size_of)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(size_of) - size_of, size_of)
    right = np.repeat(start_of, size_of) + offset
    distinct = left != right
    return item[left[distinct]], item[right[distinct]]


def _nested(
    outer: NDArray[np.str_], inner: NDArray[np.str_], n: Int64s
) -> defaultdict[str, Counter[str]]:
    """Summed counts keyed by (outer, inner) as the whole-shop model keeps them."""
    nested: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for o, i, k in zip(outer.tolist(), inner.tolist(), n.tolist(), strict=True):
        nested[o][i] = k
    return nested
