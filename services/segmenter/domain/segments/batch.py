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

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

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

from .rfm import RANK_ORDER, RfmConfig, RfmRank, ScoringMethod, rising_cuts

Mask = NDArray[np.bool_]
_V = TypeVar("_V")
Int64s = NDArray[np.int64]
Numbers = NDArray[np.float64] | NDArray[np.int64]


def _mask(values: object) -> Mask:
    """numpy's stubs type many boolean results as Any; this pins them down."""
    return np.asarray(values, dtype=np.bool_)


_FEW = 4
"""Up to this many wanted values, a column is tested by one equality per value OR-ed
together (a pass of 0.1 ms at 1M rows each); beyond, by a lookup or `np.isin`."""


def _any_equal(values: NDArray[Any], wanted: Sequence[object]) -> Mask:
    """Rows equal to any of the few `wanted` (none: no row)."""
    if not wanted:
        return np.zeros(len(values), dtype=bool)
    out = _mask(values == wanted[0])
    for value in wanted[1:]:
        out |= values == value
    return out


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
        """Rows whose code is one of `codes`: one equality per code when they are few
        (10x faster than a gather), else a lookup per row in a table of the categories
        (missing, -1, reads slot 0), where `np.isin` sorts the whole column."""
        if len(codes) <= _FEW:
            return _any_equal(self.codes, codes.tolist())
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

    @classmethod
    def empty(cls, size: int) -> SetColumn:
        """The column of a field no one has (missing for all `size` rows)."""
        nobody = np.zeros(size, dtype=bool)
        return cls(size=size, present=nobody, nonempty=nobody, rows_by_value={})

    def holding(self, value: str) -> Mask:
        return self.holding_any((value,))

    def holding_any(self, values: Iterable[str]) -> Mask:
        """Rows holding any of `values`: each value's rows marked in one array."""
        mask = np.zeros(self.size, dtype=bool)
        for value in values:
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
    quantities: Int64s | None = None
    """Units per line (the recommendation counts read them; the rules do not)."""

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
            quantities=np.asarray([a.quantity for _, a in flat], dtype=np.int64),
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

    Only four order statistics of the ranked values decide it (`_scores_at_cuts`). The
    pool is taken with `np.compress` (a boolean index is 4x slower on a mixed mask) and
    sorted: numpy's vectorised sort beats a four-cut `np.partition` 3-10x at 750,000
    values (its introselect runs once per cut), with no per-row search either way."""
    pool = np.compress(ranked, values)
    pool.sort()
    return _scores_at_cuts(values, pool, _cut_positions(len(pool)))


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
    above = np.empty(len(values), dtype=bool)
    for cut in cuts:
        np.greater(values, ordered[cut], out=above)
        score += above.view(np.int8)  # a view, not a cast: bool is 0 / 1 in one byte
    return score


def _frequency_scores(values: Numbers, pool: Numbers) -> NDArray[np.int8]:
    """F by quantile as `rfm.frequency_cuts` scores it, against the sorted `pool`: its
    distinct counts and how many are below each read off where the sorted values change
    (few: order counts are small integers), the cuts found by `rfm.rising_cuts`."""
    starts = np.flatnonzero(np.diff(pool, prepend=np.nan) != 0)  # (np.nan != x, even nan)
    distinct = zip(pool[starts].tolist(), starts.tolist(), strict=True)
    return _threshold_scores(values, rising_cuts(distinct, len(pool)))


def _threshold_scores(values: Numbers, cuts: Sequence[float]) -> NDArray[np.int8]:
    score = np.ones(len(values), dtype=np.int8)
    for cut in cuts:
        score += _mask(values >= cut).view(np.int8)
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
    return RfmPools(
        np.sort(np.compress(ranked, last)),
        np.sort(np.compress(ranked, count)),
        np.sort(np.compress(ranked, revenue)),
    )


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
    now_us = epoch_micros(now)
    # A ranked row's elapsed time, now - last, exceeds d exactly when last < now - d
    # (integers, exact): the instants are compared directly, no elapsed column built.
    if config.method is ScoringMethod.QUANTILE and pools is not None:
        r = _pooled_scores(last, pools.last)
        f = _frequency_scores(count, pools.count)
        m = _pooled_scores(revenue, pools.revenue)
    elif config.method is ScoringMethod.QUANTILE:
        r = _quantile_scores(last, ranked)
        f = _frequency_scores(count, np.sort(np.compress(ranked, count)))
        m = _quantile_scores(revenue, ranked)
    else:
        cuts = config.thresholds
        r = np.full(n, 5, dtype=np.int8)
        for days in cuts.recency_days:
            r -= _mask(last < now_us - days * DAY_US).view(np.int8)
        f = _threshold_scores(count, cuts.frequency)
        m = _threshold_scores(revenue, cuts.monetary)
    dormant = _mask(last <= now_us - config.dormant_days * DAY_US)
    loyal, semi = (
        _mask((r >= floor.r) & (f >= floor.f) & (m >= floor.m))
        for floor in (config.loyal, config.semi_loyal)
    )
    # The rank read off a 16-entry table by four bits (ranked, dormant, loyal, semi):
    # one gather, where assigning through boolean masks takes 6x as long at 1M rows.
    bits = semi.view(np.uint8) | (loyal.view(np.uint8) << 1)
    bits |= dormant.view(np.uint8) << 2
    bits |= ranked.view(np.uint8) << 3
    rank = _RANK_BY_BITS[bits]
    keep = ranked.view(np.int8)  # unranked scores 0
    return RfmColumns(r * keep, f * keep, m * keep, rank)


def _rank_by_bits() -> NDArray[np.int8]:
    """As `rfm.rank_for`: dormant first, then loyal, then semi-loyal, else general."""
    table = np.full(16, -1, dtype=np.int8)
    for bits in range(8, 16):
        dormant, loyal, semi = bits & 4, bits & 2, bits & 1
        rank = (
            RfmRank.DORMANT
            if dormant
            else RfmRank.LOYAL
            if loyal
            else RfmRank.SEMI_LOYAL
            if semi
            else RfmRank.GENERAL
        )
        table[bits] = RANK_ORDER.index(rank)
    return table


_RANK_BY_BITS = _rank_by_bits()


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
    """Evaluates rules over a `ProfileTable` at one instant. What several rules share is
    computed once per evaluator: each condition (the same test in several segments, as
    `order_count >= 1` is in three built-ins), each column's presence. `mask` hands back
    an array of the caller's own."""

    def __init__(self, table: ProfileTable, now: datetime) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self.table = table
        self.now = now
        self.now_us = epoch_micros(now)
        self.today = now.date()
        self.today_days = epoch_days(self.today)
        self._conditions: dict[Hashable, Mask] = {}
        """Each condition's answer, read-only: shared by every rule holding it."""
        self._present: dict[str, Mask] = {}
        self._anniversary_cache: dict[str, NDArray[np.int16]] = {}
        self._none_ahead: bool | None = None

    def mask(self, rule: Rule) -> Mask:
        out = self._eval(rule)
        return out if out.flags.writeable else out.copy()

    def _eval(self, rule: Rule) -> Mask:
        """`rule`'s rows: a fresh array, or a condition's shared read-only one."""
        if isinstance(rule, AllOf | AnyOf):
            combine = np.logical_and if isinstance(rule, AllOf) else np.logical_or
            out: Mask | None = None
            for child in rule.rules:
                part = self._eval(child)
                if out is None:
                    out = part if part.flags.writeable else part.copy()
                else:
                    combine(out, part, out=out)
            return np.full(self.table.size, isinstance(rule, AllOf)) if out is None else out
        if isinstance(rule, Not):
            inner = self._eval(rule.rule)
            return np.logical_not(inner, out=inner) if inner.flags.writeable else ~inner
        key = _condition_key(rule)
        known = self._conditions.get(key)
        if known is None:
            known = self._condition(rule)
            known.setflags(write=False)
            self._conditions[key] = known
        return known

    def _condition(self, cond: FieldCondition | ActivityCondition | PreferenceCondition) -> Mask:
        """A condition's rows, in an array no one else holds."""
        if isinstance(cond, FieldCondition):
            return self._field(cond)
        if isinstance(cond, ActivityCondition):
            return self._activity(cond)
        return self._preference(cond)

    # -- fields ------------------------------------------------------------------------

    def _field(self, cond: FieldCondition) -> Mask:
        if cond.field not in _columns(self.table, cond.type):
            # No one has the field: every row gets what one missing value gets, without
            # a column of missing values built (8 MB of NaN at 1M rows).
            one = ColumnarEvaluator(_one_missing_row(cond), self.now)._field(cond)
            return np.full(self.table.size, bool(one[0]))
        table, name = self.table, cond.field
        match cond.type:
            case FieldType.NUMBER:
                return _number(cond, table.numbers[name])
            case FieldType.STRING:
                return _string(cond, table.strings[name])
            case FieldType.BOOL:
                return _flag(cond, table.flags[name])
            case FieldType.SET:
                return _set(cond, table.sets[name])
            case FieldType.DATETIME:
                return self._instant(cond, table.instants[name])
            case FieldType.DATE:
                return self._day(cond, table.days[name])

    def _presence(self, name: str, values: Int64s, missing: int) -> Mask:
        """Which rows have the instant or date column `name`, once per column."""
        present = self._present.get(name)
        if present is None:
            present = self._present[name] = _mask(values != missing)
        return present

    def _instant(self, cond: FieldCondition, values: Int64s) -> Mask:
        if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
            present = _mask(values != MISSING_INSTANT)
            return present if cond.op is Op.EXISTS else ~present
        span = cond.days * DAY_US
        now = self.now_us
        bounds = [epoch_micros(moment) for moment in cond.instants]
        lowest: int | None = None  # the test's lower bound, when it has one
        match cond.op:
            case Op.OLDER_THAN_DAYS:
                hit = _mask(values <= now - span)
            case Op.WITHIN_LAST_DAYS:
                lowest = now - span
                hit = (values > lowest) & (values <= now)
            case Op.WITHIN_NEXT_DAYS:
                lowest = now
                hit = (values > now) & (values <= now + span)
            case Op.BETWEEN:
                lowest = bounds[0]
                hit = (values >= bounds[0]) & (values <= bounds[1])
            case _:
                lowest = bounds[0] if cond.op in (Op.GT, Op.GTE) else None
                hit = _ordered(cond.op, values, bounds[0])
        # A missing instant is the smallest int64: a test with a lower bound above it
        # leaves it out by itself, the others need the presence mask.
        if lowest is not None and lowest > MISSING_INSTANT:
            return hit
        return np.logical_and(hit, self._presence(cond.field, values, MISSING_INSTANT), out=hit)

    def _day(self, cond: FieldCondition, values: Int64s) -> Mask:
        if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
            present = _mask(values != MISSING_DAY)
            return present if cond.op is Op.EXISTS else ~present
        present = self._presence(cond.field, values, MISSING_DAY)
        bounds = [epoch_days(day) for day in cond.dates]
        today = self.today_days
        match cond.op:  # an age of today - day, compared as the day itself (exact)
            case Op.OLDER_THAN_DAYS:
                hit = _mask(values <= today - cond.days)
            case Op.WITHIN_LAST_DAYS:
                hit = (values <= today) & (values > today - cond.days)
            case Op.ANNIVERSARY_WITHIN_DAYS:
                hit = _mask(self._days_to_anniversary(cond.field, values, present) <= cond.days)
            case Op.BETWEEN:
                hit = (values >= bounds[0]) & (values <= bounds[1])
            case _:
                hit = _ordered(cond.op, values, bounds[0])
        return np.logical_and(hit, present, out=hit)

    def _days_to_anniversary(self, name: str, values: Int64s, present: Mask) -> NDArray[np.int16]:
        """Days to each row's next anniversary (any number on a missing row): the same
        `days_until_anniversary` the per-customer path calls, so leap days agree, once
        per (month, day) in a 13 x 32 table, spread over the days from the earliest to
        the latest in the column and read per row at its offset in that span."""
        cached = self._anniversary_cache.get(name)
        if cached is not None:
            return cached
        result = np.full(len(values), 9999, dtype=np.int16)
        if present.any():
            lookup = np.full((13, 32), 9999, dtype=np.int16)
            for ordinal in range(date(2000, 1, 1).toordinal(), date(2001, 1, 1).toordinal()):
                born = date.fromordinal(ordinal)  # 2000 is a leap year: every (month, day)
                lookup[born.month, born.day] = days_until_anniversary(born, self.today)
            last = int(values.max())  # a missing day is the smallest: never the max
            first = int(np.compress(present, values).min())  # 4x a `min(where=)`
            stamps = np.arange(first, last + 1).astype("datetime64[D]")
            months = stamps.astype("datetime64[M]")
            month = months.astype(np.int64) % 12 + 1
            day = (stamps - months.astype("datetime64[D]")).astype(np.int64) + 1
            offsets = values - first
            np.maximum(offsets, 0, out=offsets)  # a missing day reads the first slot
            result = lookup[month, day][offsets]
        self._anniversary_cache[name] = result
        return result

    # -- activities and preferences ------------------------------------------------------

    def _matching(self, cond: ActivityCondition, kind: str, tests: _Tests) -> Int64s:
        """Where in the table the activities of `kind` up to `now` are whose instants pass
        `tests` and whose SKU and category are the condition's: whole-column comparisons
        AND-ed in one mask, then its positions. That reads the columns once per condition
        and keeps nothing per kind (a kind's positions and instants take 16 bytes per
        activity, 21 MB for the views of a 1M-customer shop), and a few categories are
        compared over the whole column faster than gathered at the kept positions."""
        acts = self.table.activities
        assert acts is not None
        keep = _mask(acts.kinds == KIND_ORDER.index(kind))
        if not self._nothing_ahead(acts):
            tests = [*tests, (np.less_equal, self.now_us)]
        for compare, bound in tests:
            keep &= compare(acts.at, bound)
        for wanted, column in ((cond.skus, acts.skus), (cond.categories, acts.categories)):
            if wanted:
                keep &= column.isin(wanted)
        return np.flatnonzero(keep)

    def _nothing_ahead(self, acts: ActivityTable) -> bool:
        """Whether no activity is after `now` (the nightly's case): then no instant is
        compared with `now`, one maximum instead."""
        if self._none_ahead is None:
            self._none_ahead = not len(acts.at) or int(acts.at.max()) <= self.now_us
        return self._none_ahead

    def _activity(self, cond: ActivityCondition) -> Mask:
        rows: Int64s = np.empty(0, dtype=np.int64)
        acts = self.table.activities
        if acts is not None:
            positions = self._matching(cond, cond.kind, _window(cond, self.now_us))
            rows = acts.rows[positions]
            if cond.not_followed_by is not None and len(positions):
                rows = self._not_followed(cond, acts, rows, acts.at[positions])
        result = _counted(rows, self.table.size, cond.count_gte, cond.count_lte)
        if cond.ever:
            result |= self._bought_ever(cond)
        return result

    def _not_followed(
        self, cond: ActivityCondition, acts: ActivityTable, rows: Int64s, at: Int64s
    ) -> Int64s:
        """The `rows` (one per kept activity, at `at`) of activities no matching follower
        of the same customer comes at or after."""
        assert cond.not_followed_by is not None
        # Only a follower no older than the oldest activity kept can follow one.
        later = self._matching(cond, cond.not_followed_by, [(np.greater_equal, int(at.min()))])
        if not len(later):
            return rows
        latest = np.full(self.table.size, MISSING_INSTANT, dtype=np.int64)
        np.maximum.at(latest, acts.rows[later], acts.at[later])
        return np.compress(at > latest[rows], rows)

    def _bought_ever(self, cond: ActivityCondition) -> Mask:
        """As `evaluate.bought_ever`: the all-time `skus` / `categories` set columns."""
        n = self.table.size
        skus = self.table.sets.get("skus")
        categories = self.table.sets.get("categories")
        if skus is None:
            skus = SetColumn.empty(n)
        if not cond.skus and not cond.categories:
            return skus.nonempty.copy()
        if categories is None:
            categories = SetColumn.empty(n)
        out = np.ones(n, dtype=bool)
        for values, column in ((cond.skus, skus), (cond.categories, categories)):
            if values:
                out &= column.holding_any(values)
        return out

    def _preference(self, cond: PreferenceCondition) -> Mask:
        answers = self.table.preferences.get(cond.key)
        if answers is None:
            return np.zeros(self.table.size, dtype=bool)
        return answers.holding_any(cond.values)


