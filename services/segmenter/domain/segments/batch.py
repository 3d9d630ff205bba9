"""Nightly recompute for a whole shop: RFM for every customer, then every segment's
membership, column by column with numpy.

This is the one module of the engine that imports numpy (the per-event path never loads
it). It answers exactly what `evaluate` and `rfm.score_customers` answer per customer,
by construction: numbers compare as float64 like `as_number`, datetimes as integer epoch
microseconds (exact, like Python's datetime comparison), dates as epoch days, and every
operator masks out missing values the way the per-customer evaluator does. A rule using
something the columnar code does not implement is reported by `supports`, so callers can
evaluate that rule per customer instead of getting a different answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.segment_rules.evaluate import days_until_anniversary
from shared.segment_rules.facts import (
    FIELD_CATALOG,
    ActivityKind,
    CustomerFacts,
    FieldType,
    as_bool,
    as_date,
    as_datetime,
    as_number,
    as_string,
    as_string_set,
)
from shared.segment_rules.rules import (
    ActivityCondition,
    AllOf,
    AnyOf,
    FieldCondition,
    Not,
    Op,
    PreferenceCondition,
    Rule,
    iter_conditions,
    rule_activity_kinds,
)

from .rfm import RANK_ORDER, RfmConfig, RfmRank, ScoringMethod

Mask = NDArray[np.bool_]
Int64s = NDArray[np.int64]
Numbers = NDArray[np.float64] | NDArray[np.int64]


def _mask(values: object) -> Mask:
    """numpy's stubs type many boolean results as Any; this pins them down."""
    return np.asarray(values, dtype=np.bool_)


DAY_US = 86_400_000_000
MISSING_INSTANT = np.iinfo(np.int64).min
"""Epoch microseconds of a missing datetime; never compared without its presence mask."""
MISSING_DAY = -(2**40)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
KIND_ORDER: tuple[str, ...] = tuple(ActivityKind)


