"""Parsing rules: what is accepted, how it is typed, and refusals that name the bad node."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings

from segmenter.domain.segments import (
    MAX_DEPTH,
    MAX_NODES,
    ActivityCondition,
    AllOf,
    AnyOf,
    FieldCondition,
    FieldType,
    Not,
    Op,
    PreferenceCondition,
    RuleError,
    parse_rule,
    rule_activity_kinds,
    rule_depends_on_time,
    rule_fields,
    rule_preference_keys,
    rule_to_json,
)
from shared.errors import InvalidInput
from tests.segmenter.domain.generators import nows, random_rule, randoms

F1_SKINCARE_NOT_CONVERTED = {
    "all": [
        {"field": "order_count", "op": "eq", "value": 1},
        {"activity": "bought", "category": "skincare"},
        {"field": "last_shipped_at", "op": "older_than_days", "value": 30},
    ]
}


def test_parse_compiles_typed_nodes() -> None:
    # Given the example: F1, bought skincare, 30+ days since shipping
    # When it is parsed
    rule = parse_rule(F1_SKINCARE_NOT_CONVERTED)

    # Then each node is typed and its operand converted once
    assert isinstance(rule, AllOf)
    count, bought, shipped = rule.rules
    assert count == FieldCondition("order_count", FieldType.NUMBER, Op.EQ, value=1, numbers=(1.0,))
    assert bought == ActivityCondition("bought", categories=frozenset({"skincare"}))
    assert isinstance(shipped, FieldCondition)
    assert (shipped.op, shipped.days) == (Op.OLDER_THAN_DAYS, 30)


def test_parse_converts_times_lists_and_preferences() -> None:
    # Given conditions with ISO times, lists and a survey preference
    rule = parse_rule(
        {
            "any": [
                {
                    "field": "created_at",
                    "op": "between",
                    "value": ["2025-01-01T00:00:00+09:00", "2025-02-01T00:00:00Z"],
                },
                {"field": "birthday", "op": "lt", "value": "2000-01-01"},
                {"field": "prefecture", "op": "in", "value": ["東京都", "大阪府"]},
                {"not": {"preference": "dislike", "includes": "fragrance"}},
            ]
        }
    )

    # Then they come out as aware datetimes, dates and sets
    assert isinstance(rule, AnyOf)
    created, birthday, prefecture, dislike = rule.rules
    assert isinstance(created, FieldCondition)
    assert created.instants[1] == datetime(2025, 2, 1, tzinfo=UTC)
    assert isinstance(birthday, FieldCondition)
    assert birthday.dates == (date(2000, 1, 1),)
    assert isinstance(prefecture, FieldCondition)
    assert prefecture.strings == frozenset({"東京都", "大阪府"})
    assert dislike == Not(PreferenceCondition("dislike", frozenset({"fragrance"})))


@pytest.mark.parametrize(
    ("rule", "path", "fragment"),
    [
        ([], "", "expected an object"),
        ({}, "", "exactly one of"),
        ({"all": [], "any": []}, "", "found all, any"),
        ({"all": {"field": "age"}}, "all", "expected a list"),
        ({"all": [{}, {}, {"field": "nope", "op": "eq", "value": 1}]}, "all[0]", "exactly one"),
        (
            {"all": [{"all": []}, {"all": []}, {"field": "age", "op": "eq", "value": "x"}]},
            "all[2].value",
            "expected a number",
        ),
        ({"field": "nope", "op": "eq", "value": 1}, "field", "unknown field 'nope'"),
        ({"field": "age", "op": "like", "value": 1}, "op", "unknown operator"),
        ({"field": "age", "value": 1}, "op", "missing operator"),
        ({"field": "age", "op": "contains", "value": 1}, "op", "does not apply to number"),
        ({"field": "gender", "op": "gt", "value": "f"}, "op", "does not apply to string"),
        ({"field": "age", "op": "gt"}, "value", "needs a value"),
        ({"field": "age", "op": "exists", "value": 1}, "value", "takes no value"),
        ({"field": "age", "op": "gt", "value": True}, "value", "expected a number"),
        ({"field": "age", "op": "gt", "value": float("nan")}, "value", "finite"),
        ({"field": "age", "op": "between", "value": [40, 20]}, "value", "low is greater"),
        ({"field": "age", "op": "between", "value": [1]}, "value", "[low, high]"),
        ({"field": "age", "op": "in", "value": []}, "value", "non-empty list"),
        ({"field": "age", "op": "in", "value": [1, "2"]}, "value[1]", "expected a number"),
        ({"field": "gender", "op": "eq", "value": ""}, "value", "non-empty string"),
        ({"field": "has_email", "op": "eq", "value": 1}, "value", "true or false"),
        ({"field": "categories", "op": "contains_any", "value": "x"}, "value", "list"),
        (
            {"field": "last_order_at", "op": "older_than_days", "value": 1.5},
            "value",
            "whole number",
        ),
        (
            {"field": "last_order_at", "op": "older_than_days", "value": -1},
            "value",
            "from 0 to",
        ),
        (
            {"field": "birthday", "op": "anniversary_within_days", "value": 400},
            "value",
            "from 0 to 366",
        ),
        (
            {"field": "last_order_at", "op": "anniversary_within_days", "value": 7},
            "op",
            "does not apply to datetime",
        ),
        ({"field": "last_order_at", "op": "gt", "value": "2025-01-01T00:00:00"}, "value", "offset"),
        ({"field": "last_order_at", "op": "gt", "value": "yesterday"}, "value", "ISO 8601"),
        ({"field": "birthday", "op": "eq", "value": "2000-02-30"}, "value", "ISO 8601 date"),
        (
            {"field": "birthday", "op": "between", "value": ["2001-01-01", "2000-01-01"]},
            "value",
            "later",
        ),
        ({"field": "age", "op": "eq", "value": 1, "extra": 2}, "extra", "unknown key"),
        ({"not": {"field": "age", "op": "eq", "value": 1}, "x": 1}, "x", "unknown key"),
        ({"activity": "purchased"}, "activity", "unknown activity"),
        ({"activity": "bought", "within_days": 0}, "within_days", "from 1 to"),
        ({"activity": "bought", "count_gte": 3, "count_lte": 2}, "count_lte", "at least"),
        ({"activity": "bought", "sku": []}, "sku", "non-empty list"),
        ({"activity": "bought", "sku": ["A", 3]}, "sku[1]", "non-empty string"),
        ({"activity": "viewed", "not_followed_by": "viewed"}, "not_followed_by", "differ"),
        ({"activity": "viewed", "window": 3}, "window", "unknown key"),
        ({"activity": "bought", "since": "2025-01-01"}, "since", "offset"),
        ({"activity": "bought", "before": 20250101}, "before", "ISO 8601"),
        (
            {
                "activity": "bought",
                "since": "2025-02-01T00:00:00+09:00",
                "before": "2025-02-01T00:00:00+09:00",
            },
            "before",
            "later than since",
        ),
        ({"preference": "dislike"}, "", "includes, includes_any"),
        ({"preference": "", "includes": "x"}, "preference", "non-empty"),
        ({"preference": "dislike", "includes_any": "x"}, "includes_any", "list"),
        ({"not": {"any": [{"field": "age", "op": "gte"}]}}, "not.any[0].value", "needs a value"),
    ],
)
def test_invalid_rules_name_the_bad_node(rule: object, path: str, fragment: str) -> None:
    # Given a rule with one mistake
    # When it is parsed
    with pytest.raises(RuleError) as caught:
        parse_rule(rule)

    # Then the error points at the node and says what is wrong
    assert caught.value.path == path
    assert fragment in caught.value.reason
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.field == (path or None)


def test_depth_limit() -> None:
    # Given a rule nested one level deeper than allowed
    rule: dict[str, object] = {"field": "age", "op": "exists"}
    for _ in range(MAX_DEPTH):
        rule = {"not": rule}

    # When / Then it is refused at the node that crosses the limit
    with pytest.raises(RuleError, match="deeper than 10") as caught:
        parse_rule(rule)
    assert caught.value.path == ".".join(["not"] * MAX_DEPTH)
    parse_rule(rule["not"])  # one level less is fine


def test_node_limit() -> None:
    # Given an `any` with one leaf more than the node budget allows
    leaves = [{"field": "age", "op": "eq", "value": i} for i in range(MAX_NODES)]

    # When / Then the first node over budget is named
    with pytest.raises(RuleError, match="more than 200 nodes") as caught:
        parse_rule({"any": leaves})
    assert caught.value.path == f"any[{MAX_NODES - 1}]"
    parse_rule({"any": leaves[:-1]})


def test_inspection_helpers_drive_incremental_recompute() -> None:
    # Given a rule over fields, activities, a preference and a relative date
    rule = parse_rule(
        {
            "all": [
                F1_SKINCARE_NOT_CONVERTED,
                {"activity": "viewed", "not_followed_by": "bought", "within_days": 7},
                {"not": {"preference": "dislike", "includes": "fragrance"}},
            ]
        }
    )

    # Then the fields, activity kinds and preference keys it reads are listed
    assert rule_fields(rule) == {"order_count", "last_shipped_at"}
    assert rule_activity_kinds(rule) == {"bought", "viewed"}
    assert rule_preference_keys(rule) == {"dislike"}
    assert rule_depends_on_time(rule)
    assert not rule_depends_on_time(parse_rule({"field": "gender", "op": "eq", "value": "f"}))
    assert not rule_depends_on_time(parse_rule({"activity": "bought", "sku": "A"}))


def test_count_lte_alone_means_at_most() -> None:
    # Given an activity condition with only an upper bound
    rule = parse_rule({"activity": "bought", "count_lte": 2})

    # Then zero matches are allowed too
    assert rule == ActivityCondition("bought", count_gte=0, count_lte=2)


@settings(max_examples=150)
@given(randoms, nows)
def test_round_trip_through_canonical_json(rng: random.Random, now: datetime) -> None:
    # Given any valid rule
    rule = parse_rule(random_rule(rng, now))

    # When it is written back to JSON and parsed again
    again = parse_rule(rule_to_json(rule))

    # Then nothing is lost
    assert again == rule
