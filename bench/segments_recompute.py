"""Nightly segment recompute: RFM ranks + 20 rules over N synthetic profiles (default
1,000,000), as a ratio to a pandas implementation of the same computation run in the
same process on the same data. Lower is better; below 1.0 means faster than pandas.
Also against a tuned pandas baseline (`TunedPandasRecompute`: the rank a Categorical, one
boolean column per set value, activities cut once per kind), with a target of 10x
(ratio <= 0.1).

Both sides get their data in their own native form (our `ProfileTable`; pandas
DataFrames with categoricals, tz-aware datetimes and long tables for sets, activities and
preferences), built before the clock starts. The clock covers RFM scoring plus the
membership of every rule. Afterwards the two results must agree bit for bit, and a sample
of customers is re-checked one by one with the per-customer `evaluate`.

"Ours" is the engine every recompute runs: the single-Lambda nightly and a new segment's
recompute (`Segments.recompute`: `membership.shop_rfm` and `shop_memberships`) and the
fan-out's apply children (`stored.recompute_stored`) score RFM with `score_rfm` (tested
equal to the per-customer `rfm.score_customers` in tests/segmenter/domain/test_batch.py)
and compute every segment's members with `ColumnarEvaluator.mask` over a `ProfileTable`,
one table per customer time zone (here everyone is in Tokyo, the common case);
tests/segmenter/test_nightly_fanout.py checks all three paths go through both.
One difference from production: the nightly also pays, outside this clock, for reading
the items and building the table (the fan-out's apply children straight from the items'
attribute values; bench/nightly_fanout.py times that end to end).

Then each side's CPU milliseconds per step (RFM, each rule) are printed, ours beside the
tuned baseline's, to show where each spends.

    python bench/segments_recompute.py [--customers N] [--seed S] [--sample K]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from segmenter.domain.segments import (  # noqa: E402
    BUILTINS_BY_ID,
    Activity,
    CustomerFacts,
    RfmConfig,
    ScoringMethod,
    evaluate,
    parse_rule,
)
from segmenter.domain.segments.batch import (  # noqa: E402
    DAY_US,
    KIND_ORDER,
    MISSING_DAY,
    MISSING_INSTANT,
    ActivityTable,
    ColumnarEvaluator,
    ProfileTable,
    RecomputeResult,
    SetColumn,
    StringColumn,
    epoch_days,
    epoch_micros,
    recompute,
    score_rfm,
    with_rfm,
)
from segmenter.domain.segments.rfm import RANK_ORDER, RfmRank  # noqa: E402
from shared.segment_rules.facts import FIELD_CATALOG, FieldType  # noqa: E402
from shared.segment_rules.rules import (  # noqa: E402
    ActivityCondition,
    AllOf,
    AnyOf,
    FieldCondition,
    Not,
    Op,
    PreferenceCondition,
    Rule,
)

ENGINE = "segments.batch score_rfm + ColumnarEvaluator, as every recompute runs them"
JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=JST)
CATEGORIES = ("skincare", "haircare", "supplement", "food", "fragrance", "gift")
CONSENTS = ("email:marketing", "line:marketing", "sms:marketing")
PREFECTURES = ("東京都", "大阪府", "神奈川県", "愛知県", "福岡県", "北海道", "京都府", "兵庫県")
GENDERS = ("female", "male", "other")
CHANNELS = ("search_ad", "sns_ad", "affiliate", "organic", "rakuten", "amazon")
DISLIKES = ("fragrance", "alcohol", "gluten")
N_SKUS = 200

BUILTIN_IDS = (
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
    "birthday_soon",
    "cart_abandoned",
)
CUSTOM_RULES: dict[str, object] = {
    "f1_skincare_30d_after_shipping": {
        "all": [
            {"field": "order_count", "op": "eq", "value": 1},
            {"activity": "bought", "category": "skincare", "within_days": 365},
            {"field": "last_shipped_at", "op": "older_than_days", "value": 30},
        ]
    },
    "browse_abandoned_skincare": {
        "activity": "viewed",
        "category": "skincare",
        "within_days": 7,
        "not_followed_by": "bought",
    },
    "line_women_30s_40s_no_fragrance": {
        "all": [
            {"field": "gender", "op": "eq", "value": "female"},
            {"field": "age", "op": "between", "value": [30, 49]},
            {"field": "prefecture", "op": "in", "value": ["東京都", "大阪府", "神奈川県"]},
            {"field": "has_line", "op": "eq", "value": True},
            {"not": {"preference": "dislike", "includes": "fragrance"}},
        ]
    },
    "food_repeaters_from_ads": {
        "all": [
            {"activity": "bought", "category": "food", "within_days": 180},
            {"field": "last_order_at", "op": "within_last_days", "value": 90},
            {"field": "acquisition_channel", "op": "in", "value": ["search_ad", "sns_ad"]},
            {"field": "categories", "op": "contains_any", "value": ["food", "supplement"]},
            {
                "any": [
                    {"field": "consents", "op": "contains", "value": "email:marketing"},
                    {"field": "expected_next_order_at", "op": "within_next_days", "value": 14},
                ]
            },
        ]
    },
}


# ---------------------------------------------------------------------------------------
# Synthetic shop


@dataclass
class Shop:
    """The generated data in raw arrays, from which both sides build their own form."""

    n: int
    numbers: dict[str, NDArray[np.float64]]
    strings: dict[str, tuple[NDArray[np.int32], tuple[str, ...]]]
    instants: dict[str, NDArray[np.int64]]
    birthday: NDArray[np.int64]
    set_bits: dict[str, tuple[NDArray[np.int64], tuple[str, ...]]]
    flags: dict[str, NDArray[np.int8]]
    act_rows: NDArray[np.int64]
    act_kinds: NDArray[np.int8]
    act_at: NDArray[np.int64]
    act_skus: NDArray[np.int32]
    act_categories: NDArray[np.int32]
    dislike_bits: NDArray[np.int64]


def generate(n: int, seed: int) -> Shop:
    rng = np.random.default_rng(seed)
    now_us = epoch_micros(NOW)
    orders = np.where(rng.random(n) < 0.25, 0, 1 + rng.geometric(0.45, n) - 1).astype(np.float64)
    buyer = orders > 0
    missing = np.int64(MISSING_INSTANT)
    last = np.where(buyer, now_us - rng.integers(0, 900 * DAY_US, n), missing)
    gaps = (orders.astype(np.int64) - 1) * rng.integers(0, 90 * DAY_US, n)
    first = np.where(buyer, last - gaps, missing)
    aov = np.round(np.exp(rng.normal(8.6, 0.6, n)))
    revenue = np.where(buyer, orders * aov, 0.0)

    def maybe(values: NDArray[np.float64], share_missing: float) -> NDArray[np.float64]:
        return np.where(rng.random(n) < share_missing, np.nan, values)

    numbers = {
        "order_count": orders,
        "revenue": revenue,
        "gross_profit": np.round(revenue * 0.6),
        "average_order_value": np.where(buyer, aov, np.nan),
        "average_interval_days": np.where(orders > 1, rng.integers(10, 200, n), np.nan),
        "sale_ratio": np.where(buyer, np.round(rng.random(n) * 20) / 20, np.nan),
        "active_hour": maybe(rng.integers(0, 24, n).astype(np.float64), 0.2),
        "age": maybe(rng.integers(18, 80, n).astype(np.float64), 0.3),
    }

    def codes(pool: tuple[str, ...], share_missing: float) -> NDArray[np.int32]:
        drawn = rng.integers(0, len(pool), n).astype(np.int32)
        return np.where(rng.random(n) < share_missing, -1, drawn).astype(np.int32)

    strings = {
        "gender": (codes(GENDERS, 0.2), GENDERS),
        "prefecture": (codes(PREFECTURES, 0.1), PREFECTURES),
        "acquisition_channel": (codes(CHANNELS, 0.05), CHANNELS),
        "last_sales_channel": (codes(("web", "line", "phone"), 0.3), ("web", "line", "phone")),
    }

    def after(base: NDArray[np.int64], days: int, share: float) -> NDArray[np.int64]:
        moved = base + rng.integers(0, days * DAY_US, n)
        return np.where((base != missing) & (rng.random(n) < share), moved, missing)

    instants = {
        "last_order_at": last,
        "first_order_at": first,
        "last_shipped_at": after(last, 4, 0.95),
        "expected_next_order_at": after(last, 120, 0.5),
        "created_at": np.where(buyer, first, now_us - rng.integers(0, 900 * DAY_US, n)),
        "last_viewed_at": np.where(
            rng.random(n) < 0.7, now_us - rng.integers(0, 60 * DAY_US, n), missing
        ),
    }
    born = rng.integers(epoch_days(date(1945, 1, 1)), epoch_days(date(2008, 1, 1)), n)
    birthday = np.where(rng.random(n) < 0.25, np.int64(MISSING_DAY), born)

    def bits(width: int, share: float) -> NDArray[np.int64]:
        out = np.zeros(n, dtype=np.int64)
        for bit in range(width):
            out |= (rng.random(n) < share).astype(np.int64) << bit
        return out

    set_bits = {
        "categories": (np.where(buyer, bits(len(CATEGORIES), 0.3), 0), CATEGORIES),
        "consents": (bits(len(CONSENTS), 0.4), CONSENTS),
    }
    flags = {
        "has_email": (rng.random(n) < 0.85).astype(np.int8),
        "has_line": (rng.random(n) < 0.4).astype(np.int8),
        "has_phone": np.where(rng.random(n) < 0.1, -1, rng.random(n) < 0.6).astype(np.int8),
    }
    n_acts = n * 3
    sku = rng.integers(0, N_SKUS, n_acts).astype(np.int32)
    kind_weights = np.array([0.2, 0.45, 0.15, 0.1, 0.05, 0.05])
    return Shop(
        n=n,
        numbers=numbers,
        strings=strings,
        instants=instants,
        birthday=birthday,
        set_bits=set_bits,
        flags=flags,
        act_rows=rng.integers(0, n, n_acts),
        act_kinds=rng.choice(len(KIND_ORDER), n_acts, p=kind_weights).astype(np.int8),
        act_at=now_us - rng.integers(0, 400 * DAY_US, n_acts),
        act_skus=sku,
        act_categories=(sku % len(CATEGORIES)).astype(np.int32),
        dislike_bits=np.where(rng.random(n) < 0.3, bits(len(DISLIKES), 0.4), 0),
    )


def _set_column(n: int, packed: NDArray[np.int64], names: tuple[str, ...]) -> SetColumn:
    return SetColumn(
        size=n,
        present=np.ones(n, dtype=bool),
        nonempty=packed != 0,
        rows_by_value={v: np.flatnonzero(packed & (1 << i)) for i, v in enumerate(names)},
    )


def build_table(shop: Shop) -> ProfileTable:
    sku_names = tuple(f"SKU-{i:03d}" for i in range(N_SKUS))
    return ProfileTable(
        customer_ids=[f"c{i:07d}" for i in range(shop.n)],
        numbers=shop.numbers,
        strings={k: StringColumn(c, cats) for k, (c, cats) in shop.strings.items()},
        instants=shop.instants,
        days={"birthday": shop.birthday},
        flags=shop.flags,
        sets={k: _set_column(shop.n, b, names) for k, (b, names) in shop.set_bits.items()},
        activities=ActivityTable(
            rows=shop.act_rows,
            kinds=shop.act_kinds,
            at=shop.act_at,
            skus=StringColumn(shop.act_skus, sku_names),
            categories=StringColumn(shop.act_categories, CATEGORIES),
        ),
        preferences={"dislike": _set_column(shop.n, shop.dislike_bits, DISLIKES)},
    )


# ---------------------------------------------------------------------------------------
# The pandas baseline


@dataclass
class Frames:
    profiles: pd.DataFrame
    sets: dict[str, pd.DataFrame]
    """Long tables (row, value), one per set field."""
    activities: pd.DataFrame
    preferences: pd.DataFrame
    """Long table (row, key, value)."""


def _categorical(codes: NDArray[np.integer[Any]], names: Sequence[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(names)))


def _long(
    packed: NDArray[np.int64], names: tuple[str, ...], key: str | None = None
) -> pd.DataFrame:
    rows = [np.flatnonzero(packed & (1 << i)) for i in range(len(names))]
    values = np.repeat(np.arange(len(names)), [len(r) for r in rows])
    frame = pd.DataFrame(
        {
            "row": np.concatenate(rows),
            "value": _categorical(values, names),
        }
    )
    if key is not None:
        frame["key"] = key
    return frame


def build_frames(shop: Shop) -> Frames:
    columns: dict[str, object] = dict(shop.numbers)
    for name, (codes, cats) in shop.strings.items():
        columns[name] = _categorical(codes, cats)
    for name, micros in shop.instants.items():
        stamps = np.where(micros == MISSING_INSTANT, np.iinfo(np.int64).min, micros)
        columns[name] = pd.to_datetime(stamps.view("datetime64[us]")).tz_localize(UTC)
    birthday = np.where(shop.birthday == MISSING_DAY, np.iinfo(np.int64).min, shop.birthday)
    columns["birthday"] = pd.to_datetime(birthday.view("datetime64[D]").astype("datetime64[s]"))
    for name, flags in shop.flags.items():
        columns[name] = pd.arrays.BooleanArray(flags == 1, flags < 0)
    sku_names = [f"SKU-{i:03d}" for i in range(N_SKUS)]
    activities = pd.DataFrame(
        {
            "row": shop.act_rows,
            "kind": _categorical(shop.act_kinds, KIND_ORDER),
            "at": pd.to_datetime(shop.act_at.view("datetime64[us]")).tz_localize(UTC),
            "sku": _categorical(shop.act_skus, sku_names),
            "category": _categorical(shop.act_categories, CATEGORIES),
        }
    )
    return Frames(
        profiles=pd.DataFrame(columns),
        sets={k: _long(b, names) for k, (b, names) in shop.set_bits.items()},
        activities=activities,
        preferences=_long(shop.dislike_bits, DISLIKES, key="dislike"),
    )


class PandasRecompute:
    """The same nightly computation written the way a pandas user would."""

    def __init__(self, frames: Frames, now: datetime, config: RfmConfig) -> None:
        self.frames = frames
        self.df = frames.profiles
        self.n = len(self.df)
        self.now = pd.Timestamp(now)
        self.today = pd.Timestamp(now.date())
        self.config = config

    def rfm(self) -> pd.DataFrame:
        df, config = self.df, self.config
        count = np.trunc(df["order_count"])
        last = df["last_order_at"]
        ranked = (count >= 1) & last.notna()
        elapsed = self.now - last
        revenue = df["revenue"].fillna(0.0)
        if config.method is ScoringMethod.QUANTILE:
            n_ranked = int(ranked.sum())

            def score(values: pd.Series) -> pd.Series:
                below = values[ranked].rank(method="min").astype("int64") - 1
                scores: pd.Series[int] = (1 + (5 * below) // n_ranked).reindex(df.index)
                return scores

            def frequency(values: pd.Series) -> pd.Series:
                """F climbs at most ceil(5 / n) scores (one, from five buyers) per
                distinct order count, never above its quantile (`rfm.frequency_cuts`)."""
                quantile = score(values)[ranked].groupby(values[ranked]).first().sort_index()
                step, last_score = -(-5 // n_ranked), 0
                climbed: dict[float, int] = {}
                for value, q in quantile.items():
                    last_score = int(q) if not climbed else min(int(q), last_score + step)
                    climbed[value] = last_score
                scores: pd.Series[int] = values.map(climbed).where(ranked)
                return scores

            r, f, m = score(last), frequency(count), score(revenue)
        else:
            cuts = config.thresholds
            r = pd.Series(5, index=df.index)
            for days in cuts.recency_days:
                r = r - (elapsed > pd.Timedelta(days=days)).astype("int64")
            f = pd.Series(1, index=df.index)
            for cut in cuts.frequency:
                f = f + (count >= cut).astype("int64")
            m = pd.Series(1, index=df.index)
            for money in cuts.monetary:
                m = m + (revenue >= money).astype("int64")
        floors = [(config.loyal, RfmRank.LOYAL), (config.semi_loyal, RfmRank.SEMI_LOYAL)]
        rank = np.select(
            [elapsed >= pd.Timedelta(days=config.dormant_days)]
            + [(r >= fl.r) & (f >= fl.f) & (m >= fl.m) for fl, _ in floors],
            [str(RfmRank.DORMANT)] + [str(code) for _, code in floors],
            default=str(RfmRank.GENERAL),
        )
        return pd.DataFrame(
            {
                "r_score": r.where(ranked),
                "f_score": f.where(ranked),
                "m_score": m.where(ranked),
                "rfm_rank": pd.Series(rank, index=df.index).where(ranked),
            }
        )

    def run(self, rules: Mapping[str, Rule]) -> tuple[pd.DataFrame, dict[str, NDArray[np.bool_]]]:
        rfm = self.rfm()
        self.df = self.frames.profiles.assign(**{c: rfm[c] for c in rfm.columns})
        members = {k: self.mask(rule).to_numpy(dtype=bool) for k, rule in rules.items()}
        return rfm, members

    def mask(self, rule: Rule) -> pd.Series:
        if isinstance(rule, AllOf):
            out = pd.Series(True, index=self.df.index)
            for child in rule.rules:
                out &= self.mask(child)
            return out
        if isinstance(rule, AnyOf):
            out = pd.Series(False, index=self.df.index)
            for child in rule.rules:
                out |= self.mask(child)
            return out
        if isinstance(rule, Not):
            return ~self.mask(rule.rule)
        if isinstance(rule, FieldCondition):
            return self.field(rule).fillna(False).astype(bool)
        if isinstance(rule, ActivityCondition):
            return self.activity(rule)
        return self.preference(rule)

    def field(self, cond: FieldCondition) -> pd.Series:
        ftype = FIELD_CATALOG[cond.field]
        if ftype is FieldType.SET:
            return self.set_field(cond)
        col = (
            self.df[cond.field] if cond.field in self.df else pd.Series(np.nan, index=self.df.index)
        )
        present = col.notna()
        if ftype is FieldType.STRING:
            present &= (
                col.astype("string").str.len().fillna(0) > 0
                if cond.op
                in (
                    Op.EXISTS,
                    Op.NOT_EXISTS,
                )
                else present
            )
        op = cond.op
        if op is Op.EXISTS:
            return present
        if op is Op.NOT_EXISTS:
            return ~present
        if ftype is FieldType.DATETIME:
            return present & self.instant(cond, col)
        if ftype is FieldType.DATE:
            return present & self.day(cond, col)
        if ftype is FieldType.STRING:
            if op in (Op.EQ, Op.IN):
                return col.isin(list(cond.strings))
            if op in (Op.NE, Op.NOT_IN):
                return present & ~col.isin(list(cond.strings))
            return col.astype("string").str.contains(cond.text, regex=False).fillna(False)
        if ftype is FieldType.BOOL:
            return (col == cond.flag) if op is Op.EQ else present & (col != cond.flag)
        values = cond.numbers
        if op is Op.IN:
            return col.isin(values)
        if op is Op.NOT_IN:
            return present & ~col.isin(values)
        return present & _ordered(op, col, values[0], values[-1])

    def instant(self, cond: FieldCondition, col: pd.Series) -> pd.Series:
        span = pd.Timedelta(days=cond.days)
        if cond.op is Op.OLDER_THAN_DAYS:
            return col <= self.now - span
        if cond.op is Op.WITHIN_LAST_DAYS:
            return (col > self.now - span) & (col <= self.now)
        if cond.op is Op.WITHIN_NEXT_DAYS:
            return (col > self.now) & (col <= self.now + span)
        bounds = [pd.Timestamp(moment) for moment in cond.instants]
        return _ordered(cond.op, col, bounds[0], bounds[-1])

    def day(self, cond: FieldCondition, col: pd.Series) -> pd.Series:
        if cond.op is Op.ANNIVERSARY_WITHIN_DAYS:
            return self.days_to_anniversary(col) <= cond.days
        age: pd.Series[int] = (self.today - col).dt.days
        if cond.op is Op.OLDER_THAN_DAYS:
            return age >= cond.days
        if cond.op is Op.WITHIN_LAST_DAYS:
            return (age >= 0) & (age < cond.days)
        bounds = [pd.Timestamp(day) for day in cond.dates]
        return _ordered(cond.op, col, bounds[0], bounds[-1])

    def days_to_anniversary(self, col: pd.Series) -> pd.Series:
        month, day = col.dt.month.fillna(1).astype(int), col.dt.day.fillna(1).astype(int)

        def anniversary(year: int) -> pd.Series:
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            moved = day.where(leap | ~((month == 2) & (day == 29)), 28)
            return pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": moved}))

        this_year = anniversary(self.today.year)
        next_year = anniversary(self.today.year + 1)
        target = this_year.where(this_year >= self.today, next_year)
        return (target - self.today).dt.days.where(col.notna())

    def set_field(self, cond: FieldCondition) -> pd.Series:
        long = self.frames.sets.get(cond.field)
        index = self.df.index
        if long is None:
            return pd.Series(cond.op is Op.NOT_EXISTS, index=index)
        if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
            exists = pd.Series(index.isin(long["row"]), index=index)
            return exists if cond.op is Op.EXISTS else ~exists
        hits = long[long["value"].isin(list(cond.strings))]
        if cond.op is Op.CONTAINS_ALL:
            per_row = hits.groupby("row")["value"].nunique()
            return pd.Series(index.isin(per_row.index[per_row == len(cond.strings)]), index=index)
        return pd.Series(index.isin(hits["row"].unique()), index=index)

    def activity(self, cond: ActivityCondition) -> pd.Series:
        acts = self.frames.activities
        matching = acts["at"] <= self.now
        if cond.skus:
            matching &= acts["sku"].isin(list(cond.skus))
        if cond.categories:
            matching &= acts["category"].isin(list(cond.categories))
        chosen = matching & (acts["kind"] == cond.kind)
        if cond.within_days is not None:
            chosen &= acts["at"] > self.now - pd.Timedelta(days=cond.within_days)
        if cond.not_followed_by is not None:
            followers = acts[matching & (acts["kind"] == cond.not_followed_by)]
            latest = followers.groupby("row")["at"].max()
            latest_for_act = acts["row"].map(latest)
            chosen &= latest_for_act.isna() | (acts["at"] > latest_for_act)
        counts = acts.loc[chosen, "row"].value_counts().reindex(self.df.index, fill_value=0)
        hit = counts >= cond.count_gte
        if cond.count_lte is not None:
            hit &= counts <= cond.count_lte
        return hit

    def preference(self, cond: PreferenceCondition) -> pd.Series:
        prefs = self.frames.preferences
        hits = prefs[(prefs["key"] == cond.key) & prefs["value"].isin(list(cond.values))]
        return pd.Series(self.df.index.isin(hits["row"]), index=self.df.index)


class TunedPandasRecompute(PandasRecompute):
    """The same pandas computation as a reviewer tuned it: the RFM rank as a Categorical
    (not strings), one boolean column per set value and per preference answer (not long
    tables joined per rule), and the activities cut once per kind and shared by every
    rule. Its wide columns are built with the frames, before the clock."""

    def __init__(self, frames: Frames, wide: WideFrames, now: datetime, config: RfmConfig) -> None:
        super().__init__(frames, now, config)
        self.wide = wide
        self._by_kind: dict[str, pd.DataFrame] = {}

    def rfm(self) -> pd.DataFrame:
        scores = super().rfm()
        names = [str(r) for r in RANK_ORDER]
        scores["rfm_rank"] = pd.Categorical(scores["rfm_rank"], categories=names)
        return scores

    def set_field(self, cond: FieldCondition) -> pd.Series:
        columns = self.wide.sets.get(cond.field)
        index = self.df.index
        if columns is None:
            return pd.Series(cond.op is Op.NOT_EXISTS, index=index)
        if cond.op in (Op.EXISTS, Op.NOT_EXISTS):
            exists = columns.any(axis=1)
            return exists if cond.op is Op.EXISTS else ~exists
        wanted = [v for v in cond.strings if v in columns]
        if cond.op is Op.CONTAINS_ALL:
            if len(wanted) < len(set(cond.strings)):
                return pd.Series(False, index=index)
            return columns[wanted].all(axis=1)
        return columns[wanted].any(axis=1) if wanted else pd.Series(False, index=index)

    def of_kind(self, kind: str) -> pd.DataFrame:
        """One kind's activities up to now, cut once per run."""
        if kind not in self._by_kind:
            acts = self.frames.activities
            self._by_kind[kind] = acts[(acts["kind"] == kind) & (acts["at"] <= self.now)]
        return self._by_kind[kind]

    def activity(self, cond: ActivityCondition) -> pd.Series:
        acts = self.of_kind(cond.kind)
        chosen = pd.Series(True, index=acts.index)
        if cond.skus:
            chosen &= acts["sku"].isin(list(cond.skus))
        if cond.categories:
            chosen &= acts["category"].isin(list(cond.categories))
        if cond.within_days is not None:
            chosen &= acts["at"] > self.now - pd.Timedelta(days=cond.within_days)
        if cond.not_followed_by is not None:
            followers = self.of_kind(cond.not_followed_by)
            keep = pd.Series(True, index=followers.index)
            if cond.skus:
                keep &= followers["sku"].isin(list(cond.skus))
            if cond.categories:
                keep &= followers["category"].isin(list(cond.categories))
            latest = followers[keep].groupby("row")["at"].max()
            latest_for_act = acts["row"].map(latest)
            chosen &= latest_for_act.isna() | (acts["at"] > latest_for_act)
        counts = acts.loc[chosen, "row"].value_counts().reindex(self.df.index, fill_value=0)
        hit = counts >= cond.count_gte
        if cond.count_lte is not None:
            hit &= counts <= cond.count_lte
        return hit

    def preference(self, cond: PreferenceCondition) -> pd.Series:
        columns = self.wide.preferences.get(cond.key)
        wanted = [v for v in cond.values if columns is not None and v in columns]
        if columns is None or not wanted:
            return pd.Series(False, index=self.df.index)
        return columns[wanted].any(axis=1)


