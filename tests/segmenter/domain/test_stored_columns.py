"""The nightly apply step reads its rows as columns straight from the stored items
(`profile_columns` + `StoredColumns.build`) instead of decoding profiles and building the
table through `profile_facts` + `ProfileTable.from_facts`. On a varied shop (time zones
on both sides of the date line and an unknown one, missing and empty values, decimals
that round, consents and left topics, merged profiles, heavy histories past their
limits, kinds the engine does not know), both give the same table, and the apply step
decides the same writes and events."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from segmenter.adapters.profile_columns import add_activities, add_profile
from segmenter.adapters.repository import _activity_items, _profile_item
from segmenter.domain.definitions import DerivedChange
from segmenter.domain.membership import (
    CompiledSegment,
    compile_segments,
    profile_facts,
    rfm_table,
    shop_rfm,
)
from segmenter.domain.model import (
    Activity,
    Attributes,
    ClvScore,
    Consent,
    Contact,
    OrderStats,
    Profile,
    RfmScore,
    kept_activities,
)
from segmenter.domain.segments import rfm
from segmenter.domain.segments.batch import KIND_ORDER, ProfileTable, rfm_pools, supports
from segmenter.domain.segments.stored import StoredColumns, StoredProfiles
from segmenter.services.ports import (
    ProductStore,
    ProfileStore,
    SegmentLists,
    SegmentStore,
    SettingStore,
)
from segmenter.services.segments import SegmentCache, Segments, builtin_definitions
from shared.adapters.dynamodb import from_item
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope
from shared.segment_rules.facts import FIELD_CATALOG, FieldType
from shared.segment_rules.rules import parse_rule
from tests.segmenter.domain.generators import (
    CATEGORIES,
    JST,
    PREFERENCES,
    SKUS,
    SPECIAL_DATES,
    random_rule,
)

SHOP = "stored"
NOWS = (
    datetime(2026, 11, 22, 18, 0, tzinfo=UTC),  # Tokyo and Kiritimati a day ahead of LA
    datetime(2024, 2, 28, 10, 30, tzinfo=UTC),  # Kiritimati on the 29th, the rest the 28th
)
ZONES = (None, None, "Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati", "Nowhere/X", "")
RULE_FIELDS = {"r_score", "f_score", "m_score", "rfm_rank", "age", "age_band"}
"""Set after the table is built (tonight's RFM, the local date's age): compared apart."""


def _moment(rng: random.Random, now: datetime) -> datetime:
    days = rng.choice((0, 1, 29, 30, 31, 89, 90, 364, 399, 400, 401, 1094, 1096))
    moment = now - timedelta(days=days, microseconds=rng.choice((-1, 0, 0, 1)))
    return moment.astimezone(rng.choice((UTC, JST)))


def _history(rng: random.Random, index: int, now: datetime) -> list[Activity]:
    kinds = (*KIND_ORDER, "reviewed")  # a kind the engine does not know: kept, never read
    acts = [
        Activity(
            rng.choice(kinds),
            _moment(rng, now),
            rng.choice((*SKUS, None)),
            rng.choice((*CATEGORIES, None)),
            rng.randint(1, 3),
            rng.choice((f"o{index}-{rng.randint(0, 3)}", None)),
        )
        for _ in range(rng.randrange(0, 8))
    ]
    if index % 25 == 3:  # a heavy browser: more views than kept, ties at the cut
        tied = now - timedelta(days=20)  # the oldest: the cut falls among them
        acts += [
            Activity(
                "viewed",
                tied if k % 3 else now - timedelta(hours=k),
                f"SKU-{k % 7}",
                ref=f"e{k % 5}" if k % 2 else None,
            )
            for k in range(330)
        ]
    return acts


def _stats(rng: random.Random, now: datetime) -> OrderStats:
    orders = rng.choice((0, 0, 1, 2, 3, 5, 12))
    if not orders:
        return OrderStats()
    last = _moment(rng, now)
    first = last - timedelta(days=rng.choice((0, 13, 40, 365)), seconds=rng.randint(0, 86399))
    return OrderStats(
        order_count=orders,
        first_order_at=first,
        last_order_at=last,
        revenue=rng.choice((Decimal("3980"), Decimal("10000.005"), Decimal("7.125"), Decimal(0))),
        gross_profit=rng.choice((Decimal("1200.5"), Decimal(-3), Decimal(0))),
        categories=frozenset(c for c in CATEGORIES if rng.random() < 0.5),
        skus=frozenset(s for s in SKUS if rng.random() < 0.4),
        sale_lines=rng.randint(0, 3),
        full_price_lines=rng.randint(0, 4),
        order_hours=tuple(rng.choice((0, 0, 1, 2)) for _ in range(24)),
        first_offer=rng.choice((None, "", "WELCOME")),
        first_product=rng.choice((None, "SKU-A")),
        first_sales_channel=rng.choice((None, "", "web", "line")),
        last_sales_channel=rng.choice((None, "web", "rakuten web")),
    )


def _profile(rng: random.Random, index: int, now: datetime, segments: Sequence[str]) -> Profile:
    def maybe(value: Any) -> Any:
        return value if rng.random() < 0.6 else None

    consents = tuple(
        Consent(channel, category, rng.random() < 0.6, rng.choice((None, "", "signup")), now)
        for channel in ("email", "line", "sms")
        for category in ("marketing", "topic:step_mails", "topic:newsletter")
        if rng.random() < 0.4
    )
    return Profile(
        SHOP,
        f"c{rng.randint(0, 10**6):07d}-{index}",
        contact=Contact(
            email=maybe(f"c{index}@example.jp"), phone=maybe("+8190"), line_user_id=maybe("U1")
        ),
        attributes=Attributes(
            birthday=maybe(rng.choice(SPECIAL_DATES) if rng.random() < 0.5 else date(1990, 3, 1)),
            gender=rng.choice(("female", "male", "", None)),
            prefecture=maybe("東京都"),
            timezone=rng.choice(ZONES),
            acquisition_channel=rng.choice((None, "", "instagram")),
            created_at=maybe(_moment(rng, now)),
        ),
        consents=consents,
        stats=_stats(rng, now),
        last_viewed_at=maybe(_moment(rng, now)),
        last_carted_at=maybe(_moment(rng, now)),
        cart_skus=tuple(s for s in SKUS if rng.random() < 0.3),
        last_shipped_at=maybe(_moment(rng, now)),
        preferences={
            k: frozenset(v for v in values if rng.random() < 0.5)
            for k, values in PREFERENCES.items()
            if rng.random() < 0.6
        },
        tags=frozenset(t for t in ("x", "vip") if rng.random() < 0.3),
        rfm=maybe(RfmScore(rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 5), "general")),
        clv=maybe(
            ClvScore(
                rng.random(),
                1.5,
                rng.choice((0.25, 3.0)),
                rng.choice((None, 12000.5)),
                _moment(rng, now),
            )
        ),
        segments=frozenset(s for s in segments if rng.random() < 0.15),
        merged_into="c-other" if index % 31 == 7 else None,
        version=rng.randint(1, 9),
    )


def _shop(
    now: datetime, segments: Sequence[str], seed: int = 15
) -> tuple[list[dict[str, Any]], list[Profile]]:
    """The stored items (DynamoDB attribute values), and the profiles the profile path
    decodes from them (live ones, each with its history kept at `now`, by id)."""
    rng = random.Random(seed)
    shop = []
    for index in range(400):
        profile = _profile(rng, index, now, segments)
        shop.append((profile, _history(rng, index, now)))
    return _stored_as_items(shop, now, rng)


def _stored_as_items(
    shop: Sequence[tuple[Profile, Sequence[Activity]]], now: datetime, rng: random.Random
) -> tuple[list[dict[str, Any]], list[Profile]]:
    items: list[dict[str, Any]] = []
    for index, (profile, acts) in enumerate(shop):
        items.append(_profile_item(replace(profile, activities=()), profile.version))
        items += _activity_items(SHOP, f"e{index}", [(profile.customer_id, a) for a in acts])
    rng.shuffle(items)  # a scan returns them in no useful order
    history: dict[str, list[Activity]] = {}
    decoded = []
    for item in map(from_item, items):
        if item["sk"] == "PROFILE":
            decoded.append(_decoded_profile(item))
        else:
            history.setdefault(item["customer_id"], []).extend(_activities_of(item))
    live = sorted((p for p in decoded if p.merged_into is None), key=lambda p: p.customer_id)
    return items, [
        replace(p, activities=kept_activities(history.get(p.customer_id, []), now)) for p in live
    ]


def _decoded_profile(item: dict[str, Any]) -> Profile:
    from segmenter.adapters.codec import profile_from_dict

    return profile_from_dict(item)


def _activities_of(item: dict[str, Any]) -> list[Activity]:
    from segmenter.adapters.repository import activities_of_item

    return activities_of_item(item)


def _stored(items: Sequence[dict[str, Any]], now: datetime) -> StoredProfiles:
    columns = StoredColumns()
    for item in items:
        (add_profile if item["sk"]["S"] == "PROFILE" else add_activities)(columns, item)
    return columns.build(now)


def _row_values(table: ProfileTable) -> list[dict[str, object]]:
    """Every row's catalogue fields, activities and preferences as plain values."""
    rows: list[dict[str, object]] = [{} for _ in range(table.size)]
    for name, ftype in FIELD_CATALOG.items():
        if name in RULE_FIELDS or ftype is FieldType.SET:
            continue
        for row, out in enumerate(rows):
            out[name] = _cell(table, name, ftype, row)
    sets = [*table.sets.items(), *(("pref:" + k, v) for k, v in table.preferences.items())]
    for name, column in sets:
        held: list[set[str]] = [set() for _ in rows]
        for value, holders in column.rows_by_value.items():
            for row in holders.tolist():
                held[row].add(value)
        for row, out in enumerate(rows):
            out[name] = (bool(column.present[row]), held[row])
    acts = table.activities
    assert acts is not None
    lines: list[list[tuple[int, int, str | None, str | None]]] = [[] for _ in rows]
    for i in range(len(acts.rows)):
        sku, category = (
            None if code < 0 else column.categories[code]
            for code, column in (
                (int(acts.skus.codes[i]), acts.skus),
                (int(acts.categories.codes[i]), acts.categories),
            )
        )
        lines[int(acts.rows[i])].append((int(acts.kinds[i]), int(acts.at[i]), sku, category))
    for row, out in enumerate(rows):
        out["activities"] = sorted(lines[row], key=repr)
    return rows


