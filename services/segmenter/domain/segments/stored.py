"""A shop's stored profiles as columns, for the nightly fan-out's apply step: the storage
adapter appends each item's values to plain lists (`StoredColumns`), and `build` turns
them into the columnar engine's `ProfileTable`, without a profile or facts object per
customer.

It answers what `membership.profile_facts` + `ProfileTable.from_facts` answer on the
decoded profiles (tests/segmenter/domain/test_stored_columns.py compares both on a varied
shop): the derived fields (average order value, interval, sale ratio, next order, age)
use the same arithmetic as `OrderStats` and `Profile`, the history is cut as
`kept_activities` cuts it. Imports numpy: loaded by the nightly only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from segmenter.domain.definitions import DerivedChange
from segmenter.domain.membership import CompiledSegment
from segmenter.domain.model import (
    DEFAULT_TIMEZONE,
    SHOP_TIMEZONE,
    RfmScore,
    history_days,
    history_limit,
)

from .batch import (
    DAY_US,
    KIND_ORDER,
    MISSING_DAY,
    MISSING_INSTANT,
    ActivityTable,
    ColumnarEvaluator,
    Int64s,
    ProfileTable,
    RfmPools,
    SetColumn,
    StringColumn,
    epoch_micros,
    score_rfm,
    with_rfm,
)
from .rfm import RANK_ORDER, RfmConfig

T = TypeVar("T")
_CENT = Decimal("0.01")
_AGE_BANDS = ("under20", "20s", "30s", "40s", "50s", "60s", "70s")


@dataclass
class SetValues:
    """A set-valued field, row by row, as an inverted index: `add(row, values)`; a row
    never added has no value (None), one added with no values an empty set."""

    rows_by_value: dict[str, list[int]] = field(default_factory=dict)
    present: list[int] = field(default_factory=list)

    def add(self, row: int, values: Iterable[str]) -> None:
        self.present.append(row)
        for value in values:
            self.rows_by_value.setdefault(value, []).append(row)

    def column(self, size: int, position: Int64s) -> SetColumn:
        """The column with rows renumbered by `position` (stored row -> table row)."""
        present = np.zeros(size, dtype=bool)
        present[position[np.asarray(self.present, dtype=np.int64)]] = True
        nonempty = np.zeros(size, dtype=bool)
        rows_by_value: dict[str, Int64s] = {}
        for value, rows in self.rows_by_value.items():
            moved = position[np.asarray(rows, dtype=np.int64)]
            rows_by_value[value] = moved
            nonempty[moved] = True
        return SetColumn(size, present, nonempty, rows_by_value)


@dataclass
class StoredColumns:
    """One shop's live profiles (and their activity lines) as stored, one list per
    field, in the order read. Instants are epoch microseconds, dates epoch days, None
    where the item has no value; decimals stay their stored text."""

    customer_ids: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    timezones: list[str | None] = field(default_factory=list)
    order_count: list[int] = field(default_factory=list)
    revenue: list[str | None] = field(default_factory=list)
    gross_profit: list[str | None] = field(default_factory=list)
    sale_lines: list[int] = field(default_factory=list)
    full_price_lines: list[int] = field(default_factory=list)
    active_hour: list[int | None] = field(default_factory=list)
    first_order_at: list[int | None] = field(default_factory=list)
    last_order_at: list[int | None] = field(default_factory=list)
    last_shipped_at: list[int | None] = field(default_factory=list)
    last_viewed_at: list[int | None] = field(default_factory=list)
    last_carted_at: list[int | None] = field(default_factory=list)
    created_at: list[int | None] = field(default_factory=list)
    birthday: list[int | None] = field(default_factory=list)
    gender: list[str | None] = field(default_factory=list)
    prefecture: list[str | None] = field(default_factory=list)
    acquisition_channel: list[str | None] = field(default_factory=list)
    first_sales_channel: list[str | None] = field(default_factory=list)
    first_offer: list[str | None] = field(default_factory=list)
    first_product: list[str | None] = field(default_factory=list)
    last_sales_channel: list[str | None] = field(default_factory=list)
    cart_size: list[int] = field(default_factory=list)
    has_email: list[bool] = field(default_factory=list)
    has_phone: list[bool] = field(default_factory=list)
    has_line: list[bool] = field(default_factory=list)
    clv: list[tuple[float, float, float, float | None, int] | None] = field(default_factory=list)
    """(p_alive, expected 90 d, expected 365 d, predicted CLV, next order instant)."""
    rfm: list[tuple[int, int, int, str] | None] = field(default_factory=list)
    """The stored (last night's) score: r, f, m, rank."""
    categories: SetValues = field(default_factory=SetValues)
    skus: SetValues = field(default_factory=SetValues)
    tags: SetValues = field(default_factory=SetValues)
    consents: SetValues = field(default_factory=SetValues)
    unsubscribed_topics: SetValues = field(default_factory=SetValues)
    segments: SetValues = field(default_factory=SetValues)
    preferences: dict[str, SetValues] = field(default_factory=dict)
    activity_owner: list[str] = field(default_factory=list)
    activity_kind: list[str] = field(default_factory=list)
    activity_at: list[int] = field(default_factory=list)
    activity_sku: list[str | None] = field(default_factory=list)
    activity_category: list[str | None] = field(default_factory=list)
    activity_quantity: list[int] = field(default_factory=list)
    activity_ref: list[str | None] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.customer_ids)

    def build(self, now: datetime) -> StoredProfiles:
        """The rows in customer id order (as the profile path reads them), with each
        customer's history kept as at `now`."""
        n = self.size
        order = sorted(range(n), key=self.customer_ids.__getitem__)
        position = np.empty(n, dtype=np.int64)
        position[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)

        def take(values: Sequence[T]) -> list[T]:
            return [values[i] for i in order]

        def instants(values: Sequence[int | None]) -> Int64s:
            return np.fromiter((MISSING_INSTANT if v is None else v for v in values), np.int64, n)

        def strings(values: Sequence[str | None]) -> StringColumn:
            return StringColumn.from_values(take(values))

        def flags(values: Sequence[bool]) -> NDArray[np.int8]:
            return np.fromiter((int(v) for v in take(values)), np.int8, n)

        counts = take(self.order_count)
        revenue = [Decimal(v) if v is not None else Decimal(0) for v in take(self.revenue)]
        last = take(self.last_order_at)
        interval = [
            _interval_days(c, f, t)
            for c, f, t in zip(counts, take(self.first_order_at), last, strict=True)
        ]
        clv = take(self.clv)
        numbers: dict[str, NDArray[np.float64]] = {
            "order_count": np.asarray(counts, dtype=np.float64),
            "revenue": np.fromiter((float(v) for v in revenue), np.float64, n),
            "gross_profit": np.fromiter(
                (0.0 if v is None else float(Decimal(v)) for v in take(self.gross_profit)),
                np.float64,
                n,
            ),
            "average_order_value": _floats(
                [
                    float((r / c).quantize(_CENT)) if c else None
                    for r, c in zip(revenue, counts, strict=True)
                ]
            ),
            "average_interval_days": _floats(interval),
            "sale_ratio": _floats(
                [
                    round(s / (s + f), 3) if s + f else None
                    for s, f in zip(take(self.sale_lines), take(self.full_price_lines), strict=True)
                ]
            ),
            "active_hour": _floats(take(self.active_hour)),
            "cart_size": np.asarray(take(self.cart_size), dtype=np.float64),
        }
        for index, name in enumerate(
            ("p_alive", "expected_purchases_90d", "expected_purchases_365d", "predicted_clv_365d")
        ):
            numbers[name] = _floats([None if c is None else c[index] for c in clv])
        distinct, stages = np.unique(np.asarray(counts, dtype=np.int64), return_inverse=True)
        channels = [  # as `profile_fields`: the stated channel, else the first order's
            a or s
            for a, s in zip(
                take(self.acquisition_channel), take(self.first_sales_channel), strict=True
            )
        ]
        table = ProfileTable(
            customer_ids=take(self.customer_ids),
            numbers=numbers,
            strings={
                "f_stage": StringColumn(
                    stages.astype(np.int32).reshape(n), tuple(f"F{c}" for c in distinct.tolist())
                ),
                "gender": strings(self.gender),
                "prefecture": strings(self.prefecture),
                "acquisition_channel": StringColumn.from_values(channels),
                "first_offer": strings(self.first_offer),
                "first_product": strings(self.first_product),
                "last_sales_channel": strings(self.last_sales_channel),
            },
            instants={
                "first_order_at": instants(take(self.first_order_at)),
                "last_order_at": instants(last),
                "last_shipped_at": instants(take(self.last_shipped_at)),
                "last_viewed_at": instants(take(self.last_viewed_at)),
                "last_carted_at": instants(take(self.last_carted_at)),
                "expected_next_order_at": instants(
                    [_next_order(d, t) for d, t in zip(interval, last, strict=True)]
                ),
                "predicted_next_order_at": instants([None if c is None else c[4] for c in clv]),
                "created_at": instants(take(self.created_at)),
            },
            days={
                "birthday": np.fromiter(
                    (MISSING_DAY if v is None else v for v in take(self.birthday)), np.int64, n
                )
            },
            flags={
                "has_email": flags(self.has_email),
                "has_phone": flags(self.has_phone),
                "has_line": flags(self.has_line),
            },
            sets={
                "categories": self.categories.column(n, position),
                "skus": self.skus.column(n, position),
                "consents": self.consents.column(n, position),
                "unsubscribed_topics": self.unsubscribed_topics.column(n, position),
                "tags": self.tags.column(n, position),
            },
            activities=self._activities(position, now),
            preferences={
                k: self.preferences[k].column(n, position) for k in sorted(self.preferences)
            },
        )
        rank_index = {str(r): i for i, r in enumerate(RANK_ORDER)}
        before = [
            (0, 0, 0, -1) if s is None else (s[0], s[1], s[2], rank_index.get(s[3], -2))
            for s in take(self.rfm)
        ]
        return StoredProfiles(
            table=table,
            versions=take(self.versions),
            zones=[_zone_key(z) for z in take(self.timezones)],
            rfm_before=np.asarray(before, dtype=np.int64).reshape(n, 4),
            segments_before=self.segments.column(n, position),
        )

    def _activities(self, position: Int64s, now: datetime) -> ActivityTable:
        """Every row's history as `kept_activities(…, now)` keeps it: per kind, newer
        than the kind's horizon, at most its newest `history_limit` (the same order
        breaks ties). Lines of a customer with no live profile here are dropped."""
        row_of = {c: i for i, c in enumerate(self.customer_ids)}
        owners = np.fromiter(
            (row_of.get(c, -1) for c in self.activity_owner), np.int64, len(self.activity_owner)
        )
        kind_names = sorted(set(self.activity_kind), key=_kind_order)
        kind_code = {k: i for i, k in enumerate(kind_names)}
        kinds = np.fromiter(
            (kind_code[k] for k in self.activity_kind), np.int64, len(self.activity_kind)
        )
        at = np.asarray(self.activity_at, dtype=np.int64)
        now_us = epoch_micros(now)
        horizons = np.asarray(
            [now_us - history_days(k) * DAY_US for k in kind_names] or [0], dtype=np.int64
        )
        keep = owners >= 0
        if len(kinds):
            keep &= at > horizons[kinds]
        chosen = np.flatnonzero(keep)
        limits = np.asarray([history_limit(k) for k in kind_names] or [0], dtype=np.int64)
        groups = owners[chosen] * len(kind_names) + kinds[chosen]
        sizes = np.bincount(groups, minlength=1) if len(groups) else np.zeros(0, np.int64)
        crowded = np.flatnonzero(sizes > limits[np.arange(len(sizes)) % max(len(kind_names), 1)])
        if len(crowded):
            chosen = self._newest_only(chosen, groups, crowded, limits, kind_names)
        picked = chosen.tolist()
        skus = [self.activity_sku[i] for i in picked]
        categories = [self.activity_category[i] for i in picked]
        engine_kind = {k: KIND_ORDER.index(k) if k in KIND_ORDER else -1 for k in kind_names}
        return ActivityTable(
            rows=position[owners[chosen]],
            kinds=np.asarray([engine_kind[k] for k in kind_names] or [0], dtype=np.int8)[
                kinds[chosen]
            ],
            at=at[chosen],
            skus=StringColumn.from_values(skus),
            categories=StringColumn.from_values(categories),
            quantities=np.asarray(self.activity_quantity, dtype=np.int64)[chosen],
        )

    def _newest_only(
        self,
        chosen: Int64s,
        groups: Int64s,
        crowded: Int64s,
        limits: Int64s,
        kinds: Sequence[str],
    ) -> Int64s:
        """A (customer, kind) with more lines than its limit keeps its newest, ordered
        as `model._activity_order` orders them (a heavy browser's views: rare)."""
        dropped: list[int] = []
        for group in crowded.tolist():
            lines = chosen[groups == group].tolist()
            lines.sort(
                key=lambda i: (
                    self.activity_at[i],
                    self.activity_kind[i],
                    self.activity_ref[i] or "",
                    self.activity_sku[i] or "",
                    self.activity_category[i] or "",
                    self.activity_quantity[i],
                )
            )
            dropped += lines[: len(lines) - int(limits[group % len(kinds)])]
        return np.setdiff1d(chosen, np.asarray(dropped, dtype=np.int64))


