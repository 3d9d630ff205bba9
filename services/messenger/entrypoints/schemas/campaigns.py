"""Campaigns and their results."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BeforeValidator, Field

from messenger.domain.model import TOPIC
from messenger.entrypoints.schemas.common import (
    ID_PATTERN,
    CustomersPage,
    In,
    Out,
    in_units_of,
    plain,
)
from shared.http.types import Schema, Timestamp

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    from messenger.domain.campaign import Campaign
    from messenger.services.campaigns import CampaignResults


class VariantIn(In):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    message_id: str = Field(pattern=ID_PATTERN)


class CampaignCreate(In):
    campaign_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    segment_id: str = Field(min_length=1, max_length=128)
    variants: list[VariantIn] = Field(min_length=1, max_length=8)
    """One variant: a plain campaign. Several: an A/B/n test (subject or content)."""
    scheduled_at: Timestamp | None = None
    """When to start; now if omitted."""
    metric: Literal["opens", "clicks"] = "opens"
    wave_size: int = Field(default=500, ge=1, le=100_000)
    wave_interval_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)
    """Wait between waves; default 60 for an A/B test (opens need time), 0 otherwise."""
    topic: str = Field(default="newsletter", pattern=TOPIC.pattern)
    """The unsubscribe topic: its mails' link lets a person leave just this topic."""

    def to_domain(self, shop_id: str, now: datetime) -> Campaign:
        from messenger.domain.campaign import Campaign, Variant

        interval = self.wave_interval_minutes
        if interval is None:
            interval = 60 if len(self.variants) > 1 else 0
        return Campaign(
            campaign_id=self.campaign_id,
            shop_id=shop_id,
            name=self.name,
            segment_id=self.segment_id,
            variants=tuple(Variant(v.name, v.message_id) for v in self.variants),
            scheduled_at=self.scheduled_at or now,
            metric=self.metric,
            wave_size=self.wave_size,
            wave_interval=timedelta(minutes=interval),
            created_at=now,
            topic=self.topic,
        )


class CampaignPublic(Out):
    campaign_id: str
    name: str
    segment_id: str
    variants: list[Annotated[dict[str, str], BeforeValidator(plain)]]
    scheduled_at: datetime
    metric: str
    wave_size: int
    wave_interval_minutes: Annotated[float, in_units_of(timedelta(minutes=1))] = Field(
        validation_alias="wave_interval"
    )
    status: str
    processed: int
    """Audience members handed to the send path so far."""
    waves: int
    next_wave_at: datetime | None
    skipped: dict[str, int]
    completed_at: datetime | None
    topic: str


class ResultRowPublic(Out):
    sent: int
    """Handed to a provider (claimed)."""
    delivered: int
    """Accepted by the provider."""
    opened: int
    """Unique opens (a click counts as an open: images may be blocked)."""
    clicked: int
    """Unique clicks (links and LINE postbacks)."""
    converted: int
    """People with an order within the attribution window after opening or clicking."""
    revenue: Decimal


class CampaignResultsPublic(Schema):
    campaign: CampaignPublic
    total: ResultRowPublic
    by_variant: dict[str, ResultRowPublic]
    by_rank: dict[str, dict[str, ResultRowPublic]]
    """RFM rank at send time (loyal, semi_loyal, general, dormant, unranked) → variant."""
    win_probability: dict[str, float]
    """A/B: the chance each variant is the best on the test's metric."""

    @classmethod
    def of(cls, r: CampaignResults, variant: str | None = None) -> CampaignResultsPublic:
        """Hand-written: with `variant`, only that variant's rows."""
        keep = (lambda name: name == variant) if variant else (lambda name: True)
        row = ResultRowPublic.model_validate
        return cls(
            campaign=CampaignPublic.model_validate(r.campaign),
            total=row(r.total),
            by_variant={k: row(v) for k, v in r.by_variant.items() if keep(k)},
            by_rank={
                rank: {k: row(v) for k, v in rows.items() if keep(k)}
                for rank, rows in r.by_rank.items()
            },
            win_probability=r.win_probability,
        )


ResultMetric = Literal["sent", "delivered", "opened", "clicked", "converted"]
"""`campaign.RESULT_METRICS`, written out for the query's schema (a test keeps them equal)."""
ResultRank = Literal["loyal", "semi_loyal", "general", "dormant", "unranked"]
"""`campaign.RANKS` and `NO_RANK`, written out likewise."""


class CampaignCustomersPublic(CustomersPage):
    """The customers behind one count of a campaign's results (one page of them)."""

    campaign_id: str
    metric: str
    variant: str | None
    rank: str | None
