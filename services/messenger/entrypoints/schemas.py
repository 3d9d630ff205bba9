"""Request and response bodies of the messenger API (`XCreate` in, `XPublic` out)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    WithJsonSchema,
)

from messenger.adapters.journeys import JourneyHead
from messenger.domain.campaign import Campaign, ResultRow, Variant
from messenger.domain.journeys.definition import Journey
from messenger.domain.line_account import LineCredentials, LineRoute
from messenger.domain.message import Coupon, EmailContent, LineContent, Message, SmsContent
from messenger.domain.policy import QuietHours, SenderIdentity, ShopPolicy
from messenger.domain.rendering import RenderedEmail, RenderedLine, RenderedSms
from messenger.services.campaigns import CampaignResults
from messenger.services.due import Redriven
from messenger.services.line_accounts import LineChannelStatus
from messenger.services.rendering import ChannelPreview
from messenger.services.sending import SendOutcome, SendRequest
from shared.http.types import Timestamp

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _local_time(value: Any) -> Any:
    """Quiet hours are wall-clock times in each person's own time zone: an offset
    ("21:00+09:00") has no meaning there and made every later send fail."""
    if isinstance(value, str) and not re.fullmatch(LOCAL_TIME_PATTERN, value):
        raise ValueError("a local time HH:MM or HH:MM:SS without a UTC offset, e.g. 21:00")
    if isinstance(value, time) and value.tzinfo is not None:
        raise ValueError("a local time without a UTC offset, e.g. 21:00")
    return value


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_TIME_PATTERN,
            "description": "Wall-clock time HH:MM[:SS], no UTC offset.",
            "examples": ["21:00"],
        }
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailContentIn(_In):
    subject: str = Field(min_length=1, max_length=2000)
    html: str = Field(min_length=1, max_length=200_000)
    text: str = Field(min_length=1, max_length=100_000)


class LineContentIn(_In):
    """A text or a flex message (LINE's own JSON, with template strings), checked against
    LINE's Messaging API spec when it is saved."""

    text: str | None = Field(default=None, max_length=5000)
    flex: dict[str, Any] | None = None
    alt_text: str | None = Field(default=None, max_length=1500)
    quick_reply: list[dict[str, Any]] = Field(default_factory=list, max_length=13)
    """LINE quick reply items (`{"type": "action", "action": {...}, "imageUrl": ...}`);
    actions: postback, message, uri, datetimepicker, camera, cameraRoll, location,
    clipboard."""

    def to_domain(self) -> LineContent:
        return LineContent(
            text=self.text,
            flex=self.flex,
            alt_text=self.alt_text,
            quick_reply=tuple(self.quick_reply),
        )


class SmsContentIn(_In):
    text: str = Field(min_length=1, max_length=670)


class CouponIn(_In):
    code: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    expires_at: Timestamp | None = None


class MessageCreate(_In):
    message_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    category: str = "marketing"
    priority: int = Field(default=0, ge=-100, le=100)
    email: EmailContentIn | None = None
    line: LineContentIn | None = None
    sms: SmsContentIn | None = None
    coupon: CouponIn | None = None
    recommendations: int = Field(default=0, ge=0, le=10)
    send_at_active_hour: bool = False
    valid_for_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 60,
        description="A deadline for content that goes stale (a flash sale): a send that has "
        "to wait longer (frequency cap, quiet hours) is dropped as `expired:<why>`. Omitted: "
        "the shop's cap window plus 2 days, so a capped send waits for the next free slot.",
    )

    def to_domain(self, shop_id: str, now: datetime) -> Message:
        return Message(
            message_id=self.message_id,
            shop_id=shop_id,
            name=self.name,
            category=self.category,
            priority=self.priority,
            email=EmailContent(**self.email.model_dump()) if self.email else None,
            line=self.line.to_domain() if self.line else None,
            sms=SmsContent(**self.sms.model_dump()) if self.sms else None,
            coupon=Coupon(**self.coupon.model_dump()) if self.coupon else None,
            recommendations=self.recommendations,
            send_at_active_hour=self.send_at_active_hour,
            valid_for=(
                timedelta(hours=self.valid_for_hours) if self.valid_for_hours is not None else None
            ),
            created_at=now,
        )


class MessagePublic(BaseModel):
    message_id: str
    name: str
    category: str
    priority: int
    channels: list[str]
    email: dict[str, Any] | None
    line: dict[str, Any] | None
    sms: dict[str, Any] | None
    recommendations: int
    send_at_active_hour: bool
    valid_for_hours: float | None = Field(
        description="Its own deadline; null: the shop's default (cap window plus 2 days)."
    )
    created_at: datetime | None

    @classmethod
    def of(cls, m: Message) -> MessagePublic:
        return cls(
            message_id=m.message_id,
            name=m.name,
            category=m.category,
            priority=m.priority,
            channels=list(m.channels),
            email=vars(m.email) if m.email else None,
            line=(
                {
                    "text": m.line.text,
                    "flex": m.line.flex,
                    "alt_text": m.line.alt_text,
                    "quick_reply": [dict(item) for item in m.line.quick_reply],
                }
                if m.line
                else None
            ),
            sms=vars(m.sms) if m.sms else None,
            recommendations=m.recommendations,
            send_at_active_hour=m.send_at_active_hour,
            valid_for_hours=(
                m.valid_for.total_seconds() / 3600 if m.valid_for is not None else None
            ),
            created_at=m.created_at,
        )


class PreviewCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)
    channel: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)


class SmsLengthPublic(BaseModel):
    encoding: str
    units: int
    parts: int
    per_part: int


class ChannelPreviewPublic(BaseModel):
    channel: str
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    line_messages: list[dict[str, Any]] | None = None
    sms_length: SmsLengthPublic | None = None

    @classmethod
    def of(cls, p: ChannelPreview) -> ChannelPreviewPublic:
        r = p.rendered
        if isinstance(r, RenderedEmail):
            return cls(channel=p.channel, subject=r.subject, html=r.html, text=r.text)
        if isinstance(r, RenderedLine):
            return cls(channel=p.channel, text=r.preview_text, line_messages=r.line_messages())
        assert isinstance(r, RenderedSms)
        return cls(channel=p.channel, text=r.text, sms_length=SmsLengthPublic(**vars(r.length)))


class SendCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the message and the customer, what makes this send unique (e.g. an order id)."""
    variables: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=-100, le=100)

    def to_request(self, shop_id: str, message_id: str) -> SendRequest:
        return SendRequest(
            shop_id=shop_id,
            message_id=message_id,
            customer_id=self.customer_id,
            trigger=f"api:{message_id}",
            anchor=self.anchor,
            variables=self.variables,
            priority=self.priority,
        )


class TestSendCreate(_In):
    channel: str
    to: str = Field(min_length=1, max_length=320)
    customer_id: str | None = None


class SendPublic(BaseModel):
    delivery_id: str
    status: str
    reason: str | None
    channel: str | None
    due_at: datetime | None

    @classmethod
    def of(cls, o: SendOutcome) -> SendPublic:
        return cls(
            delivery_id=o.delivery_id,
            status=o.status,
            reason=o.reason,
            channel=o.channel,
            due_at=o.due_at,
        )


class RedriveCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)
    """The customer the delivery log lists the dead letter under (deliveries are kept
    per customer, so this finds it with one read)."""


class RedrivePublic(SendPublic):
    may_duplicate: bool
    """True when the dead letter's last provider call may have reached the person (the
    call raised, or a LINE multicast went unconfirmed): this send may be a second copy."""

    @classmethod
    def of_redrive(cls, r: Redriven) -> RedrivePublic:
        o = r.outcome
        return cls(
            delivery_id=o.delivery_id,
            status=o.status,
            reason=o.reason,
            channel=o.channel,
            due_at=o.due_at,
            may_duplicate=r.may_duplicate,
        )


class SenderIn(_In):
    """The shop's sender identity: the From of its mail and the 特定電子メール法 footer
    (name, postal address, contact) of its marketing messages."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    email: EmailStr
    """A verified SES identity (address or domain) of the shop."""
    postal_address: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f]+$")


class PolicyUpdate(_In):
    channel_order: list[str] = Field(default_factory=lambda: ["line", "email", "sms"])
    cap_count: int = Field(default=3, ge=1, le=100)
    cap_window_days: float = Field(default=7, gt=0, le=90)
    quiet_start: LocalTime = time(21, 0)
    quiet_end: LocalTime = time(8, 0)
    quiet_channels: list[str] = Field(default_factory=lambda: ["line", "sms"])
    quiet_transactional: bool = Field(
        default=False,
        description="Whether transactional messages (order or restock confirmations) wait "
        "for the end of quiet hours too; by default they go at once.",
    )
    timezone: str = "Asia/Tokyo"
    sender: SenderIn | None = None
    """The shop's own sender identity; omitted: the platform's (set once per deployment)."""

    def to_domain(self) -> ShopPolicy:
        return ShopPolicy(
            channel_order=tuple(self.channel_order),
            cap_count=self.cap_count,
            cap_window=timedelta(days=self.cap_window_days),
            quiet_hours=QuietHours(
                start=self.quiet_start,
                end=self.quiet_end,
                channels=frozenset(self.quiet_channels),
                transactional=self.quiet_transactional,
            ),
            timezone=self.timezone,
            sender=(
                SenderIdentity(self.sender.name, str(self.sender.email), self.sender.postal_address)
                if self.sender
                else None
            ),
        )


class PolicyPublic(PolicyUpdate):
    @classmethod
    def of(cls, p: ShopPolicy) -> PolicyPublic:
        return cls(
            channel_order=list(p.channel_order),
            cap_count=p.cap_count,
            cap_window_days=p.cap_window.total_seconds() / 86400,
            quiet_start=p.quiet_hours.start,
            quiet_end=p.quiet_hours.end,
            quiet_channels=sorted(p.quiet_hours.channels),
            quiet_transactional=p.quiet_hours.transactional,
            timezone=p.timezone,
            sender=(
                SenderIn(
                    name=p.sender.name, email=p.sender.email, postal_address=p.sender.postal_address
                )
                if p.sender
                else None
            ),
        )