def epoch_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def epoch_days(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


# ---------------------------------------------------------------------------------------
# Columns


@dataclass(frozen=True)
class StringColumn:
    """Dictionary-encoded strings: `codes[i]` indexes `categories`, -1 when missing."""

    codes: NDArray[np.int32]
    categories: tuple[str, ...]

    @classmethod
    def from_values(cls, values: Iterable[str | None]) -> StringColumn:
        index: dict[str, int] = {}
        codes = [-1 if v is None else index.setdefault(v, len(index)) for v in values]
        return cls(np.asarray(codes, dtype=np.int32), tuple(index))

    def codes_where(self, keep: Iterable[bool]) -> NDArray[np.int32]:
        return np.flatnonzero(np.fromiter(keep, dtype=bool, count=len(self.categories))).astype(
            np.int32
        )

    def codes_of(self, texts: Iterable[str]) -> NDArray[np.int32]:
        wanted = set(texts)
        return self.codes_where(c in wanted for c in self.categories)

    def isin(self, texts: Iterable[str]) -> Mask:
        return self.holding_codes(self.codes_of(texts))

    def holding_codes(self, codes: NDArray[np.int32]) -> Mask:
        """Rows whose code is one of `codes`: a lookup per row in a table of the few
        categories (missing, -1, reads slot 0), where `np.isin` sorts the whole column."""
        lookup = np.zeros(len(self.categories) + 1, dtype=bool)
        lookup[codes + 1] = True
        return _mask(lookup[self.codes + 1])

    @property
    def present(self) -> Mask:
        return self.codes >= 0


@dataclass(frozen=True)
class SetColumn:
    """Sets of strings as an inverted index: the rows holding each value."""

    size: int
    present: Mask
    nonempty: Mask
    rows_by_value: Mapping[str, Int64s]

    @classmethod
    def from_values(cls, values: Sequence[frozenset[str] | None]) -> SetColumn:
        rows: dict[str, list[int]] = {}
        for row, items in enumerate(values):
            for item in items or ():
                rows.setdefault(item, []).append(row)
        return cls(
            size=len(values),
            present=np.fromiter((v is not None for v in values), dtype=bool, count=len(values)),
            nonempty=np.fromiter((bool(v) for v in values), dtype=bool, count=len(values)),
            rows_by_value={k: np.asarray(v, dtype=np.int64) for k, v in rows.items()},
        )

    def holding(self, value: str) -> Mask:
        mask = np.zeros(self.size, dtype=bool)
        rows = self.rows_by_value.get(value)
        if rows is not None:
            mask[rows] = True
        return mask


@dataclass(frozen=True)
class ActivityTable:
    """Every customer's activities as parallel arrays; `rows` says whose each one is."""

    rows: Int64s
    kinds: NDArray[np.int8]
    at: Int64s
    skus: StringColumn
    categories: StringColumn

    @classmethod
    def from_facts(cls, facts: Sequence[CustomerFacts]) -> ActivityTable:
        flat = [(row, a) for row, f in enumerate(facts) for a in f.activities]
        kind_index = {k: i for i, k in enumerate(KIND_ORDER)}
        return cls(
            rows=np.asarray([row for row, _ in flat], dtype=np.int64),
            kinds=np.asarray([kind_index.get(a.kind, -1) for _, a in flat], dtype=np.int8),
            at=np.asarray([epoch_micros(a.at) for _, a in flat], dtype=np.int64),
            skus=StringColumn.from_values(a.sku for _, a in flat),
            categories=StringColumn.from_values(a.category for _, a in flat),
        )


@dataclass(frozen=True)
class ProfileTable:
    """A shop's customers, one column per catalogue field. A field with no column counts
    as missing for everyone. Build with `from_facts`, or straight from arrays when the
    data already is columnar (an export, the benchmark)."""

    customer_ids: Sequence[str]
    numbers: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    strings: Mapping[str, StringColumn] = field(default_factory=dict)
    instants: Mapping[str, Int64s] = field(default_factory=dict)
    days: Mapping[str, Int64s] = field(default_factory=dict)
    flags: Mapping[str, NDArray[np.int8]] = field(default_factory=dict)
    """1 true, 0 false, -1 missing."""
    sets: Mapping[str, SetColumn] = field(default_factory=dict)
    activities: ActivityTable | None = None
    preferences: Mapping[str, SetColumn] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.customer_ids)

    @classmethod
    def from_facts(cls, facts: Sequence[CustomerFacts]) -> ProfileTable:
        names = {name for f in facts for name in f.fields if name in FIELD_CATALOG}
        columns: dict[FieldType, dict[str, object]] = {t: {} for t in FieldType}
        for name in sorted(names):
            raw = [f.fields.get(name) for f in facts]
            ftype = FIELD_CATALOG[name]
            columns[ftype][name] = _column(ftype, raw)
        keys = sorted({k for f in facts for k in f.preferences})
        return cls(
            customer_ids=[f.customer_id for f in facts],
            numbers=columns[FieldType.NUMBER],  # type: ignore[arg-type]
            strings=columns[FieldType.STRING],  # type: ignore[arg-type]
            instants=columns[FieldType.DATETIME],  # type: ignore[arg-type]
            days=columns[FieldType.DATE],  # type: ignore[arg-type]
            flags=columns[FieldType.BOOL],  # type: ignore[arg-type]
            sets=columns[FieldType.SET],  # type: ignore[arg-type]
            activities=ActivityTable.from_facts(facts),
            preferences={
                k: SetColumn.from_values([f.preferences.get(k) for f in facts]) for k in keys
            },
        )