def _cell(table: ProfileTable, name: str, ftype: FieldType, row: int) -> object:
    match ftype:
        case FieldType.NUMBER:
            value = float(table.numbers[name][row])
            return None if np.isnan(value) else value
        case FieldType.STRING:
            column = table.strings[name]
            code = int(column.codes[row])
            return None if code < 0 else column.categories[code]
        case FieldType.DATETIME:
            return int(table.instants[name][row])
        case FieldType.DATE:
            return int(table.days[name][row])
        case FieldType.BOOL:
            return int(table.flags[name][row])
    raise AssertionError(ftype)


@pytest.mark.parametrize("now", NOWS)
def test_the_columns_read_from_the_items_are_the_profile_paths_table(now: datetime) -> None:
    # Given a varied shop stored as items, and the profiles the profile path decodes
    items, profiles = _shop(now, ())

    # When the items are read as columns
    stored = _stored(items, now)

    # Then the rows are the live profiles, in the same order, with their versions
    assert list(stored.table.customer_ids) == [p.customer_id for p in profiles]
    assert list(stored.versions) == [p.version for p in profiles]
    assert list(stored.zones) == [p.zone.key for p in profiles]
    assert any(len(p.activities) == 300 for p in profiles)  # a history cut at its limit

    # And in each time zone, the table at the local date equals `from_facts`' table,
    # field by field and row by row (age and age band included)
    for zone in sorted(set(stored.zones)):
        rows = [i for i, z in enumerate(stored.zones) if z == zone]
        local_now = profiles[rows[0]].local_time(now)
        old = ProfileTable.from_facts([profile_facts(profiles[i], local_now) for i in rows])
        new = stored.at_local_date(local_now.date())
        old_rows, new_rows = _row_values(old), _row_values(new)
        for index, row in enumerate(rows):
            assert new_rows[row] == old_rows[index], profiles[row].customer_id
        for name in ("age", "age_band"):
            assert [_cell(new, name, FIELD_CATALOG[name], r) for r in rows] == [
                _cell(old, name, FIELD_CATALOG[name], i) for i in range(len(rows))
            ]


