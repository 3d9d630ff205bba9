"""The per-customer evaluator: worked examples from the issue, and algebraic properties."""

from __future__ import annotations

import calendar
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from segmenter.domain.segments import (
    Activity,
    AllOf,
    AnyOf,
    CustomerFacts,
    Not,
    Rule,
    days_until_anniversary,
    evaluate,
    parse_rule,
)
from tests.segmenter.domain.generators import JST, nows, random_facts, random_rule, randoms

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=JST)


def customer(
    activities: tuple[Activity, ...] = (),
    preferences: dict[str, frozenset[str]] | None = None,
    **fields: object,
) -> CustomerFacts:
    return CustomerFacts("c-1", fields, activities, preferences or {})


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def matches(rule_json: object, facts: CustomerFacts, now: datetime = NOW) -> bool:
    return evaluate(parse_rule(rule_json), facts, now)


def test_issue_example_f1_skincare_30_days_after_shipping() -> None:
    # Given the issue's segment: F1, bought skincare, shipped 30+ days ago
    rule = {
        "all": [
            {"field": "order_count", "op": "eq", "value": 1},
            {"activity": "bought", "category": "skincare"},
            {"field": "last_shipped_at", "op": "older_than_days", "value": 30},
        ]
    }
    skincare = Activity("bought", days_ago(40), sku="LOTION", category="skincare")

    # Then the customer shipped 31 days ago is in, the one shipped 29 days ago and the
    # one with a second order are out
    assert matches(rule, customer((skincare,), order_count=1, last_shipped_at=days_ago(31)))
    assert not matches(rule, customer((skincare,), order_count=1, last_shipped_at=days_ago(29)))
    assert not matches(rule, customer((skincare,), order_count=2, last_shipped_at=days_ago(31)))


def test_bought_sku_within_window_with_count_thresholds() -> None:
    # Given a customer who bought SKU-A 10 and 100 days ago, SKU-B yesterday
    facts = customer(
        (
            Activity("bought", days_ago(10), sku="SKU-A"),
            Activity("bought", days_ago(100), sku="SKU-A"),
            Activity("bought", days_ago(1), sku="SKU-B"),
            Activity("viewed", days_ago(1), sku="SKU-A"),
        )
    )

    # Then counts respect the window, the SKU and the kind
    assert matches({"activity": "bought", "sku": "SKU-A", "within_days": 90}, facts)
    assert not matches(
        {"activity": "bought", "sku": "SKU-A", "within_days": 90, "count_gte": 2}, facts
    )
    assert matches({"activity": "bought", "sku": "SKU-A", "count_gte": 2}, facts)
    assert matches({"activity": "bought", "sku": ["SKU-A", "SKU-B"], "count_gte": 3}, facts)
    assert matches({"activity": "bought", "count_lte": 3}, facts)
    assert not matches({"activity": "bought", "count_lte": 2}, facts)
    assert matches({"activity": "carted", "count_lte": 0}, facts)


def test_a_calendar_window_counts_only_the_activities_inside_it() -> None:
    # Given purchases 40, 20 and 10 days ago
    facts = customer(tuple(Activity("bought", days_ago(d), sku="A") for d in (40, 20, 10)))
    since, before = days_ago(20).isoformat(), days_ago(10).isoformat()

    # Then a window counts from its start (inclusive) up to its end (exclusive)
    assert matches({"activity": "bought", "since": since, "count_gte": 2}, facts)
    assert not matches({"activity": "bought", "since": since, "count_gte": 3}, facts)
    assert matches({"activity": "bought", "since": since, "before": before, "count_lte": 1}, facts)
    assert matches({"activity": "bought", "before": before, "count_gte": 2}, facts)
    assert not matches({"activity": "bought", "before": days_ago(40).isoformat()}, facts)


