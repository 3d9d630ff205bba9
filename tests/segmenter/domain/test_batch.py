"""The nightly columnar recompute answers exactly what the per-customer path answers."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from segmenter.domain.segments import (
    BUILTIN_SEGMENTS,
    Activity,
    CustomerFacts,
    RfmConfig,
    ScoringMethod,
    evaluate,
    parse_rule,
    rfm_input,
    score_customers,
)
from segmenter.domain.segments.batch import (
    ColumnarEvaluator,
    ProfileTable,
    recompute,
    score_rfm,
    supports,
)
from segmenter.domain.segments.rfm import RANK_ORDER
from tests.segmenter.domain.generators import (
    JST,
    NOWS,
    nows,
    random_customers,
    random_rule,
    randoms,
)

NOW = NOWS[0]


def _assert_same_members(customers: list[CustomerFacts], rule_json: object, now: datetime) -> None:
    rule = parse_rule(rule_json)
    batch = ColumnarEvaluator(ProfileTable.from_facts(customers), now).mask(rule)
    one_by_one = [evaluate(rule, facts, now) for facts in customers]
    assert batch.tolist() == one_by_one, rule_json


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(randoms, nows)
def test_batch_equals_per_customer_on_random_rules(rng: random.Random, now: datetime) -> None:
    # Given a small random shop and a random rule
    customers = random_customers(rng, rng.randint(1, 25), now)
    rule_json = random_rule(rng, now)

    # When both evaluators run / Then they pick the same customers
    _assert_same_members(customers, rule_json, now)


def test_batch_equals_per_customer_on_a_seeded_shop() -> None:
    # Given 1,000 seeded customers and 100 seeded rules plus every built-in
    rng = random.Random(20260301)
    for now in NOWS:
        customers = random_customers(rng, 1000, now)
        table = ProfileTable.from_facts(customers)
        rules = [parse_rule(random_rule(rng, now)) for _ in range(100)]
        rules += [segment.rule for segment in BUILTIN_SEGMENTS]
        evaluator = ColumnarEvaluator(table, now)

        # When / Then each rule has the same members both ways
        for rule in rules:
            expected = [evaluate(rule, facts, now) for facts in customers]
            assert evaluator.mask(rule).tolist() == expected, rule


@pytest.mark.parametrize("method", list(ScoringMethod))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(rng=randoms, now=nows)
def test_batch_rfm_equals_per_customer(
    method: ScoringMethod, rng: random.Random, now: datetime
) -> None:
    # Given a random shop (with prospects, ties and missing fields)
    customers = random_customers(rng, rng.randint(1, 40), now)
    config = RfmConfig(method=method)

    # When RFM is scored column-wise and one by one
    columns = score_rfm(ProfileTable.from_facts(customers), now, config)
    expected = score_customers([rfm_input(c) for c in customers], now, config)

    # Then scores and ranks agree for every customer
    for row, score in enumerate(expected):
        assert (columns.r[row], columns.f[row], columns.m[row]) == (
            score.r or 0,
            score.f or 0,
            score.m or 0,
        )
        rank = int(columns.rank[row])
        assert (None if rank < 0 else RANK_ORDER[rank]) == score.rank


def test_recompute_feeds_fresh_rfm_into_rules() -> None:
    # Given a shop whose stored ranks are stale (everyone still marked loyal)
    rng = random.Random(7)
    customers = [
        replace(c, fields={**c.fields, "rfm_rank": "loyal"})
        for c in random_customers(rng, 400, NOW)
    ]
    segments = {s.id: s.rule for s in BUILTIN_SEGMENTS}
    config = RfmConfig(method=ScoringMethod.FIXED)

    # When the nightly job recomputes
    result = recompute(ProfileTable.from_facts(customers), segments, NOW, config)

    # Then rules see tonight's RFM, exactly as the per-customer path would with it
    scores = score_customers([rfm_input(c) for c in customers], NOW, config)
    refreshed = [
        replace(c, fields={**c.fields, **score.as_fields()})
        for c, score in zip(customers, scores, strict=True)
    ]
    for segment_id, rule in segments.items():
        expected = [f.customer_id for f in refreshed if evaluate(rule, f, NOW)]
        assert result.member_ids(segment_id) == expected, segment_id
    for row, score in enumerate(scores):
        assert result.rfm_fields(row) == score.as_fields()
    counts = result.rank_counts()
    assert sum(counts.values()) == sum(1 for s in scores if s.rank is not None)
    assert counts["dormant"] == len(result.member_ids("rfm_dormant"))


def test_fields_without_a_column_count_as_missing() -> None:
    # Given a table with ids only (nothing known yet)
    table = ProfileTable(customer_ids=["a", "b"])
    evaluator = ColumnarEvaluator(table, NOW)

    # Then comparisons are false and not_exists is true, as per customer
    for rule_json, expected in [
        ({"field": "gender", "op": "ne", "value": "f"}, [False, False]),
        ({"field": "gender", "op": "not_exists"}, [True, True]),
        ({"field": "categories", "op": "contains", "value": "x"}, [False, False]),
        ({"field": "birthday", "op": "anniversary_within_days", "value": 3}, [False, False]),
        ({"field": "has_email", "op": "exists"}, [False, False]),
        ({"field": "last_order_at", "op": "not_exists"}, [True, True]),
        ({"activity": "bought", "count_lte": 0}, [True, True]),
        ({"preference": "dislike", "includes": "x"}, [False, False]),
    ]:
        assert evaluator.mask(parse_rule(rule_json)).tolist() == expected, rule_json
    columns = score_rfm(table, NOW)
    assert columns.rank.tolist() == [-1, -1]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        ColumnarEvaluator(ProfileTable(customer_ids=[]), datetime(2026, 1, 1))


def test_boundary_microseconds_survive_the_columnar_encoding() -> None:
    # Given orders exactly 30 days ago and a microsecond either side, in another offset
    now = datetime(2026, 3, 1, 12, tzinfo=JST)
    edge = now - timedelta(days=30)
    customers = [
        CustomerFacts(str(i), {"last_order_at": (edge + timedelta(microseconds=d)).astimezone()})
        for i, d in enumerate((-1, 0, 1))
    ]
    rule = {"field": "last_order_at", "op": "older_than_days", "value": 30}

    # Then the batch draws the line where the per-customer evaluator does
    _assert_same_members(customers, rule, now)
    mask = ColumnarEvaluator(ProfileTable.from_facts(customers), now).mask(parse_rule(rule))
    assert np.array_equal(mask, [True, True, False])


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 22, 10, tzinfo=ZoneInfo("America/Los_Angeles")),  # after fall back
        datetime(2026, 3, 20, 10, tzinfo=ZoneInfo("America/Los_Angeles")),  # after spring on
        datetime(2026, 10, 20, 10, tzinfo=ZoneInfo("America/Los_Angeles")),  # before fall back
    ],
)
def test_windows_across_a_daylight_saving_change_are_exact_instants(
    now: datetime,
) -> None:
    # Given a customer's local "now" in a zone whose clocks moved within the last 30 days
    # (or will within the next 30), and moments every 20 minutes around each window edge,
    # where 30 wall-clock days would be an hour more or less than 30 x 24 h
    edges = [now - timedelta(days=30), now + timedelta(days=30)]
    moments = [
        (edge + timedelta(minutes=m)).astimezone(UTC) for edge in edges for m in range(-80, 81, 20)
    ]
    customers = [
        CustomerFacts(
            str(i),
            {"last_order_at": at, "expected_next_order_at": at},
            activities=(Activity("bought", at, sku="s", category="c"),),
        )
        for i, at in enumerate(moments)
    ]

    # Then both evaluators draw every window edge at exactly 30 x 24 h from now
    older = parse_rule({"field": "last_order_at", "op": "older_than_days", "value": 30})
    edge = now.astimezone(UTC) - timedelta(days=30)
    assert [evaluate(older, c, now) for c in customers] == [at <= edge for at in moments]
    for rule in [
        {"field": "last_order_at", "op": "older_than_days", "value": 30},
        {"field": "last_order_at", "op": "within_last_days", "value": 30},
        {"field": "expected_next_order_at", "op": "within_next_days", "value": 30},
        {"activity": "bought", "within_days": 30},
        {"activity": "bought", "category": "c", "within_days": 30, "count_gte": 1},
    ]:
        _assert_same_members(customers, rule, now)


def test_every_builtin_segment_runs_column_wise() -> None:
    # Given the built-in segments every shop has / Then none falls back to per customer
    assert [s.id for s in BUILTIN_SEGMENTS if not supports(s.rule)] == []
