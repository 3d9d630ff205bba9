"""A message's previews and sends, the delivery log and redrive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Query
from pydantic import AliasPath, Field

from messenger.domain.model import TOPIC
from messenger.entrypoints.schemas.common import (
    CustomersPage,
    In,
    Out,
)
from shared.http.types import Schema

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    from messenger.services.due import Redriven
    from messenger.services.rendering import ChannelPreview
    from messenger.services.sending import SendRequest
    from messenger.services.week import WeekSources


@dataclass(frozen=True)
class DeliveryFilter:
    """The delivery log's query parameters: who, which status, and the page."""

    customer_id: str | None = None
    status: str | None = None
    limit: Annotated[int, Query(ge=1, le=500)] = 100
    cursor: Annotated[str | None, Query(description="`X-Next-Cursor` of the page before.")] = None


class PreviewCreate(In):
    customer_id: str = Field(min_length=1, max_length=128)
    channel: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)


class SmsLengthPublic(Schema):
    encoding: str
    units: int
    parts: int
    per_part: int


class ChannelPreviewPublic(Schema):
    channel: str
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    line_messages: list[dict[str, Any]] | None = None
    sms_length: SmsLengthPublic | None = None

    @classmethod
    def of(cls, p: ChannelPreview) -> ChannelPreviewPublic:
        """Hand-written: each rendered type fills its own fields."""
        from messenger.domain.rendering import RenderedEmail, RenderedLine, RenderedSms

        r = p.rendered
        if isinstance(r, RenderedEmail):
            return cls(channel=p.channel, subject=r.subject, html=r.html, text=r.text)
        if isinstance(r, RenderedLine):
            return cls(channel=p.channel, text=r.preview_text, line_messages=r.line_messages())
        assert isinstance(r, RenderedSms)
        return cls(channel=p.channel, text=r.text, sms_length=SmsLengthPublic(**vars(r.length)))


class SendCreate(In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the message and the customer, what makes this send unique (e.g. an order id)."""
    variables: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=-100, le=100)
    topic: str | None = Field(default=None, pattern=TOPIC.pattern)
    """The unsubscribe topic; people who left it get nothing of it."""

    def to_request(self, shop_id: str, message_id: str) -> SendRequest:
        from messenger.services.sending import SendRequest

        return SendRequest(
            shop_id=shop_id,
            message_id=message_id,
            customer_id=self.customer_id,
            trigger=f"api:{message_id}",
            anchor=self.anchor,
            variables=self.variables,
            priority=self.priority,
            topic=self.topic,
        )


class TestSendCreate(In):
    channel: str
    to: str = Field(min_length=1, max_length=320)
    customer_id: str | None = None


class SendPublic(Out):
    delivery_id: str
    status: str
    reason: str | None
    channel: str | None
    due_at: datetime | None


class DeliveryPublic(Out):
    delivery_id: str
    trigger: str = Field(validation_alias=AliasPath("key", "trigger"))
    customer_id: str = Field(validation_alias=AliasPath("key", "customer_id"))
    anchor: str = Field(validation_alias=AliasPath("key", "anchor"))
    channel: str
    category: str
    status: str
    skip_reason: str | None
    created_at: datetime
    sent_at: datetime | None
    message_id: str | None = None
    due_at: datetime | None = None
    attempts: int = 0
    may_duplicate: bool = Field(default=False, validation_alias="outcome_unknown")
    """A dead letter whose last provider call may have reached the person anyway."""
    provider_message_id: str | None = None
    """The provider's id for what it accepted (SES, SNS, LINE's retry key): how its own
    records, and a sandbox, name this delivery's message."""


class RedriveCreate(In):
    customer_id: str = Field(min_length=1, max_length=128)
    """The customer the delivery log lists the dead letter under (deliveries are kept
    per customer, so this finds it with one read)."""


class RedrivePublic(SendPublic):
    may_duplicate: bool
    """True when the dead letter's last provider call may have reached the person (the
    call raised, or a LINE multicast went unconfirmed): this send may be a second copy."""

    @classmethod
    def of(cls, r: Redriven) -> RedrivePublic:
        """Hand-written: the send's outcome and the redrive's own flag in one object."""
        sent = SendPublic.model_validate(r.outcome).model_dump()
        return cls(**sent, may_duplicate=r.may_duplicate)


WeekMetric = Literal["sent", "opened", "clicked", "converted"]
"""`week.WEEK_METRICS`, written out for the query's schema (a test keeps them equal)."""


class WeekCustomersPublic(CustomersPage):
    """The customers behind one of the overview's week tiles (one page of them)."""

    week: date
    metric: str
    times: int
    """How many of the tile's messages they account for (one mailed twice, twice)."""
    messages: int
    """The tile's number (messages, not people): more than `times` only by journey
    messages counted before enrolments kept who they were (they cannot be listed)."""


class WeekNumbersPublic(Schema):
    """One source's messages in a week, per tile."""

    sent: int
    opened: int
    clicked: int
    converted: int


class WeekCampaignPublic(WeekNumbersPublic):
    campaign_id: str


class WeekJourneyPublic(WeekNumbersPublic):
    """One journey's messages in the week."""

    journey_id: str | None
    """None: messages counted before the week's totals named their journey."""
    name: str | None


class WeekSourcesPublic(Schema):
    """The week tiles' numbers split by source: each campaign scheduled in the week, each
    journey (`journey_rows`, by name) and the journeys' sum (`journeys`). Campaigns and
    journeys add up to the tiles' `messages`."""

    week: date
    campaigns: list[WeekCampaignPublic]
    journeys: WeekNumbersPublic
    journey_rows: list[WeekJourneyPublic]
    people: WeekNumbersPublic | None = Field(
        description='The distinct customers behind each tile (the tiles\' "M人"), '
        "campaigns' and journeys' together, from counters written with the messages; null "
        "for a week before the shop's people mark (`kizuna backfill`): then the drill-down's "
        "`count`."
    )

    @classmethod
    def of(cls, found: WeekSources) -> WeekSourcesPublic:
        """Hand-written: the service keeps (id, numbers) pairs."""
        return cls(
            week=found.week,
            campaigns=[WeekCampaignPublic(campaign_id=i, **n) for i, n in found.campaigns],
            journey_rows=[
                WeekJourneyPublic(journey_id=j.journey_id, name=j.name, **j.numbers)
                for j in found.by_journey
            ],
            journeys=WeekNumbersPublic(**found.journeys),
            people=None if found.people is None else WeekNumbersPublic(**found.people),
        )