@dataclass
class WideFrames:
    sets: dict[str, pd.DataFrame]
    """One boolean column per value, per set field."""
    preferences: dict[str, pd.DataFrame]


def build_wide(shop: Shop) -> WideFrames:
    def wide(packed: NDArray[np.int64], names: tuple[str, ...]) -> pd.DataFrame:
        return pd.DataFrame({v: (packed & (1 << i)) != 0 for i, v in enumerate(names)})

    return WideFrames(
        sets={k: wide(b, names) for k, (b, names) in shop.set_bits.items()},
        preferences={"dislike": wide(shop.dislike_bits, DISLIKES)},
    )


def _ordered(op: Op, col: pd.Series, low: Any, high: Any) -> pd.Series:
    """Comparison operators on a Series; `low` is the operand, `high` only for between."""
    out: pd.Series
    if op is Op.EQ:
        out = col == low
    elif op is Op.NE:
        out = col != low
    elif op is Op.GT:
        out = col > low
    elif op is Op.GTE:
        out = col >= low
    elif op is Op.LT:
        out = col < low
    elif op is Op.LTE:
        out = col <= low
    elif op is Op.BETWEEN:
        out = col.between(low, high)
    else:
        raise NotImplementedError(op)
    return out


# ---------------------------------------------------------------------------------------
# Checks


