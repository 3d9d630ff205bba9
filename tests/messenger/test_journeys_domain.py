"""The journey domain on its own: filters, due times, draws and the lift's interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from messenger.domain.journeys.definition import Step, StepType
from messenger.domain.journeys.enrolment import Enrolment, EnrolmentStatus
from messenger.domain.journeys.filters import (
    FilterError,
    ProfileRule,
    matches,
    parse_filter,
    profile_rules,
)
from messenger.domain.journeys.lift import mean_lift, proportion_lift
from messenger.domain.journeys.plan import (
    NEVER,
    held_out,
    next_local_time,
    next_occurrence,
    shard_of,
    wake_at,
)

JST = timezone(timedelta(hours=9))
AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_filters_read_the_rule_language_on_the_messengers_facts() -> None:
    """Given a filter in the rule language's shape
    When it is checked against facts and membership
    Then all/any/not, comparisons and segments answer as the segment rules do, and a
    missing field is false except for not_exists."""
    rule = parse_filter(
        {
            "all": [
                {"field": "order.order_count", "op": "eq", "value": 1},
                {"any": [{"segment": "vip"}, {"field": "order.total", "op": "gte", "value": 5000}]},
                {"not": {"field": "customer.locale", "op": "in", "value": ["en"]}},
                {"field": "event.coupon", "op": "not_exists"},
            ]
        },
        "entry_filter",
    )
    facts = {"order.order_count": 1, "order.total": "3980", "customer.locale": "ja"}
    assert matches(rule, facts, lambda seg: seg == "vip", _no_profile)
    assert not matches(rule, facts, lambda seg: False, _no_profile)
    assert matches(rule, {**facts, "order.total": 6000}, lambda seg: False, _no_profile)
    assert not matches(rule, {**facts, "event.coupon": "X"}, lambda seg: True, _no_profile)


def _no_profile(leaf: ProfileRule) -> bool:
    raise AssertionError("no profile leaf was expected")


def test_the_whole_segment_language_is_a_filter() -> None:
    """Given a filter mixing the segment rule language (a profile field with a typed
    operator, an activity with a follower, a preference) with a journey fact
    When it is parsed and checked
    Then the segment-language nodes are its profile leaves, in order, each answered by
    whoever judges the profile (the segmenter), and the tree combines the answers."""
    viewed = {"activity": "viewed", "sku": "SERUM-30", "not_followed_by": "bought"}
    rule = parse_filter(
        {
            "all": [
                {"field": "last_order_at", "op": "older_than_days", "value": 365},
                {"any": [viewed, {"preference": "skin", "includes": "dry"}]},
                {"field": "order.is_first_order", "op": "eq", "value": True},
                {"not": {"field": "tags", "op": "contains", "value": "complained"}},
            ]
        },
        "flow_filter",
    )
    leaves = profile_rules(rule)
    assert [leaf.source for leaf in leaves] == [
        {"field": "last_order_at", "op": "older_than_days", "value": 365},
        viewed,
        {"preference": "skin", "includes": "dry"},
        {"field": "tags", "op": "contains", "value": "complained"},
    ]
    answers = {id(leaves[0]): True, id(leaves[1]): False, id(leaves[2]): True}
    facts = {"order.is_first_order": True}
    assert matches(rule, facts, lambda s: False, lambda leaf: answers.get(id(leaf), False))
    answers[id(leaves[3])] = True  # tagged `complained` since
    assert not matches(rule, facts, lambda s: False, lambda leaf: answers.get(id(leaf), False))


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"field": "profile.age", "op": "eq", "value": 1}, "f.field"),
        ({"all": {}}, "f.all"),
        ({"all": [{"field": "revenue", "op": "contains", "value": 1}]}, "f.all[0].op"),
        ({"not": {"activity": "viewed", "within_days": 9999}}, "f.not.within_days"),
        ({"field": "birthday", "op": "anniversary_within_days", "value": -1}, "f.value"),
        ({"any": [{"field": "order.total", "op": "about", "value": 1}]}, "f.any[0].op"),
        ({"field": "order.total", "op": "in", "value": 3}, "f.value"),
    ],
)
def test_a_bad_filter_names_its_node(rule: object, path: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(rule, "f")
    assert raised.value.field == path


def test_local_time_and_dates() -> None:
    """Given noon in Tokyo
    Then the next 10:00 there is tomorrow, the next 15:00 today; a birthday's next
    occurrence is this year's if not past, and 29 February falls on the 28th."""
    assert next_local_time(AT, JST, 10, 0) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert next_local_time(AT, JST, 15, 0) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    birthday = datetime(1990, 12, 1, tzinfo=UTC)
    assert next_occurrence(birthday, AT, -7, yearly=True) == datetime(2026, 11, 24, tzinfo=UTC)
    leap = datetime(2000, 2, 29, tzinfo=UTC)
    assert next_occurrence(leap, AT, 0, yearly=True) == datetime(2027, 2, 28, tzinfo=UTC)


