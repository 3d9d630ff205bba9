"""RFM scores (1-5 each) and the customer ranks 優良 / 準優良 / 一般 / 休眠.

Scores come either from quantiles over the shop's own customers (the default: it adapts
to any shop's size and price level) or from fixed thresholds the shop sets (stable from
month to month, so a rank means the same thing over time).

Quantile ties: a customer's score is 1 + floor(5 x share of customers strictly worse),
so equal values always get equal scores, whatever the input order.

Frequency ties are the rule, not the exception: most customers of a shop have ordered
once or twice, so plain quantiles collapse (60% one-time buyers score a second order
1 + floor(5 x 0.6) = F4, and the F2 and F3 columns of the grid stay empty). So F by
quantile climbs at most one score per distinct order count: walking the shop's distinct
counts upward, each scores min(its quantile score, the score below it + 1). That is the
plain quantile score wherever ties skip no score (distinct counts, a shop with a long
tail), and F1 = one order, F2 = two, ... where the quantiles collapse, as order-count F
stages read (カスタマーリングス' F1..F5). (In a shop of fewer than five buyers, where even
distinct values skip scores, the climb allowed is theirs, ceil(5 / buyers).) The counts
where F rises are four cut points at most (`frequency_cuts`), scored like fixed
thresholds, so ties still share a score.

M keeps plain quantiles, even where ties skip scores (a shop with one hero product at
3,980 yen, 60% of buyers spending exactly that: the next amount up scores M4). Amounts
are continuous: above a tie they are mostly one customer each, so climbing one score per
distinct amount would hand M2 and M3 to whichever one or two customers spent the next
lowest amounts (10 buyers, 3,980 x 6 then 4,500, 5,200, 6,100, 20,000: quantile M 1, 4,
4, 5, 5; the climb 1, 2, 3, 4, 5), a score set by how many amounts sit just above the
tie, not by spend. Where amounts do tie in steps (3,980 x n), the climbed M would only
repeat F. The skip says something true (4,500 out-spent 60% of buyers), and demoting it
would cost ranks (準優良 needs M3). A shop that wants M stages by amount sets fixed
thresholds. (`test_quantile_m_keeps_its_quantile_where_a_hero_product_ties`.)

Ranks, defaults in `RfmConfig`: 休眠 (dormant) when the last order is at least
`dormant_days` (365) old, whatever the scores; else 優良 (loyal) when R, F and M are all
>= 4; else 準優良 (semi_loyal) when all >= 3; else 一般 (general). Customers with no
order have no scores and no rank.

This module is plain Python; `batch.py` computes the same thing vectorised.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from shared.segment_rules.facts import CustomerFacts, as_datetime, as_number

from .rfm_scale import (
    MAX_FREQUENCY,
    MAX_MONETARY,
    MAX_RECENCY_DAYS,
    RANK_ORDER,
    RfmRank,
    ScoringMethod,
)

__all__ = [  # the scale (`rfm_scale`) is read from here too
    "MAX_FREQUENCY",
    "MAX_MONETARY",
    "MAX_RECENCY_DAYS",
    "RANK_ORDER",
    "GridCell",
    "RfmConfig",
    "RfmGrid",
    "RfmInput",
    "RfmRank",
    "RfmScore",
    "RfmThresholds",
    "ScoreFloor",
    "ScoringMethod",
    "frequency_cuts",
    "grid",
    "is_ranked",
    "quantile_score",
    "rank_for",
    "recency_threshold_score",
    "rfm_input",
    "rising_cuts",
    "score_customers",
    "threshold_score",
]


@dataclass(frozen=True)
class RfmThresholds:
    """Fixed cut points, four each, ascending. Recency: at most 30 days since the last
    order scores 5, at most 90 days 4, ... over 365 days 1. Frequency and monetary: at
    least 2 orders scores 2, at least 3 scores 3, ...; revenue in the shop's currency."""

    recency_days: tuple[int, int, int, int] = (30, 90, 180, 365)
    frequency: tuple[int, int, int, int] = (2, 3, 5, 10)
    monetary: tuple[float, float, float, float] = (10_000, 30_000, 50_000, 100_000)

    def __post_init__(self) -> None:
        for name, low, high in (
            ("recency_days", 1, MAX_RECENCY_DAYS),
            ("frequency", 1, MAX_FREQUENCY),
            ("monetary", 0, MAX_MONETARY),
        ):
            cuts = getattr(self, name)
            if len(cuts) != 4 or any(a >= b for a, b in pairwise(cuts)):
                raise ValueError(f"{name} needs four strictly ascending cut points")
            for i, cut in enumerate(cuts):
                if not (low <= cut <= high) or (name == "monetary" and not cut > 0):
                    raise ValueError(f"{name}.{i} must be between {low} and {high}")


