"""The per-customer evaluator: is this customer in the segment, right `now`?

Runs on every event, so it is plain Python over the compiled `Rule` (no numpy: Lambda
cold start). `now` is always injected, never read from the clock, so the same inputs give
the same answer in the live path, the nightly batch and the tests.

Missing values: every comparison on a missing field is false (`ne` and `not_in` too);
use `exists` / `not_exists`, or wrap in `not`, to reach customers without the field.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from .facts import (
    Activity,
    CustomerFacts,
    FieldType,
    as_bool,
    as_date,
    as_datetime,
    as_number,
    as_string,
    as_string_set,
    field_value,
)
from .rules import (
    ActivityCondition,
    AllOf,
    AnyOf,
    FieldCondition,
    Not,
    Op,
    PreferenceCondition,
    Rule,
)


def evaluate(rule: Rule, facts: CustomerFacts, now: datetime) -> bool:
    """Whether `facts` satisfy `rule` at `now` (an aware datetime in the shop's time zone;
    its calendar date is "today" for date fields such as birthday)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return _eval(rule, facts, now)


def _eval(rule: Rule, facts: CustomerFacts, now: datetime) -> bool:
    if isinstance(rule, AllOf):
        return all(_eval(child, facts, now) for child in rule.rules)
    if isinstance(rule, AnyOf):
        return any(_eval(child, facts, now) for child in rule.rules)
    if isinstance(rule, Not):
        return not _eval(rule.rule, facts, now)
    if isinstance(rule, FieldCondition):
        return _field(rule, field_value(facts.fields, rule.field), now)
    if isinstance(rule, ActivityCondition):
        if rule.ever and bought_ever(rule, facts):
            return True
        return activity_count_matches(rule, facts.activities, now)
    return _preference(rule, facts)


def bought_ever(cond: ActivityCondition, facts: CustomerFacts) -> bool:
    """Whether the all-time `skus` / `categories` fields hold what `cond` names (any
    purchase at all when it names nothing): history older than the kept window counts."""
    skus = as_string_set(facts.fields.get("skus")) or frozenset()
    categories = as_string_set(facts.fields.get("categories")) or frozenset()
    if not cond.skus and not cond.categories:
        return bool(skus)
    return (not cond.skus or not skus.isdisjoint(cond.skus)) and (
        not cond.categories or not categories.isdisjoint(cond.categories)
    )


def days_until_anniversary(born: date, today: date) -> int:
    """Days from `today` to the next anniversary of `born` (0 = today). A 29 February
    anniversary falls on 28 February in common years."""
    this_year = _anniversary_in(born, today.year)
    if this_year >= today:
        return (this_year - today).days
    return (_anniversary_in(born, today.year + 1) - today).days


def _anniversary_in(born: date, year: int) -> date:
    if born.month == 2 and born.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, born.month, born.day)


def _field(cond: FieldCondition, raw: object, now: datetime) -> bool:
    match cond.type:
        case FieldType.NUMBER:
            return _number(cond, as_number(raw))
        case FieldType.STRING:
            return _string(cond, as_string(raw))
        case FieldType.BOOL:
            return _bool(cond, as_bool(raw))
        case FieldType.SET:
            return _set(cond, as_string_set(raw))
        case FieldType.DATETIME:
            return _instant(cond, as_datetime(raw), now)
        case FieldType.DATE:
            return _day(cond, as_date(raw), now.date())


def _presence(op: Op, present: bool) -> bool:
    return present if op is Op.EXISTS else not present


def _number(cond: FieldCondition, value: float | None) -> bool:
    if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
        return _presence(cond.op, value is not None)
    if value is None:
        return False
    numbers = cond.numbers
    match cond.op:
        case Op.IN:
            return value in numbers
        case Op.NOT_IN:
            return value not in numbers
        case Op.BETWEEN:
            return numbers[0] <= value <= numbers[1]
    return _compare(cond.op, value, numbers[0])


def _compare(op: Op, left: float, right: float) -> bool:
    match op:
        case Op.EQ:
            return left == right
        case Op.NE:
            return left != right
        case Op.GT:
            return left > right
        case Op.GTE:
            return left >= right
        case Op.LT:
            return left < right
        case Op.LTE:
            return left <= right
    raise AssertionError(op)