def test_activities_after_now_are_ignored() -> None:
    # Given an activity stamped in the future (clock skew, a replayed import)
    facts = customer((Activity("bought", NOW + timedelta(seconds=1), sku="A"),))

    # Then it does not count yet
    assert not matches({"activity": "bought"}, facts)
    assert matches({"activity": "bought"}, facts, NOW + timedelta(seconds=1))


def test_viewed_but_did_not_buy() -> None:
    # Given: viewed A then bought it; viewed B and never bought it
    viewed_a = Activity("viewed", days_ago(3), sku="A")
    bought_a = Activity("bought", days_ago(2), sku="A")
    viewed_b = Activity("viewed", days_ago(3), sku="B")
    rule_a = {"activity": "viewed", "sku": "A", "within_days": 7, "not_followed_by": "bought"}
    rule_b = {**rule_a, "sku": "B"}
    facts = customer((viewed_a, bought_a, viewed_b))

    # Then only B is abandoned; both forms agree on it
    assert not matches(rule_a, facts)
    assert matches(rule_b, facts)
    both_forms = {
        "all": [
            {"activity": "viewed", "sku": "B", "within_days": 7},
            {"not": {"activity": "bought", "sku": "B", "within_days": 7}},
        ]
    }
    assert matches(both_forms, facts)


def test_not_followed_by_counts_only_views_after_the_last_purchase() -> None:
    # Given: bought A, then viewed A again afterwards
    facts = customer(
        (
            Activity("viewed", days_ago(5), sku="A"),
            Activity("bought", days_ago(4), sku="A"),
            Activity("viewed", days_ago(1), sku="A"),
        )
    )
    rule = {"activity": "viewed", "sku": "A", "within_days": 7, "not_followed_by": "bought"}

    # Then the later view is an open interest again (a purchase at the same instant closes it)
    assert matches(rule, facts)
    assert not matches({**rule, "count_gte": 2}, facts)
    same_instant = customer(
        (Activity("viewed", days_ago(1), sku="A"), Activity("bought", days_ago(1), sku="A"))
    )
    assert not matches(rule, same_instant)


def test_missing_values_fail_every_comparison() -> None:
    # Given a customer with no gender, age or categories
    facts = customer()

    # Then eq, ne, not_in and contains are all false; exists / not and not_exists reach them
    for rule in (
        {"field": "gender", "op": "eq", "value": "female"},
        {"field": "gender", "op": "ne", "value": "female"},
        {"field": "age", "op": "not_in", "value": [20]},
        {"field": "categories", "op": "contains", "value": "food"},
        {"field": "last_order_at", "op": "older_than_days", "value": 1},
        {"field": "has_email", "op": "ne", "value": True},
    ):
        assert not matches(rule, facts), rule
    assert matches({"field": "gender", "op": "not_exists"}, facts)
    assert matches({"not": {"field": "gender", "op": "eq", "value": "female"}}, facts)


def test_empty_strings_and_sets_do_not_exist() -> None:
    # Given a blank gender and an empty category set
    facts = customer(gender="", categories=frozenset())

    # Then `exists` is false for both, while a set holding a value exists
    assert matches({"field": "gender", "op": "not_exists"}, facts)
    assert matches({"field": "categories", "op": "not_exists"}, facts)
    assert matches({"field": "categories", "op": "exists"}, customer(categories={"food"}))


def test_numbers_compare_across_int_float_and_decimal() -> None:
    # Given revenue stored as a Decimal
    facts = customer(revenue=Decimal("10000.00"), order_count=3)

    # Then JSON numbers compare with it by value
    assert matches({"field": "revenue", "op": "eq", "value": 10000}, facts)
    assert matches({"field": "revenue", "op": "between", "value": [9999.5, 10000]}, facts)
    assert matches({"field": "order_count", "op": "in", "value": [1, 3.0]}, facts)


