"""Which segments a profile belongs to: the profile seen as the rule engine's facts.

Pure domain. The same facts feed the per-event (incremental) evaluation and the nightly
recompute (`shop_memberships`, column-wise), so both agree on who is in a segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from segmenter.domain.model import Profile, RfmScore
from segmenter.domain.segments.rfm import RfmConfig
from shared.segment_rules.evaluate import evaluate
from shared.segment_rules.facts import Activity, CustomerFacts
from shared.segment_rules.rules import Rule, parse_rule

if TYPE_CHECKING:
    from .segments.batch import ProfileTable, RfmPools


def profile_fields(profile: Profile, now: datetime) -> dict[str, object]:
    """`now` in the customer's own zone (see `memberships`): its date is their "today"."""
    s = profile.stats
    today = now.date()
    return {
        "order_count": s.order_count,
        "revenue": s.revenue,
        "gross_profit": s.gross_profit,
        "average_order_value": s.average_order_value if s.order_count else None,
        "average_interval_days": s.average_interval_days,
        "sale_ratio": s.sale_ratio,
        "active_hour": s.active_hour,
        "age": profile.age_on(today),
        "r_score": profile.rfm.r if profile.rfm else None,
        "f_score": profile.rfm.f if profile.rfm else None,
        "m_score": profile.rfm.m if profile.rfm else None,
        "f_stage": profile.f_stage,
        "rfm_rank": profile.rfm.rank if profile.rfm else None,
        "gender": profile.attributes.gender,
        "prefecture": profile.attributes.prefecture,
        "age_band": profile.age_band(today),
        "acquisition_channel": profile.attributes.acquisition_channel or s.first_sales_channel,
        "first_offer": s.first_offer,
        "first_product": s.first_product,
        "last_sales_channel": s.last_sales_channel,
        "first_order_at": s.first_order_at,
        "last_order_at": s.last_order_at,
        "last_shipped_at": profile.last_shipped_at,
        "last_viewed_at": profile.last_viewed_at,
        "last_carted_at": profile.last_carted_at,
        "expected_next_order_at": s.expected_next_order_at,
        "p_alive": profile.clv.p_alive if profile.clv else None,
        "expected_purchases_90d": profile.clv.expected_purchases_90d if profile.clv else None,
        "expected_purchases_365d": profile.clv.expected_purchases_365d if profile.clv else None,
        "predicted_clv_365d": profile.clv.predicted_clv_365d if profile.clv else None,
        "predicted_next_order_at": profile.clv.predicted_next_order_at if profile.clv else None,
        "created_at": profile.attributes.created_at,
        "birthday": profile.attributes.birthday,
        "categories": s.categories,
        "skus": s.skus,
        "cart_size": len(profile.cart_skus),
        "consents": frozenset(
            f"{c.channel}:{c.category}" for c in profile.consents if c.granted and c.source
        ),
        "unsubscribed_topics": profile.unsubscribed_topics,
        "tags": profile.tags,
        "has_email": profile.contact.email is not None,
        "has_phone": profile.contact.phone is not None,
        "has_line": profile.contact.line_user_id is not None,
    }


def profile_facts(profile: Profile, now: datetime) -> CustomerFacts:
    return CustomerFacts(
        customer_id=profile.customer_id,
        fields=profile_fields(profile, now),
        activities=tuple(
            Activity(kind=a.kind, at=a.at, sku=a.sku, category=a.category, quantity=a.quantity)
            for a in profile.activities
        ),
        preferences=profile.preferences,
    )


@dataclass(frozen=True)
class CompiledSegment:
    segment_id: str
    rule: Rule


def compile_segments(definitions: Iterable[tuple[str, Mapping[str, Any]]]) -> list[CompiledSegment]:
    return [CompiledSegment(segment_id, parse_rule(rule)) for segment_id, rule in definitions]


def memberships(
    profile: Profile, segments: Iterable[CompiledSegment], now: datetime
) -> frozenset[str]:
    """The segments `profile` is in at `now`, judged on the customer's own calendar: at
    03:00 in Tokyo a birthday "yesterday" is yesterday, whatever the date is in UTC."""
    local_now = profile.local_time(now)
    facts = profile_facts(profile, local_now)
    return frozenset(s.segment_id for s in segments if evaluate(s.rule, facts, local_now))


@dataclass
class RfmInputs:
    """What RFM reads of some customers, as columns: order counts, last order instants
    (None: never ordered) and revenues, in the same order."""

    order_counts: list[int] = field(default_factory=list)
    last_orders: list[datetime | None] = field(default_factory=list)
    revenues: list[float] = field(default_factory=list)

    def add(self, order_count: int, last_order: datetime | None, revenue: float) -> None:
        self.order_counts.append(order_count)
        self.last_orders.append(last_order)
        self.revenues.append(revenue)