@dataclass(frozen=True)
class StoredProfiles:
    """A shop's rows as the apply step reads them: the table (RFM fields as stored),
    what each row's item holds now (version, last night's score and segments, as
    [r, f, m, rank index] with rank -1 unranked, -2 unknown), and each row's time zone."""

    table: ProfileTable
    versions: Sequence[int]
    zones: Sequence[str]
    rfm_before: NDArray[np.int64]
    segments_before: SetColumn

    @property
    def size(self) -> int:
        return self.table.size

    def at_local_date(self, today: date) -> ProfileTable:
        """The table with the fields that depend on the customer's "today" (age, age
        band) as on `today`, as `Profile.age_on` and `Profile.age_band` give them."""
        born = self.table.days["birthday"]
        present = born != MISSING_DAY
        stamps = np.where(present, born, 0).astype("datetime64[D]")
        months = stamps.astype("datetime64[M]")
        year = stamps.astype("datetime64[Y]").astype(np.int64) + 1970
        month = months.astype(np.int64) % 12 + 1
        day = (stamps - months.astype("datetime64[D]")).astype(np.int64) + 1
        before_birthday = (today.month < month) | ((today.month == month) & (today.day < day))
        age = today.year - year - before_birthday.astype(np.int64)
        band = np.where(age < 20, 0, np.minimum(age // 10, 7) - 1)
        return replace(
            self.table,
            numbers={**self.table.numbers, "age": np.where(present, age, np.nan)},
            strings={
                **self.table.strings,
                "age_band": StringColumn(np.where(present, band, -1).astype(np.int32), _AGE_BANDS),
            },
        )


def _interval_days(count: int, first: int | None, last: int | None) -> float | None:
    """`OrderStats.average_interval_days` on epoch microseconds (timedelta's exact
    seconds are the microseconds over a million)."""
    if count < 2 or first is None or last is None:
        return None
    return round((last - first) / 1_000_000 / 86400 / (count - 1), 1)


def _next_order(interval: float | None, last: int | None) -> int | None:
    """`OrderStats.expected_next_order_at`: timedelta rounds the days to microseconds."""
    if interval is None or last is None:
        return None
    return last + timedelta(days=interval) // timedelta(microseconds=1)


def _floats(values: Sequence[float | int | None]) -> NDArray[np.float64]:
    return np.fromiter((np.nan if v is None else v for v in values), np.float64, len(values))


def _kind_order(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


_ZONES: dict[str, str] = {}


def _zone_key(name: str | None) -> str:
    """`Profile.zone`'s key: the stated zone, the shop's when none or unknown."""
    name = name or DEFAULT_TIMEZONE
    if name not in _ZONES:
        try:
            _ZONES[name] = ZoneInfo(name).key
        except (ZoneInfoNotFoundError, ValueError):
            _ZONES[name] = SHOP_TIMEZONE.key
    return _ZONES[name]


def rows_by_local_date(
    zones: Sequence[str], now: datetime
) -> Mapping[date, tuple[datetime, NDArray[np.int64]]]:
    """Rows grouped by their local date at `now` (one group for a shop in one zone):
    the columnar engine answers every row of a group alike at that group's local now,
    since a zone changes only the date rules see, not the instant."""
    by_zone: dict[str, list[int]] = {}
    for row, zone in enumerate(zones):
        by_zone.setdefault(zone, []).append(row)
    groups: dict[date, tuple[datetime, list[int]]] = {}
    for zone, rows in by_zone.items():
        local = now.astimezone(ZoneInfo(zone))
        held = groups.setdefault(local.date(), (local, []))
        held[1].extend(rows)
    return {d: (local, np.sort(np.asarray(rows, np.int64))) for d, (local, rows) in groups.items()}


@dataclass(frozen=True)
class StoredRecompute:
    """Tonight's answer for some stored rows: the members per segment and ranks, counted,
    and the rows whose score or segments changed (what to publish and write)."""

    counts: dict[str, int]
    ranks: dict[str, int]
    changes: list[DerivedChange]


def recompute_stored(
    shop_id: str,
    stored: StoredProfiles,
    segments: Sequence[CompiledSegment],
    now: datetime,
    config: RfmConfig | None = None,
    pools: RfmPools | None = None,
) -> StoredRecompute:
    """What `Segments.apply_scores` decides for these rows, column-wise: RFM scored
    (against the shop's `pools` when the rows are part of it), every segment evaluated at
    each row's local date (rules see tonight's scores), the stored score and segments
    compared. Every segment must be `batch.supports`-ed (the caller reads profiles for
    a shop with one that is not). A stored segment the shop no longer has is dropped
    without an exit."""
    n = stored.size
    rfm = score_rfm(stored.table, now, config, pools)
    members = {s.segment_id: np.zeros(n, dtype=bool) for s in segments}
    for today, (local_now, rows) in rows_by_local_date(stored.zones, now).items():
        evaluator = ColumnarEvaluator(with_rfm(stored.at_local_date(today), rfm), local_now)
        for segment in segments:
            members[segment.segment_id][rows] |= evaluator.mask(segment.rule)[rows]
    known = sorted(members)
    before = stored.segments_before
    changed = np.zeros(n, dtype=bool)
    for value, holders in before.rows_by_value.items():
        if value not in members:
            changed[holders] = True  # a deleted segment: the item is rewritten without it
    for seg in known:
        changed |= members[seg] != before.holding(seg)
    after = np.stack([rfm.r, rfm.f, rfm.m, rfm.rank]).T.astype(np.int64)
    changed |= (after != stored.rfm_before).any(axis=1)
    rows = np.flatnonzero(changed)
    now_in: dict[int, list[str]] = {int(r): [] for r in rows.tolist()}
    was_in: dict[int, list[str]] = {int(r): [] for r in rows.tolist()}
    for seg in known:
        for row in np.flatnonzero(members[seg] & changed).tolist():
            now_in[row].append(seg)
        for row in np.flatnonzero(before.holding(seg) & changed).tolist():
            was_in[row].append(seg)
    changes = [
        DerivedChange(
            shop_id=shop_id,
            customer_id=stored.table.customer_ids[row],
            version=stored.versions[row],
            rfm=_score(after[row]),
            segments=frozenset(now_in[row]),
            entered=tuple(sorted(set(now_in[row]) - set(was_in[row]))),
            exited=tuple(sorted(set(was_in[row]) - set(now_in[row]))),
        )
        for row in rows.tolist()
    ]
    ranked = np.bincount(rfm.rank[rfm.rank >= 0], minlength=len(RANK_ORDER))
    return StoredRecompute(
        counts={seg: int(members[seg].sum()) for seg in known},
        ranks={str(RANK_ORDER[i]): int(c) for i, c in enumerate(ranked.tolist()) if c},
        changes=changes,
    )


def _score(values: NDArray[np.int64]) -> RfmScore | None:
    r, f, m, rank = (int(v) for v in values)
    return None if rank < 0 else RfmScore(r, f, m, str(RANK_ORDER[rank]))