def test_sets_strings_bools_and_preferences() -> None:
    # Given a customer with categories, consents, a prefecture and survey dislikes
    facts = customer(
        preferences={"dislike": frozenset({"fragrance"})},
        categories=frozenset({"skincare", "food"}),
        consents=frozenset({"email:marketing"}),
        prefecture="東京都",
        last_sales_channel="rakuten web",
        has_line=False,
    )

    # Then each operator reads them as documented
    assert matches(
        {"field": "categories", "op": "contains_all", "value": ["food", "skincare"]}, facts
    )
    assert not matches({"field": "categories", "op": "contains_all", "value": ["food", "x"]}, facts)
    assert matches({"field": "categories", "op": "contains_any", "value": ["x", "food"]}, facts)
    assert matches({"field": "consents", "op": "contains", "value": "email:marketing"}, facts)
    assert matches({"field": "prefecture", "op": "in", "value": ["東京都", "大阪府"]}, facts)
    assert matches({"field": "last_sales_channel", "op": "contains", "value": "rakuten"}, facts)
    assert matches({"field": "has_line", "op": "eq", "value": False}, facts)
    assert matches({"preference": "dislike", "includes": "fragrance"}, facts)
    assert not matches({"preference": "motive", "includes_any": ["gift"]}, facts)


def test_absolute_dates_and_datetimes() -> None:
    # Given a customer created on New Year's Day (JST) born in 1990
    facts = customer(created_at=datetime(2026, 1, 1, 0, 0, tzinfo=JST), birthday=date(1990, 5, 5))

    # Then ISO bounds compare as instants, whatever the offset they are written in
    assert matches({"field": "created_at", "op": "gte", "value": "2025-12-31T15:00:00Z"}, facts)
    assert not matches(
        {"field": "created_at", "op": "gt", "value": "2025-12-31T15:00:00+00:00"}, facts
    )
    assert matches({"field": "birthday", "op": "eq", "value": "1990-05-05"}, facts)
    assert matches(
        {"field": "birthday", "op": "between", "value": ["1990-01-01", "1990-12-31"]}, facts
    )


def test_expected_next_order_within_next_days() -> None:
    # Given a customer expected to reorder in 5 days
    facts = customer(expected_next_order_at=NOW + timedelta(days=5))

    # Then a 7-day look-ahead finds them and a 3-day one does not
    assert matches({"field": "expected_next_order_at", "op": "within_next_days", "value": 7}, facts)
    assert not matches(
        {"field": "expected_next_order_at", "op": "within_next_days", "value": 3}, facts
    )


@pytest.mark.parametrize(
    ("born", "today", "days"),
    [
        (date(1990, 1, 2), date(2025, 12, 28), 5),  # year wrap
        (date(1990, 12, 28), date(2025, 12, 28), 0),  # today
        (date(1990, 12, 27), date(2025, 12, 28), 364),  # just missed
        (date(2000, 2, 29), date(2025, 2, 27), 1),  # leap day, common year: 28 Feb
        (date(2000, 2, 29), date(2025, 3, 1), 364),  # next is 28 Feb 2026
        (date(2000, 2, 29), date(2027, 3, 1), 365),  # next is 29 Feb 2028
        (date(2000, 2, 29), date(2028, 2, 28), 1),  # leap year: the real day
        (date(1990, 3, 1), date(2024, 2, 28), 2),  # across 29 Feb
    ],
)
def test_days_until_anniversary(born: date, today: date, days: int) -> None:
    # Given a birth date and today / Then the next anniversary is this many days away
    assert days_until_anniversary(born, today) == days


def test_birthday_within_7_days_uses_the_shop_calendar_date() -> None:
    # Given a 5 January birthday; in Tokyo it is already 29 December, in UTC still the 28th
    facts = customer(birthday=date(1988, 1, 5))
    rule = {"field": "birthday", "op": "anniversary_within_days", "value": 7}
    tokyo = datetime(2025, 12, 29, 1, 0, tzinfo=JST)

    # Then the date in `now`'s own zone decides
    assert matches(rule, facts, tokyo)
    assert not matches(rule, facts, tokyo.astimezone(UTC))