def _columns(table: ProfileTable, ftype: FieldType) -> Mapping[str, object]:
    match ftype:
        case FieldType.NUMBER:
            return table.numbers
        case FieldType.STRING:
            return table.strings
        case FieldType.BOOL:
            return table.flags
        case FieldType.SET:
            return table.sets
        case FieldType.DATETIME:
            return table.instants
        case FieldType.DATE:
            return table.days


def _one_missing_row(cond: FieldCondition) -> ProfileTable:
    """A table of one customer who lacks `cond`'s field (a column holding it missing)."""
    name, ids = cond.field, [""]
    match cond.type:
        case FieldType.NUMBER:
            return ProfileTable(ids, numbers={name: np.full(1, np.nan)})
        case FieldType.STRING:
            return ProfileTable(ids, strings={name: StringColumn(np.full(1, -1, np.int32), ())})
        case FieldType.BOOL:
            return ProfileTable(ids, flags={name: np.full(1, -1, dtype=np.int8)})
        case FieldType.SET:
            return ProfileTable(ids, sets={name: SetColumn.empty(1)})
        case FieldType.DATETIME:
            return ProfileTable(ids, instants={name: np.full(1, MISSING_INSTANT, np.int64)})
        case FieldType.DATE:
            return ProfileTable(ids, days={name: np.full(1, MISSING_DAY, dtype=np.int64)})