def _column(ftype: FieldType, raw: Sequence[object]) -> object:
    n = len(raw)
    match ftype:
        case FieldType.NUMBER:
            numbers = (as_number(v) for v in raw)
            return np.fromiter((np.nan if v is None else v for v in numbers), np.float64, n)
        case FieldType.STRING:
            return StringColumn.from_values(as_string(v) for v in raw)
        case FieldType.DATETIME:
            moments = (as_datetime(v) for v in raw)
            return np.fromiter(
                (MISSING_INSTANT if m is None else epoch_micros(m) for m in moments), np.int64, n
            )
        case FieldType.DATE:
            days = (as_date(v) for v in raw)
            return np.fromiter(
                (MISSING_DAY if d is None else epoch_days(d) for d in days), np.int64, n
            )
        case FieldType.BOOL:
            flags = (as_bool(v) for v in raw)
            return np.fromiter((-1 if b is None else int(b) for b in flags), np.int8, n)
        case FieldType.SET:
            return SetColumn.from_values([as_string_set(v) for v in raw])


# ---------------------------------------------------------------------------------------
# RFM


@dataclass(frozen=True)
class RfmColumns:
    """Scores 1-5 (0 = unranked) and rank as an index into `RANK_ORDER` (-1 = unranked)."""

    r: NDArray[np.int8]
    f: NDArray[np.int8]
    m: NDArray[np.int8]
    rank: NDArray[np.int8]


def _quantile_scores(values: Numbers, ranked: Mask) -> NDArray[np.int8]:
    """1 + floor(5 x share of ranked customers strictly below), as `rfm.quantile_score`.

    Only four order statistics of the ranked values decide it (`_scores_at_cuts`), so
    a partial sort (`np.partition`, linear) finds them; no full sort, no per-row search."""
    pool = values[ranked]  # a copy: partitioned in place
    cuts = _cut_positions(len(pool))
    if cuts:
        pool.partition(cuts)
    return _scores_at_cuts(values, pool, cuts)