def same_results(
    ours: RecomputeResult, rfm: pd.DataFrame, theirs: dict[str, NDArray[np.bool_]]
) -> list[str]:
    problems = []
    for name, column in (("r_score", ours.rfm.r), ("f_score", ours.rfm.f), ("m_score", ours.rfm.m)):
        expected = rfm[name].fillna(0).to_numpy(dtype=np.int64)
        if not np.array_equal(column.astype(np.int64), expected):
            problems.append(name)
    ranks = np.array([str(r) for r in RANK_ORDER] + [""], dtype=object)[ours.rfm.rank]
    if not np.array_equal(ranks, rfm["rfm_rank"].astype(object).fillna("").to_numpy(dtype=object)):
        problems.append("rfm_rank")
    problems += [k for k, mask in ours.members.items() if not np.array_equal(mask, theirs[k])]
    return problems


def spot_check(
    shop: Shop,
    table: ProfileTable,
    result: RecomputeResult,
    rules: Mapping[str, Rule],
    sample: int,
    seed: int,
) -> int:
    """Re-evaluate `sample` customers one by one with the per-customer evaluator."""
    rng = np.random.default_rng(seed + 1)
    rows = rng.choice(shop.n, size=min(sample, shop.n), replace=False)
    fresh = with_rfm(table, result.rfm)
    by_row = np.argsort(shop.act_rows, kind="stable")
    starts = np.searchsorted(shop.act_rows[by_row], rows, side="left")
    ends = np.searchsorted(shop.act_rows[by_row], rows, side="right")
    mismatches = 0
    for row, start, end in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
        facts = facts_for_row(fresh, row, by_row[start:end].tolist())
        for segment_id, rule in rules.items():
            if evaluate(rule, facts, NOW) != bool(result.members[segment_id][row]):
                mismatches += 1
    return mismatches


