"""The customers behind the overview's week tiles (sends, opens, clicks, conversions).

The tile adds up messages: the results of the campaigns scheduled in the week and every
journey's counters of that week. This lists who they were, from the same records: the
campaigns' recipient records (through `recipient_result`, as the results count them) and
each enrolment's own copy of the week's counter (`W#<Monday>|<metric>`, written with it).

Cost: one query page per 100 campaigns (the shop's campaign list) and one query of each
week's campaign's records; per journey, one query of its counters and one of its people
(`PEOPLE#<shop>#<journey>`, every enrolment of the journey). The delivery log's time
index (`gsi1`, by creation) is not used: opens, clicks and conversions are not on the
delivery items, and a journey counts them when they happen, not when the mail was made."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from messenger.domain.campaign import Campaign
from messenger.domain.journeys.cohorts import WEEK_PREFIX
from messenger.domain.week import tally, week_counter, week_of, week_period
from messenger.services.campaigns import Campaigns
from messenger.services.ports import JourneyRepository


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
        start, end = week_period(week)
        counted: list[tuple[str, int]] = []
        messages = 0
        for c in self._campaigns(shop_id):
            if start <= c.scheduled_at < end:
                for r in self.campaigns.recipient_results(shop_id, c.campaign_id):
                    n = int(r.reached(metric))
                    counted.append((r.customer_id, n))
                    messages += n
        scope = f"{WEEK_PREFIX}{week.isoformat()}"
        name = week_counter(week, metric)
        for head in self.journeys.heads(shop_id):
            for _, found, values in self.journeys.counters(shop_id, head.journey_id):
                if found == scope:
                    messages += int(values.get(metric, 0))
            for customer_id, numbers in self.journeys.people(shop_id, head.journey_id):
                counted.append((customer_id, int(numbers.get(name, 0))))
        times = tally(counted)
        ids = sorted(times)
        first = bisect.bisect_right(ids, after) if after is not None else 0
        page = ids[first : first + limit]
        more = first + limit < len(ids)
        return WeekCustomers(
            week,
            metric,
            len(ids),
            sum(times.values()),
            messages,
            page,
            page[-1] if more and page else None,
        )