def test_a_time_past_the_calendars_end_never_comes_and_never_raises() -> None:
    """Given a shipment dated the last day of the year 9999 (the contract accepts it)
    When the step mails wait until it plus 3 days, or a date trigger adds its offset
    Then the wait ends never (not an OverflowError, which would retry the step for ever)."""
    end = datetime(9999, 12, 31, tzinfo=UTC)
    e = Enrolment(
        "acme", "j", 1, "c-1", "e-1", "o-1", AT, EnrolmentStatus.ACTIVE, "w", AT,
        anchors={"shipped_at": end},
    )  # fmt: skip
    step = Step("w", StepType.WAIT_UNTIL, next="m", anchor="shipped_at", delay=timedelta(days=3))
    assert wake_at(step, e, AT, UTC) == NEVER
    assert next_occurrence(end, AT, 30, yearly=False) == NEVER
    wait = Step("w", StepType.WAIT, next="m", delay=timedelta(days=3))
    assert wake_at(wait, e, end, UTC) == NEVER


def test_draws_are_fixed_by_the_enrolment_and_near_their_share() -> None:
    """Given 10,000 enrolment ids
    Then a 10 % holdout takes about 10 %, the same id always draws the same, and the
    shards are evenly used."""
    ids = [f"e{i}" for i in range(10_000)]
    held = sum(held_out("j", i, 10) for i in ids)
    assert 900 <= held <= 1100
    assert [held_out("j", i, 10) for i in ids[:50]] == [held_out("j", i, 10) for i in ids[:50]]
    counts = [0] * 16
    for i in ids:
        counts[shard_of(i, 16)] += 1
    assert min(counts) > 500


def test_the_lift_interval() -> None:
    """Given 30 % conversion among 1,000 treated and 20 % among 1,000 held out
    Then the lift is 10 points with an interval of about ±3.8 points that excludes 0;
    with no holdout there is no lift."""
    lift = proportion_lift(300, 1000, 200, 1000)
    assert lift is not None and lift.low is not None and lift.high is not None
    assert lift.difference == pytest.approx(0.1)
    assert lift.low == pytest.approx(0.1 - 0.0380, abs=1e-3)
    assert lift.low > 0
    assert lift.relative == pytest.approx(0.5)
    assert proportion_lift(3, 10, 0, 0) is None


def test_the_lift_interval_of_a_small_holdout_stays_within_100_points() -> None:
    """Given 1 of 6 treated and both of a holdout of 2 converted (a new journey's first
    weeks)
    Then the lift is -83 points within an interval inside [-100, +100] points (Wald's
    was [-113, -54]), a 100-point lift's interval ends at +100, and Newcombe's published
    example holds: 56/70 against 48/80 gives 0.2 within [0.0524, 0.3339] (Newcombe 1998,
    table II, method 10)."""
    small = proportion_lift(1, 6, 2, 2)
    assert small is not None and small.low is not None and small.high is not None
    assert small.difference == pytest.approx(-5 / 6)
    assert small.low == pytest.approx(-0.9699, abs=1e-4)
    assert small.high == pytest.approx(-0.0653, abs=1e-4)
    everyone = proportion_lift(2, 2, 0, 2)
    assert everyone is not None and everyone.low is not None
    assert everyone.low == pytest.approx(0.0700, abs=1e-4) and everyone.high == 1.0
    published = proportion_lift(56, 70, 48, 80)
    assert published is not None
    assert published.low == pytest.approx(0.0524, abs=1e-4)
    assert published.high == pytest.approx(0.3339, abs=1e-4)
    revenue = mean_lift(3000.0, 3000.0 * 1000, 10, 1000.0, 1000.0 * 1000, 10)
    assert revenue is not None and revenue.difference == pytest.approx(200.0)
