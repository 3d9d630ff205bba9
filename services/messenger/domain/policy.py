"""A shop's sending policy and the decisions it drives. Pure domain: no AWS, no HTTP.

- channel choice: the shop's order (e.g. LINE → mail → SMS), filtered per person by
  content, address, consent, unsubscribes and reachability;
- frequency cap: at most N marketing messages per person per rolling window;
- timing: quiet hours per channel in the person's time zone (transactional messages
  only if the shop asks), and the active hour;
- validity: how long a send may wait (the message's own deadline, or by default one
  that outlasts the wait for the next free cap slot: capped sends are deferred);
- retries: exponential backoff, then the dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from messenger.channels.names import CHANNELS, EMAIL, LINE, SMS
from messenger.domain.message import Message
from messenger.domain.model import Recipient, SkipReason, check_topic
from messenger.domain.sender import SenderIdentity
from messenger.domain.shipping import check_url_template
from shared.errors import InvalidInput

JST = timezone(timedelta(hours=9), "JST")
_FIXED = {"Asia/Tokyo": JST, "JST": JST, "UTC": UTC}


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)
    channels: frozenset[str] = frozenset({LINE, SMS})
    transactional: bool = False
    """Whether transactional messages (an order or restock confirmation) wait for the end
    of quiet hours too; by default they go at once, as the customer expects them."""

    def holds(self, channel: str, category: str) -> bool:
        """Whether quiet hours apply to this channel and message category."""
        return channel in self.channels and (category != "transactional" or self.transactional)


DEFERRAL_GRACE = timedelta(days=2)
"""How far past the next free cap slot a default validity reaches: enough for the quiet
hours and the active hour that may follow that slot (at most a day and a half)."""


@dataclass(frozen=True)
class ShopPolicy:
    channel_order: tuple[str, ...] = (LINE, EMAIL, SMS)
    cap_count: int = 3
    cap_window: timedelta = timedelta(days=7)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    timezone: str = "Asia/Tokyo"
    """Used for people whose profile has no time zone."""
    max_attempts: int = 5
    retry_base: timedelta = timedelta(minutes=1)
    sender: SenderIdentity | None = None
    """The shop's own sender identity for mail and footers; None: the platform's."""
    tracking_url_template: str | None = None
    """The tracking page of carriers Kizuna does not know (``{number}`` marks the slip
    number), for the shipping notice's link."""
    cap_exempt_topics: frozenset[str] = frozenset({"step_mails"})
    """Marketing topics outside the frequency cap: they neither wait for a slot nor take
    one. By default the post-purchase step mails, whose days (1, 3, 5, 7 after shipping)
    are the product: a cap of 3 in 7 days would push day 5 past the first week. Consent,
    topic unsubscribes and quiet hours still apply to them."""

    def cap_exempt(self, category: str, topic: str | None) -> bool:
        """Whether a send skips the frequency cap: transactional, or an exempt topic."""
        return category != "marketing" or (topic is not None and topic in self.cap_exempt_topics)

    @property
    def default_validity(self) -> timedelta:
        """How long a message without a `valid_for` of its own may wait: the cap window
        plus `DEFERRAL_GRACE`. The next free slot is never more than one cap window away,
        so a capped send is deferred to it rather than dropped (the brief's promise),
        while a backlog cannot grow for ever."""
        return self.cap_window + DEFERRAL_GRACE

    def validate(self) -> None:
        if not self.channel_order:
            raise InvalidInput("channel_order needs at least one channel", field="channel_order")
        for c in self.channel_order:
            if c not in CHANNELS:
                raise InvalidInput(f"unknown channel {c!r}", field="channel_order")
        if len(set(self.channel_order)) != len(self.channel_order):
            raise InvalidInput("channel_order repeats a channel", field="channel_order")
        if self.cap_count < 1:
            raise InvalidInput("cap_count must be at least 1", field="cap_count")
        if self.cap_window <= timedelta(0):
            raise InvalidInput("cap_window must be positive", field="cap_window_days")
        for name, value in (
            ("quiet_start", self.quiet_hours.start),
            ("quiet_end", self.quiet_hours.end),
        ):
            if value.tzinfo is not None:
                # Quiet hours are wall-clock times in each person's own time zone.
                raise InvalidInput(f"{name} is a local time without a UTC offset", field=name)
        for c in self.quiet_hours.channels:
            if c not in CHANNELS:
                raise InvalidInput(f"unknown channel {c!r}", field="quiet_hours.channels")
        zone(self.timezone, field="timezone")
        if self.sender is not None:
            self.sender.validate()
        check_url_template(self.tracking_url_template)
        for t in self.cap_exempt_topics:
            check_topic(t, field="cap_exempt_topics")


def zone(name: str, field: str = "timezone") -> tzinfo:
    """The time zone by IANA name; Japan's fixed offset also works without tz data."""
    if name in _FIXED:
        return _FIXED[name]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", field=field) from None


