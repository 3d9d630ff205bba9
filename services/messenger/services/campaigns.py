"""Campaign use cases: create, schedule, run in waves, results; segment membership and
conversion attribution.

A campaign's sends go through the send door (`Sends.send_batch`: consent, cap, quiet hours,
the claim, fallback, tracking, LINE multicast); this module only decides who is next and
which variant they get. The journey-dispatcher tick runs `tick()`: each due campaign
gets pages of its audience until its wave is full or the tick's time budget is spent
(Lambda stops at 15 minutes; a tick stays well inside one minute so ticks never
overlap). Progress is saved after every page with a conditional write; a crash re-runs
at most one page, whose claims stop every second send.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from messenger.domain.abtest import VariantStats, thompson_split, win_probabilities
from messenger.domain.campaign import (
    ACTIVE,
    Campaign,
    CampaignStatus,
    RecipientResult,
    ResultRow,
    attributed,
    rank_of_segment,
    recipient_result,
)
from messenger.services.messages import MessageLibrary
from messenger.services.ports import CampaignRepository, RecipientRepository
from messenger.services.sending import SendRequest, Sends
from shared import clock as shared_clock
from shared.errors import Conflict, InvalidInput, NotFound
from shared.log import get_logger
from shared.paging import page_after
from shared.scheduled import ShopRun, for_each_shop

_log = get_logger("kizuna.messenger.services.campaigns")
PAGE = 100


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    by_variant: dict[str, ResultRow]
    by_rank: dict[str, dict[str, ResultRow]]
    """rank → variant → counts."""
    win_probability: dict[str, float]
    total: ResultRow


@dataclass(frozen=True)
class ResultFilter:
    """Which count of the results: `metric` (sent … converted), of one variant and one
    rank (RFM rank at send time, `unranked` without one) or of all."""

    metric: str
    variant: str | None = None
    rank: str | None = None


@dataclass(frozen=True)
class ResultCustomers:
    """One page of the people behind one count of a campaign's results; the properties
    are the names its body reads (`CustomersPage.of`)."""

    campaign: Campaign
    who: ResultFilter
    count: int
    customer_ids: list[str]
    next_after: str | None

    @property
    def campaign_id(self) -> str:
        return self.campaign.campaign_id

    @property
    def metric(self) -> str:
        return self.who.metric

    @property
    def variant(self) -> str | None:
        return self.who.variant

    @property
    def rank(self) -> str | None:
        return self.who.rank


@dataclass
class Campaigns:
    repo: CampaignRepository
    recipients: RecipientRepository
    library: MessageLibrary
    sends: Sends
    attribution_window: timedelta = timedelta(days=5)
    clock: Callable[[], datetime] = field(default=shared_clock.now)
    monotonic: Callable[[], float] = time.monotonic
    tick_seconds: float = 50.0
    """Time budget of one dispatcher tick (the schedule fires every minute)."""

    # ------------------------------------------------------------ definition
    def create(self, campaign: Campaign) -> Campaign:
        campaign.validate()
        for i, v in enumerate(campaign.variants):
            if self.library.find(campaign.shop_id, v.message_id) is None:
                raise NotFound(f"no message {v.message_id!r}", field=f"variants.{i}.message_id")
        if not self.repo.has_segment(campaign.shop_id, campaign.segment_id):
            raise NotFound(
                f"no members known for segment {campaign.segment_id!r} (the messenger learns "
                "membership from segment.entered events; older segments fill in at the "
                "segmenter's next nightly recompute)",
                field="segment_id",
            )
        self.repo.create(campaign)
        _log.info("campaign created", extra={"campaign_id": campaign.campaign_id})
        return campaign

    def get(self, shop_id: str, campaign_id: str) -> Campaign:
        found = self.repo.get(shop_id, campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return found

    def cancel(self, shop_id: str, campaign_id: str) -> Campaign:
        for _ in range(5):
            current = self.get(shop_id, campaign_id)
            if current.status not in ACTIVE:
                raise Conflict(f"campaign is already {current.status.value}", field="status")
            cancelled = replace(current, status=CampaignStatus.CANCELLED, completed_at=self.clock())
            if self.repo.save_progress(current, cancelled):
                return replace(cancelled, version=current.version + 1)
        raise Conflict("campaign kept changing; try again", field="status")

    # ------------------------------------------------------------ sending
    def tick(self) -> ShopRun[dict[str, Any]]:
        """Run every due campaign for at most `tick_seconds`, one shop at a time: a shop
        whose campaign fails is logged, retried once and named in the run's `failed`; the
        other shops' campaigns still run (the failed one is due again next tick). Results
        are per shop, then per campaign id."""
        deadline = self.monotonic() + self.tick_seconds
        by_shop: dict[str, list[str]] = {}
        for shop_id, campaign_id in self.repo.active():
            by_shop.setdefault(shop_id, []).append(campaign_id)

        def run_shop(shop_id: str) -> dict[str, Any]:
            ran: dict[str, Any] = {}
            for campaign_id in by_shop[shop_id]:
                if self.monotonic() >= deadline:
                    break
                campaign = self.repo.get(shop_id, campaign_id)
                if campaign is None or campaign.status not in ACTIVE:
                    continue
                ran[campaign_id] = self.run(campaign, deadline)
            return ran

        return for_each_shop("campaigns", by_shop, run_shop)

    def _due(self, c: Campaign, now: datetime) -> bool:
        if c.scheduled_at > now:
            return False
        return c.next_wave_at is None or c.next_wave_at <= now

    def _stats(self, c: Campaign) -> list[VariantStats]:
        raw = self.repo.stats(c.shop_id, c.campaign_id)
        metric = "opened" if c.metric == "opens" else "clicked"
        return [
            VariantStats(
                v.name, raw.get(f"delivered_{v.name}", 0), raw.get(f"{metric}_{v.name}", 0)
            )
            for v in c.variants
        ]

    def run(self, campaign: Campaign, deadline: float) -> dict[str, Any]:
        """One wave (or what is left of it) of one campaign, page by page."""
        c = campaign
        now = self.clock()
        if not self._due(c, now):
            return {"status": c.status.value, "due": False}
        if c.status is CampaignStatus.SCHEDULED:
            started = replace(c, status=CampaignStatus.RUNNING)
            if not self.repo.save_progress(c, started):
                return {"status": "contention"}
            c = replace(started, version=c.version + 1)
        sent_now = 0
        while self.monotonic() < deadline:
            stats = self._stats(c)
            in_wave = c.processed - c.waves * c.wave_size  # resumed mid-wave after a crash
            while self.monotonic() < deadline and in_wave < c.wave_size:
                members = self.repo.members(
                    c.shop_id, c.segment_id, c.cursor, min(PAGE, c.wave_size - in_wave)
                )
                if not members:
                    return self._complete(c)
                # Seeded by campaign and position: a re-run page draws the same variants.
                rng = random.Random(f"{c.campaign_id}:{c.processed}")  # noqa: S311 - not security
                variants = thompson_split(stats, len(members), rng)
                outcomes = self.sends.send_batch(
                    [
                        SendRequest(
                            shop_id=c.shop_id,
                            message_id=c.variant(variant).message_id,
                            customer_id=customer_id,
                            trigger=c.trigger,
                            anchor=c.campaign_id,
                            variables={"campaign": {"id": c.campaign_id, "variant": variant}},
                            campaign_id=c.campaign_id,
                            variant=variant,
                            topic=c.topic,
                        )
                        for customer_id, variant in zip(members, variants, strict=True)
                    ]
                )
                skipped = dict(c.skipped)
                for o in outcomes:
                    if o.status != "sent":
                        label = o.status if o.status != "skipped" else f"skipped:{o.reason}"
                        skipped[label] = skipped.get(label, 0) + 1
                sent_now += sum(1 for o in outcomes if o.status == "sent")
                after = replace(
                    c, cursor=members[-1], processed=c.processed + len(members), skipped=skipped
                )
                if not self.repo.save_progress(c, after):
                    return {"status": "contention"}
                c = replace(after, version=c.version + 1)
                in_wave += len(members)
            if in_wave < c.wave_size:
                break  # out of time mid-wave: the next tick resumes it
            # The wave is full: an A/B test waits for its results before the next one.
            after = replace(c, waves=c.waves + 1, next_wave_at=self.clock() + c.wave_interval)
            if not self.repo.save_progress(c, after):
                return {"status": "contention"}
            c = replace(after, version=c.version + 1)
            if c.wave_interval > timedelta(0):
                break
        return {"status": c.status.value, "processed": c.processed, "sent": sent_now}

    def _complete(self, c: Campaign) -> dict[str, Any]:
        done = replace(c, status=CampaignStatus.COMPLETED, completed_at=self.clock())
        self.repo.save_progress(c, done)
        _log.info("campaign completed", extra={"campaign_id": c.campaign_id})
        return {"status": done.status.value, "processed": done.processed}

    # ------------------------------------------------------------ results
    def results(self, shop_id: str, campaign_id: str) -> CampaignResults:
        c = self.get(shop_id, campaign_id)
        by_variant = {v.name: ResultRow() for v in c.variants}
        by_rank: dict[str, dict[str, ResultRow]] = {}
        total = ResultRow()
        for r in self.recipient_results(shop_id, campaign_id):
            row = r.row
            by_variant.setdefault(r.variant, ResultRow()).add(row)
            by_rank.setdefault(r.rank, {}).setdefault(r.variant, ResultRow()).add(row)
            total.add(row)
        stats = [
            VariantStats(
                name,
                row.delivered,
                row.opened if c.metric == "opens" else row.clicked,
            )
            for name, row in by_variant.items()
            if name in {v.name for v in c.variants}
        ]
        rng = random.Random(campaign_id)  # noqa: S311 - a simulation, not security
        wins = win_probabilities(stats, rng) if len(stats) > 1 else {}
        return CampaignResults(c, by_variant, by_rank, wins, total)

    def recipient_results(self, shop_id: str, campaign_id: str) -> list[RecipientResult]:
        return [recipient_result(r) for r in self.repo.records(shop_id, campaign_id)]

    def result_customers(
        self, shop_id: str, campaign_id: str, who: ResultFilter, limit: int, after: str | None
    ) -> ResultCustomers:
        """The people behind one count of the results (a metric, optionally of one
        variant and one rank), by id, a page at a time: the same records the results
        count, through the same function, so `count` is the number shown there."""
        c = self.get(shop_id, campaign_id)
        if who.variant is not None:
            check_variant(c, who.variant)
        ids = sorted(
            r.customer_id
            for r in self.recipient_results(shop_id, campaign_id)
            if r.reached(who.metric)
            and who.variant in (None, r.variant)
            and who.rank in (None, r.rank)
        )
        page, next_after = page_after(ids, limit, after)
        return ResultCustomers(c, who, len(ids), page, next_after)

    # ------------------------------------------------------------ membership
    def membership_changed(
        self, shop_id: str, segment_id: str, customer_id: str, entered: bool, at: datetime
    ) -> bool:
        """`segment.entered` / `segment.exited`: the messenger's own copy of membership
        (and, for the `rfm_*` segments, the person's rank)."""
        applied = self.repo.set_membership(shop_id, segment_id, customer_id, entered, at)
        rank = rank_of_segment(segment_id)
        if rank is not None:
            self.recipients.set_rank(shop_id, customer_id, rank, entered, at)
        return applied

    # ------------------------------------------------------------ conversions
    def order_placed(
        self, shop_id: str, customer_id: str, order_id: str, total: Decimal, placed_at: datetime
    ) -> str | None:
        """Attribute the order to the campaign the person last opened or clicked within
        the attribution window; the campaign id, or None."""
        touch = self.repo.last_touch(shop_id, customer_id)
        if touch is None or not attributed(touch, placed_at, self.attribution_window):
            return None
        if not self.repo.record_conversion(shop_id, customer_id, touch, order_id, total, placed_at):
            return None
        _log.info("conversion attributed", extra={"campaign_id": touch.campaign_id})
        return touch.campaign_id


def check_variant(campaign: Campaign, name: str) -> None:
    """A variant name from outside (an API filter) must be one of the campaign's."""
    if name not in {v.name for v in campaign.variants}:
        raise InvalidInput(f"campaign has no variant {name!r}", field="variant")
