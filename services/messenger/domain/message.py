"""One logical message, with content per channel. Pure domain: no AWS, no HTTP.

A marketer writes a message once; the dispatcher picks a channel per customer and
renders only that channel's content. Content fields are Jinja2 template strings run in
the sandbox (see `rendering`), so they are checked when the message is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from messenger.channels.names import CHANNELS, EMAIL, LINE, SMS
from shared.errors import InvalidInput

CATEGORIES = ("marketing", "transactional")
LINE_TEXT_MAX = 5000
"""Characters in one LINE text message (LINE refuses longer ones with a 400)."""
LINE_ALT_TEXT_MAX = 1500
"""Characters in a flex message's `altText`."""
FLEX_CONTAINERS = ("bubble", "carousel")
LINE_QUICK_REPLY_MAX = 13
"""Buttons in one quick reply."""


@dataclass(frozen=True)
class EmailContent:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class LineContent:
    """Either a text message or a flex message (`flex` is the container: bubble/carousel),
    optionally with quick reply buttons (LINE's quick reply item objects)."""

    text: str | None = None
    flex: Mapping[str, Any] | None = None
    alt_text: str | None = None
    quick_reply: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class SmsContent:
    text: str


@dataclass(frozen=True)
class Coupon:
    code: str
    description: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    message_id: str
    shop_id: str
    name: str
    category: str = "marketing"
    priority: int = 0
    """Higher wins when the frequency cap leaves room for fewer messages than are due."""
    email: EmailContent | None = None
    line: LineContent | None = None
    sms: SmsContent | None = None
    coupon: Coupon | None = None
    recommendations: int = 0
    """How many recommended items to put in the `recommendations` slot (0: none)."""
    send_at_active_hour: bool = False
    valid_for: timedelta | None = None
    """A deadline for content that goes stale (a flash sale): a send that has to wait
    (frequency cap, quiet hours) past this age is dropped as `expired:<why>`. None: the
    shop's default (`ShopPolicy.default_validity`), which always outlasts the wait for
    the next free cap slot, so a capped send is deferred, never dropped."""
    created_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c for c in CHANNELS if self.content_for(c) is not None)

    def content_for(self, channel: str) -> EmailContent | LineContent | SmsContent | None:
        if channel == EMAIL:
            return self.email
        if channel == LINE:
            return self.line
        if channel == SMS:
            return self.sms
        raise InvalidInput(f"unknown channel {channel!r}", field="channel")

    def validate(self) -> None:
        if self.category not in CATEGORIES:
            raise InvalidInput(f"category must be one of {CATEGORIES}", field="category")
        if not self.channels:
            raise InvalidInput("a message needs content for at least one channel", field=EMAIL)
        if self.line is not None and (self.line.text is None) == (self.line.flex is None):
            raise InvalidInput("LINE content is either text or flex", field=LINE)
        if self.line is not None:
            check_line_content(self.line)
        if self.valid_for is not None and self.valid_for <= timedelta(0):
            raise InvalidInput("valid_for must be positive", field="valid_for_hours")
        if self.recommendations < 0 or self.recommendations > 10:
            raise InvalidInput("recommendations must be between 0 and 10", field="recommendations")


def check_line_content(line: LineContent) -> None:
    """What LINE would refuse with a 400 for the message itself, caught when it is saved
    (a refused body is not the person's fault, so it must not get that far)."""
    if line.text is not None and len(line.text) > LINE_TEXT_MAX:
        raise InvalidInput(
            f"a LINE text message has at most {LINE_TEXT_MAX} characters", field="line.text"
        )
    if len(line.quick_reply) > LINE_QUICK_REPLY_MAX:
        raise InvalidInput(
            f"a quick reply has at most {LINE_QUICK_REPLY_MAX} buttons", field="line.quick_reply"
        )
    if line.flex is None:
        return
    if not line.alt_text:
        raise InvalidInput("a flex message needs alt_text", field="line.alt_text")
    if len(line.alt_text) > LINE_ALT_TEXT_MAX:
        raise InvalidInput(
            f"alt_text has at most {LINE_ALT_TEXT_MAX} characters", field="line.alt_text"
        )
    if not isinstance(line.flex, Mapping) or line.flex.get("type") not in FLEX_CONTAINERS:
        raise InvalidInput(
            f"a flex message's contents.type is one of {FLEX_CONTAINERS}", field="line.flex.type"
        )


def check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise InvalidInput(
            f"unknown channel {channel!r}; expected one of {CHANNELS}", field="channel"
        )
    return channel