def facts_for_row(table: ProfileTable, row: int, act_indexes: list[int]) -> CustomerFacts:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    fields: dict[str, object] = {}
    for name, numbers in table.numbers.items():
        if not np.isnan(numbers[row]):
            fields[name] = float(numbers[row])
    for name, column in table.strings.items():
        if column.codes[row] >= 0:
            fields[name] = column.categories[column.codes[row]]
    for name, micros in table.instants.items():
        if micros[row] != MISSING_INSTANT:
            fields[name] = epoch + timedelta(microseconds=int(micros[row]))
    for name, days in table.days.items():
        if days[row] != MISSING_DAY:
            fields[name] = date(1970, 1, 1) + timedelta(days=int(days[row]))
    for name, flags in table.flags.items():
        if flags[row] >= 0:
            fields[name] = bool(flags[row])
    for name, sets in table.sets.items():
        fields[name] = frozenset(v for v, rows in sets.rows_by_value.items() if row in rows)
    acts = table.activities
    assert acts is not None
    activities = tuple(
        Activity(
            kind=KIND_ORDER[acts.kinds[i]],
            at=epoch + timedelta(microseconds=int(acts.at[i])),
            sku=acts.skus.categories[acts.skus.codes[i]],
            category=acts.categories.categories[acts.categories.codes[i]],
        )
        for i in act_indexes
    )
    dislikes = table.preferences["dislike"]
    preferences = {
        "dislike": frozenset(v for v, rows in dislikes.rows_by_value.items() if row in rows)
    }
    return CustomerFacts(table.customer_ids[row], fields, activities, preferences)