def _cut_positions(size: int) -> list[int]:
    """Where the k-th quintile's cut sits in the sorted pool of `size` values (k = 1-4):
    floor(5 x below / size) >= k exactly when below >= ceil(k x size / 5), and a value
    has that many strictly below it exactly when it exceeds the value at that rank - 1."""
    return [-(-k * size // 5) - 1 for k in range(1, 5)] if size else []


def _scores_at_cuts(
    values: Numbers, ordered: NDArray[Any], cuts: Sequence[int]
) -> NDArray[np.int8]:
    """1 + how many cuts each value exceeds (`ordered` is sorted at the `cuts` at
    least); an empty pool scores everyone 1, as `max(len(pool), 1)` does."""
    score = np.ones(len(values), dtype=np.int8)
    for cut in cuts:
        score += values > ordered[cut]
    return score


def _threshold_scores(values: Numbers, cuts: Sequence[float]) -> NDArray[np.int64]:
    score = np.ones(len(values), dtype=np.int64)
    for cut in cuts:
        score += values >= cut
    return score


@dataclass(frozen=True)
class RfmPools:
    """The ranked customers' R, F and M values of a whole shop, each sorted: what a
    quantile score compares one customer with. Each fan-out child takes its rows' share
    (`rfm_pools`), the shares are merged, and every child then scores its own rows exactly
    as one pass over the whole shop would."""

    last: Int64s
    count: NDArray[np.float64]
    revenue: NDArray[np.float64]

    @classmethod
    def merge(cls, parts: Sequence[RfmPools]) -> RfmPools:
        def joined(values: Sequence[Numbers], dtype: type) -> Numbers:
            return np.sort(np.concatenate([np.empty(0, dtype=dtype), *values]))

        return cls(
            last=joined([p.last for p in parts], np.int64).astype(np.int64),
            count=joined([p.count for p in parts], np.float64).astype(np.float64),
            revenue=joined([p.revenue for p in parts], np.float64).astype(np.float64),
        )


def _rfm_inputs(
    table: ProfileTable,
) -> tuple[Int64s, NDArray[np.float64], NDArray[np.float64], Mask]:
    n = table.size
    # No default array is built for a column the table has (`dict.get`'s would be).
    last = table.instants.get("last_order_at")
    if last is None:
        last = np.full(n, MISSING_INSTANT, dtype=np.int64)
    count = table.numbers.get("order_count")
    count = np.trunc(np.full(n, np.nan) if count is None else count)
    revenue = table.numbers.get("revenue")
    revenue = np.zeros(n) if revenue is None else np.nan_to_num(revenue, nan=0.0)
    ranked = _mask((count >= 1) & (last != MISSING_INSTANT))
    return last, count, revenue, ranked


def rfm_pools(table: ProfileTable) -> RfmPools:
    """This table's share of the shop's pools (merge the shares with `RfmPools.merge`)."""
    last, count, revenue, ranked = _rfm_inputs(table)
    return RfmPools(np.sort(last[ranked]), np.sort(count[ranked]), np.sort(revenue[ranked]))


def _pooled_scores(values: Numbers, pool: Numbers) -> NDArray[np.int8]:
    """As `_quantile_scores`, against the whole shop's sorted pool (its cuts are read
    off it directly)."""
    return _scores_at_cuts(values, pool, _cut_positions(len(pool)))


def score_rfm(
    table: ProfileTable,
    now: datetime,
    config: RfmConfig | None = None,
    pools: RfmPools | None = None,
) -> RfmColumns:
    """`rfm.score_customers` over the whole table, vectorised. Given the shop's `pools`,
    the table may be a part of the shop (a fan-out child's rows): quantiles are taken
    over the pools, so each row gets the score a whole-shop pass gives it."""
    config = config or RfmConfig()
    n = table.size
    last, count, revenue, ranked = _rfm_inputs(table)
    elapsed = np.where(ranked, epoch_micros(now) - np.where(ranked, last, 0), 0)
    r: NDArray[np.int8] | NDArray[np.int64]
    f: NDArray[np.int8] | NDArray[np.int64]
    m: NDArray[np.int8] | NDArray[np.int64]
    if config.method is ScoringMethod.QUANTILE and pools is not None:
        r = _pooled_scores(last, pools.last)
        f = _pooled_scores(count, pools.count)
        m = _pooled_scores(revenue, pools.revenue)
    elif config.method is ScoringMethod.QUANTILE:
        r = _quantile_scores(last, ranked)
        f = _quantile_scores(count, ranked)
        m = _quantile_scores(revenue, ranked)
    else:
        cuts = config.thresholds
        r = np.full(n, 5, dtype=np.int64)
        for days in cuts.recency_days:
            r -= elapsed > days * DAY_US
        f = _threshold_scores(count, cuts.frequency)
        m = _threshold_scores(revenue, cuts.monetary)
    rank = np.full(n, RANK_ORDER.index(RfmRank.GENERAL), dtype=np.int8)
    for floor, code in ((config.semi_loyal, RfmRank.SEMI_LOYAL), (config.loyal, RfmRank.LOYAL)):
        rank[(r >= floor.r) & (f >= floor.f) & (m >= floor.m)] = RANK_ORDER.index(code)
    rank[elapsed >= config.dormant_days * DAY_US] = RANK_ORDER.index(RfmRank.DORMANT)
    rank[~ranked] = -1
    unranked = ~ranked

    def score(values: NDArray[np.int8] | NDArray[np.int64]) -> NDArray[np.int8]:
        return np.where(unranked, 0, values).astype(np.int8, copy=False)

    return RfmColumns(score(r), score(f), score(m), rank)


# ---------------------------------------------------------------------------------------
# Rules

_ORDERED = (Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN)
_PRESENCE = (Op.EXISTS, Op.NOT_EXISTS)
COLUMNAR_OPS: Mapping[FieldType, frozenset[Op]] = MappingProxyType(
    {
        FieldType.NUMBER: frozenset({Op.EQ, Op.NE, *_ORDERED, Op.IN, Op.NOT_IN, *_PRESENCE}),
        FieldType.STRING: frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.CONTAINS, *_PRESENCE}),
        FieldType.BOOL: frozenset({Op.EQ, Op.NE, *_PRESENCE}),
        FieldType.SET: frozenset({Op.CONTAINS, Op.CONTAINS_ANY, Op.CONTAINS_ALL, *_PRESENCE}),
        FieldType.DATETIME: frozenset(
            {*_ORDERED, Op.OLDER_THAN_DAYS, Op.WITHIN_LAST_DAYS, Op.WITHIN_NEXT_DAYS, *_PRESENCE}
        ),
        FieldType.DATE: frozenset(
            {
                Op.EQ,
                Op.NE,
                *_ORDERED,
                Op.OLDER_THAN_DAYS,
                Op.WITHIN_LAST_DAYS,
                Op.ANNIVERSARY_WITHIN_DAYS,
                *_PRESENCE,
            }
        ),
    }
)
"""The operators `ColumnarEvaluator` implements per field type. Kept apart from the rule
language's `OPS_BY_TYPE`: an operator the language gains before this module does is then
evaluated per customer, never guessed at column-wise."""


