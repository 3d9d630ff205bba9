"""Campaigns: one-shot sends of a message (or A/B/n variants) to a segment. Pure domain.

A campaign is sent in waves by the journey-dispatcher schedule: each tick takes the
next page of the segment's members (the messenger's own copy of membership, from
`segment.entered` / `segment.exited`), picks each person's variant from the current
Thompson posteriors and sends through the one send path (consent, cap, quiet hours,
exactly once). Progress (the audience cursor) is saved after each page, so a crash or a
Lambda timeout resumes where it stopped; the per-delivery claim keeps a reprocessed page
from sending twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from messenger.domain.model import check_topic
from shared.errors import InvalidInput

RANKS = ("loyal", "semi_loyal", "general", "dormant")
"""RFM ranks (優良 / 準優良 / 一般 / 休眠), from the built-in `rfm_<rank>` segments."""
RANK_SEGMENT_PREFIX = "rfm_"
NO_RANK = "unranked"
METRICS = ("opens", "clicks")
_VARIANT = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
MAX_VARIANTS = 8


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ACTIVE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})


@dataclass(frozen=True)
class Variant:
    name: str
    message_id: str


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    shop_id: str
    name: str
    segment_id: str
    variants: tuple[Variant, ...]
    scheduled_at: datetime
    metric: str = "opens"
    """What the A/B test optimises: unique opens or unique clicks per delivered message."""
    wave_size: int = 500
    """Recipients per wave (an A/B test re-reads its results between waves)."""
    wave_interval: timedelta = timedelta(0)
    """Wait between waves, so opens and clicks of one wave steer the next (A/B only)."""
    status: CampaignStatus = CampaignStatus.SCHEDULED
    created_at: datetime | None = None
    cursor: str | None = None
    """The last member id handed to the send path (the audience is walked in id order)."""
    next_wave_at: datetime | None = None
    processed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    waves: int = 0
    completed_at: datetime | None = None
    version: int = 0
    topic: str = "newsletter"
    """Its unsubscribe topic: the link in its mails lets a person leave just this topic."""

    @property
    def trigger(self) -> str:
        return f"campaign:{self.campaign_id}"

    @property
    def is_ab_test(self) -> bool:
        return len(self.variants) > 1

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise InvalidInput(f"campaign has no variant {name!r}", field="variant")

    def validate(self) -> None:
        if not self.variants:
            raise InvalidInput("a campaign needs at least one variant", field="variants")
        if len(self.variants) > MAX_VARIANTS:
            raise InvalidInput(f"at most {MAX_VARIANTS} variants", field="variants")
        names = [v.name for v in self.variants]
        for i, name in enumerate(names):
            if not _VARIANT.match(name):
                raise InvalidInput(
                    "variant names are 1-16 letters, digits, '-' or '_'",
                    field=f"variants.{i}.name",
                )
        if len(set(names)) != len(names):
            raise InvalidInput("variant names must be unique", field="variants")
        if self.metric not in METRICS:
            raise InvalidInput(f"metric must be one of {METRICS}", field="metric")
        if self.wave_size < 1:
            raise InvalidInput("wave_size must be at least 1", field="wave_size")
        check_topic(self.topic)


def rank_of_segment(segment_id: str) -> str | None:
    """`rfm_loyal` → `loyal`; None for any other segment."""
    if segment_id.startswith(RANK_SEGMENT_PREFIX):
        rank = segment_id[len(RANK_SEGMENT_PREFIX) :]
        if rank in RANKS:
            return rank
    return None


@dataclass(frozen=True)
class Touch:
    """The last open or click of a campaign message by a person (for attribution)."""

    campaign_id: str
    variant: str | None
    delivery_id: str
    at: datetime


def attributed(touch: Touch | None, order_at: datetime, window: timedelta) -> bool:
    """An order counts for the campaign the person last opened or clicked, if that was
    at most `window` before the order (and not after it)."""
    return touch is not None and touch.at <= order_at <= touch.at + window


@dataclass
class ResultRow:
    """Counts for one variant (or one variant × rank)."""

    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    revenue: str = "0"

    def add(self, other: ResultRow) -> None:
        from decimal import Decimal

        self.sent += other.sent
        self.delivered += other.delivered
        self.opened += other.opened
        self.clicked += other.clicked
        self.converted += other.converted
        self.revenue = str(Decimal(self.revenue) + Decimal(other.revenue))


RESULT_METRICS = ("sent", "delivered", "opened", "clicked", "converted")
"""The counts of a result row that are people (revenue is not)."""


@dataclass(frozen=True)
class RecipientResult:
    """One person's record of a campaign as the results count it: the results and the
    drill-down to their customers read it through this one function, so a count and
    its list cannot disagree."""

    customer_id: str
    variant: str
    rank: str
    row: ResultRow

    def reached(self, metric: str) -> bool:
        return bool(getattr(self.row, metric))


def recipient_result(record: Mapping[str, Any]) -> RecipientResult:
    """A stored campaign record (`R#<customer>`) as counted: an open is implied by a click."""
    return RecipientResult(
        customer_id=str(record["sk"]).removeprefix("R#"),
        variant=str(record.get("variant", "-")),
        rank=str(record.get("rank") or NO_RANK),
        row=ResultRow(
            sent=1,
            delivered=int(bool(record.get("delivered_at"))),
            opened=int(bool(record.get("opened_at") or record.get("clicked_at"))),
            clicked=int(bool(record.get("clicked_at"))),
            converted=int(bool(record.get("converted_at"))),
            revenue=str(record.get("revenue", 0)),
        ),
    )