def _condition_key(cond: FieldCondition | ActivityCondition | PreferenceCondition) -> Hashable:
    """What a condition's answer depends on. A field condition's `value` keeps the JSON as
    written (a list is not hashable); the typed slots the evaluator reads say it all."""
    if isinstance(cond, FieldCondition):
        return (
            cond.field,
            cond.type,
            cond.op,
            cond.numbers,
            cond.strings,
            cond.flag,
            cond.days,
            cond.instants,
            cond.dates,
            cond.text,
        )
    return cond


_Tests = list[tuple[np.ufunc, int]]
"""Comparisons of an activity's instant with a bound, all to pass."""


def _window(cond: ActivityCondition, now_us: int) -> _Tests:
    """The tests of the condition's window on an activity's instant."""
    tests: _Tests = []
    if cond.within_days is not None:
        tests.append((np.greater, now_us - cond.within_days * DAY_US))
    if cond.since is not None:
        tests.append((np.greater_equal, epoch_micros(cond.since)))
    if cond.before is not None:
        tests.append((np.less, epoch_micros(cond.before)))
    return tests


def _counted(rows: Int64s, size: int, at_least: int, at_most: int | None) -> Mask:
    """The rows of `size` appearing in `rows` at least `at_least` and at most `at_most`
    times. "At least once" (most conditions) marks the rows: no count per row, whose
    1M-long array of int64 takes 5 ms to build and compare."""
    if at_least == 1 and at_most is None:
        out = np.zeros(size, dtype=bool)
        out[rows] = True
        return out
    counts = np.bincount(rows, minlength=size)
    result = _mask(counts >= at_least)
    if at_most is not None:
        result &= counts <= at_most
    return result