def supports(rule: Rule) -> bool:
    """Whether `ColumnarEvaluator` answers `rule` exactly as `evaluate` does."""
    if not rule_activity_kinds(rule) <= set(KIND_ORDER):
        return False
    if any(
        isinstance(cond, FieldCondition) and cond.field not in FIELD_CATALOG
        for cond in iter_conditions(rule)
    ):
        return False  # a derived field (a topic's consent): per customer
    return all(
        cond.op in COLUMNAR_OPS.get(cond.type, frozenset())
        for cond in iter_conditions(rule)
        if isinstance(cond, FieldCondition)
    )


class ColumnarEvaluator:
    """Evaluates rules over a `ProfileTable` at one instant; caches shared sub-results."""

    def __init__(self, table: ProfileTable, now: datetime) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self.table = table
        self.now = now
        self.now_us = epoch_micros(now)
        self.today = now.date()
        self.today_days = epoch_days(self.today)
        self._anniversary_cache: dict[str, NDArray[np.int16]] = {}
        self._activities_by_kind: dict[str, tuple[Int64s, Int64s] | None] = {}

    def mask(self, rule: Rule) -> Mask:
        n = self.table.size
        if isinstance(rule, AllOf):
            out = np.ones(n, dtype=bool)
            for child in rule.rules:
                out &= self.mask(child)
            return out
        if isinstance(rule, AnyOf):
            out = np.zeros(n, dtype=bool)
            for child in rule.rules:
                out |= self.mask(child)
            return out
        if isinstance(rule, Not):
            return ~self.mask(rule.rule)
        if isinstance(rule, FieldCondition):
            return self._field(rule)
        if isinstance(rule, ActivityCondition):
            return self._activity(rule)
        return self._preference(rule)

    # -- fields ------------------------------------------------------------------------

    def _field(self, cond: FieldCondition) -> Mask:
        n = self.table.size
        match cond.type:
            case FieldType.NUMBER:
                numbers = self.table.numbers.get(cond.field)  # no default built when present
                return _number(cond, np.full(n, np.nan) if numbers is None else numbers)
            case FieldType.STRING:
                column = self.table.strings.get(cond.field)
                if column is None:
                    column = StringColumn(np.full(n, -1, dtype=np.int32), ())
                return _string(cond, column)
            case FieldType.BOOL:
                flags = self.table.flags.get(cond.field)
                if flags is None:
                    flags = np.full(n, -1, dtype=np.int8)
                return _flag(cond, flags)
            case FieldType.SET:
                sets = self.table.sets.get(cond.field)
                if sets is None:
                    sets = SetColumn.from_values([None] * n)
                return _set(cond, sets)
            case FieldType.DATETIME:
                instants = self.table.instants.get(cond.field)
                if instants is None:
                    instants = np.full(n, MISSING_INSTANT, dtype=np.int64)
                return self._instant(cond, instants)
            case FieldType.DATE:
                days = self.table.days.get(cond.field)
                if days is None:
                    days = np.full(n, MISSING_DAY, dtype=np.int64)
                return self._day(cond, days)

    def _instant(self, cond: FieldCondition, values: Int64s) -> Mask:
        present = _mask(values != MISSING_INSTANT)
        if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
            return present if cond.op is Op.EXISTS else ~present
        span = cond.days * DAY_US
        now = self.now_us
        bounds = [epoch_micros(moment) for moment in cond.instants]
        match cond.op:
            case Op.OLDER_THAN_DAYS:
                hit = values <= now - span
            case Op.WITHIN_LAST_DAYS:
                hit = (values > now - span) & (values <= now)
            case Op.WITHIN_NEXT_DAYS:
                hit = (values > now) & (values <= now + span)
            case Op.BETWEEN:
                hit = (values >= bounds[0]) & (values <= bounds[1])
            case _:
                hit = _ordered(cond.op, values, bounds[0])
        return present & hit

    def _day(self, cond: FieldCondition, values: Int64s) -> Mask:
        present = _mask(values != MISSING_DAY)
        if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
            return present if cond.op is Op.EXISTS else ~present
        bounds = [epoch_days(day) for day in cond.dates]
        match cond.op:  # a missing day's age is huge, and masked out by `present` anyway
            case Op.OLDER_THAN_DAYS:
                hit = self.today_days - values >= cond.days
            case Op.WITHIN_LAST_DAYS:
                age = self.today_days - values
                hit = (age >= 0) & (age < cond.days)
            case Op.ANNIVERSARY_WITHIN_DAYS:
                hit = self._days_to_anniversary(cond.field, values, present) <= cond.days
            case Op.BETWEEN:
                hit = (values >= bounds[0]) & (values <= bounds[1])
            case _:
                hit = _ordered(cond.op, values, bounds[0])
        return present & hit

    def _days_to_anniversary(self, name: str, values: Int64s, present: Mask) -> NDArray[np.int16]:
        """A 13 x 32 table of answers by (month, day), looked up per customer: the same
        `days_until_anniversary` the per-customer path calls, so leap days agree."""
        cached = self._anniversary_cache.get(name)
        if cached is not None:
            return cached
        lookup = np.full((13, 32), 9999, dtype=np.int16)
        for ordinal in range(date(2000, 1, 1).toordinal(), date(2001, 1, 1).toordinal()):
            born = date.fromordinal(ordinal)  # 2000 is a leap year: every (month, day)
            lookup[born.month, born.day] = days_until_anniversary(born, self.today)
        result = np.full(len(values), 9999, dtype=np.int16)
        known = values[present]
        if len(known):
            first = int(known.min())
            stamps = np.arange(first, int(known.max()) + 1).astype("datetime64[D]")
            months = stamps.astype("datetime64[M]")
            month = months.astype(np.int64) % 12 + 1
            day = (stamps - months.astype("datetime64[D]")).astype(np.int64) + 1
            result[present] = lookup[month, day][known - first]
        self._anniversary_cache[name] = result
        return result

    # -- activities and preferences ------------------------------------------------------

    def _activities_of(self, kind: str) -> tuple[Int64s, Int64s] | None:
        """One kind's activities up to `now`, cut out once and shared by every rule: their
        positions in the table and their instants (the other columns are read only at
        the few positions a condition's window keeps)."""
        if kind not in self._activities_by_kind:
            acts = self.table.activities
            if acts is None:
                self._activities_by_kind[kind] = None
            else:
                keep = np.flatnonzero(
                    (acts.kinds == KIND_ORDER.index(kind)) & (acts.at <= self.now_us)
                )
                self._activities_by_kind[kind] = (keep, acts.at[keep])
        return self._activities_by_kind[kind]

    @staticmethod
    def _item_filter(cond: ActivityCondition, acts: ActivityTable, positions: Int64s) -> Mask:
        """Which of the activities at `positions` are of the condition's SKUs and
        categories."""
        keep = np.ones(len(positions), dtype=bool)
        for wanted, column in ((cond.skus, acts.skus), (cond.categories, acts.categories)):
            if wanted:
                keep &= StringColumn(column.codes[positions], column.categories).isin(wanted)
        return keep

    def _activity(self, cond: ActivityCondition) -> Mask:
        n = self.table.size
        acts = self.table.activities
        found = self._activities_of(cond.kind)
        if acts is None or found is None:
            counts = np.zeros(n, dtype=np.int64)
        else:
            positions, at = found
            window = np.ones(len(at), dtype=bool)
            if cond.within_days is not None:
                window &= at > self.now_us - cond.within_days * DAY_US
            if cond.since is not None:
                window &= at >= epoch_micros(cond.since)
            if cond.before is not None:
                window &= at < epoch_micros(cond.before)
            positions, at = positions[window], at[window]
            chosen = self._item_filter(cond, acts, positions)
            positions, at = positions[chosen], at[chosen]
            rows = acts.rows[positions]
            followers = None
            if cond.not_followed_by is not None and len(at):
                followers = self._activities_of(cond.not_followed_by)
            if followers is not None and len(followers[0]):
                # Only a follower no older than the oldest activity kept can follow one.
                later = followers[0][followers[1] >= at.min()]
                later = later[self._item_filter(cond, acts, later)]
                latest = np.full(n, MISSING_INSTANT, dtype=np.int64)
                np.maximum.at(latest, acts.rows[later], acts.at[later])
                rows = rows[at > latest[rows]]
            counts = np.bincount(rows, minlength=n)
        result = counts >= cond.count_gte
        if cond.count_lte is not None:
            result &= counts <= cond.count_lte
        if cond.ever:
            result |= self._bought_ever(cond)
        return result

    def _bought_ever(self, cond: ActivityCondition) -> Mask:
        """As `evaluate.bought_ever`: the all-time `skus` / `categories` set columns."""
        n = self.table.size
        empty = SetColumn.from_values([None] * n)
        skus = self.table.sets.get("skus", empty)
        categories = self.table.sets.get("categories", empty)
        if not cond.skus and not cond.categories:
            return skus.nonempty.copy()
        out = np.ones(n, dtype=bool)
        for values, column in ((cond.skus, skus), (cond.categories, categories)):
            if values:
                held = np.zeros(n, dtype=bool)
                for value in values:
                    held |= column.holding(value)
                out &= held
        return out

    def _preference(self, cond: PreferenceCondition) -> Mask:
        answers = self.table.preferences.get(cond.key)
        out = np.zeros(self.table.size, dtype=bool)
        if answers is not None:
            for value in cond.values:
                out |= answers.holding(value)
        return out


