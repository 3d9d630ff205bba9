"""The nightly's RFM (`shop_rfm`, vectorised) gives every profile the score the
per-customer `rfm.score_customers` gives, unranked prospects included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from segmenter.domain.membership import shop_rfm
from segmenter.domain.model import OrderStats, Profile, RfmScore
from segmenter.domain.segments import rfm

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _profiles(seed: int) -> list[Profile]:
    rng = random.Random(seed)
    out = []
    for i in range(300):
        orders = rng.choice((0, 1, 1, 2, 3, 5))
        last = NOW - timedelta(days=rng.choice((1, 30, 30, 200, 400, 900))) if orders else None
        revenue = Decimal(rng.choice((990, 3980, 3980, 12000))) * orders
        out.append(Profile("s", f"c{i}", stats=OrderStats(orders, None, last, revenue)))
    return out


@pytest.mark.parametrize("method", list(rfm.ScoringMethod))
def test_shop_rfm_equals_the_per_customer_scores(method: rfm.ScoringMethod) -> None:
    """Given 300 profiles with ties in every column and some prospects
    When the shop is scored both ways, by quantiles and by fixed thresholds
    Then every profile gets the same score (None for a prospect)."""
    profiles = _profiles(3)
    config = rfm.RfmConfig(method=method)
    inputs = [
        rfm.RfmInput(p.customer_id, p.stats.last_order_at, p.stats.order_count, p.stats.revenue)
        for p in profiles
    ]
    expected = [
        None if s.rank is None or s.r is None else RfmScore(s.r, s.f or 0, s.m or 0, s.rank.value)
        for s in rfm.score_customers(inputs, NOW, config)
    ]
    assert shop_rfm(profiles, NOW, config) == expected
    assert any(e is None for e in expected) and any(e is not None for e in expected)