@dataclass(frozen=True)
class ScoreFloor:
    """Minimum R, F and M scores a rank requires."""

    r: int
    f: int
    m: int


@dataclass(frozen=True)
class RfmConfig:
    method: ScoringMethod = ScoringMethod.QUANTILE
    thresholds: RfmThresholds = field(default_factory=RfmThresholds)
    loyal: ScoreFloor = ScoreFloor(4, 4, 4)
    semi_loyal: ScoreFloor = ScoreFloor(3, 3, 3)
    dormant_days: int = 365

    def __post_init__(self) -> None:
        if not 1 <= self.dormant_days <= MAX_RECENCY_DAYS:
            raise ValueError(f"dormant_days must be between 1 and {MAX_RECENCY_DAYS}")


@dataclass(frozen=True)
class RfmInput:
    customer_id: str
    last_order_at: datetime | None
    order_count: int
    revenue: Decimal | float | int


@dataclass(frozen=True)
class RfmScore:
    customer_id: str
    r: int | None
    f: int | None
    m: int | None
    rank: RfmRank | None

    def as_fields(self) -> dict[str, object]:
        """The profile fields rules read (`r_score`, ..., `rfm_rank` as its code)."""
        return {
            "r_score": self.r,
            "f_score": self.f,
            "m_score": self.m,
            "rfm_rank": None if self.rank is None else str(self.rank),
        }


def rfm_input(facts: CustomerFacts) -> RfmInput:
    """The RFM inputs read from profile facts (missing revenue counts as 0)."""
    count = as_number(facts.fields.get("order_count"))
    return RfmInput(
        customer_id=facts.customer_id,
        last_order_at=as_datetime(facts.fields.get("last_order_at")),
        order_count=0 if count is None else int(count),
        revenue=as_number(facts.fields.get("revenue")) or 0.0,
    )


def is_ranked(customer: RfmInput) -> bool:
    """Only customers who have ordered get scores; prospects stay unranked."""
    return customer.order_count >= 1 and customer.last_order_at is not None


def quantile_score(sorted_values: Sequence[float], value: float) -> int:
    """1 + floor(5 x share strictly below `value`): ties share a score, input order is moot."""
    return 1 + (5 * bisect_left(sorted_values, value)) // len(sorted_values)