def _ordered(op: Op, values: Numbers, bound: float) -> Mask:
    match op:
        case Op.EQ:
            return np.asarray(values == bound)
        case Op.NE:
            return np.asarray(values != bound)
        case Op.GT:
            return np.asarray(values > bound)
        case Op.GTE:
            return np.asarray(values >= bound)
        case Op.LT:
            return np.asarray(values < bound)
        case Op.LTE:
            return np.asarray(values <= bound)
    raise AssertionError(op)


def _number(cond: FieldCondition, values: NDArray[np.float64]) -> Mask:
    present = ~np.isnan(values)
    match cond.op:
        case Op.EXISTS:
            return present
        case Op.NOT_EXISTS:
            return ~present
        case Op.IN:
            return _mask(np.isin(values, cond.numbers))
        case Op.NOT_IN:
            return present & ~_mask(np.isin(values, cond.numbers))
        case Op.BETWEEN:
            return (values >= cond.numbers[0]) & (values <= cond.numbers[1])
    return present & _ordered(cond.op, values, cond.numbers[0])


def _string(cond: FieldCondition, column: StringColumn) -> Mask:
    present = column.present
    match cond.op:
        case Op.EXISTS | Op.NOT_EXISTS:
            filled = column.holding_codes(column.codes_where(bool(c) for c in column.categories))
            return filled if cond.op is Op.EXISTS else ~filled
        case Op.EQ | Op.IN:
            return column.isin(cond.strings)
        case Op.NE | Op.NOT_IN:
            return present & ~column.isin(cond.strings)
        case Op.CONTAINS:
            text = cond.text
            return column.holding_codes(column.codes_where(text in c for c in column.categories))
    raise AssertionError(cond.op)