def _ordered(op: Op, values: Numbers, bound: float) -> Mask:
    match op:
        case Op.EQ:
            return _mask(values == bound)
        case Op.NE:
            return _mask(values != bound)
        case Op.GT:
            return _mask(values > bound)
        case Op.GTE:
            return _mask(values >= bound)
        case Op.LT:
            return _mask(values < bound)
        case Op.LTE:
            return _mask(values <= bound)
    raise AssertionError(op)


def _number(cond: FieldCondition, values: NDArray[np.float64]) -> Mask:
    """NaN (missing) compares false with every number, so only the tests that hold for
    a missing value (not equal, not in, not exists) need the presence mask."""
    match cond.op:
        case Op.EXISTS:
            return ~np.isnan(values)
        case Op.NOT_EXISTS:
            return np.isnan(values)
        case Op.IN:
            return _number_in(values, cond.numbers)
        case Op.NOT_IN:
            return ~(_number_in(values, cond.numbers) | np.isnan(values))
        case Op.NE:
            return ~(_mask(values == cond.numbers[0]) | np.isnan(values))
        case Op.BETWEEN:
            return (values >= cond.numbers[0]) & (values <= cond.numbers[1])
    return _ordered(cond.op, values, cond.numbers[0])


def _number_in(values: NDArray[np.float64], numbers: Sequence[float]) -> Mask:
    if len(numbers) <= _FEW:
        return _any_equal(values, list(numbers))
    return _mask(np.isin(values, numbers))