def _string(cond: FieldCondition, value: str | None) -> bool:
    if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
        return _presence(cond.op, bool(value))
    if value is None:
        return False
    match cond.op:
        case Op.EQ:
            return value == cond.text
        case Op.NE:
            return value != cond.text
        case Op.IN:
            return value in cond.strings
        case Op.NOT_IN:
            return value not in cond.strings
        case Op.CONTAINS:
            return cond.text in value
    raise AssertionError(cond.op)


def _bool(cond: FieldCondition, value: bool | None) -> bool:
    if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
        return _presence(cond.op, value is not None)
    if value is None:
        return False
    return (value == cond.flag) if cond.op is Op.EQ else (value != cond.flag)


def _set(cond: FieldCondition, value: frozenset[str] | None) -> bool:
    if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
        return _presence(cond.op, bool(value))
    if value is None:
        return False
    if cond.op is Op.CONTAINS_ALL:
        return cond.strings <= value
    return not value.isdisjoint(cond.strings)  # contains, contains_any


def _days_from(now: datetime, days: int) -> datetime:
    """The instant exactly `days` x 24 h from `now`. Adding the timedelta to `now` itself
    would move the wall clock of its zone, an hour off across a daylight-saving change."""
    return now.astimezone(UTC) + timedelta(days=days)


def _instant(cond: FieldCondition, value: datetime | None, now: datetime) -> bool:
    if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
        return _presence(cond.op, value is not None)
    if value is None:
        return False
    match cond.op:
        case Op.OLDER_THAN_DAYS:
            return value <= _days_from(now, -cond.days)
        case Op.WITHIN_LAST_DAYS:
            return _days_from(now, -cond.days) < value <= now
        case Op.WITHIN_NEXT_DAYS:
            return now < value <= _days_from(now, cond.days)
        case Op.BETWEEN:
            return cond.instants[0] <= value <= cond.instants[1]
        case Op.GT:
            return value > cond.instants[0]
        case Op.GTE:
            return value >= cond.instants[0]
        case Op.LT:
            return value < cond.instants[0]
        case Op.LTE:
            return value <= cond.instants[0]
    raise AssertionError(cond.op)


def _day(cond: FieldCondition, value: date | None, today: date) -> bool:
    if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
        return _presence(cond.op, value is not None)
    if value is None:
        return False
    match cond.op:
        case Op.OLDER_THAN_DAYS:
            return (today - value).days >= cond.days
        case Op.WITHIN_LAST_DAYS:
            return 0 <= (today - value).days < cond.days
        case Op.ANNIVERSARY_WITHIN_DAYS:
            return days_until_anniversary(value, today) <= cond.days
        case Op.BETWEEN:
            return cond.dates[0] <= value <= cond.dates[1]
        case Op.EQ:
            return value == cond.dates[0]
        case Op.NE:
            return value != cond.dates[0]
        case Op.GT:
            return value > cond.dates[0]
        case Op.GTE:
            return value >= cond.dates[0]
        case Op.LT:
            return value < cond.dates[0]
        case Op.LTE:
            return value <= cond.dates[0]
    raise AssertionError(cond.op)


def _activity_matches(cond: ActivityCondition, activity: Activity) -> bool:
    return (not cond.skus or activity.sku in cond.skus) and (
        not cond.categories or activity.category in cond.categories
    )


def count_activities(cond: ActivityCondition, activities: Sequence[Activity], now: datetime) -> int:
    """Matching activities in the window (ending at `now`), after the latest follower."""
    since = None if cond.within_days is None else _days_from(now, -cond.within_days)
    latest_follower: datetime | None = None
    if cond.not_followed_by is not None:
        followers = [
            a.at
            for a in activities
            if a.kind == cond.not_followed_by and a.at <= now and _activity_matches(cond, a)
        ]
        latest_follower = max(followers, default=None)
    return sum(
        1
        for a in activities
        if a.kind == cond.kind
        and a.at <= now
        and (since is None or a.at > since)
        and (cond.since is None or a.at >= cond.since)
        and (cond.before is None or a.at < cond.before)
        and (latest_follower is None or a.at > latest_follower)
        and _activity_matches(cond, a)
    )


def activity_count_matches(
    cond: ActivityCondition, activities: Sequence[Activity], now: datetime
) -> bool:
    count = count_activities(cond, activities, now)
    return count >= cond.count_gte and (cond.count_lte is None or count <= cond.count_lte)


def _preference(cond: PreferenceCondition, facts: CustomerFacts) -> bool:
    answers = facts.preferences.get(cond.key)
    return bool(answers) and not cond.values.isdisjoint(answers or ())