def _flag(cond: FieldCondition, flags: NDArray[np.int8]) -> Mask:
    present = _mask(flags >= 0)
    match cond.op:
        case Op.EXISTS:
            return present
        case Op.NOT_EXISTS:
            return ~present
        case Op.EQ:
            return _mask(flags == int(cond.flag))
    return present & _mask(flags != int(cond.flag))


def _set(cond: FieldCondition, column: SetColumn) -> Mask:
    match cond.op:
        case Op.EXISTS:
            return column.nonempty.copy()
        case Op.NOT_EXISTS:
            return ~column.nonempty
        case Op.CONTAINS_ALL:
            out = np.ones(column.size, dtype=bool)
            for value in cond.strings:
                out &= column.holding(value)
            return out
    out = np.zeros(column.size, dtype=bool)
    for value in cond.strings:
        out |= column.holding(value)
    return out


# ---------------------------------------------------------------------------------------
# The nightly job


@dataclass(frozen=True)
class RecomputeResult:
    customer_ids: Sequence[str]
    rfm: RfmColumns
    members: Mapping[str, Mask]

    def rank_counts(self) -> dict[str, int]:
        counts = np.bincount(self.rfm.rank[self.rfm.rank >= 0], minlength=len(RANK_ORDER))
        return {str(rank): int(counts[i]) for i, rank in enumerate(RANK_ORDER)}

    def member_ids(self, segment_id: str) -> list[str]:
        return [self.customer_ids[int(i)] for i in np.flatnonzero(self.members[segment_id])]

    def rfm_fields(self, row: int) -> dict[str, object]:
        """One customer's RFM as profile fields, as `RfmScore.as_fields` gives them."""
        rank = int(self.rfm.rank[row])

        def score(values: NDArray[np.int8]) -> int | None:
            return int(values[row]) or None

        return {
            "r_score": score(self.rfm.r),
            "f_score": score(self.rfm.f),
            "m_score": score(self.rfm.m),
            "rfm_rank": None if rank < 0 else str(RANK_ORDER[rank]),
        }


