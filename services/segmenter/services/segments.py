"""Segments: definitions, preview, materialised membership, and the nightly recompute.

Membership is kept two ways at once: on the profile (`segments`, so each event can diff
before/after cheaply) and as member items (so a segment's members page without a scan).
Built-in segments exist for every shop without being stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from segmenter.domain.definitions import DerivedChange, MemberCounts, SegmentDefinition
from segmenter.domain.errors import SegmentLimitReached
from segmenter.domain.segments import builtin
from segmenter.services.ports import (
    ProductStore,
    ProfileStore,
    SegmentLists,
    SegmentStore,
    SettingStore,
)
from shared.adapters.dynamodb import Position
from shared.errors import Conflict, InvalidInput, NotFound
from shared.log import get_logger
from shared.ttl_cache import TtlCache

if TYPE_CHECKING:  # membership, profiles, recommendations and the event contracts load on first use
    # (and the rule language and RFM scoring: a segment list needs neither)
    from segmenter.domain.membership import CompiledSegment
    from segmenter.domain.model import Profile, RfmScore
    from segmenter.domain.segments import rfm
    from segmenter.domain.segments.batch import RfmPools
    from segmenter.domain.segments.stored import StoredProfiles
    from segmenter.services.recompute import AppliedScores, RecomputeSummary
    from shared.adapters.eventbridge import EventPublisher
    from shared.contracts.envelope import EventEnvelope

SEGMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_CUSTOM_SEGMENTS = 50
"""Per shop, besides the built-ins: bounds the membership changes one event can cause (an
event is one DynamoDB transaction of at most 100 items)."""
_log = get_logger("kizuna.segments")


def _check_id(segment_id: str) -> None:
    if not SEGMENT_ID.match(segment_id) or segment_id.startswith("builtin"):
        raise InvalidInput("segment id must be 1-63 of a-z, 0-9, '_' or '-'", field="segment_id")


def builtin_definitions() -> list[SegmentDefinition]:
    return [
        SegmentDefinition(
            segment_id=b.id,
            name=f"{b.name_ja} / {b.name_en}",
            rule=dict(b.rule_json),
            description=b.description,
            builtin=True,
        )
        for b in builtin.BUILTIN_SEGMENTS
    ]


class SegmentCache:
    """Compiled segment rules per shop, kept for a minute in a warm Lambda so an event
    costs no extra read; a definition change invalidates it in this process."""

    def __init__(
        self,
        repo: SegmentStore,
        ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repo = repo
        self._by_shop: TtlCache[str, list[CompiledSegment]] = TtlCache(ttl_seconds, monotonic)

    @cached_property
    def _builtin(self) -> list[CompiledSegment]:
        """The built-in rules, compiled when an event or preview first needs them (a list
        of segments does not)."""
        from segmenter.domain.membership import compile_segments

        return compile_segments((d.segment_id, d.rule) for d in builtin_definitions())

    def segments(self, shop_id: str, known: Iterable[str] = ()) -> list[CompiledSegment]:
        """The shop's segments; re-read when the cache is old or lacks one of `known` (a
        segment created in another process within the minute). A segment still tagging
        its listed customers is left out: nothing counts it or lists its members yet."""
        from segmenter.domain.membership import compile_segments

        cached = self._by_shop.fresh(shop_id)
        if cached is not None and set(known) <= {s.segment_id for s in cached.value}:
            return cached.value
        custom = compile_segments(
            (d.segment_id, d.rule) for d in self._repo.list_segments(shop_id) if not d.tagging
        )
        compiled = [*self._builtin, *custom]
        self._by_shop.put(shop_id, compiled)
        return compiled

    def changes(
        self, profile: Profile, now: datetime
    ) -> tuple[frozenset[str], list[str], list[str]]:
        """(segments now, entered, exited) for a profile whose stored `segments` were right
        before the event. A segment deleted since is dropped without an exit."""
        from segmenter.domain.membership import memberships

        compiled = self.segments(profile.shop_id, known=profile.segments)
        before = profile.segments & {s.segment_id for s in compiled}
        after = memberships(profile, compiled, now)
        return after, sorted(after - before), sorted(before - after)

    def activity_windows(self, shop_id: str) -> dict[str, int | None]:
        """The activity history the shop's segments read: what an event loads."""
        from shared.segment_rules.rules import rule_activity_windows

        return rule_activity_windows(s.rule for s in self.segments(shop_id))

    def invalidate(self, shop_id: str) -> None:
        self._by_shop.drop(shop_id)


