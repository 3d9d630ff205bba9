"""Messages: saved (their channels' contents) and read back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from messenger.domain.message import Coupon, EmailContent, LineContent, Message, SmsContent
from messenger.entrypoints.schemas.common import (
    ID_PATTERN,
    Content,
    In,
    Out,
    in_units_of,
)
from shared.http.types import Timestamp

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    pass


class EmailContentIn(In):
    subject: str = Field(min_length=1, max_length=2000)
    html: str = Field(min_length=1, max_length=200_000)
    text: str = Field(min_length=1, max_length=100_000)


class LineContentIn(In):
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


class SmsContentIn(In):
    text: str = Field(min_length=1, max_length=670)


class CouponIn(In):
    code: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    expires_at: Timestamp | None = None


class MessageCreate(In):
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


class MessagePublic(Out):
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
    valid_for_hours: Annotated[float | None, in_units_of(timedelta(hours=1))] = Field(
        validation_alias="valid_for",
        description="Its own deadline; null: the shop's default (cap window plus 2 days).",
    )
    created_at: datetime | None
