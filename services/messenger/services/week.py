"""The customers behind the overview's week tiles (sends, opens, clicks, conversions).

The tile adds up messages: the results of the campaigns scheduled in the week and every
journey's counters of that week. This lists who they were, from the same records: the
campaigns' recipient records (through `recipient_result`, as the results count them) and
each enrolment's own share of the week's counters, written with them.

Cost of a page, on every page: one GetItem (from which Monday the week partitions are
whole: `WEEKS#<shop>`), one Query of the week's campaigns (`WEEK#<Monday>#CAMPAIGN#`) and
one of each such campaign's records, and one Query of the week's partition (every
enrolment's share and the week's totals; a page a megabyte, several thousand shares). A
week before that Monday (`kizuna shop create` marks a new shop's first week, `kizuna
backfill` an upgraded shop's next one; an upgraded shop's weeks
before it hold shares counted by older code in no week partition) is read the old way:
the shop's campaign list, and per journey its counters and every enrolment's copy of its
numbers (`PEOPLE#<shop>#<journey>`), where a count made before the copies existed is
said apart (`messages` more than `times`). The delivery log's time index is not used:
opens, clicks and conversions are not on the delivery items, and a journey counts them
when they happen, not when the mail was made.

The split by source (`sources`, the overview's table) reads no record: two GetItems (the
marks of `WEEKS#<shop>`), one Query of the week's campaigns, one BatchGetItem per 100 of
them (each campaign's week figures, counted into its STATS item in the transaction that
writes the record's time of each, under the record's condition), one Query of the week
partition's total shards (per journey: `T#<journey>#<shard>`) and one of the journeys'
heads (their names): the same however many people the campaigns reached. A week before
the campaigns' mark (`kizuna backfill` sets it to the Monday after it ran) reads each of
its campaigns' records, as before.

The people behind each tile (`people`, the overview's "M人", and a page's `count`) in a
week the people mark covers: one GetItem (the mark) and one Query of the week's people
counts (`WEEKPEOPLE#<shop>#<Monday>`, at most 64 shards), counted once per person, week
and metric in the transaction that records the message (a mark in the person's
partition); erasure removes the marks and leaves the counts, so after one a page lists a
person fewer than its `count`. Before the mark: `people` None, `count` from the records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from messenger.domain.campaign import Campaign
from messenger.domain.journeys.cohorts import WEEK_PREFIX
from messenger.domain.journeys.records import JourneyHead
from messenger.domain.week import WEEK_METRICS, tally, week_counter, week_of, week_period
from messenger.services.campaigns import Campaigns
from messenger.services.ports import JourneyRepository
from shared.paging import page_after


@dataclass(frozen=True)
class WeekCustomers:
    """One page of the people behind one week tile."""

    week: date
    metric: str
    count: int
    """People (distinct customers) behind the tile."""
    times: int
    """How many of the tile's messages they account for (a person mailed twice, twice)."""
    messages: int
    """The tile's number: more than `times` only by journey messages counted before each
    enrolment kept its own copy of the week's counters (they cannot be listed)."""
    customer_ids: list[str]
    next_after: str | None


@dataclass(frozen=True)
class WeekJourney:
    """One journey's messages in a week, per metric."""

    journey_id: str | None
    """None: totals counted before the week's totals named their journey."""
    name: str | None
    """The journey's name (None for a journey since deleted, or for no journey)."""
    numbers: dict[str, int]


@dataclass(frozen=True)
class WeekSources:
    """What the week tiles add up, split by source: each campaign of the week, each
    journey, and the journeys' sum."""

    week: date
    campaigns: list[tuple[str, dict[str, int]]]
    """(campaign id, its messages per metric), in the order the week lists them."""
    journeys: dict[str, int]
    by_journey: list[WeekJourney]
    """Each journey that counted something in the week, by name; they add up to
    `journeys`."""
    people: dict[str, int] | None
    """The distinct people behind each tile (campaigns' and journeys' together), from
    counters; None in a week before the people mark (the drill-down's `count` then)."""