def per_step(
    table: ProfileTable,
    frames: Frames,
    wide: WideFrames,
    rules: Mapping[str, Rule],
    config: RfmConfig,
    repeat: int,
) -> dict[str, tuple[float, float]]:
    """Each side's CPU milliseconds per step, ours and the tuned pandas baseline's: RFM
    (with the table or frame the rules then read), then each rule in the bench's order,
    median of `repeat` rounds. One evaluator per side per round, as in the timed run, so
    what rules share (a condition, a kind's activities) is paid by the first rule that
    needs it."""
    ours: dict[str, list[float]] = {}
    tuned: dict[str, list[float]] = {}

    def lap(into: dict[str, list[float]], step: str, start: float) -> None:
        into.setdefault(step, []).append((time.process_time() - start) * 1000)

    for _ in range(repeat):
        start = time.process_time()
        evaluator = ColumnarEvaluator(with_rfm(table, score_rfm(table, NOW, config)), NOW)
        lap(ours, "rfm", start)
        for segment_id, rule in rules.items():
            start = time.process_time()
            evaluator.mask(rule)
            lap(ours, segment_id, start)
        side = TunedPandasRecompute(frames, wide, NOW, config)
        start = time.process_time()
        scores = side.rfm()  # as `run` does
        side.df = frames.profiles.assign(**{c: scores[c] for c in scores.columns})
        lap(tuned, "rfm", start)
        for segment_id, rule in rules.items():
            start = time.process_time()
            side.mask(rule).to_numpy(dtype=bool)
            lap(tuned, segment_id, start)
    return {k: (statistics.median(ours[k]), statistics.median(tuned[k])) for k in ours}


