"""RFM scores by quantile and by fixed thresholds, and the ranks built on them."""

from __future__ import annotations

import random
from bisect import bisect_left
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segmenter.domain.segments import (
    CustomerFacts,
    RfmConfig,
    RfmInput,
    RfmRank,
    RfmThresholds,
    ScoreFloor,
    ScoringMethod,
    rfm_input,
    score_customers,
)
from segmenter.domain.segments.rfm import frequency_cuts
from tests.segmenter.domain.generators import JST

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=JST)
FIXED = RfmConfig(method=ScoringMethod.FIXED)


def buyer(customer_id: str, days_ago: float, orders: int, revenue: int | Decimal) -> RfmInput:
    return RfmInput(customer_id, NOW - timedelta(days=days_ago), orders, revenue)


def test_quantile_scores_split_distinct_values_into_fifths() -> None:
    # Given ten customers with distinct recency, frequency and revenue
    customers = [buyer(f"c{i}", 100 - i, i + 1, 1000 * (i + 1)) for i in range(10)]

    # When scored by quantile
    scores = score_customers(customers, NOW)

    # Then each fifth gets one score, best values the highest
    expected = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [s.r for s in scores] == expected
    assert [s.f for s in scores] == expected
    assert [s.m for s in scores] == expected


def test_quantile_ties_share_a_score() -> None:
    # Given six one-time buyers and four repeaters
    customers = [buyer(f"c{i}", 10, 1 if i < 6 else 3, 5000) for i in range(10)]

    # When scored
    scores = score_customers(customers, NOW)

    # Then all one-time buyers share F=1 and all repeaters share the next score: their
    # quantile score is 1 + floor(5 x 6/10) = 4, but F climbs one per distinct count
    assert {s.f for s in scores[:6]} == {1}
    assert {s.f for s in scores[6:]} == {2}
    assert {s.m for s in scores} == {1}  # everyone tied


# Twenty buyers as most shops have them: 12 ordered once (60%), 5 twice (25%), 2 three
# times, 1 seven times. Plain quantiles, 1 + floor(5 x share with fewer orders):
#   1 order: 0/20 below -> 1;  2: 12/20 -> 4;  3: 17/20 -> 5;  7: 19/20 -> 5
# (F2 and F3 empty, two and three orders alike). Each distinct count scores
# min(quantile, the count below's score + 1):
#   1 -> 1;  2 -> min(4, 2) = 2;  3 -> min(5, 3) = 3;  7 -> min(5, 4) = 4
TYPICAL_SHOP = [1] * 12 + [2] * 5 + [3] * 2 + [7]
TYPICAL_F = {1: 1, 2: 2, 3: 3, 7: 4}
# Ten with a long tail, 1 1 1 1 1 2 2 3 4 9: quantiles 1, 3 (5/10 below), 4, 5, 5 climb
# by more than one only at 2, which scores min(3, 2) = 2; then 3, 4, and 9 -> 5.
LONG_TAIL = [1, 1, 1, 1, 1, 2, 2, 3, 4, 9]
LONG_TAIL_F = {1: 1, 2: 2, 3: 3, 4: 4, 9: 5}


@pytest.mark.parametrize(
    ("counts", "expected", "cuts"),
    [(TYPICAL_SHOP, TYPICAL_F, (2, 3, 7)), (LONG_TAIL, LONG_TAIL_F, (2, 3, 4, 9))],
)
def test_quantile_f_climbs_one_score_per_distinct_order_count(
    counts: list[int], expected: dict[int, int], cuts: tuple[int, ...]
) -> None:
    # Given a shop's buyers with tied order counts (hand-computed above)
    customers = [buyer(f"c{i:02d}", 10 + i, n, 1000 * (i + 1)) for i, n in enumerate(counts)]

    # When scored by quantile
    scores = score_customers(customers, NOW)

    # Then each order count gets its hand-computed F: no score is skipped below the top
    assert {c.order_count: s.f for c, s in zip(customers, scores, strict=True)} == expected
    assert frequency_cuts([float(n) for n in sorted(counts)]) == cuts


def test_in_a_shop_of_fewer_than_five_f_climbs_as_distinct_values_do() -> None:
    # Given two buyers, one with one order and one with five (R and M differ as well)
    customers = [buyer("once", 400, 1, 3000), buyer("fan", 5, 5, 150_000)]

    # When scored by quantile
    once, fan = score_customers(customers, NOW)

    # Then the fan scores 1 + floor(5 x 1/2) = 3 on F as on R and M: two distinct
    # values climb two scores at once, ties or not, so the cap allows ceil(5 / 2) = 3
    assert (once.f, fan.f) == (1, 3)
    assert (fan.r, fan.f, fan.m) == (3, 3, 3)
    assert frequency_cuts([1.0, 5.0]) == (5.0, 5.0)


def test_quantile_m_keeps_its_quantile_where_a_hero_product_ties() -> None:
    # Given ten one-time buyers: six bought only the hero product (3,980 yen), four
    # spent more, each a different amount
    amounts = [3980] * 6 + [4500, 5200, 6100, 20_000]
    customers = [buyer(f"c{i}", 10, 1, yen) for i, yen in enumerate(amounts)]

    # When scored by quantile
    scores = score_customers(customers, NOW)

    # Then M stays the plain quantile, skipping M2 and M3: 4,500 out-spent six of ten,
    # 1 + floor(5 x 6/10) = 4, where climbing one score per distinct amount (as F does)
    # would give 2 and 3 to the next two amounts for being next, not for what they spent
    m_of = {int(c.revenue): s.m for c, s in zip(customers, scores, strict=True)}
    assert m_of == {3980: 1, 4500: 4, 5200: 4, 6100: 5, 20_000: 5}