@dataclass(frozen=True)
class WeekPeople:
    campaigns: Campaigns
    journeys: JourneyRepository

    def _campaigns(self, shop_id: str) -> Iterator[Campaign]:
        found, after = self.campaigns.repo.campaigns_page(shop_id, 100, None)
        yield from found
        while after is not None:
            found, after = self.campaigns.repo.campaigns_page(shop_id, 100, after)
            yield from found

    def customers(
        self, shop_id: str, week: date | None, metric: str, limit: int, after: str | None
    ) -> WeekCustomers:
        """The customers behind a week's `metric` (sent, opened, clicked, converted), by
        id, a page at a time; this week's (the platform's clock) when no week is named."""
        week = week or week_of(self.campaigns.clock())
        indexed, campaigns = self._week_campaigns(shop_id, week)
        counted: list[tuple[str, int]] = []
        messages = 0
        for campaign_id in campaigns:
            for r in self.campaigns.recipient_results(shop_id, campaign_id):
                n = int(r.reached(metric))
                counted.append((r.customer_id, n))
                messages += n
        if indexed:
            shares, totals = self.journeys.week(shop_id, week.isoformat())
            counted += [(customer_id, int(n.get(metric, 0))) for customer_id, n in shares]
            messages += totals.get(metric, 0)
        else:
            messages += self._journeys_before(shop_id, week, metric, counted)
        times = tally(counted)
        ids = sorted(times)
        page, next_after = page_after(ids, limit, after)
        people = self._people(shop_id, week)
        count = len(ids) if people is None else people[metric]
        return WeekCustomers(week, metric, count, sum(times.values()), messages, page, next_after)

    def _week_campaigns(self, shop_id: str, week: date) -> tuple[bool, list[str]]:
        """Whether the week is indexed, and its campaigns: from the week's index when it
        is, else from the shop's campaign list (every page)."""
        start, end = week_period(week)
        since = self.journeys.weeks_since(shop_id)
        if since is not None and week.isoformat() >= since:
            return True, self.campaigns.repo.week_campaigns(shop_id, week)
        return False, [
            c.campaign_id for c in self._campaigns(shop_id) if start <= c.scheduled_at < end
        ]

    def sources(self, shop_id: str, week: date | None) -> WeekSources:
        """The week tiles' numbers split by source, every metric at once. Each campaign's
        figures from its counters (`week_figures`: the same whatever the number of people
        it reached) in a week whose campaign figures are whole, else from its records;
        each journey's from the week partition's totals (not its shares) in a whole week,
        else from its counters."""
        week = week or week_of(self.campaigns.clock())
        indexed, ids = self._week_campaigns(shop_id, week)
        since = self.journeys.weeks_since(shop_id, "campaigns")
        if indexed and since is not None and week.isoformat() >= since:
            figures = self.campaigns.repo.week_figures(shop_id, ids)
        else:
            figures = {i: self._recount(shop_id, i) for i in ids}
        campaigns = [(i, figures[i]) for i in ids]
        heads = self.journeys.heads(shop_id)
        names = {h.journey_id: h.name for h in heads}
        if indexed:
            totals = self.journeys.week_totals(shop_id, week.isoformat())
        else:
            totals = self._journey_counters_before(shop_id, week, heads)
        rows = [
            WeekJourney(j, names.get(j) if j else None, {m: int(n.get(m, 0)) for m in WEEK_METRICS})
            for j, n in totals.items()
        ]
        rows.sort(key=lambda r: (r.journey_id is None, r.name or "", r.journey_id or ""))
        journeys = {m: sum(r.numbers[m] for r in rows) for m in WEEK_METRICS}
        return WeekSources(week, campaigns, journeys, rows, self._people(shop_id, week))

    def _people(self, shop_id: str, week: date) -> dict[str, int] | None:
        """The week's distinct people per metric from their counters (one Query of at
        most 64 shards), or None in a week before the people mark."""
        since = self.journeys.weeks_since(shop_id, "people")
        if since is None or week.isoformat() < since:
            return None
        return self.journeys.week_people(shop_id, week.isoformat())

    def _recount(self, shop_id: str, campaign_id: str) -> dict[str, int]:
        """A campaign's week figures from every one of its records (weeks before the
        campaigns' figures were counted)."""
        results = self.campaigns.recipient_results(shop_id, campaign_id)
        return {m: sum(r.reached(m) for r in results) for m in WEEK_METRICS}

    def _journey_counters_before(
        self, shop_id: str, week: date, heads: list[JourneyHead]
    ) -> dict[str | None, dict[str, int]]:
        """A week before the week partitions were whole: each journey's counters of it."""
        scope = f"{WEEK_PREFIX}{week.isoformat()}"
        totals: dict[str | None, dict[str, int]] = {}
        for head in heads:
            for _, found, values in self.journeys.counters(shop_id, head.journey_id):
                if found == scope:
                    mine = totals.setdefault(head.journey_id, dict.fromkeys(WEEK_METRICS, 0))
                    for m in WEEK_METRICS:
                        mine[m] += int(values.get(m, 0))
        return totals

    def _journeys_before(
        self, shop_id: str, week: date, metric: str, counted: list[tuple[str, int]]
    ) -> int:
        """A week before the week partitions were whole: every journey's counters of it
        (the messages) and every enrolment's copy of its numbers (added to `counted`)."""
        messages = 0
        scope = f"{WEEK_PREFIX}{week.isoformat()}"
        name = week_counter(week, metric)
        for head in self.journeys.heads(shop_id):
            for _, found, values in self.journeys.counters(shop_id, head.journey_id):
                if found == scope:
                    messages += int(values.get(metric, 0))
            for customer_id, numbers in self.journeys.people(shop_id, head.journey_id):
                counted.append((customer_id, int(numbers.get(name, 0))))
        return messages

    def new_shop(self, shop_id: str) -> str:
        """A new shop's weeks are whole from this one: nothing of it was counted by code
        older than the week partitions and the campaigns' week figures. The first whole
        Monday kept."""
        monday = week_of(self.campaigns.clock()).isoformat()
        self.journeys.mark_weeks_since(shop_id, monday, "campaigns")
        self.journeys.mark_weeks_since(shop_id, monday, "people")
        return self.journeys.mark_weeks_since(shop_id, monday)

    def index_weeks(self, shop_id: str) -> dict[str, object]:
        """The backfill: every campaign listed under its week, then next Monday marked
        as the first whole week, of the journeys' partitions and of the campaigns' week
        figures (every count from then on is made by the code running now: a campaign
        of an earlier week is counted from its records, as it was). A second run changes
        nothing."""
        campaigns = list(self._campaigns(shop_id))
        for c in campaigns:
            self.campaigns.repo.index_week(c)
        monday = (week_of(self.campaigns.clock()) + timedelta(days=7)).isoformat()
        counted = self.journeys.mark_weeks_since(shop_id, monday, "campaigns")
        people = self.journeys.mark_weeks_since(shop_id, monday, "people")
        since = self.journeys.mark_weeks_since(shop_id, monday)
        return {
            "campaigns": len(campaigns),
            "campaigns_since": counted,
            "people_since": people,
            "whole_since": since,
        }