def rising_cuts(distinct: Iterable[tuple[float, int]], size: int) -> tuple[float, ...]:
    """Where the quantile F score rises, from each distinct order count (ascending) with
    how many of the `size` ranked customers have fewer orders: a count scores min(its
    quantile score, the previous count's score + the step), the step being the most
    distinct values' quantile scores climb at once, ceil(5 / size): 1 in a shop of five
    buyers or more (the module's docstring says why). A count listed twice is a climb of
    two; four cuts at most, ascending."""
    if not size:
        return ()
    step = -(-5 // size)
    cuts: list[float] = []
    for value, below in distinct:
        score = len(cuts) + 1
        if score == 5:
            break
        cuts += [value] * (min(1 + (5 * below) // size, score + step) - score)
    return tuple(cuts)


def frequency_cuts(sorted_counts: Sequence[float]) -> tuple[float, ...]:
    """`rising_cuts` of a sorted list of the ranked customers' order counts."""

    def distinct() -> Iterable[tuple[float, int]]:
        below = 0
        while below < len(sorted_counts):
            value = sorted_counts[below]
            yield value, below
            below = bisect_right(sorted_counts, value)

    return rising_cuts(distinct(), len(sorted_counts))


def threshold_score(value: float, cuts: Sequence[float]) -> int:
    return 1 + sum(1 for cut in cuts if value >= cut)


def recency_threshold_score(elapsed: timedelta, cut_days: Sequence[int]) -> int:
    return 5 - sum(1 for days in cut_days if elapsed > timedelta(days=days))


def rank_for(r: int, f: int, m: int, elapsed: timedelta, config: RfmConfig) -> RfmRank:
    if elapsed >= timedelta(days=config.dormant_days):
        return RfmRank.DORMANT
    for floor, rank in ((config.loyal, RfmRank.LOYAL), (config.semi_loyal, RfmRank.SEMI_LOYAL)):
        if r >= floor.r and f >= floor.f and m >= floor.m:
            return rank
    return RfmRank.GENERAL


def score_customers(
    customers: Sequence[RfmInput], now: datetime, config: RfmConfig | None = None
) -> list[RfmScore]:
    """Scores and ranks for a shop's customers, in input order."""
    config = config or RfmConfig()
    ranked = [c for c in customers if is_ranked(c)]
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    recency = sorted(_micros(c, epoch) for c in ranked)
    f_cuts = frequency_cuts(sorted(float(c.order_count) for c in ranked))
    monetary = sorted(float(c.revenue) for c in ranked)
    scores = []
    for customer in customers:
        if not is_ranked(customer) or customer.last_order_at is None:
            scores.append(RfmScore(customer.customer_id, None, None, None, None))
            continue
        elapsed = now - customer.last_order_at
        if config.method is ScoringMethod.QUANTILE:
            r = quantile_score(recency, _micros(customer, epoch))
            f = threshold_score(float(customer.order_count), f_cuts)
            m = quantile_score(monetary, float(customer.revenue))
        else:
            cuts = config.thresholds
            r = recency_threshold_score(elapsed, cuts.recency_days)
            f = threshold_score(float(customer.order_count), cuts.frequency)
            m = threshold_score(float(customer.revenue), cuts.monetary)
        scores.append(RfmScore(customer.customer_id, r, f, m, rank_for(r, f, m, elapsed, config)))
    return scores


def _micros(customer: RfmInput, epoch: datetime) -> int:
    assert customer.last_order_at is not None
    return (customer.last_order_at - epoch) // timedelta(microseconds=1)


@dataclass(frozen=True)
class GridCell:
    """One cell of the R x F grid: its customers, their revenue and mean M score."""

    r: int
    f: int
    customers: int
    revenue: float
    mean_m: float | None


@dataclass(frozen=True)
class RfmGrid:
    cells: list[GridCell]
    """All 25, R 5..1 then F 1..5, empty ones with 0 customers."""
    ranks: dict[str, int]
    """Customers per rank (every rank listed, 0 when none)."""
    unscored: int
    """Customers without scores yet (no order, or not scored since the last recompute)."""


def grid(scored: Iterable[tuple[int | None, int | None, int | None, str | None, float]]) -> RfmGrid:
    """The 5 x 5 R x F grid the console draws, from (r, f, m, rank, revenue) per customer."""
    count: dict[tuple[int, int], int] = {}
    revenue: dict[tuple[int, int], float] = {}
    m_sum: dict[tuple[int, int], int] = {}
    ranks = dict.fromkeys((str(r) for r in RfmRank), 0)
    unscored = 0
    for r, f, m, rank, spent in scored:
        if r is None or f is None:
            unscored += 1
            continue
        cell = (r, f)
        count[cell] = count.get(cell, 0) + 1
        revenue[cell] = revenue.get(cell, 0.0) + spent
        m_sum[cell] = m_sum.get(cell, 0) + (m or 0)
        if rank is not None:
            ranks[rank] = ranks.get(rank, 0) + 1
    cells = [
        GridCell(
            r=r,
            f=f,
            customers=count.get((r, f), 0),
            revenue=round(revenue.get((r, f), 0.0), 2),
            mean_m=round(m_sum[(r, f)] / count[(r, f)], 2) if (r, f) in count else None,
        )
        for r in range(5, 0, -1)
        for f in range(1, 6)
    ]
    return RfmGrid(cells=cells, ranks=ranks, unscored=unscored)