def _string(cond: FieldCondition, column: StringColumn) -> Mask:
    match cond.op:
        case Op.EXISTS | Op.NOT_EXISTS:
            filled = column.holding_codes(column.codes_where(bool(c) for c in column.categories))
            return filled if cond.op is Op.EXISTS else ~filled
        case Op.EQ | Op.IN:
            return column.isin(cond.strings)
        case Op.NE | Op.NOT_IN:
            return column.present & ~column.isin(cond.strings)
        case Op.CONTAINS:
            text = cond.text
            return column.holding_codes(column.codes_where(text in c for c in column.categories))
    raise AssertionError(cond.op)


def _flag(cond: FieldCondition, flags: NDArray[np.int8]) -> Mask:
    """1 true, 0 false, -1 missing: a present flag unlike `flag` is the other one."""
    match cond.op:
        case Op.EXISTS:
            return _mask(flags >= 0)
        case Op.NOT_EXISTS:
            return _mask(flags < 0)
        case Op.EQ:
            return _mask(flags == int(cond.flag))
    return _mask(flags == 1 - int(cond.flag))


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
    return column.holding_any(cond.strings)


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


class _Derived(Mapping[str, _V]):
    """A table's columns plus derived ones computed on first read: the nightly's RFM
    columns cost 2 ms each at 1M rows, and most shops' rules read one or none."""

    def __init__(self, base: Mapping[str, _V], derived: Mapping[str, Callable[[], _V]]):
        self._base = base
        self._derived = derived
        self._made: dict[str, _V] = {}

    def __getitem__(self, key: str) -> _V:
        if key in self._derived:
            if key not in self._made:
                self._made[key] = self._derived[key]()
            return self._made[key]
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        return key in self._derived or key in self._base  # nothing derived to answer

    def __iter__(self) -> Iterator[str]:
        yield from self._derived
        yield from (k for k in self._base if k not in self._derived)

    def __len__(self) -> int:
        return len(self._derived) + sum(1 for k in self._base if k not in self._derived)


_SCORE_AS_NUMBER = np.array([np.nan, 1, 2, 3, 4, 5], dtype=np.float64)
"""A score 1-5 as the number field reads it; 0 (unranked) as missing."""


def with_rfm(table: ProfileTable, rfm: RfmColumns) -> ProfileTable:
    """The table with fresh RFM fields, so rules on `rfm_rank` or `m_score` see tonight's
    scores rather than yesterday's (each column built when a rule first reads it)."""

    def as_number_column(scores: NDArray[np.int8]) -> Callable[[], NDArray[np.float64]]:
        return lambda: _SCORE_AS_NUMBER[scores]

    def ranks() -> StringColumn:
        return StringColumn(rfm.rank.astype(np.int32), tuple(str(r) for r in RANK_ORDER))

    return replace(
        table,
        numbers=_Derived(
            table.numbers,
            {
                "r_score": as_number_column(rfm.r),
                "f_score": as_number_column(rfm.f),
                "m_score": as_number_column(rfm.m),
            },
        ),
        strings=_Derived(table.strings, {"rfm_rank": ranks}),
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
