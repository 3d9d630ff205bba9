"""Segments every shop gets on day one, written in the rule language itself.

Keeping them as plain rules (not code) means the marketer can open one, see exactly what
it does, copy it and tweak it; and the engine has one code path to test and to speed up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING

from .rfm_scale import RfmRank

if TYPE_CHECKING:
    from shared.segment_rules.rules import Rule

DORMANT_DAYS = 365
LAPSED_DAYS = (30, 90, 180)
F2_CONVERSION_DAYS = 60
HIGH_AOV = 10_000
FULL_PRICE_MAX_SALE_RATIO = 0.2
SALE_BUYER_MIN_SALE_RATIO = 0.5


@dataclass(frozen=True)
class BuiltinSegment:
    id: str
    name_ja: str
    name_en: str
    description: str
    rule_json: Mapping[str, object]

    @cached_property
    def rule(self) -> Rule:
        """The rule, parsed when an evaluation first needs it: a segment list shows the
        built-ins without loading the rule language."""
        from shared.segment_rules.rules import parse_rule

        return parse_rule(self.rule_json)


def _segment(
    segment_id: str, name_ja: str, name_en: str, description: str, rule_json: dict[str, object]
) -> BuiltinSegment:
    return BuiltinSegment(segment_id, name_ja, name_en, description, rule_json)


def _has_ordered() -> dict[str, object]:
    return {"field": "order_count", "op": "gte", "value": 1}


def dormant(days: int = DORMANT_DAYS) -> BuiltinSegment:
    return _segment(
        "dormant",
        "休眠顧客",
        "Dormant customers",
        f"No order for {days} days or more.",
        {"field": "last_order_at", "op": "older_than_days", "value": days},
    )


def lapsed(days: int, dormant_after: int = DORMANT_DAYS) -> BuiltinSegment:
    """Cumulative, not bucketed: lapsed_30 includes the lapsed_90 customers, since a
    win-back sent at 30 days still fits at 90. Dormant customers have their own segment."""
    return _segment(
        f"lapsed_{days}",
        f"{days}日以上購入なし",
        f"Lapsed {days} days",
        f"Last order {days} or more days ago, not yet dormant ({dormant_after} days).",
        {
            "all": [
                {"field": "last_order_at", "op": "older_than_days", "value": days},
                {"field": "last_order_at", "op": "within_last_days", "value": dormant_after},
            ]
        },
    )


def vip() -> BuiltinSegment:
    return _segment(
        "vip",
        "VIP顧客",
        "VIP customers",
        "RFM rank 優良 (loyal), or in the top fifth of the shop by revenue (M score 5).",
        {
            "any": [
                {"field": "rfm_rank", "op": "eq", "value": str(RfmRank.LOYAL)},
                {"field": "m_score", "op": "eq", "value": 5},
            ]
        },
    )


def high_aov(minimum: int = HIGH_AOV) -> BuiltinSegment:
    return _segment(
        "high_aov",
        "高単価顧客",
        "High average order value",
        f"Average order value of {minimum:,} or more.",
        {"field": "average_order_value", "op": "gte", "value": minimum},
    )


def f1_not_converted(days: int = F2_CONVERSION_DAYS) -> BuiltinSegment:
    return _segment(
        "f1_not_converted",
        f"F2転換待ち({days}日経過)",
        f"F1 not converted after {days} days",
        f"Exactly one order, placed {days} or more days ago: the F2 push missed.",
        {
            "all": [
                {"field": "order_count", "op": "eq", "value": 1},
                {"field": "first_order_at", "op": "older_than_days", "value": days},
            ]
        },
    )


def subscribers_never_bought() -> BuiltinSegment:
    return _segment(
        "subscribers_never_bought",
        "未購入のメルマガ会員",
        "Subscribers who never bought",
        "Opted in to marketing mail and has no order yet.",
        {
            "all": [
                {"field": "consents", "op": "contains", "value": "email:marketing"},
                {"not": _has_ordered()},
            ]
        },
    )


def full_price_buyers(max_sale_ratio: float = FULL_PRICE_MAX_SALE_RATIO) -> BuiltinSegment:
    return _segment(
        "full_price_buyers",
        "定価購入者",
        "Full-price buyers",
        f"Has ordered, and at most {max_sale_ratio:.0%} of revenue came at a discount.",
        {
            "all": [
                _has_ordered(),
                {"field": "sale_ratio", "op": "lte", "value": max_sale_ratio},
            ]
        },
    )


def sale_buyers(min_sale_ratio: float = SALE_BUYER_MIN_SALE_RATIO) -> BuiltinSegment:
    return _segment(
        "sale_buyers",
        "セール購入者",
        "Sale buyers",
        f"Has ordered, and at least {min_sale_ratio:.0%} of revenue came at a discount.",
        {
            "all": [
                _has_ordered(),
                {"field": "sale_ratio", "op": "gte", "value": min_sale_ratio},
            ]
        },
    )


def rfm_rank(rank: RfmRank) -> BuiltinSegment:
    return _segment(
        f"rfm_{rank}",
        f"RFM {rank.label_ja}",
        f"RFM {rank.label_en}",
        f"Customers whose nightly RFM rank is {rank.label_ja} ({rank}).",
        {"field": "rfm_rank", "op": "eq", "value": str(rank)},
    )


def birthday_soon(days: int = 7) -> BuiltinSegment:
    return _segment(
        "birthday_soon",
        f"{days}日以内に誕生日",
        f"Birthday within {days} days",
        "Birthday today or in the coming days (29 Feb counts as 28 Feb in common years).",
        {"field": "birthday", "op": "anniversary_within_days", "value": days},
    )


def cart_abandoned(days: int = 3) -> BuiltinSegment:
    return _segment(
        "cart_abandoned",
        "カゴ落ち",
        "Abandoned cart",
        f"Added to cart in the last {days} days, has not bought since, and the cart still "
        "holds something (an emptied cart is not abandoned).",
        {
            "all": [
                {"activity": "carted", "within_days": days, "not_followed_by": "bought"},
                {"field": "cart_size", "op": "gt", "value": 0},
            ]
        },
    )


BUILTIN_SEGMENTS: tuple[BuiltinSegment, ...] = (
    dormant(),
    *(lapsed(days) for days in LAPSED_DAYS),
    vip(),
    high_aov(),
    f1_not_converted(),
    subscribers_never_bought(),
    full_price_buyers(),
    sale_buyers(),
    *(rfm_rank(rank) for rank in RfmRank),
    birthday_soon(),
    cart_abandoned(),
)

BUILTINS_BY_ID: Mapping[str, BuiltinSegment] = MappingProxyType(
    {segment.id: segment for segment in BUILTIN_SEGMENTS}
)
