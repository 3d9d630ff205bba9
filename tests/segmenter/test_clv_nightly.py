"""The nightly's predictive CLV on profiles: scores per customer, a clear refusal for a
shop without the history, the fields a segment rule reads, and storage round trips."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from segmenter.adapters.codec import profile_from_dict, profile_to_dict
from segmenter.domain.membership import compile_segments, memberships
from segmenter.domain.model import OrderStats, Profile
from segmenter.services.clv import score_profiles

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CHURN_RISK = {
    "all": [
        {"field": "p_alive", "op": "lt", "value": 0.3},
        {"field": "order_count", "op": "gte", "value": 2},
    ]
}


def shop(customers: int, seed: int = 3) -> list[Profile]:
    """Customers acquired over two years; a third buy often and recently, a third bought
    a few times long ago, the rest once."""
    rng = random.Random(seed)
    profiles = []
    for i in range(customers):
        first = NOW - timedelta(days=rng.randint(200, 730))
        kind = i % 3
        if kind == 0:
            count, last = rng.randint(3, 12), NOW - timedelta(days=rng.randint(1, 30))
        elif kind == 1:
            count, last = rng.randint(2, 6), first + timedelta(days=rng.randint(10, 60))
        else:
            count, last = 1, first
        stats = OrderStats(
            order_count=count,
            first_order_at=first,
            last_order_at=last,
            revenue=Decimal(str(round(rng.uniform(2000, 9000) * count))),
        )
        profiles.append(Profile("shop-a", f"c{i:04d}", stats=stats))
    return profiles


def test_the_nightly_scores_every_buyer_and_churn_risk_is_a_rule() -> None:
    # Given a shop with 900 buyers
    profiles = shop(900)
    # When the nightly fits its CLV model
    scores, refused = score_profiles(profiles, NOW)
    # Then every buyer has a score, and none is refused
    assert refused is None
    assert len(scores) == 900
    frequent = scores["c0000"]  # bought many times, recently
    lapsed = next(scores[p.customer_id] for p in profiles[1::3] if p.stats.order_count >= 4)
    assert frequent.p_alive > 0.8 > lapsed.p_alive
    assert frequent.expected_purchases_365d > frequent.expected_purchases_90d > 0
    assert frequent.predicted_clv_365d is not None and frequent.predicted_clv_365d > 0
    assert frequent.predicted_next_order_at > NOW
    # And "churn risk" (P(alive) < 0.3 and F >= 2) reads the stored fields
    rule = compile_segments([("churn-risk", CHURN_RISK)])
    scored = [Profile(p.shop_id, p.customer_id, stats=p.stats, clv=scores[p.customer_id])
              for p in profiles]  # fmt: skip
    at_risk = {p.customer_id for p in scored if memberships(p, rule, NOW)}
    assert at_risk
    assert all(scores[c].p_alive < 0.3 for c in at_risk)
    assert "c0000" not in at_risk
    assert not any(p.stats.order_count < 2 for p in scored if p.customer_id in at_risk)
    # And the score survives the trip through storage
    stored = profile_from_dict(profile_to_dict(scored[0]))
    assert stored.clv == scores["c0000"]


def test_a_small_shop_gets_no_scores_and_the_reason() -> None:
    # Given a shop with 120 buyers
    profiles = shop(120)
    # When the nightly tries to fit
    scores, refused = score_profiles(profiles, NOW)
    # Then nobody is scored, and the reason names the threshold
    assert scores == {}
    assert refused is not None and "min_customers is 120" in refused
    # And a profile without a score has none of the fields (a rule on them is false)
    rule = compile_segments([("churn-risk", CHURN_RISK)])
    assert not any(memberships(p, rule, NOW) for p in profiles)
