"""Request and response bodies of the messenger API (`XCreate` in, `XPublic` out)."""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AliasPath,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    WithJsonSchema,
)

from messenger.channels.names import EMAIL, LINE, SMS
from messenger.domain.coupon_rules import MAX_UPLOAD, POOL_ID, PREFIX
from messenger.domain.line_account import LineCredentials, LineRoute
from messenger.domain.message import Coupon, EmailContent, LineContent, Message, SmsContent
from messenger.domain.model import TOPIC
from messenger.domain.policy import QuietHours, SenderIdentity, ShopPolicy
from shared.http.paging import encode_cursor
from shared.http.types import Schema, Timestamp

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    from messenger.domain.campaign import Campaign
    from messenger.domain.coupons import CouponPool, Given
    from messenger.domain.inserts import Insert
    from messenger.domain.journeys.builtins import BuiltinJourney
    from messenger.domain.journeys.definition import Journey
    from messenger.domain.journeys.records import JourneyHead
    from messenger.services.campaigns import CampaignResults, ResultCustomers
    from messenger.services.coupons import CodeCheck, PoolStats
    from messenger.services.due import Redriven
    from messenger.services.journeys.stats import JourneyCustomers
    from messenger.services.rendering import ChannelPreview
    from messenger.services.sending import SendRequest

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TOPIC_PATTERN = TOPIC.pattern
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


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class _Out(Schema):
    """A response model read from the domain's records (`Model.model_validate(record)`).
    Fields named otherwise in the record read it through `validation_alias`; the answer
    and the OpenAPI keep the field's own name."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


def _plain(value: object) -> object:
    """A domain value object (a dataclass) as the JSON object it is answered as."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def _in_units_of(unit: timedelta) -> BeforeValidator:
    """A domain duration (timedelta) answered as a number of `unit`s: hours, minutes."""
    seconds = unit.total_seconds()
    return BeforeValidator(lambda v: v.total_seconds() / seconds if isinstance(v, timedelta) else v)


Content = Annotated[dict[str, Any] | None, BeforeValidator(_plain)]


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


class MessagePublic(_Out):
    message_id: str
    name: str
    category: str
    priority: int
    channels: list[str]
    email: Content
    line: Content
    sms: Content
    recommendations: int
    send_at_active_hour: bool
    valid_for_hours: Annotated[float | None, _in_units_of(timedelta(hours=1))] = Field(
        validation_alias="valid_for",
        description="Its own deadline; null: the shop's default (cap window plus 2 days).",
    )
    created_at: datetime | None


class PreviewCreate(_In):
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


class SendCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the message and the customer, what makes this send unique (e.g. an order id)."""
    variables: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=-100, le=100)
    topic: str | None = Field(default=None, pattern=TOPIC_PATTERN)
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


class TestSendCreate(_In):
    channel: str
    to: str = Field(min_length=1, max_length=320)
    customer_id: str | None = None


class SendPublic(_Out):
    delivery_id: str
    status: str
    reason: str | None
    channel: str | None
    due_at: datetime | None


class DeliveryPublic(_Out):
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


class RedriveCreate(_In):
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


class SenderIn(_In):
    """The shop's sender identity: the From of its mail and the 特定電子メール法 footer
    (name, postal address, contact) of its marketing messages."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    email: EmailStr
    """A verified SES identity (address or domain) of the shop."""
    postal_address: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f]+$")


class PolicyUpdate(_In):
    channel_order: list[str] = Field(default_factory=lambda: [LINE, EMAIL, SMS])
    cap_count: int = Field(default=3, ge=1, le=100)
    cap_window_days: float = Field(default=7, gt=0, le=90)
    quiet_start: LocalTime = time(21, 0)
    quiet_end: LocalTime = time(8, 0)
    quiet_channels: list[str] = Field(default_factory=lambda: [LINE, SMS])
    quiet_transactional: bool = Field(
        default=False,
        description="Whether transactional messages (order or restock confirmations) wait "
        "for the end of quiet hours too; by default they go at once.",
    )
    timezone: str = "Asia/Tokyo"
    sender: SenderIn | None = None
    """The shop's own sender identity; omitted: the platform's (set once per deployment)."""
    tracking_url_template: str | None = Field(default=None, max_length=500)
    """The shipping notice's tracking link for carriers other than ヤマト運輸, 佐川急便 and
    日本郵便: an https URL with ``{number}`` where the slip number goes."""
    cap_exempt_topics: list[str] = Field(
        default_factory=lambda: ["step_mails"],
        max_length=20,
        description="Marketing topics outside the frequency cap (they neither wait for a "
        "slot nor take one); by default the post-purchase step mails, whose days are the "
        "point. Consent, unsubscribes and quiet hours still apply.",
    )

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
            tracking_url_template=self.tracking_url_template,
            cap_exempt_topics=frozenset(self.cap_exempt_topics),
        )