class Recorder(ProfileStore, SegmentStore, SettingStore, ProductStore, EventPublisher):
    """What an apply step writes and publishes, kept in order; every write lands."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []
        self.memberships: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]] = []
        self.written: list[DerivedChange] = []

    def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.events += envelopes

    def set_memberships(
        self,
        shop_id: str,
        entered: Sequence[tuple[str, str]],
        exited: Sequence[tuple[str, str]],
    ) -> None:
        self.memberships.append((list(entered), list(exited)))

    def update_derived(self, changes: Sequence[DerivedChange]) -> list[DerivedChange]:
        self.written += changes
        return list(changes)


def _segments(now: datetime) -> list[CompiledSegment]:
    """The built-ins and random rules, all of which the columnar engine runs."""
    rng = random.Random(7)
    custom = [(f"r{i}", random_rule(rng, now)) for i in range(60)]
    compiled = compile_segments([*((d.segment_id, d.rule) for d in builtin_definitions()), *custom])
    kept = [s for s in compiled if supports(s.rule)]
    assert len(kept) > 40
    return kept


@pytest.mark.parametrize("now", NOWS)
@pytest.mark.parametrize(
    "config",
    [
        rfm.RfmConfig(),
        rfm.RfmConfig(method=rfm.ScoringMethod.FIXED),
    ],
)
def test_the_apply_step_on_columns_writes_and_publishes_what_the_profile_path_does(
    now: datetime, config: rfm.RfmConfig
) -> None:
    # Given a varied shop whose profiles hold last night's scores and some segments
    # (one of them deleted since), and the shop's pools
    compiled = _segments(now)
    items, profiles = _shop(now, [*(s.segment_id for s in compiled), "deleted"])
    pools = rfm_pools(rfm_table(profiles))

    # When the apply step runs on the decoded profiles, and on the columns
    old, new = Recorder(), Recorder()
    scores = shop_rfm(profiles, now, config, pools)
    before = _use_case(old).apply_scores(SHOP, profiles, scores, compiled, now)
    after = _use_case(new).apply_stored(SHOP, _stored(items, now), compiled, now, config, pools)

    # Then both count, rank, write and publish the same, in the same order
    assert after.summary == before.summary and after.counts == before.counts
    assert new.written == old.written and len(old.written) > 100
    assert new.memberships == old.memberships
    assert [e.id for e in new.events] == [e.id for e in old.events] and old.events
    assert {c.customer_id for c in old.written} >= {
        p.customer_id for p in profiles if "deleted" in p.segments
    }


def test_a_quiet_night_rewrites_only_the_rows_holding_a_deleted_segment() -> None:
    # Given a shop as last night's apply step left it, but a few rows still hold a
    # segment deleted since
    now, config = NOWS[0], rfm.RfmConfig()
    compiled = _segments(now)
    _, profiles = _shop(now, ())
    pools = rfm_pools(rfm_table(profiles))
    scores = shop_rfm(profiles, now, config, pools)
    last_night = Recorder()
    _use_case(last_night).apply_scores(SHOP, profiles, scores, compiled, now)
    written = {c.customer_id: c for c in last_night.written}
    stale = {p.customer_id for p in profiles[::50]}
    shop = []
    for profile in profiles:
        held = written.get(profile.customer_id)
        settled = replace(profile, rfm=held.rfm, segments=held.segments) if held else profile
        if profile.customer_id in stale:
            settled = replace(settled, segments=settled.segments | {"deleted"})
        shop.append((settled, profile.activities))
    items, _ = _stored_as_items(shop, now, random.Random(1))

    # When the apply step runs on the columns
    tonight = Recorder()
    _use_case(tonight).apply_stored(SHOP, _stored(items, now), compiled, now, config, pools)

    # Then only those rows are rewritten, without the segment, and nothing is published
    assert {c.customer_id for c in tonight.written} == stale
    assert all("deleted" not in c.segments and not c.exited for c in tonight.written)
    assert tonight.events == []


def _use_case(recorder: Recorder) -> Segments:
    def clock() -> datetime:
        raise AssertionError("the apply step is given its instant")

    return Segments(
        recorder,
        recorder,
        recorder,
        recorder,
        SegmentLists(),
        SegmentCache(recorder),
        recorder,
        clock,
    )


def test_a_rule_the_columns_cannot_run_is_left_to_the_profile_path() -> None:
    # Given a rule on a topic's consent (a derived field, evaluated per customer)
    rule = parse_rule({"field": "consent.topic.step_mails", "op": "eq", "value": True})

    # Then the columnar engine reports it cannot run it (the nightly reads profiles then)
    assert not supports(rule)
