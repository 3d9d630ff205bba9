"""The shop's sending policy and its LINE channel."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from pydantic import EmailStr, Field

from messenger.channels.names import EMAIL, LINE, SMS
from messenger.domain.line_account import LineCredentials, LineRoute
from messenger.domain.policy import QuietHours, ShopPolicy
from messenger.domain.sender import SenderIdentity
from messenger.entrypoints.schemas.common import In, LocalTime, Out


class SenderIn(In):
    """The shop's sender identity: the From of its mail and the 特定電子メール法 footer
    (name, postal address, contact) of its marketing messages."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    email: EmailStr
    """A verified SES identity (address or domain) of the shop."""
    postal_address: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f]+$")


class PolicyUpdate(In):
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


class LineChannelUpdate(In):
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


class LineChannelPublic(Out):
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