def with_rfm(table: ProfileTable, rfm: RfmColumns) -> ProfileTable:
    """The table with fresh RFM fields, so rules on `rfm_rank` or `m_score` see tonight's
    scores rather than yesterday's."""

    def as_number_column(scores: NDArray[np.int8]) -> NDArray[np.float64]:
        return np.where(scores > 0, scores, np.nan).astype(np.float64, copy=False)

    ranks = StringColumn(rfm.rank.astype(np.int32), tuple(str(r) for r in RANK_ORDER))
    return replace(
        table,
        numbers={
            **table.numbers,
            "r_score": as_number_column(rfm.r),
            "f_score": as_number_column(rfm.f),
            "m_score": as_number_column(rfm.m),
        },
        strings={**table.strings, "rfm_rank": ranks},
    )


def recompute(
    table: ProfileTable,
    rules: Mapping[str, Rule],
    now: datetime,
    config: RfmConfig | None = None,
) -> RecomputeResult:
    """RFM for everyone, then each rule's members (rules see the new RFM fields)."""
    rfm = score_rfm(table, now, config)
    evaluator = ColumnarEvaluator(with_rfm(table, rfm), now)
    members = {segment_id: evaluator.mask(rule) for segment_id, rule in rules.items()}
    return RecomputeResult(table.customer_ids, rfm, members)