class Segments:
    """Segment definitions, previews, members and exports, the shop's RFM config, and
    the recompute (the API's on demand, the schedule's nightly)."""

    def __init__(
        self,
        profiles: ProfileStore,
        store: SegmentStore,
        settings: SettingStore,
        products: ProductStore,
        lists: SegmentLists,
        cache: SegmentCache,
        publisher: EventPublisher,
        clock: Callable[[], datetime],
    ) -> None:
        self._profiles = profiles
        self._store = store
        self._settings = settings
        self._products = products
        self._lists = lists
        self._cache = cache
        self._publisher = publisher
        self._clock = clock

    def definitions(self, shop_id: str) -> list[SegmentDefinition]:
        counts = self._store.get_member_counts(shop_id)
        every = [
            *builtin_definitions(),
            *sorted(self._store.list_segments(shop_id), key=lambda d: d.segment_id),
        ]
        return [_counted(d, counts) for d in every]

    def page(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SegmentDefinition], Position | None]:
        """One page of `definitions` (the built-ins first, then the shop's own by id) and where
        the next starts: the shop's partition and the last built-in's id inside the
        built-ins, else the storage position of the last stored definition. Either is
        bound to the shop: another shop's cursor is an InvalidInput naming `cursor`."""
        builtins = builtin_definitions()
        ids = [d.segment_id for d in builtins]
        partition = f"SHOP#{shop_id}#SEGDEF"
        start = 0
        stored_after: Position | None = None
        if after is not None and "builtin" in after:
            if set(after) != {"pk", "builtin"} or after["pk"] != partition:
                raise InvalidInput("not a cursor of this list (pass it back as is)", field="cursor")
            if after["builtin"] not in ids:
                raise InvalidInput("not a cursor of this list (pass it back as is)", field="cursor")
            start = ids.index(after["builtin"]) + 1
        elif after is not None:
            start, stored_after = len(builtins), after
        head = builtins[start : start + limit]
        room = limit - len(head)
        stored, last = self._store.segments_page(shop_id, max(room, 1), stored_after)
        if room == 0:
            more = start + limit < len(builtins) or bool(stored)
            last = {"pk": partition, "builtin": head[-1].segment_id} if more else None
            stored = []
        counts = self._store.get_member_counts(shop_id)
        return [_counted(d, counts) for d in [*head, *stored]], last

    def get(self, shop_id: str, segment_id: str) -> SegmentDefinition:
        for definition in self.definitions(shop_id):
            if definition.segment_id == segment_id:
                return definition
        raise NotFound("segment not found", field="segment_id")

    def preview(
        self, shop_id: str, rule: dict[str, Any], sample: int = 10
    ) -> tuple[int, list[str]]:
        """How many customers a rule matches now, before saving it."""
        from segmenter.domain.membership import compile_segments, memberships

        now = self._clock()
        compiled = compile_segments([("preview", rule)])
        count, ids = 0, list[str]()
        for profile in self._profiles.iter_profiles(shop_id, now):
            if memberships(profile, compiled, now):
                count += 1
                if len(ids) < sample:
                    ids.append(profile.customer_id)
        return count, ids

    def rfm_grid(self, shop_id: str) -> rfm.RfmGrid:
        """Customers per R x F cell (with revenue and mean M) and per rank, as the last
        recompute scored them: one pass over the shop's profiles, like a preview."""
        from segmenter.domain.segments import rfm

        return rfm.grid(
            (
                p.rfm.r if p.rfm else None,
                p.rfm.f if p.rfm else None,
                p.rfm.m if p.rfm else None,
                p.rfm.rank if p.rfm else None,
                float(p.stats.revenue),
            )
            for p in self._profiles.iter_profiles(shop_id)
        )

    def create(
        self, shop_id: str, segment_id: str, name: str, rule: dict[str, Any], description: str
    ) -> SegmentDefinition:
        from shared.segment_rules.rules import parse_rule

        _check_id(segment_id)
        parse_rule(rule)  # a RuleError names the bad node
        self._check_new(shop_id, segment_id)
        definition = SegmentDefinition(segment_id, name, rule, description, False, self._clock())
        return self._put_new(shop_id, definition)

    def _put_new(self, shop_id: str, definition: SegmentDefinition) -> SegmentDefinition:
        """Stores a checked definition and asks the event function to count it."""
        from shared.contracts import details
        from shared.contracts.envelope import EventEnvelope, derived_event_id

        now = self._clock()
        segment_id = definition.segment_id
        self._store.put_segment(shop_id, definition)
        self._store.forget_member_count(shop_id, segment_id)  # a deleted namesake's count
        self._cache.invalidate(shop_id)
        detail = details.SegmentsRecomputeRequested(segment_id=segment_id, requested_at=now)
        self._publisher.publish(
            [
                EventEnvelope(
                    id=derived_event_id("segment-created", segment_id, now.isoformat()),
                    shop=shop_id,
                    type="segments.recompute_requested",
                    time=now,
                    detail=detail.model_dump(mode="json"),
                )
            ]
        )
        return definition

    def _check_new(self, shop_id: str, segment_id: str) -> None:
        """Refuses an id that exists, or a shop at its limit of segments."""
        if any(d.segment_id == segment_id for d in self.definitions(shop_id)):
            raise Conflict(f"segment '{segment_id}' already exists", field="segment_id")
        if len(self._store.list_segments(shop_id)) >= MAX_CUSTOM_SEGMENTS:
            raise SegmentLimitReached(
                f"a shop can define at most {MAX_CUSTOM_SEGMENTS} segments; delete one first",
                field="segment_id",
            )

    def create_for_customers(
        self,
        shop_id: str,
        segment_id: str,
        name: str,
        description: str,
        tag: str,
        customer_ids: Sequence[str],
    ) -> SegmentDefinition:
        """A segment of exactly these customers (an earlier month's cell, which no rule
        over today's profiles can name), of any size: the segment is `tags contains tag`,
        so it works everywhere a segment does (campaigns, journeys, exports). The call
        checks, keeps the ids as one object and stores the definition as `tagging`; the
        event function tags the customers (`recompute_requested`), then counts it."""
        _check_id(segment_id)
        self._check_new(shop_id, segment_id)
        self._lists.put_listed(shop_id, segment_id, tag, sorted(set(customer_ids)))
        rule = {"all": [{"field": "tags", "op": "contains", "value": tag}]}
        definition = SegmentDefinition(
            segment_id, name, rule, description, False, self._clock(), tagging=True
        )
        return self._put_new(shop_id, definition)

    def create_listed(
        self,
        shop_id: str,
        segment_id: str,
        name: str,
        description: str,
        customer_ids: Sequence[str],
    ) -> SegmentDefinition:
        """A segment of the customers another service listed (a campaign's clickers, a
        journey step's people): the saved cell's way, under a tag of its own that names the
        segment and the moment, so a segment deleted and made again under the same id
        does not take back the first one's customers. Ids of no customer tag nobody."""
        tag = f"list:{segment_id}@{self._clock().strftime('%Y%m%dT%H%M%S%f')}"
        return self.create_for_customers(shop_id, segment_id, name, description, tag, customer_ids)

    def recompute_requested(self, shop_id: str, segment_id: str) -> dict[str, Any]:
        """The recompute a segment's creation asked for (the event function's, not the API
        call's), after tagging its listed customers if it has them. Redo-safe like every
        recompute: a redelivered request computes again and tags nobody twice."""
        tagged = self._tag_listed(shop_id, segment_id)
        summary = self.recompute(shop_id, self._clock())
        return {"shop": shop_id, "segment_id": segment_id, "tagged": tagged, **summary.as_dict()}

    def _tag_listed(self, shop_id: str, segment_id: str) -> int:
        """Tags a `tagging` segment's listed customers (a conditional write each: one tagged
        by an earlier, stopped delivery is not tagged again), then lets recomputes count
        it and drops the list. How many were tagged now."""
        stored = {d.segment_id: d for d in self._store.list_segments(shop_id)}
        definition = stored.get(segment_id)
        if definition is None or not definition.tagging:
            return 0
        listed = self._lists.get_listed(shop_id, segment_id)
        if listed is None:
            raise RuntimeError(f"segment {segment_id} is tagging but its list is missing")
        tag, customer_ids = listed
        tagged = sum(self._profiles.add_tag(shop_id, c, tag) for c in customer_ids)
        self._store.mark_tagged(shop_id, segment_id)
        self._lists.delete_listed(shop_id, segment_id)
        self._cache.invalidate(shop_id)
        return tagged

    def delete(self, shop_id: str, segment_id: str) -> None:
        definition = self.get(shop_id, segment_id)
        if definition.builtin:
            raise Conflict("built-in segments cannot be deleted", field="segment_id")
        self._store.delete_segment(shop_id, segment_id)
        if definition.tagging:
            self._lists.delete_listed(shop_id, segment_id)
        self._cache.invalidate(shop_id)

    def members(
        self, shop_id: str, segment_id: str, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        self.get(shop_id, segment_id)
        return self._store.segment_members(shop_id, segment_id, limit, cursor)

    def member_profiles(self, shop_id: str, segment_id: str, page: int = 100) -> Iterator[Profile]:
        """Every member's profile, page by page (for exports). Checks the segment exists
        before the first page is asked for."""
        self.get(shop_id, segment_id)
        return self._member_pages(shop_id, segment_id, page)

    def _member_pages(self, shop_id: str, segment_id: str, page: int) -> Iterator[Profile]:
        cursor: str | None = None
        while True:
            ids, cursor = self._store.segment_members(shop_id, segment_id, page, cursor)
            yield from self._profiles.get_profiles(shop_id, ids)
            if cursor is None:
                return

    def refresh_shops(self, shop_ids: Iterable[str]) -> dict[str, Any]:
        """Nightly, every shop: RFM ranks, all segments (relative dates move overnight),
        recommendations. Each shop on its own: one that fails is logged, retried once,
        named in the result, and does not stop the shops after it."""
        from shared.scheduled import for_each_shop

        now = self._clock()
        run = for_each_shop(
            "nightly-recompute", shop_ids, lambda shop_id: self.refresh(shop_id, now).as_dict()
        )
        return {"shops": run.results, **run.report()}

    def refresh(self, shop_id: str, now: datetime | None = None) -> RecomputeSummary:
        """Recompute the shop's segments and rebuild its recommendation model: what the
        API's recompute and the nightly schedule both run."""
        from segmenter.domain.recommend import build_model

        now = now or self._clock()
        summary = self.recompute(shop_id, now)
        model = build_model(self._profiles.iter_profiles(shop_id, now), now)
        self._products.put_reco_model(shop_id, model)
        return summary

    def rebuild_recommendations(self, shop_id: str, now: datetime) -> None:
        """The shop's recommendation model from its profiles as they are now."""
        from segmenter.domain.recommend import build_model

        model = build_model(self._profiles.iter_profiles(shop_id, now), now)
        self._products.put_reco_model(shop_id, model)

    def store_recommendations(self, shop_id: str, model: dict[str, object]) -> None:
        """A model the nightly fan-out built from its children's counts."""
        self._products.put_reco_model(shop_id, model)

    def refresh_after_clv(self, shop_id: str, now: datetime) -> RecomputeSummary | None:
        """After the analytics pass stored new CLV scores: recompute the shop's segments if
        one of them reads a CLV field (p_alive & co.), so "churn risk" follows tonight's
        scores, not yesterday's (the nightly recompute runs before the pass). None: no
        segment reads them, nothing to do."""
        from shared.segment_rules.facts import CLV_FIELDS
        from shared.segment_rules.rules import rule_fields

        self._cache.invalidate(shop_id)
        if not any(rule_fields(s.rule) & CLV_FIELDS for s in self._cache.segments(shop_id)):
            return None
        return self.recompute(shop_id, now)

    def recompute(
        self, shop_id: str, now: datetime, rfm_config: rfm.RfmConfig | None = None
    ) -> RecomputeSummary:
        """Nightly: RFM scores by quantile over the whole shop, every segment re-evaluated
        (relative dates move without events) column-wise per time zone
        (`shop_memberships`, the only path that loads numpy), membership diffs published
        and written.

        Redo-safe: the entries and exits are published first, with ids derived from the
        transition and the profile version it was computed from, then member items are
        written, then the profiles. A run that stops part way leaves the profiles as they
        were, so the next run finds the same transitions, publishes the same ids
        (consumers drop the repeats) and finishes the writes.

        The counts are put last, at `now` (`counted_at`), and replace what events added
        since the last recount; events then add to them again. An event that lands on a
        profile after this run read it, before the counts are put, waits for the next
        recount to be counted."""
        from segmenter.domain.membership import shop_rfm

        self._cache.invalidate(shop_id)
        compiled = self._cache.segments(shop_id)
        profiles = list(self._profiles.iter_profiles(shop_id, now))
        scores = shop_rfm(profiles, now, rfm_config or self.rfm_config(shop_id))
        applied = self.apply_scores(shop_id, profiles, scores, compiled, now)
        self._store.put_member_counts(shop_id, applied.counts, now)
        return applied.summary

    def apply_scores(
        self,
        shop_id: str,
        profiles: Sequence[Profile],
        scores: Sequence[RfmScore | None],
        compiled: Sequence[CompiledSegment],
        now: datetime,
    ) -> AppliedScores:
        """Tonight's scores and memberships of `profiles` (the whole shop, or one fan-out
        child's share of it), published and written in the redo-safe order `recompute`
        describes; the counts are these profiles' only (the caller stores them)."""
        from segmenter.domain.membership import shop_memberships

        known = frozenset(s.segment_id for s in compiled)
        changes: list[DerivedChange] = []
        ranks: dict[str, int] = {}
        counts: dict[str, int] = dict.fromkeys(known, 0)  # an empty segment is computed too
        # Rules on p_alive & co. read the CLV block the analytics pass last stored.
        rescored = [replace(p, rfm=score) for p, score in zip(profiles, scores, strict=True)]
        for profile, updated, after in zip(
            profiles, rescored, shop_memberships(rescored, compiled, now), strict=True
        ):
            rfm_score = updated.rfm
            before = profile.segments & known  # a deleted segment is dropped without an exit
            for seg in after:
                counts[seg] = counts.get(seg, 0) + 1
            if rfm_score:
                ranks[rfm_score.rank] = ranks.get(rfm_score.rank, 0) + 1
            if after == profile.segments and rfm_score == profile.rfm:
                continue
            changes.append(
                DerivedChange(
                    shop_id=shop_id,
                    customer_id=profile.customer_id,
                    version=profile.version,
                    rfm=rfm_score,
                    segments=after,
                    entered=tuple(sorted(after - before)),
                    exited=tuple(sorted(before - after)),
                )
            )
        return self._publish_and_write(shop_id, len(profiles), changes, counts, ranks, now)

    def apply_stored(
        self,
        shop_id: str,
        stored: StoredProfiles,
        compiled: Sequence[CompiledSegment],
        now: datetime,
        config: rfm.RfmConfig,
        pools: RfmPools,
    ) -> AppliedScores:
        """`apply_scores` on rows read as columns (`ScanSegments.segment_columns`): scored
        against the shop's `pools`, decided column-wise (`stored.recompute_stored`), then
        published and written the same way. Every segment must run column-wise
        (`batch.supports`)."""
        from segmenter.domain.segments.stored import recompute_stored

        result = recompute_stored(shop_id, stored, compiled, now, config, pools)
        return self._publish_and_write(
            shop_id, stored.size, result.changes, result.counts, result.ranks, now
        )

    def _publish_and_write(
        self,
        shop_id: str,
        profiles: int,
        changes: list[DerivedChange],
        counts: dict[str, int],
        ranks: dict[str, int],
        now: datetime,
    ) -> AppliedScores:
        """The entries and exits published, then the member items, then the profiles:
        the redo-safe order `recompute` describes."""
        from segmenter.services.recompute import AppliedScores, RecomputeSummary

        entered_all: list[tuple[str, str]] = []
        exited_all: list[tuple[str, str]] = []
        envelopes: list[EventEnvelope] = []
        for change in changes:
            for kind, moved, into in (
                ("segment.entered", change.entered, entered_all),
                ("segment.exited", change.exited, exited_all),
            ):
                for seg in moved:
                    into.append((seg, change.customer_id))
                    envelopes.append(_membership_envelope(shop_id, kind, seg, change, now))
        self._publisher.publish(envelopes)
        self._store.set_memberships(shop_id, entered_all, exited_all)
        written = self._profiles.update_derived(changes)
        self._repair_members_of_raced(shop_id, changes, written, entered_all + exited_all)
        _log.info(
            "recomputed",
            extra={"shop": shop_id, "profiles": profiles, "changed": len(written)},
        )
        summary = RecomputeSummary(shop_id, profiles, len(entered_all), len(exited_all), ranks)
        return AppliedScores(summary, counts)

    def put_counts(self, shop_id: str, counts: Mapping[str, int], counted_at: datetime) -> None:
        """A fan-out's summed counts: every segment the shop has now (zeros too)."""
        self._cache.invalidate(shop_id)
        known = {s.segment_id for s in self._cache.segments(shop_id)}
        summed = {seg: int(counts.get(seg, 0)) for seg in known}
        self._store.put_member_counts(shop_id, summed, counted_at)

    def compiled(self, shop_id: str) -> list[CompiledSegment]:
        """The shop's segments as they are now (not the minute-old cache)."""
        self._cache.invalidate(shop_id)
        return self._cache.segments(shop_id)

    def _repair_members_of_raced(
        self,
        shop_id: str,
        changed: list[DerivedChange],
        written: list[DerivedChange],
        touched: list[tuple[str, str]],
    ) -> None:
        """A profile an event changed during the run was left to that event; its member
        items are set back to what its current segments say."""
        raced = {p.customer_id for p in changed} - {p.customer_id for p in written}
        if not raced:
            return
        current = {p.customer_id: p for p in self._profiles.get_profiles(shop_id, sorted(raced))}
        entered: list[tuple[str, str]] = []
        exited: list[tuple[str, str]] = []
        for seg, customer_id in touched:
            if customer_id not in raced:
                continue
            profile = current.get(customer_id)
            member = profile is not None and not profile.merged_into and seg in profile.segments
            (entered if member else exited).append((seg, customer_id))
        self._store.set_memberships(shop_id, entered, exited)

    def rfm_config(self, shop_id: str) -> rfm.RfmConfig:
        return rfm_config_from(self._settings.get_setting(shop_id, RFM_SETTING))

    def set_rfm_config(self, shop_id: str, data: dict[str, Any]) -> rfm.RfmConfig:
        """Fixed thresholds or quantiles for this shop's ranks; applied by the next
        recompute."""
        config = rfm_config_from(data)
        self._settings.put_setting(shop_id, RFM_SETTING, rfm_config_to(config))
        return config


def _counted(definition: SegmentDefinition, counts: MemberCounts) -> SegmentDefinition:
    count = counts.counts.get(definition.segment_id)
    return replace(
        definition,
        member_count=count,
        counted_at=counts.counted_at if count is not None else None,
    )


def _membership_envelope(
    shop_id: str, kind: str, segment_id: str, profile: DerivedChange, now: datetime
) -> EventEnvelope:
    """The id names the transition and the profile version it was computed from: a rerun
    after a crash derives the same id, a later real re-entry a new one."""
    from shared.contracts import details
    from shared.contracts.envelope import EventEnvelope, derived_event_id

    detail = details.SegmentMembershipChanged(
        segment_id=segment_id, customer_id=profile.customer_id
    )
    return EventEnvelope(
        id=derived_event_id(
            "nightly", kind, segment_id, profile.customer_id, f"v{profile.version}"
        ),
        shop=shop_id,
        type=kind,
        time=now,
        detail=detail.model_dump(mode="json"),
    )


RFM_SETTING = "rfm"


def rfm_config_from(data: dict[str, Any] | None) -> rfm.RfmConfig:
    from segmenter.domain.segments import rfm

    if not data:
        return rfm.RfmConfig()
    try:
        return rfm.RfmConfig(
            method=rfm.ScoringMethod(data["method"]),
            thresholds=rfm.RfmThresholds(
                recency_days=tuple(data["recency_days"]),
                frequency=tuple(data["frequency"]),
                monetary=tuple(data["monetary"]),
            ),
            loyal=rfm.ScoreFloor(**data["loyal"]),
            semi_loyal=rfm.ScoreFloor(**data["semi_loyal"]),
            dormant_days=int(data["dormant_days"]),
        )
    except ValueError as err:
        raise InvalidInput(str(err), field="rfm") from None


def rfm_config_to(config: rfm.RfmConfig) -> dict[str, Any]:
    t = config.thresholds
    return {
        "method": config.method.value,
        "recency_days": list(t.recency_days),
        "frequency": list(t.frequency),
        "monetary": list(t.monetary),
        "loyal": {"r": config.loyal.r, "f": config.loyal.f, "m": config.loyal.m},
        "semi_loyal": {
            "r": config.semi_loyal.r,
            "f": config.semi_loyal.f,
            "m": config.semi_loyal.m,
        },
        "dormant_days": config.dormant_days,
    }