def test_naive_now_or_naive_facts_are_refused() -> None:
    rule = parse_rule({"field": "last_order_at", "op": "exists"})
    with pytest.raises(ValueError, match="now"):
        evaluate(rule, customer(), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        evaluate(rule, customer(last_order_at=datetime(2026, 1, 1)), NOW)


# ---------------------------------------------------------------------------------------
# Properties


def _random_case(rng: random.Random, now: datetime) -> tuple[Rule, Rule, CustomerFacts]:
    left = parse_rule(random_rule(rng, now))
    right = parse_rule(random_rule(rng, now))
    return left, right, random_facts(rng, 0, now)


@settings(max_examples=300)
@given(randoms, nows)
def test_boolean_algebra(rng: random.Random, now: datetime) -> None:
    # Given any two rules and any customer
    a, b, facts = _random_case(rng, now)

    def ev(rule: Rule) -> bool:
        return evaluate(rule, facts, now)

    # Then not inverts, a one-child all/any is its child, and De Morgan holds
    assert ev(Not(a)) is not ev(a)
    assert ev(AllOf((a,))) == ev(a) == ev(AnyOf((a,)))
    assert ev(Not(AllOf((a, b)))) == ev(AnyOf((Not(a), Not(b))))
    assert ev(Not(AnyOf((a, b)))) == ev(AllOf((Not(a), Not(b))))
    assert ev(AllOf(())) and not ev(AnyOf(()))


@given(
    days=st.integers(0, 3650),
    before=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4000)),
    now=nows,
)
def test_older_than_and_within_last_split_the_past(
    days: int, before: timedelta, now: datetime
) -> None:
    # Given an order placed some time before now
    facts = customer(last_order_at=now - before)
    older = {"field": "last_order_at", "op": "older_than_days", "value": days}
    within = {"field": "last_order_at", "op": "within_last_days", "value": days}

    # Then exactly one of "older than N days" and "within the last N days" holds,
    # and the cut sits at exactly N x 24 h
    assert matches(older, facts, now) != matches(within, facts, now)
    assert matches(older, facts, now) == (before >= timedelta(days=days))


@given(days=st.integers(1, 3650), now=nows)
def test_relative_boundary_to_the_microsecond(days: int, now: datetime) -> None:
    # Given orders exactly N days ago and one microsecond later
    exact = customer(last_order_at=now - timedelta(days=days))
    later = customer(last_order_at=now - timedelta(days=days) + timedelta(microseconds=1))
    older = {"field": "last_order_at", "op": "older_than_days", "value": days}

    # Then exactly N days counts as older; a microsecond less does not
    assert matches(older, exact, now)
    assert not matches(older, later, now)


def _brute_force_anniversary(born: date, today: date, within: int) -> bool:
    for offset in range(within + 1):
        day = today + timedelta(days=offset)
        if (day.month, day.day) == (born.month, born.day):
            return True
        leap_day_moved = (born.month, born.day) == (2, 29) and not calendar.isleap(day.year)
        if leap_day_moved and (day.month, day.day) == (2, 28):
            return True
    return False


@settings(max_examples=300)
@given(
    born=st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)),
    today=st.dates(min_value=date(2023, 1, 1), max_value=date(2030, 12, 31)),
    within=st.integers(0, 366),
)
def test_birthday_within_matches_day_by_day_search(born: date, today: date, within: int) -> None:
    # Given any birthday, today and window
    assume(born <= today)
    now = datetime(today.year, today.month, today.day, 10, tzinfo=JST)
    rule = {"field": "birthday", "op": "anniversary_within_days", "value": within}

    # Then the rule agrees with walking the calendar one day at a time
    assert matches(rule, customer(birthday=born), now) == _brute_force_anniversary(
        born, today, within
    )