def channel_skip_reason(
    message: Message,
    recipient: Recipient,
    channel: str,
    unavailable: frozenset[str] = frozenset(),
    topic: str | None = None,
) -> SkipReason | None:
    """Why this channel cannot carry this message to this person, or None.
    `unavailable`: channels the shop has no account on (LINE without a channel);
    `topic`: the send's unsubscribe topic (marketing only: a transactional message
    is owed whatever topics the person left)."""
    if message.content_for(channel) is None or not recipient.address(channel):
        return SkipReason.NO_ADDRESS
    topic = topic if message.category == "marketing" else None
    if recipient.is_unsubscribed(channel, message.category, topic):
        return SkipReason.UNSUBSCRIBED
    if message.category == "marketing" and not recipient.has_opt_in(channel, "marketing"):
        return SkipReason.NO_CONSENT
    if channel in recipient.unreachable:
        return SkipReason.NO_REACHABLE_CHANNEL
    if channel in unavailable:
        return SkipReason.CHANNEL_NOT_CONNECTED
    return None


def choose_channels(
    message: Message,
    recipient: Recipient,
    policy: ShopPolicy,
    unavailable: frozenset[str] = frozenset(),
    topic: str | None = None,
) -> tuple[list[str], SkipReason | None]:
    """Channels to try in order (first = preferred, the rest are fallbacks), or the
    reason none is usable (the most telling one: consent beats a missing address)."""
    usable: list[str] = []
    reasons: list[SkipReason] = []
    for channel in policy.channel_order:
        reason = channel_skip_reason(message, recipient, channel, unavailable, topic)
        if reason is None:
            usable.append(channel)
        else:
            reasons.append(reason)
    if usable:
        return usable, None
    for preferred in (
        SkipReason.UNSUBSCRIBED,
        SkipReason.NO_CONSENT,
        SkipReason.NO_REACHABLE_CHANNEL,
        SkipReason.CHANNEL_NOT_CONNECTED,
    ):
        if preferred in reasons:
            return [], preferred
    return [], SkipReason.NO_ADDRESS


def recipient_zone(recipient: Recipient, policy: ShopPolicy) -> tzinfo:
    if recipient.timezone:
        try:
            return zone(recipient.timezone)
        except InvalidInput:
            pass
    return zone(policy.timezone)


def end_of_quiet_hours(at: datetime, tz: tzinfo, quiet: QuietHours) -> datetime | None:
    """The end of the quiet period `at` falls in (aware, UTC), or None when not quiet."""
    local = at.astimezone(tz)
    t = local.time()
    if quiet.start == quiet.end:
        return None
    if quiet.start < quiet.end:
        quiet_now = quiet.start <= t < quiet.end
        end_day = local.date()
    else:  # crosses midnight, e.g. 21:00-08:00
        quiet_now = t >= quiet.start or t < quiet.end
        end_day = local.date() + timedelta(days=1) if t >= quiet.start else local.date()
    if not quiet_now:
        return None
    return datetime.combine(end_day, quiet.end, tzinfo=tz).astimezone(UTC)


def next_active_hour(at: datetime, tz: tzinfo, hour: int) -> datetime:
    """`at` itself inside the person's active hour, else the start of the next one."""
    local = at.astimezone(tz)
    if local.hour == hour:
        return at
    start = datetime.combine(local.date(), time(hour), tzinfo=tz)
    if start <= local:
        start += timedelta(days=1)
    return start.astimezone(UTC)


def send_deadline(requested_at: datetime, message: Message, policy: ShopPolicy) -> datetime:
    """After this a send that is still waiting is dropped (`expired:<why>`)."""
    valid_for = message.valid_for if message.valid_for is not None else policy.default_validity
    return requested_at + valid_for


def earliest_send_time(
    now: datetime, channel: str, message: Message, recipient: Recipient, policy: ShopPolicy
) -> datetime:
    """When this channel may carry the message: now, or after quiet hours / at the active hour."""
    tz = recipient_zone(recipient, policy)
    at = now
    if message.send_at_active_hour and recipient.active_hour is not None:
        at = next_active_hour(at, tz, recipient.active_hour)
    if policy.quiet_hours.holds(channel, message.category):
        end = end_of_quiet_hours(at, tz, policy.quiet_hours)
        if end is not None:
            at = end
    return at


def cap_window_times(
    times: tuple[datetime, ...], at: datetime, window: timedelta
) -> tuple[datetime, ...]:
    """The counted sends still inside the window that ends at `at`."""
    return tuple(sorted(t for t in times if t > at - window))


def next_free_slot(
    times: tuple[datetime, ...], at: datetime, count: int, window: timedelta
) -> datetime | None:
    """None when a marketing message may go at `at`; else when the next slot frees up."""
    inside = cap_window_times(times, at, window)
    if len(inside) < count:
        return None
    # The window must drop the oldest (len - count + 1) sends before there is room.
    return inside[len(inside) - count] + window


def retry_delay(policy: ShopPolicy, attempts: int) -> timedelta:
    """Exponential backoff: base, 2×base, 4×base… capped at 6 hours."""
    delay: timedelta = policy.retry_base * (2 ** max(attempts - 1, 0))
    return min(delay, timedelta(hours=6))