@given(st.lists(st.integers(1, 12), min_size=1, max_size=60))
def test_quantile_f_is_never_above_its_quantile_and_skips_no_score(counts: list[int]) -> None:
    # Given any shop's order counts
    customers = [buyer(f"c{i}", 10, n, 1000) for i, n in enumerate(counts)]

    # When scored by quantile
    scores = score_customers(customers, NOW)

    # Then F never exceeds the plain quantile score and never falls as orders rise; in a
    # shop of five or more the scores used are 1..k with none skipped; distinct counts
    # get the plain quantile scores, in a shop of any size
    ordered = sorted(counts)
    f_of = {c.order_count: s.f or 0 for c, s in zip(customers, scores, strict=True)}
    for n, f in f_of.items():
        assert 1 <= f <= 1 + 5 * bisect_left(ordered, n) // len(ordered)
    by_count = [f_of[n] for n in sorted(f_of)]
    assert by_count == sorted(by_count)
    if len(counts) >= 5:
        assert set(by_count) == set(range(1, max(by_count) + 1))
    if len(set(counts)) == len(counts):
        assert by_count == [1 + 5 * i // len(counts) for i in range(len(counts))]


@given(st.randoms(use_true_random=False))
def test_quantile_scores_do_not_depend_on_input_order(rng: random.Random) -> None:
    # Given customers with many ties, in two different orders
    customers = [
        buyer(f"c{i}", rng.choice((1, 30, 400)), rng.randint(1, 4), rng.choice((0, 5000, 9000)))
        for i in range(rng.randint(1, 40))
    ]
    shuffled = customers[:]
    rng.shuffle(shuffled)

    # When each is scored
    by_id = {s.customer_id: s for s in score_customers(customers, NOW)}
    again = {s.customer_id: s for s in score_customers(shuffled, NOW)}

    # Then every customer gets the same scores and ranks
    assert by_id == again
    assert all(1 <= (s.r or 0) <= 5 for s in by_id.values())


@pytest.mark.parametrize(
    ("days_ago", "orders", "revenue", "scores"),
    [
        (30, 1, 9_999, (5, 1, 1)),
        (30.00001, 2, 10_000, (4, 2, 2)),
        (90, 3, 30_000, (4, 3, 3)),
        (180, 5, 50_000, (3, 4, 4)),
        (364, 10, 100_000, (2, 5, 5)),
        (366, 50, Decimal("999999"), (1, 5, 5)),
    ],
)
def test_fixed_thresholds_at_their_boundaries(
    days_ago: float, orders: int, revenue: int | Decimal, scores: tuple[int, int, int]
) -> None:
    # Given the default fixed cut points (30/90/180/365 days, 2/3/5/10 orders, ¥10k..100k)
    # When one customer is scored
    (score,) = score_customers([buyer("c", days_ago, orders, revenue)], NOW, FIXED)

    # Then each cut point is inclusive on the better side
    assert (score.r, score.f, score.m) == scores


def test_ranks_from_scores_with_dormant_first() -> None:
    # Given fixed thresholds and four customers
    customers = [
        buyer("loyal", 10, 10, 200_000),
        buyer("semi", 100, 3, 30_000),
        buyer("general", 10, 1, 3_000),
        buyer("dormant", 365, 50, 900_000),
        RfmInput("prospect", None, 0, 0),
    ]

    # When ranked
    ranks = {s.customer_id: s.rank for s in score_customers(customers, NOW, FIXED)}

    # Then dormancy beats high scores and a prospect has no rank
    assert ranks == {
        "loyal": RfmRank.LOYAL,
        "semi": RfmRank.SEMI_LOYAL,
        "general": RfmRank.GENERAL,
        "dormant": RfmRank.DORMANT,
        "prospect": None,
    }
    assert (RfmRank.DORMANT.label_ja, RfmRank.SEMI_LOYAL.label_en) == ("休眠", "Semi-loyal")


def test_shop_sets_its_own_thresholds_and_rank_floors() -> None:
    # Given a shop with cheaper products and a stricter loyal floor
    config = RfmConfig(
        method=ScoringMethod.FIXED,
        thresholds=RfmThresholds(monetary=(1_000, 2_000, 5_000, 8_000)),
        loyal=ScoreFloor(5, 5, 5),
        dormant_days=180,
    )

    # When two customers are scored
    scores = score_customers([buyer("a", 5, 12, 9_000), buyer("b", 200, 12, 9_000)], NOW, config)

    # Then its thresholds and floors apply
    assert [(s.r, s.f, s.m, s.rank) for s in scores] == [
        (5, 5, 5, RfmRank.LOYAL),
        (2, 5, 5, RfmRank.DORMANT),
    ]


def test_thresholds_must_ascend() -> None:
    with pytest.raises(ValueError, match="recency_days"):
        RfmThresholds(recency_days=(30, 30, 180, 365))


def test_inputs_and_outputs_as_profile_fields() -> None:
    # Given profile facts
    facts = CustomerFacts(
        "c-9",
        {"order_count": 2, "revenue": Decimal("7960"), "last_order_at": NOW - timedelta(days=3)},
    )

    # When read as RFM input and scored
    (score,) = score_customers([rfm_input(facts)], NOW, FIXED)

    # Then the fields rules use come back
    assert score.as_fields() == {"r_score": 5, "f_score": 2, "m_score": 1, "rfm_rank": "general"}
    assert rfm_input(CustomerFacts("x", {})) == RfmInput("x", None, 0, 0.0)
