"""Random customers and rules for the property tests and the batch equivalence checks.

Values are drawn from small pools that sit on the operators' boundaries (exactly 30 days
ago, one microsecond either side, 29 February, New Year's Eve), so random rules hit both
outcomes often and an off-by-one between the two evaluators cannot hide.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

from shared.segment_rules.facts import (
    ACTIVITY_KINDS,
    FIELD_CATALOG,
    Activity,
    CustomerFacts,
    FieldType,
)
from shared.segment_rules.rules import OPS_BY_TYPE, Op

JST = timezone(timedelta(hours=9))
NOWS = (
    datetime(2026, 3, 1, 12, 0, tzinfo=JST),
    datetime(2025, 12, 28, 23, 59, 59, tzinfo=JST),
    datetime(2024, 2, 29, 0, 0, tzinfo=JST),
    datetime(2025, 2, 28, 9, 30, tzinfo=UTC),
)
DAY_OFFSETS = (-400, -30, -7, -1, 0, 1, 7, 29, 30, 31, 59, 60, 89, 90, 180, 364, 365, 366, 800)
DAY_VALUES = (1, 7, 30, 60, 90, 180, 365)
NUMBER_POOLS: dict[str, tuple[object, ...]] = {
    "order_count": (0, 1, 2, 3, 5, 12),
    "revenue": (0, Decimal("3980"), Decimal("10000"), 10000.5, 45000, 250000),
    "sale_ratio": (0.0, 0.1, 0.2, 0.5, 0.75, 1.0),
    "r_score": (1, 2, 3, 4, 5),
}
DEFAULT_NUMBERS: tuple[object, ...] = (0, 1, 2.5, 10, 10000, Decimal("10000.00"))
STRINGS: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male", "other", ""),
    "prefecture": ("東京都", "大阪府", "北海道"),
    "rfm_rank": ("loyal", "semi_loyal", "general", "dormant"),
    "f_stage": ("F0", "F1", "F2", "F3"),
}
DEFAULT_STRINGS = ("web", "line", "amazon", "rakuten web")
SETS: dict[str, tuple[str, ...]] = {
    "categories": ("skincare", "haircare", "food"),
    "skus": ("SKU-A", "SKU-B", "SKU-C"),
    "consents": ("email:marketing", "line:marketing", "sms:marketing"),
}
SPECIAL_DATES = (
    date(2000, 2, 29),
    date(1999, 12, 31),
    date(1990, 1, 1),
    date(1985, 3, 1),
    date(1980, 2, 28),
    date(2004, 1, 3),
)
SKUS = ("SKU-A", "SKU-B", "SKU-C")
CATEGORIES = ("skincare", "food")
PREFERENCES = {"dislike": ("fragrance", "alcohol"), "motive": ("gift", "self")}


def _instant(rng: random.Random, now: datetime) -> datetime:
    nudge = timedelta(microseconds=rng.choice((-1, 0, 0, 1)))
    moment = now - timedelta(days=rng.choice(DAY_OFFSETS)) + nudge
    return moment.astimezone(rng.choice((UTC, JST)))


def _day(rng: random.Random, now: datetime) -> date:
    if rng.random() < 0.5:
        return rng.choice(SPECIAL_DATES)
    return now.date() - timedelta(days=rng.choice(DAY_OFFSETS) + rng.randrange(0, 3) * 365)


def _value(rng: random.Random, name: str, ftype: FieldType, now: datetime) -> object:
    match ftype:
        case FieldType.NUMBER:
            return rng.choice(NUMBER_POOLS.get(name, DEFAULT_NUMBERS))
        case FieldType.STRING:
            return rng.choice(STRINGS.get(name, DEFAULT_STRINGS))
        case FieldType.BOOL:
            return rng.random() < 0.5
        case FieldType.SET:
            pool = SETS.get(name, ("x", "y"))
            return frozenset(v for v in pool if rng.random() < 0.4)
        case FieldType.DATETIME:
            return _instant(rng, now)
        case FieldType.DATE:
            return _day(rng, now)


def random_facts(rng: random.Random, index: int, now: datetime) -> CustomerFacts:
    """One customer; about a fifth of the fields are missing, as on real profiles."""
    fields = {
        name: _value(rng, name, ftype, now)
        for name, ftype in FIELD_CATALOG.items()
        if rng.random() < 0.8
    }
    activities = tuple(
        Activity(
            kind=rng.choice(sorted(ACTIVITY_KINDS)),
            at=_instant(rng, now),
            sku=rng.choice((*SKUS, None)),
            category=rng.choice((*CATEGORIES, None)),
        )
        for _ in range(rng.randrange(0, 7))
    )
    preferences = {
        key: frozenset(v for v in values if rng.random() < 0.5)
        for key, values in PREFERENCES.items()
        if rng.random() < 0.6
    }
    return CustomerFacts(f"c-{index}", fields, activities, preferences)


def random_customers(rng: random.Random, count: int, now: datetime) -> list[CustomerFacts]:
    return [random_facts(rng, i, now) for i in range(count)]


def random_leaf(rng: random.Random, now: datetime) -> dict[str, object]:
    """A valid condition on a random field, activity or preference."""
    roll = rng.random()
    if roll < 0.15:
        return _random_activity(rng, now)
    if roll < 0.22:
        key = rng.choice(sorted(PREFERENCES))
        return {
            "preference": key,
            "includes_any": rng.sample(PREFERENCES[key], k=rng.randint(1, 2)),
        }
    name = rng.choice(sorted(FIELD_CATALOG))
    ftype = FIELD_CATALOG[name]
    op = rng.choice(sorted(OPS_BY_TYPE[ftype]))
    leaf: dict[str, object] = {"field": name, "op": str(op)}
    if op not in (Op.EXISTS, Op.NOT_EXISTS):
        leaf["value"] = _operand(rng, name, ftype, op, now)
    return leaf


def _random_activity(rng: random.Random, now: datetime) -> dict[str, object]:
    kinds = sorted(ACTIVITY_KINDS)
    leaf: dict[str, object] = {"activity": rng.choice(kinds)}
    if rng.random() < 0.5:
        leaf["sku"] = rng.choice(SKUS) if rng.random() < 0.5 else list(SKUS[:2])
    if rng.random() < 0.3:
        leaf["category"] = rng.choice(CATEGORIES)
    if rng.random() < 0.7:
        leaf["within_days"] = rng.choice(DAY_VALUES)
    since = _instant(rng, now) if rng.random() < 0.25 else None
    before = _instant(rng, now) if rng.random() < 0.25 else None
    if since is not None:
        leaf["since"] = since.isoformat()
    if before is not None and (since is None or before > since):
        leaf["before"] = before.isoformat()
    if rng.random() < 0.5:
        leaf["count_gte"] = rng.randint(0, 3)
    if rng.random() < 0.3:
        leaf["count_lte"] = int(str(leaf.get("count_gte", 1))) + rng.randint(0, 2)
    if rng.random() < 0.3:
        leaf["not_followed_by"] = rng.choice([k for k in kinds if k != leaf["activity"]])
    return leaf


def _operand(rng: random.Random, name: str, ftype: FieldType, op: Op, now: datetime) -> object:
    if op is Op.ANNIVERSARY_WITHIN_DAYS:
        return rng.choice((0, 1, 3, 7, 30, 365))
    if op in (Op.OLDER_THAN_DAYS, Op.WITHIN_LAST_DAYS, Op.WITHIN_NEXT_DAYS):
        return rng.choice(DAY_VALUES)

    def scalar() -> object:
        return _as_json(_value(rng, name, ftype, now), ftype)

    if ftype is FieldType.SET:
        pool = SETS.get(name, ("x", "y"))
        if op is Op.CONTAINS:
            return rng.choice(pool)
        return rng.sample(pool, k=rng.randint(1, len(pool)))
    if op in (Op.IN, Op.NOT_IN):
        return [scalar() for _ in range(rng.randint(1, 3))]
    if op is Op.BETWEEN:
        pair = [_value(rng, name, ftype, now) for _ in range(2)]
        pair.sort(key=_sort_key)
        return [_as_json(v, ftype) for v in pair]
    if op is Op.CONTAINS:
        return rng.choice(("web", "a", "東京"))
    return scalar()


def _sort_key(value: object) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return float(value.toordinal())
    assert isinstance(value, int | float | Decimal)
    return float(value)


def _as_json(value: object, ftype: FieldType) -> object:
    """A fact value as a rule operand: Decimal as float, times in ISO 8601."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if ftype is FieldType.STRING:
        return value or "web"
    return value


def random_rule(rng: random.Random, now: datetime, depth: int = 0) -> dict[str, object]:
    if depth >= 3 or rng.random() < 0.45:
        return random_leaf(rng, now)
    roll = rng.random()
    if roll < 0.2:
        return {"not": random_rule(rng, now, depth + 1)}
    children = [random_rule(rng, now, depth + 1) for _ in range(rng.randint(0, 3))]
    return {"all" if roll < 0.6 else "any": children}


randoms = st.randoms(use_true_random=False)
nows = st.sampled_from(NOWS)