class VariantIn(_In):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    message_id: str = Field(pattern=ID_PATTERN)


class CampaignCreate(_In):
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

    def to_domain(self, shop_id: str, now: datetime) -> Campaign:
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
        )


class CampaignPublic(BaseModel):
    campaign_id: str
    name: str
    segment_id: str
    variants: list[dict[str, str]]
    scheduled_at: datetime
    metric: str
    wave_size: int
    wave_interval_minutes: float
    status: str
    processed: int
    """Audience members handed to the send path so far."""
    waves: int
    next_wave_at: datetime | None
    skipped: dict[str, int]
    completed_at: datetime | None

    @classmethod
    def of(cls, c: Campaign) -> CampaignPublic:
        return cls(
            campaign_id=c.campaign_id,
            name=c.name,
            segment_id=c.segment_id,
            variants=[{"name": v.name, "message_id": v.message_id} for v in c.variants],
            scheduled_at=c.scheduled_at,
            metric=c.metric,
            wave_size=c.wave_size,
            wave_interval_minutes=c.wave_interval.total_seconds() / 60,
            status=c.status.value,
            processed=c.processed,
            waves=c.waves,
            next_wave_at=c.next_wave_at,
            skipped=dict(c.skipped),
            completed_at=c.completed_at,
        )


class ResultRowPublic(BaseModel):
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

    @classmethod
    def of(cls, r: ResultRow) -> ResultRowPublic:
        return cls(
            sent=r.sent,
            delivered=r.delivered,
            opened=r.opened,
            clicked=r.clicked,
            converted=r.converted,
            revenue=Decimal(r.revenue),
        )


class CampaignResultsPublic(BaseModel):
    campaign: CampaignPublic
    total: ResultRowPublic
    by_variant: dict[str, ResultRowPublic]
    by_rank: dict[str, dict[str, ResultRowPublic]]
    """RFM rank at send time (loyal, semi_loyal, general, dormant, unranked) → variant."""
    win_probability: dict[str, float]
    """A/B: the chance each variant is the best on the test's metric."""

    @classmethod
    def of(cls, r: CampaignResults, variant: str | None = None) -> CampaignResultsPublic:
        keep = (lambda name: name == variant) if variant else (lambda name: True)
        return cls(
            campaign=CampaignPublic.of(r.campaign),
            total=ResultRowPublic.of(r.total),
            by_variant={k: ResultRowPublic.of(v) for k, v in r.by_variant.items() if keep(k)},
            by_rank={
                rank: {k: ResultRowPublic.of(v) for k, v in rows.items() if keep(k)}
                for rank, rows in r.by_rank.items()
            },
            win_probability=r.win_probability,
        )


class LineChannelUpdate(_In):
    """The shop's LINE Messaging API channel, as the LINE Developers console shows it."""

    channel_id: str = Field(min_length=1, max_length=32)
    channel_secret: str = Field(min_length=1, max_length=128)
    channel_access_token: str = Field(min_length=1, max_length=4096)

    def to_domain(self) -> LineCredentials:
        """Surrounding whitespace from a copy and paste is not part of the value."""
        return LineCredentials(
            channel_id=self.channel_id.strip(),
            channel_secret=self.channel_secret.strip(),
            channel_access_token=self.channel_access_token.strip(),
        )


class LineChannelPublic(BaseModel):
    """Never the channel secret or the access token."""

    connected: bool
    channel_id: str | None
    connected_at: datetime | None
    webhook_url: str = Field(
        description="Enter this as the channel's webhook URL in the LINE Developers console."
    )
    sends_via: LineRoute = Field(
        description="How the shop's LINE messages go out; `none`: LINE is skipped and the "
        "policy's next channel carries them."
    )

    @classmethod
    def of(cls, s: LineChannelStatus) -> LineChannelPublic:
        return cls(
            connected=s.connected,
            channel_id=s.channel_id,
            connected_at=s.connected_at,
            webhook_url=s.webhook_url,
            sends_via=s.route,
        )


class JourneyPublic(BaseModel):
    """A journey's head (status, latest version) and the JSON of the version shown."""

    journey_id: str
    name: str
    status: str
    version: int
    """The latest version (new enrolments run it)."""
    shown_version: int
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any]

    @classmethod
    def of(cls, head: JourneyHead, journey: Journey) -> JourneyPublic:
        return cls(
            journey_id=head.journey_id,
            name=head.name,
            status=head.status,
            version=head.version,
            shown_version=journey.version,
            created_at=head.created_at,
            updated_at=head.updated_at,
            definition=dict(journey.source),
        )


class JourneySummaryPublic(BaseModel):
    journey_id: str
    name: str
    status: str
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, head: JourneyHead) -> JourneySummaryPublic:
        return cls(
            journey_id=head.journey_id,
            name=head.name,
            status=head.status,
            version=head.version,
            updated_at=head.updated_at,
        )


class JourneyValidPublic(BaseModel):
    valid: bool
    steps: int
    enrols_on: list[str]
    listens_to: list[str]