class PolicyPublic(PolicyUpdate):
    @classmethod
    def of(cls, p: ShopPolicy) -> PolicyPublic:
        """Hand-written: the fields are the input model's (no aliases there), read from
        the nested quiet hours, with the cap window in days."""
        return cls(
            channel_order=list(p.channel_order),
            cap_count=p.cap_count,
            cap_window_days=p.cap_window.total_seconds() / 86400,
            quiet_start=p.quiet_hours.start,
            quiet_end=p.quiet_hours.end,
            quiet_channels=sorted(p.quiet_hours.channels),
            quiet_transactional=p.quiet_hours.transactional,
            timezone=p.timezone,
            sender=SenderIn.model_validate(p.sender, from_attributes=True) if p.sender else None,
            tracking_url_template=p.tracking_url_template,
            cap_exempt_topics=sorted(p.cap_exempt_topics),
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
    topic: str = Field(default="newsletter", pattern=TOPIC_PATTERN)
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


class CampaignPublic(_Out):
    campaign_id: str
    name: str
    segment_id: str
    variants: list[Annotated[dict[str, str], BeforeValidator(_plain)]]
    scheduled_at: datetime
    metric: str
    wave_size: int
    wave_interval_minutes: Annotated[float, _in_units_of(timedelta(minutes=1))] = Field(
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


class ResultRowPublic(_Out):
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


class CampaignCustomersPublic(Schema):
    """The customers behind one count of a campaign's results (one page of them)."""

    campaign_id: str
    metric: str
    variant: str | None
    rank: str | None
    count: int
    customer_ids: list[str]
    next_cursor: str | None

    @classmethod
    def of(cls, found: ResultCustomers) -> CampaignCustomersPublic:
        return cls(
            campaign_id=found.campaign.campaign_id,
            metric=found.who.metric,
            variant=found.who.variant,
            rank=found.who.rank,
            count=found.count,
            customer_ids=found.customer_ids,
            next_cursor=encode_cursor(found.next_after) if found.next_after else None,
        )


JourneyMetric = Literal[
    "entered",
    "holdout",
    "converted",
    "holdout_converted",
    "treated",
    "sent",
    "delivered",
    "opened",
    "clicked",
]
"""`journeys.people.METRICS`, written out for the query's schema (a test keeps them equal)."""


class JourneyCustomersPublic(Schema):
    """The customers behind one count of a journey's stats (one page of them)."""

    journey_id: str
    step: str | None
    metric: str
    count: int
    """The customers listed (every page)."""
    times: int
    """How often they are counted (more than `count` if one went through twice)."""
    stats: int
    """The number the stats show: more than `times` only by enrolments counted before
    each enrolment kept who it was (they cannot be listed)."""
    customer_ids: list[str]
    next_cursor: str | None

    @classmethod
    def of(cls, found: JourneyCustomers) -> JourneyCustomersPublic:
        return cls(
            journey_id=found.journey_id,
            step=found.step,
            metric=found.metric,
            count=found.count,
            times=found.times,
            stats=found.stats,
            customer_ids=found.customer_ids,
            next_cursor=encode_cursor(found.next_after) if found.next_after else None,
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


class LineChannelPublic(_Out):
    """Never the channel secret or the access token."""

    connected: bool
    channel_id: str | None
    connected_at: datetime | None
    webhook_url: str = Field(
        description="Enter this as the channel's webhook URL in the LINE Developers console."
    )
    sends_via: LineRoute = Field(
        validation_alias="route",
        description="How the shop's LINE messages go out; `none`: LINE is skipped and the "
        "policy's next channel carries them.",
    )


class CouponPoolCreate(_In):
    pool_id: str = Field(pattern=POOL_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["uploaded", "signed"] = "uploaded"
    """`uploaded`: the shop's own codes (JSON or CSV); `signed`: Kizuna makes each code."""
    prefix: str = Field(default="", pattern=PREFIX.pattern)
    """Signed pools: the code's first characters, e.g. `BDAY`."""
    description: str | None = Field(default=None, max_length=500)

    def to_domain(self, shop_id: str, now: datetime) -> CouponPool:
        from messenger.domain.coupons import CouponPool, PoolKind

        return CouponPool(
            shop_id=shop_id,
            pool_id=self.pool_id,
            name=self.name,
            kind=PoolKind(self.kind),
            created_at=now,
            prefix=self.prefix,
            description=self.description,
        )


class CouponPoolPublic(Schema):
    pool_id: str
    name: str
    kind: str
    prefix: str
    description: str | None
    created_at: datetime
    free: int | None
    """Codes nobody has yet; null for a signed pool."""

    @classmethod
    def of(cls, s: PoolStats) -> CouponPoolPublic:
        p = s.pool
        return cls(
            pool_id=p.pool_id,
            name=p.name,
            kind=p.kind.value,
            prefix=p.prefix,
            description=p.description,
            created_at=p.created_at,
            free=s.free,
        )


class CouponCodesUpload(_In):
    codes: list[str] = Field(min_length=1, max_length=MAX_UPLOAD)


class CouponUploadPublic(_Out):
    added: int
    duplicates: list[str]


class CouponGiveCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the pool and the customer, what makes the code theirs (e.g. `birthday-2026`)."""


class CouponGivenPublic(Schema):
    code: str | None
    status: str

    @classmethod
    def of(cls, g: Given) -> CouponGivenPublic:
        return cls(code=g.code, status=g.status.value)


class CouponCodePublic(Schema):
    code: str
    pool_id: str
    signature_valid: bool | None
    status: str | None
    customer_id: str | None
    assigned_at: datetime | None
    redeemed_at: datetime | None
    order_id: str | None

    @classmethod
    def of(cls, c: CodeCheck) -> CouponCodePublic:
        r = c.record
        return cls(
            code=c.code,
            pool_id=c.pool_id,
            signature_valid=c.signature_valid,
            status=c.status.value if c.status else None,
            customer_id=r.customer_id if r else None,
            assigned_at=r.assigned_at if r else None,
            redeemed_at=r.redeemed_at if r else None,
            order_id=r.order_id if r else None,
        )


class InsertUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    """What the warehouse picks, e.g. 「美容液サンプル 3包」."""
    description: str | None = Field(default=None, max_length=500)

    def to_domain(self, shop_id: str, insert_id: str) -> Insert:
        from messenger.domain.inserts import Insert

        return Insert(shop_id, insert_id, self.name, self.description)


class InsertPublic(_Out):
    insert_id: str
    name: str
    description: str | None


class InsertChoiceCreate(_In):
    customer_id: str = Field(min_length=1, max_length=128)
    anchor: str = Field(min_length=1, max_length=128)
    """With the trigger and the customer, what makes the choice unique (e.g. an order id)."""
    trigger: str | None = Field(default=None, min_length=1, max_length=200)
    """What chooses it; default `api:insert:<insert_id>`."""


class PickLinePublic(_Out):
    order_id: str
    customer_id: str
    insert_id: str
    insert_name: str


class JourneyPublic(Schema):
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


class JourneySummaryPublic(_Out):
    journey_id: str
    name: str
    status: str
    version: int
    updated_at: datetime
    enrols_on: Annotated[list[str], BeforeValidator(sorted)] = Field(default_factory=list)
    """The event types that put people in (`segment.entered`: a segment's members can be
    put in on demand, `POST /v1/journeys/{id}/enrolments`)."""


class EnrolmentPublic(_Out):
    """One person's way through one journey."""

    journey_id: str
    version: int
    status: str
    """active | holdout (drawn into the control group: gets nothing) | scheduled (a date
    trigger's day has not come) | exited | completed."""
    entered_at: datetime
    step: str | None
    """The step it will run next, or is waiting in."""
    exit_reason: str | None
    finished_at: datetime | None
    converted_at: datetime | None
    """When the person reached the journey's goal (once per enrolment)."""


class EnrolmentsCreate(_In):
    segment_id: str = Field(min_length=1, max_length=128)
    after: str | None = Field(default=None, min_length=1, max_length=128)
    """`next_after` of the call before: the page of members after it."""


class EnrolmentsPublic(_Out):
    journey_id: str
    segment_id: str
    entered: int
    """Put into the journey by this call (the holdout included)."""
    not_entered: int
    """Already in it, or refused by its entry filter or re-entry rule."""
    next_after: str | None
    """More members may follow: call again with this as `after`."""


class JourneyValidPublic(Schema):
    valid: bool
    steps: int
    enrols_on: list[str]
    listens_to: list[str]


class BuiltinJourneyPublic(Schema):
    """A built-in journey of the catalogue, and whether this shop runs it."""

    name: str
    title: dict[str, str]
    description: str
    topic: str | None
    trigger: dict[str, Any]
    steps: int
    messages: list[str]
    coupon_pool: str | None
    status: str | None
    """This shop's journey: `active`, `paused`, `archived`, or null (not enabled)."""

    @classmethod
    def of(cls, entry: BuiltinJourney, status: str | None) -> BuiltinJourneyPublic:
        return cls(
            name=entry.name,
            title=dict(entry.title),
            description=entry.description,
            topic=entry.topic,
            trigger=dict(entry.journey["trigger"]),
            steps=len(entry.journey["steps"]),
            messages=[m.message_id for m in entry.messages],
            coupon_pool=entry.coupon_pool["pool_id"] if entry.coupon_pool else None,
            status=status,
        )


class BuiltinEnabledPublic(Schema):
    model_config = ConfigDict(from_attributes=True)

    name: str
    journey_id: str
    status: str
    version: int
    created: bool
    messages_created: list[str]
    pool_created: str | None


class ProductUsagePut(_In):
    """A catalog field the replenishment journey reads: how many days one unit lasts."""

    usage_days: int = Field(ge=1, le=3650, description="Days one unit lasts (days of supply).")


class ProductUsagePublic(Schema):
    sku: str
    usage_days: int