def inputs_pools(inputs: RfmInputs) -> RfmPools:
    """These customers' share of their shop's RFM pools, from the columns alone."""
    import numpy as np

    from .segments.batch import MISSING_INSTANT, ProfileTable, epoch_micros, rfm_pools

    n = len(inputs.order_counts)
    return rfm_pools(
        ProfileTable(
            customer_ids=[""] * n,
            numbers={
                "order_count": np.fromiter(inputs.order_counts, np.float64, n),
                "revenue": np.fromiter(inputs.revenues, np.float64, n),
            },
            instants={
                "last_order_at": np.fromiter(
                    (MISSING_INSTANT if t is None else epoch_micros(t) for t in inputs.last_orders),
                    np.int64,
                    n,
                )
            },
        )
    )


def rfm_table(profiles: Sequence[Profile]) -> ProfileTable:
    """The three columns RFM reads, off the profiles."""
    import numpy as np

    from .segments.batch import MISSING_INSTANT, ProfileTable, epoch_micros

    n = len(profiles)
    stats = [p.stats for p in profiles]
    return ProfileTable(
        customer_ids=[p.customer_id for p in profiles],
        numbers={
            "order_count": np.fromiter((s.order_count for s in stats), np.float64, n),
            "revenue": np.fromiter((float(s.revenue) for s in stats), np.float64, n),
        },
        instants={
            "last_order_at": np.fromiter(
                (
                    MISSING_INSTANT if s.last_order_at is None else epoch_micros(s.last_order_at)
                    for s in stats
                ),
                np.int64,
                n,
            )
        },
    )


def shop_rfm(
    profiles: Sequence[Profile],
    now: datetime,
    config: RfmConfig | None = None,
    pools: RfmPools | None = None,
) -> list[RfmScore | None]:
    """Tonight's RFM score of every profile (same order; None: unranked), vectorised by
    `batch.score_rfm` (tested equal to `rfm.score_customers`, which is 100x slower at
    200,000 customers). Given the shop's `pools`, `profiles` may be part of the shop.
    numpy is loaded here only, as in `shop_memberships`."""
    import numpy as np

    from .segments.batch import score_rfm
    from .segments.rfm import RANK_ORDER

    scored = score_rfm(rfm_table(profiles), now, config, pools)
    # At most 5 x 5 x 5 x 4 distinct scores: one immutable RfmScore each, shared.
    codes = (
        scored.rank.astype(np.int64) * 1000
        + scored.r.astype(np.int64) * 100
        + scored.f.astype(np.int64) * 10
        + scored.m.astype(np.int64)
    )
    distinct, inverse = np.unique(codes, return_inverse=True)
    shared: list[RfmScore | None] = []
    for code in distinct.tolist():
        rank, rest = divmod(code, 1000)
        shared.append(
            None
            if rank < 0
            else RfmScore(rest // 100, rest // 10 % 10, rest % 10, str(RANK_ORDER[rank]))
        )
    return [shared[i] for i in inverse.tolist()]


def shop_memberships(
    profiles: Sequence[Profile], segments: Sequence[CompiledSegment], now: datetime
) -> list[frozenset[str]]:
    """`memberships` of every profile (same order), for the nightly job: column-wise with
    numpy, one table per time zone evaluated at that zone's local `now`, built from the
    same `profile_facts`, so each customer gets exactly the per-customer answer. A segment
    the columnar engine cannot run is evaluated per customer instead.

    numpy is imported here, not at module level: the API and per-event Lambdas import this
    module and must not pay for numpy at cold start."""
    from .segments.batch import ColumnarEvaluator, ProfileTable, supports

    columnar = [s for s in segments if supports(s.rule)]
    per_customer = [s for s in segments if not supports(s.rule)]
    rows_by_zone: dict[str, list[int]] = {}
    for row, profile in enumerate(profiles):
        rows_by_zone.setdefault(profile.zone.key, []).append(row)
    members: list[set[str]] = [set() for _ in profiles]
    for rows in rows_by_zone.values():
        local_now = profiles[rows[0]].local_time(now)
        facts = [profile_facts(profiles[row], local_now) for row in rows]
        evaluator = ColumnarEvaluator(ProfileTable.from_facts(facts), local_now)
        for segment in columnar:
            for index in evaluator.mask(segment.rule).nonzero()[0]:
                members[rows[index]].add(segment.segment_id)
        for segment in per_customer:
            for row, customer in zip(rows, facts, strict=True):
                if evaluate(segment.rule, customer, local_now):
                    members[row].add(segment.segment_id)
    return [frozenset(m) for m in members]
