"""Built-in segments, checked on hand-made customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from segmenter.domain.segments import (
    BUILTIN_SEGMENTS,
    BUILTINS_BY_ID,
    Activity,
    CustomerFacts,
    evaluate,
    parse_rule,
    rule_to_json,
)
from segmenter.domain.segments.builtin import f1_not_converted, high_aov
from tests.segmenter.domain.generators import JST

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=JST)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def members(segment_id: str, customers: dict[str, dict[str, object]]) -> set[str]:
    rule = BUILTINS_BY_ID[segment_id].rule
    return {
        name
        for name, fields in customers.items()
        if evaluate(rule, CustomerFacts(name, fields), NOW)
    }


def test_every_builtin_is_a_valid_named_rule() -> None:
    # Given the built-in catalogue / Then ids are unique, names bilingual, rules round-trip
    assert len(BUILTINS_BY_ID) == len(BUILTIN_SEGMENTS)
    for segment in BUILTIN_SEGMENTS:
        assert segment.name_ja and segment.name_en and segment.description
        assert parse_rule(segment.rule_json) == segment.rule
        assert parse_rule(rule_to_json(segment.rule)) == segment.rule
    assert {
        "dormant",
        "lapsed_30",
        "lapsed_90",
        "lapsed_180",
        "vip",
        "high_aov",
        "f1_not_converted",
        "subscribers_never_bought",
        "full_price_buyers",
        "sale_buyers",
        "rfm_loyal",
        "rfm_semi_loyal",
        "rfm_general",
        "rfm_dormant",
    } <= set(BUILTINS_BY_ID)


RECENCY: dict[str, dict[str, object]] = {
    "yesterday": {"last_order_at": ago(1)},
    "d30": {"last_order_at": ago(30)},
    "d120": {"last_order_at": ago(120)},
    "d200": {"last_order_at": ago(200)},
    "d365": {"last_order_at": ago(365)},
    "never": {},
}


@pytest.mark.parametrize(
    ("segment_id", "expected"),
    [
        ("dormant", {"d365"}),
        ("lapsed_30", {"d30", "d120", "d200"}),
        ("lapsed_90", {"d120", "d200"}),
        ("lapsed_180", {"d200"}),
    ],
)
def test_dormant_and_lapsed(segment_id: str, expected: set[str]) -> None:
    # Given customers whose last order is 1 to 365 days old, and one who never ordered
    # Then lapsed segments are cumulative and stop where dormancy starts
    assert members(segment_id, RECENCY) == expected


def test_vip_high_aov_and_rfm_ranks() -> None:
    # Given customers with last night's RFM fields and an average order value
    customers: dict[str, dict[str, object]] = {
        "loyal": {"rfm_rank": "loyal", "m_score": 4, "average_order_value": 8000},
        "big_spender": {"rfm_rank": "general", "m_score": 5, "average_order_value": 12000},
        "general": {"rfm_rank": "general", "m_score": 2, "average_order_value": 3000},
        "unranked": {},
    }
    # Then VIP takes the loyal rank or the top revenue fifth; high AOV is ¥10,000+
    assert members("vip", customers) == {"loyal", "big_spender"}
    assert members("high_aov", customers) == {"big_spender"}
    assert members("rfm_general", customers) == {"big_spender", "general"}
    assert members("rfm_loyal", customers) == {"loyal"}
    assert high_aov(5_000).rule != BUILTINS_BY_ID["high_aov"].rule


def test_f1_not_converted_after_n_days() -> None:
    # Given one-time buyers either side of 60 days, and a repeater
    customers: dict[str, dict[str, object]] = {
        "f1_old": {"order_count": 1, "first_order_at": ago(61)},
        "f1_new": {"order_count": 1, "first_order_at": ago(59)},
        "f2_old": {"order_count": 2, "first_order_at": ago(200)},
    }
    # Then only the one-time buyer past 60 days is waiting; a shop may choose 30 days
    assert members("f1_not_converted", customers) == {"f1_old"}
    rule = f1_not_converted(days=30).rule
    assert evaluate(rule, CustomerFacts("x", customers["f1_new"]), NOW)


def test_subscribers_who_never_bought() -> None:
    # Given mail subscribers with and without orders, and a LINE-only follower
    customers: dict[str, dict[str, object]] = {
        "subscriber": {"consents": frozenset({"email:marketing"}), "order_count": 0},
        "subscriber_no_count": {"consents": frozenset({"email:marketing", "line:marketing"})},
        "buyer": {"consents": frozenset({"email:marketing"}), "order_count": 1},
        "line_only": {"consents": frozenset({"line:marketing"}), "order_count": 0},
    }
    # Then a missing order count counts as never bought; LINE consent is not mail
    assert members("subscribers_never_bought", customers) == {
        "subscriber",
        "subscriber_no_count",
    }


def test_full_price_and_sale_buyers() -> None:
    # Given buyers with sale ratios across the thresholds (≤ 20 % full price, ≥ 50 % sale)
    customers: dict[str, dict[str, object]] = {
        "full": {"order_count": 3, "sale_ratio": 0.0},
        "edge": {"order_count": 1, "sale_ratio": 0.2},
        "mixed": {"order_count": 2, "sale_ratio": 0.4},
        "sale": {"order_count": 4, "sale_ratio": 0.8},
        "prospect": {"order_count": 0, "sale_ratio": 0.0},
    }
    # Then the middle ground is in neither, and a prospect in none
    assert members("full_price_buyers", customers) == {"full", "edge"}
    assert members("sale_buyers", customers) == {"sale"}


def test_birthday_and_cart_abandonment() -> None:
    # Given NOW = 1 March: a 7 March birthday is within 7 days, 9 March is not
    birthday = BUILTINS_BY_ID["birthday_soon"].rule
    assert evaluate(birthday, CustomerFacts("b", {"birthday": date(1990, 3, 7)}), NOW)
    assert not evaluate(birthday, CustomerFacts("b", {"birthday": date(1990, 3, 9)}), NOW)

    # And a cart is abandoned until the customer buys after carting, or empties it
    cart = BUILTINS_BY_ID["cart_abandoned"].rule
    carted = Activity("carted", ago(1), sku="A")
    assert evaluate(cart, CustomerFacts("c", {"cart_size": 1}, (carted,)), NOW)
    bought = Activity("bought", NOW - timedelta(hours=1), sku="A")
    assert not evaluate(cart, CustomerFacts("c", {"cart_size": 1}, (carted, bought)), NOW)
    assert not evaluate(cart, CustomerFacts("c", {"cart_size": 0}, (carted,)), NOW)