CPU_SECONDS: dict[int, list[float]] = {}
"""Each side's CPU seconds (process time), keyed by the side's order in a round: on the
shared machine, load stretches wall time but not the work done (all sides run on one
thread)."""


def timed(run: Callable[[], object], side: int = 0) -> tuple[float, object]:
    start, cpu = time.perf_counter(), time.process_time()
    out = run()
    CPU_SECONDS.setdefault(side, []).append(time.process_time() - cpu)
    return time.perf_counter() - start, out


def main(
    customers: int = 1_000_000, seed: int = 42, sample: int = 300, repeat: int = 3
) -> dict[str, object]:
    rules: dict[str, Rule] = {k: BUILTINS_BY_ID[k].rule for k in BUILTIN_IDS}
    rules.update({k: parse_rule(v) for k, v in CUSTOM_RULES.items()})
    config = RfmConfig()

    start = time.perf_counter()
    shop = generate(customers, seed)
    table = build_table(shop)
    frames = build_frames(shop)
    wide = build_wide(shop)
    build_seconds = time.perf_counter() - start

    ours_times, pandas_times, tuned_times = [], [], []
    for _ in range(repeat):  # interleaved, so machine noise hits every side alike
        seconds, ours = timed(lambda: recompute(table, rules, NOW, config), 0)
        ours_times.append(seconds)
        seconds, theirs = timed(lambda: PandasRecompute(frames, NOW, config).run(rules), 1)
        pandas_times.append(seconds)
        seconds, tuned = timed(
            lambda: TunedPandasRecompute(frames, wide, NOW, config).run(rules), 2
        )
        tuned_times.append(seconds)
    ours_cpu, pandas_cpu, tuned_cpu = (statistics.median(CPU_SECONDS[i]) for i in range(3))
    load = os.getloadavg()[0]
    ours_seconds, pandas_seconds = statistics.median(ours_times), statistics.median(pandas_times)
    tuned_seconds = statistics.median(tuned_times)
    assert isinstance(ours, RecomputeResult)
    assert isinstance(theirs, tuple)
    assert isinstance(tuned, tuple)
    problems = same_results(ours, *theirs) + [f"tuned:{p}" for p in same_results(ours, *tuned)]
    spot_mismatches = spot_check(shop, table, ours, rules, sample, seed)
    steps = per_step(table, frames, wide, rules, config, repeat)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"{customers:,} customers, {len(shop.act_rows):,} activities, {len(rules)} rules")
    print(f"data build (both sides, untimed): {build_seconds:.1f} s; peak RSS {peak_mib:,.0f} MiB")
    print(f"engine: {ENGINE}")
    print(f"ours (numpy columns):  {ours_seconds:7.2f} s  (median of {repeat})")
    print(f"pandas baseline:       {pandas_seconds:7.2f} s")
    print(f"ratio ours / pandas:   {ours_seconds / pandas_seconds:7.3f}")
    print(f"tuned pandas baseline: {tuned_seconds:7.2f} s")
    tuned_ratio = ours_seconds / tuned_seconds
    print(f"ratio ours / tuned:    {tuned_ratio:7.3f}  (target <= 0.1: {tuned_ratio <= 0.1})")
    print(
        f"CPU seconds: ours {ours_cpu:.3f}, pandas {pandas_cpu:.3f}, tuned {tuned_cpu:.3f}; "
        f"ratio ours / tuned (CPU) {ours_cpu / tuned_cpu:.3f}; load average {load:.1f}"
    )
    print(f"identical results: {not problems} {problems or ''}")
    print(f"per-customer evaluate on {sample} sampled customers: {spot_mismatches} mismatches")
    print("rank counts:", ours.rank_counts())
    members = {k: int(v.sum()) for k, v in ours.members.items()}
    print("members:", members)
    print("CPU ms per step (median of", repeat, "rounds): ours, tuned pandas, tuned / ours")
    for step, (mine, theirs_ms) in steps.items():
        print(f"  {step:34s} {mine:8.2f} {theirs_ms:9.2f} {theirs_ms / max(mine, 1e-3):8.1f}x")
    report: dict[str, object] = {
        "benchmark": "segments_recompute_ratio",
        "baseline": "pandas",
        "engine": ENGINE,
        "customers": customers,
        "activities": len(shop.act_rows),
        "rules": len(rules),
        "repeat": repeat,
        "ours_seconds": round(ours_seconds, 3),
        "pandas_seconds": round(pandas_seconds, 3),
        "ratio": round(ours_seconds / pandas_seconds, 4),
        "tuned_pandas_seconds": round(tuned_seconds, 3),
        "tuned_ratio": round(tuned_ratio, 4),
        "tuned_target_met": tuned_ratio <= 0.1,
        "ours_cpu_seconds": round(ours_cpu, 3),
        "pandas_cpu_seconds": round(pandas_cpu, 3),
        "tuned_pandas_cpu_seconds": round(tuned_cpu, 3),
        "tuned_ratio_cpu": round(ours_cpu / tuned_cpu, 4),
        "load_average": round(load, 1),
        "identical": not problems and spot_mismatches == 0,
        "peak_rss_mib": round(peak_mib),
        "cpu_ms_per_step": {k: [round(a, 2), round(b, 2)] for k, (a, b) in steps.items()},
    }
    print(json.dumps(report))
    if not report["identical"]:
        raise SystemExit("results differ")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sample", type=int, default=300, help="customers re-checked one by one")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side (median)")
    args = parser.parse_args()
    main(args.customers, args.seed, args.sample, args.repeat)
