"""The nightly fan-out's recommendation model: each apply child counts its scan segment's
purchase lines column-wise (`reco_parts.part_of`), `finish` sums the parts
(`reco_parts.merged`). On a varied shop (lines at the best-seller window's edge, lines
without a SKU or category or with empty ones, a SKU sold under two categories, one at
the same instant, a buyer past the kept-history limit, merged profiles, quantities
above one), the summed parts are the whole shop's counts and the model the one
`build_model` makes of the decoded profiles."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from segmenter.domain.model import Activity, Profile
from segmenter.domain.reco_parts import merged, part_of
from segmenter.domain.recommend import build_model, count_purchases, model_of
from tests.segmenter.domain.test_stored_columns import _profile, _stored, _stored_as_items

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
SKUS = (*(f"SKU-{k}" for k in range(12)), "", None)
CATEGORIES = ("skincare", "food", "gift", "", None)


def _history(rng: random.Random, index: int) -> list[Activity]:
    edge = NOW - timedelta(days=90)  # the best-seller window's first instant
    acts = [
        Activity(
            rng.choice(("bought", "bought", "viewed", "carted")),
            rng.choice(
                (
                    edge,
                    edge - timedelta(microseconds=1),
                    NOW - timedelta(days=rng.randint(0, 1200)),
                )
            ),
            rng.choice(SKUS),
            rng.choice(CATEGORIES),
            rng.randint(0, 3),
            f"o{index}-{rng.randint(0, 4)}",
        )
        for _ in range(rng.randrange(0, 9))
    ]
    if index == 5:  # more purchases than the kept history holds: the oldest are cut
        acts += [
            Activity("bought", NOW - timedelta(hours=k), f"SKU-{k % 12}", "food", 1, f"h{k}")
            for k in range(1100)
        ]
    if index == 6:  # one SKU under two categories at one instant: the larger name wins
        acts += [Activity("bought", NOW, "SKU-0", c, 1, "x") for c in ("gift", "skincare")]
    return acts


def _segment_of(item: dict[str, Any], total: int) -> int:
    return zlib.crc32(item["pk"]["S"].encode()) % total


@pytest.fixture(scope="module")
def shop() -> tuple[list[dict[str, Any]], list[Profile]]:
    rng = random.Random(21)
    customers = [(_profile(rng, i, NOW, ()), _history(rng, i)) for i in range(300)]
    return _stored_as_items(customers, NOW, rng)


@pytest.mark.parametrize("total", [1, 4, 16])
def test_the_summed_parts_are_the_whole_shop_build(
    shop: tuple[list[dict[str, Any]], list[Profile]], total: int
) -> None:
    # Given a varied shop's stored items, split into scan segments by partition key,
    # and the profiles the profile path decodes from them
    items, profiles = shop

    # When each segment's columns give a part (kept as the run keeps it) and the
    # parts are summed
    parts = []
    for segment in range(total):
        mine = [i for i in items if _segment_of(i, total) == segment]
        part = part_of(_stored(mine, NOW).table.activities, NOW)
        parts.append({k: np.asarray(v) for k, v in part.items()})
    counts = merged(parts)

    # Then they are the counts of the whole shop's profiles, and the model the same
    whole = count_purchases(profiles, NOW)
    assert counts.sold == whole.sold and counts.category_of == whole.category_of
    assert counts.by_category == whole.by_category and counts.pairs == whole.pairs
    assert model_of(counts, NOW) == build_model(profiles, NOW)
    # And the shop has what the model is for (no line without a SKU or category counted)
    assert len(whole.pairs) == 12 and sorted(whole.by_category) == ["food", "gift", "skincare"]
    assert whole.category_of["SKU-0"][1] == "skincare"


def test_a_segment_with_no_purchases_adds_nothing(
    shop: tuple[list[dict[str, Any]], list[Profile]],
) -> None:
    # Given the shop's parts, and a part of a segment whose customers bought nothing
    items, profiles = shop
    empty = part_of(None, NOW)

    # When it is summed with the whole shop's part
    counts = merged([part_of(_stored(items, NOW).table.activities, NOW), empty])

    # Then the model is the whole shop's
    assert model_of(counts, NOW) == build_model(profiles, NOW)
    assert model_of(merged([empty]), NOW)["best_sellers"] == []
