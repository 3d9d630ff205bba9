"""Messenger use cases for stored messages: save, preview, send one, dispatch what is due.

Sending follows one path whatever starts it (an API call now; campaigns and journey
steps later):

1. read the message, the shop's policy and the recipient (profile + unsubscribes: one
   Query);
2. choose the channels (consent, reachability, policy order) and the earliest time
   (quiet hours, active hour, frequency cap); later than now → record the delivery as
   deferred with a due entry (or drop it with the reason if that is past its validity);
3. render (a template error is a 422 naming the field; nothing is written or sent);
4. claim: one transaction records the intent, checks unsubscribes and suppression and
   reserves the cap slot (a conditional write on the person's counter, so concurrent
   sends cannot overshoot the cap);
5. send; a hard failure marks the channel unreachable and falls back to the next one;
   a retryable failure schedules a retry with backoff (same delivery id, so LINE sees
   the same retry key) and, after `max_attempts`, a dead letter.

A crash between the provider call and the final write leaves the claim in `sending`;
nothing ever re-sends a `sending` delivery, so the effect is at most once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from messenger.adapters.messages import MessageRepository
from messenger.adapters.recipients import RecipientRepository
from messenger.adapters.recommendations import NoRecommendations, RecommendationSource
from messenger.adapters.repository import (
    CapUpdate,
    ClaimResult,
    DeliveryRepository,
    DueEntry,
)
from messenger.channels.base import Channel, OutboundMessage, SendResult, SendStatus
from messenger.domain.builtin import BUILTIN_PREFIX, builtin_message
from messenger.domain.links import UnsubscribeRequest
from messenger.domain.message import Message, check_channel
from messenger.domain.model import (
    RESUMABLE,
    ConsentState,
    Delivery,
    DeliveryKey,
    DeliveryStatus,
    Recipient,
    SkipReason,
)
from messenger.domain.policy import (
    ShopPolicy,
    cap_window_times,
    choose_channels,
    earliest_send_time,
    next_free_slot,
    retry_delay,
)
from messenger.domain.rendering import (
    Rendered,
    RenderedEmail,
    RenderedLine,
    RenderedSms,
    check_message,
    render_channel,
)
from messenger.domain.tracking import (
    Postback,
    TrackedDelivery,
    TrackingUrls,
    instrument_html,
    instrument_line,
)
from messenger.services.common import LinkSigner, Sender
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.sending")
_MAX_CLAIM_TRIES = 8


@dataclass(frozen=True)
class SendRequest:
    shop_id: str
    message_id: str
    customer_id: str
    trigger: str
    """What sends it: ``api``, ``campaign:<id>``, ``journey:<id>:<step>``."""
    anchor: str
    """What it is about (an order, a date): with trigger and customer, the delivery identity."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    priority: int | None = None
    campaign_id: str | None = None
    variant: str | None = None
    channels: tuple[str, ...] = ()
    """Only these channels (a request naming its channel); empty: the shop's policy order."""
    expires_at: datetime | None = None
    """Never sent after this (e.g. the end of an early-access window)."""


@dataclass(frozen=True)
class RequestedMessage:
    """Another service asks for one templated message (`message.requested`)."""

    request_id: str
    template: str
    category: str
    requested_by: str
    customer_id: str | None = None
    address: str | None = None
    channel: str | None = None
    locale: str = "ja"
    variables: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True)
class _Claimed:
    """A delivery claimed for a provider call, with what the call needs."""

    message: Message
    delivery: Delivery
    recipient: Recipient
    channels: list[str]
    rendered: Rendered
    policy: ShopPolicy


@dataclass(frozen=True)
class SendOutcome:
    delivery_id: str
    status: str
    reason: str | None = None
    channel: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class ChannelPreview:
    channel: str
    rendered: Rendered


@dataclass
class Messaging:
    """The use cases, with their ports injected by the composition root."""

    deliveries: DeliveryRepository
    recipients: RecipientRepository
    messages: MessageRepository
    channels: Mapping[str, Channel]
    publisher: EventPublisher
    sender: Sender
    links: LinkSigner
    recommendations: RecommendationSource = field(default_factory=NoRecommendations)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # ------------------------------------------------------------ messages
    def save_message(self, message: Message) -> Message:
        message.validate()
        check_message(message)
        self.messages.save(message)
        return message

    def get_message(self, shop_id: str, message_id: str) -> Message:
        found = self._message(shop_id, message_id)
        if found is None:
            raise NotFound(f"no message {message_id!r}", field="message_id")
        return found

    def _message(self, shop_id: str, message_id: str) -> Message | None:
        if message_id.startswith(BUILTIN_PREFIX):
            return builtin_message(shop_id, message_id)
        return self.messages.get(shop_id, message_id)

    def get_policy(self, shop_id: str) -> ShopPolicy:
        return self.messages.policy(shop_id)

    def save_policy(self, shop_id: str, policy: ShopPolicy) -> ShopPolicy:
        policy.validate()
        self.messages.save_policy(shop_id, policy)
        return policy

    # ------------------------------------------------------------ rendering
    def _context(
        self,
        message: Message,
        recipient: Recipient,
        channel: str,
        variables: Mapping[str, Any],
        shop_id: str,
    ) -> dict[str, Any]:
        coupon = None
        code = variables.get("coupon_code") or (message.coupon.code if message.coupon else None)
        if code:
            coupon = {
                "code": str(code),
                "description": message.coupon.description if message.coupon else None,
                "expires_at": (
                    message.coupon.expires_at.isoformat()
                    if message.coupon and message.coupon.expires_at
                    else None
                ),
            }
        recommended = (
            self.recommendations.recommend(shop_id, recipient.customer_id, message.recommendations)
            if message.recommendations
            else []
        )
        context: dict[str, Any] = {k: v for k, v in variables.items() if k != "coupon_code"}
        context.update(
            {
                "customer": {
                    "first_name": recipient.first_name,
                    "last_name": recipient.last_name,
                },
                "sender": {
                    "name": self.sender.name,
                    "email": self.sender.email,
                    "postal_address": self.sender.postal_address,
                },
                "coupon": coupon,
                "recommendations": [vars(r) for r in recommended[: message.recommendations]],
                "unsubscribe_url": self.links.unsubscribe_url(
                    UnsubscribeRequest(shop_id, recipient.customer_id, channel, message.category)
                ),
                "channel": channel,
                "locale": _locale(recipient),
                "vars": dict(variables),
            }
        )
        return context

    def _render(
        self,
        message: Message,
        recipient: Recipient,
        channel: str,
        variables: Mapping[str, Any],
        shop_id: str,
    ) -> Rendered:
        context = self._context(message, recipient, channel, variables, shop_id)
        return render_channel(message, channel, context, _locale(recipient))

    def preview(
        self,
        shop_id: str,
        message_id: str,
        customer_id: str,
        variables: Mapping[str, Any],
        channel: str | None = None,
    ) -> list[ChannelPreview]:
        """Every channel's rendering for one customer (or one channel); sends nothing."""
        message = self.get_message(shop_id, message_id)
        if channel is not None:
            check_channel(channel)
        recipient = self.recipients.get(shop_id, customer_id)
        if recipient is None:
            raise NotFound(
                f"no customer {customer_id!r} known to the messenger", field="customer_id"
            )
        wanted = [channel] if channel else list(message.channels)
        return [
            ChannelPreview(c, self._render(message, recipient, c, variables, shop_id))
            for c in wanted
        ]

    def test_send(
        self, shop_id: str, message_id: str, channel: str, to: str, customer_id: str | None
    ) -> SendOutcome:
        """Send one rendering to a staff address (not a customer: no consent, no cap)."""
        check_channel(channel)
        message = self.get_message(shop_id, message_id)
        recipient = (
            self.recipients.get(shop_id, customer_id) if customer_id else None
        ) or Recipient(
            customer_id="test",
            email=None,
            first_name="Test",
            last_name="Kizuna",
            locale="ja",
            consents=(),
        )
        _check_address(channel, to)
        rendered = self._render(message, recipient, channel, {}, shop_id)
        delivery_id = f"test-{self.clock().timestamp():.6f}"
        result = self.channels[channel].send(_outbound(delivery_id, to, rendered, message, None))
        if result.status is not SendStatus.SENT:
            return SendOutcome(delivery_id, "failed", result.error, channel)
        return SendOutcome(delivery_id, "sent", None, channel)

    # ------------------------------------------------------------ sending
    def send(self, request: SendRequest) -> SendOutcome:
        return self.send_batch([request])[0]

    def send_batch(self, requests: Sequence[SendRequest]) -> list[SendOutcome]:
        """Send each request through the one path; LINE messages whose content comes out
        identical for several people go as one multicast (up to the channel's limit)."""
        prepared: list[SendOutcome | _Claimed] = []
        for request in requests:
            message = self.get_message(request.shop_id, request.message_id)
            for c in request.channels:
                check_channel(c)
            now = self.clock()
            expires_at = now + message.valid_for
            if request.expires_at is not None:
                expires_at = min(expires_at, request.expires_at)
            delivery = Delivery(
                key=DeliveryKey(
                    request.shop_id, request.trigger, request.customer_id, request.anchor
                ),
                channel="",
                category=message.category,
                status=DeliveryStatus.SENDING,
                created_at=now,
                message_id=message.message_id,
                priority=request.priority if request.priority is not None else message.priority,
                expires_at=expires_at,
                variables=dict(request.variables),
                campaign_id=request.campaign_id,
                variant=request.variant,
                only_channels=request.channels,
            )
            if expires_at <= now:
                prepared.append(
                    self._close(delivery, DeliveryStatus.DROPPED, SkipReason.EXPIRED.value, None)
                )
                continue
            prepared.append(self._attempt(message, delivery, expect=None))
        return self._deliver_all(prepared)

    def _deliver_all(self, prepared: Sequence[SendOutcome | _Claimed]) -> list[SendOutcome]:
        outcomes: dict[int, SendOutcome] = {}
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prepared):
            if isinstance(p, SendOutcome):
                outcomes[i] = p
                continue
            capacity = getattr(self.channels.get(p.delivery.channel), "max_recipients", 1)
            if p.delivery.channel == "line" and capacity > 1:
                content = json.dumps(self._line_messages(p), sort_keys=True, ensure_ascii=False)
                groups.setdefault(content, []).append(i)
            else:
                outcomes[i] = self._deliver(p)
        for members in groups.values():
            channel = self.channels["line"]
            size = max(getattr(channel, "max_recipients", 1), 1)
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                if len(chunk) == 1:
                    claimed = prepared[chunk[0]]
                    assert isinstance(claimed, _Claimed)
                    outcomes[chunk[0]] = self._deliver(claimed)
                    continue
                claims = [prepared[i] for i in chunk]
                results = self._multicast([c for c in claims if isinstance(c, _Claimed)])
                outcomes.update(zip(chunk, results, strict=True))
        return [outcomes[i] for i in range(len(prepared))]

    def _line_messages(self, claimed: _Claimed) -> list[dict[str, Any]]:
        assert isinstance(claimed.rendered, RenderedLine)
        d = claimed.delivery
        return instrument_line(
            claimed.rendered.line_messages(),
            self.links.secret,
            Postback(d.key.shop_id, d.key.trigger, d.key.anchor, d.campaign_id, d.variant, ""),
        )

    def _multicast(self, claims: list[_Claimed]) -> list[SendOutcome]:
        """One LINE multicast for people who get the very same content."""
        channel = self.channels["line"]
        ids = sorted(c.delivery.delivery_id for c in claims)
        group_id = "mc-" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:29]
        first = claims[0]
        outbound = replace(
            _outbound(group_id, "", first.rendered, first.message, None),
            line_messages=tuple(self._line_messages(first)),
        )
        addresses = [c.recipient.line_user_id or "" for c in claims]
        result = channel.send_many(group_id, addresses, outbound)
        now = self.clock()
        outcomes = []
        for c in claims:
            if result.status is SendStatus.SENT:
                outcomes.append(self._sent(c.delivery, result, now))
            elif result.status is SendStatus.RETRYABLE:
                # The channel already retried with the group's retry key. LINE may still have
                # accepted the multicast, and a later retry per person would carry new keys,
                # so at-most-once wins: a dead letter an operator can look at, never a resend.
                reason = f"multicast_unconfirmed:{result.error or 'retryable'}"
                outcomes.append(
                    self._close(
                        c.delivery, DeliveryStatus.DEAD_LETTER, reason, DeliveryStatus.SENDING
                    )
                )
            else:
                outcomes.append(
                    self._close(
                        c.delivery,
                        DeliveryStatus.FAILED,
                        result.error or "rejected",
                        DeliveryStatus.SENDING,
                    )
                )
        return outcomes

    def send_requested(self, shop_id: str, r: RequestedMessage) -> SendOutcome:
        """A message another service asked for, at most once per request id.

        A known customer goes through their own consent, unsubscribes and cap. A bare
        address (an anonymous restock sign-up) gets a messenger profile keyed by the
        address, with the requester as the consent source (it ran the double opt-in),
        so unsubscribes, suppression and the cap still apply to it."""
        message = builtin_message(shop_id, BUILTIN_PREFIX + r.template)
        if message is None:
            raise InvalidInput(f"unknown template {r.template!r}", field="template")
        if message.category != r.category:
            raise InvalidInput(
                f"template {r.template!r} is {message.category}, not {r.category}",
                field="category",
            )
        if r.channel is not None:
            check_channel(r.channel)
        customer_id = r.customer_id
        if customer_id is None:
            if not r.address or r.channel is None:
                raise InvalidInput("a bare address needs its channel", field="channel")
            _check_address(r.channel, r.address)
            address = r.address.strip()
            address = address.lower() if r.channel == "email" else address
            digest = hashlib.sha256(f"{r.channel}|{address}".encode()).hexdigest()[:24]
            customer_id = f"addr-{digest}"
            now = self.clock()
            self.recipients.upsert(
                shop_id,
                Recipient(
                    customer_id=customer_id,
                    email=address if r.channel == "email" else None,
                    phone=address if r.channel == "sms" else None,
                    line_user_id=address if r.channel == "line" else None,
                    first_name=None,
                    last_name=None,
                    locale=r.locale if r.locale in ("ja", "en") else "ja",
                    consents=(ConsentState(r.channel, r.category, True, r.requested_by, now),),
                ),
                now,
            )
        return self.send(
            SendRequest(
                shop_id=shop_id,
                message_id=message.message_id,
                customer_id=customer_id,
                trigger="request",
                anchor=r.request_id,
                variables=dict(r.variables),
                channels=(r.channel,) if r.channel else (),
                expires_at=r.expires_at,
            )
        )

    def dispatch_due(self, limit: int = 100) -> list[SendOutcome]:
        """Deferred sends and retries that are due, higher priority first (so when the
        frequency cap has fewer free slots than due messages, the important ones win)."""
        entries = sorted(
            self.deliveries.due(self.clock(), limit), key=lambda e: (-e.priority, e.due_at)
        )
        outcomes = []
        for entry in entries:
            outcomes.append(self._resume(entry))
            self.deliveries.remove_due(entry)
        return outcomes

    def _resume(self, entry: DueEntry) -> SendOutcome:
        delivery = self.deliveries.get(entry.key)
        if delivery is None or delivery.status not in RESUMABLE or delivery.due_at != entry.due_at:
            return SendOutcome(entry.key.delivery_id, "skipped", "stale_due_entry")
        message = self._message(entry.key.shop_id, delivery.message_id or "")
        if message is None:
            return self._close(delivery, DeliveryStatus.DROPPED, "message_deleted", delivery.status)
        return self._deliver_all([self._attempt(message, delivery, expect=delivery.status)])[0]

    def _close(
        self,
        delivery: Delivery,
        status: DeliveryStatus,
        reason: str,
        expect: DeliveryStatus | None,
        due_at: datetime | None = None,
    ) -> SendOutcome:
        final = replace(delivery, status=status, skip_reason=reason, due_at=due_at)
        if not self.deliveries.transition(final, expect=expect):
            return SendOutcome(delivery.delivery_id, "skipped", SkipReason.ALREADY_DELIVERED.value)
        _log.info(
            "delivery closed",
            extra={"delivery_id": delivery.delivery_id, "status": status.value, "reason": reason},
        )
        return SendOutcome(
            delivery.delivery_id, status.value, reason, delivery.channel or None, due_at
        )

    def _attempt(
        self, message: Message, delivery: Delivery, expect: DeliveryStatus | None
    ) -> SendOutcome | _Claimed:
        """Decide, render and claim; the claimed delivery is then handed to a provider."""
        shop_id = delivery.key.shop_id
        policy = self.messages.policy(shop_id)
        if delivery.only_channels:
            policy = replace(policy, channel_order=delivery.only_channels)
        for _ in range(_MAX_CLAIM_TRIES):
            now = self.clock()
            recipient = self.recipients.get(shop_id, delivery.key.customer_id)
            if recipient is None:
                return self._close(delivery, DeliveryStatus.SKIPPED, SkipReason.NO_ADDRESS, expect)
            channels, reason = choose_channels(message, recipient, policy)
            if reason is not None:
                return self._close(delivery, DeliveryStatus.SKIPPED, reason.value, expect)
            channel = channels[0]
            counted = delivery.cap_counted or message.category != "marketing"
            at, why = self._when(now, channel, message, recipient, policy, counted)
            if at > now:
                if delivery.expires_at is not None and at > delivery.expires_at:
                    return self._close(
                        replace(delivery, channel=channel),
                        DeliveryStatus.DROPPED,
                        f"{SkipReason.EXPIRED.value}:{why}",
                        expect,
                    )
                return self._close(
                    replace(delivery, channel=channel), DeliveryStatus.DEFERRED, why, expect, at
                )
            rendered = self._render(message, recipient, channel, delivery.variables, shop_id)
            claiming = replace(
                delivery,
                channel=channel,
                status=DeliveryStatus.SENDING,
                skip_reason=None,
                due_at=None,
                cap_counted=message.category == "marketing",
                rank=delivery.rank or recipient.rank,
                claims=delivery.claims + 1,
            )
            cap = None
            if not counted:
                kept = cap_window_times(recipient.cap_times, now, policy.cap_window)
                cap = CapUpdate(recipient.cap_version, (*kept, now))
            claimed = self.deliveries.claim_send(
                claiming,
                expect=expect,
                cap=cap,
                address=recipient.email if channel == "email" else None,
            )
            if claimed is ClaimResult.CLAIMED:
                return _Claimed(message, claiming, recipient, channels, rendered, policy)
            if claimed is ClaimResult.ALREADY_DELIVERED:
                return SendOutcome(
                    delivery.delivery_id, "skipped", SkipReason.ALREADY_DELIVERED.value
                )
            if claimed is ClaimResult.SUPPRESSED:
                self.recipients.set_reachability(
                    shop_id, recipient.customer_id, channel, False, now
                )
            # UNSUBSCRIBED / SUPPRESSED / CAP_CONFLICT: read again and decide again.
        return self._close(delivery, DeliveryStatus.SKIPPED, "contention", expect)

    def _when(
        self,
        now: datetime,
        channel: str,
        message: Message,
        recipient: Recipient,
        policy: ShopPolicy,
        counted: bool,
    ) -> tuple[datetime, str]:
        """Earliest time the message may go, and why it has to wait (if it does)."""
        at, why = now, ""
        for _ in range(4):  # cap and quiet hours may push each other: settle
            timed = earliest_send_time(at, channel, message, recipient, policy)
            if timed > at:
                at, why = timed, why if why else "quiet_hours"
            if counted:
                break
            slot = next_free_slot(recipient.cap_times, at, policy.cap_count, policy.cap_window)
            if slot is None:
                break
            at, why = max(slot, at), "frequency_cap"
        if at > now and message.send_at_active_hour and why == "quiet_hours":
            why = "timing"
        return at, why

    def _instrument(self, claimed: _Claimed, rendered: Rendered) -> Rendered:
        """Tracked links and the open pixel (mail), signed postbacks (LINE)."""
        d = claimed.delivery
        if isinstance(rendered, RenderedEmail):
            tracked = TrackedDelivery(
                d.key.shop_id, d.delivery_id, d.key.customer_id, d.channel, d.campaign_id, d.variant
            )
            urls = TrackingUrls(self.links.public_base_url, self.links.secret)
            return replace(rendered, html=instrument_html(rendered.html, tracked, urls))
        return rendered

    def _retry_or_dead(
        self, delivery: Delivery, policy: ShopPolicy, result: SendResult, now: datetime
    ) -> SendOutcome:
        attempts = delivery.attempts + 1
        failed = replace(delivery, attempts=attempts)
        if attempts >= policy.max_attempts:
            return self._close(
                failed,
                DeliveryStatus.DEAD_LETTER,
                result.error or "retryable",
                DeliveryStatus.SENDING,
            )
        return self._close(
            failed,
            DeliveryStatus.RETRY_SCHEDULED,
            result.error or "retryable",
            DeliveryStatus.SENDING,
            now + retry_delay(policy, attempts),
        )

    def _deliver(self, claimed: _Claimed) -> SendOutcome:
        message, delivery, recipient = claimed.message, claimed.delivery, claimed.recipient
        channels, rendered, policy = claimed.channels, claimed.rendered, claimed.policy
        shop_id = delivery.key.shop_id
        remaining = channels[channels.index(delivery.channel) + 1 :]
        current, current_rendering = delivery, rendered
        while True:
            address = recipient.address(current.channel) or ""
            channel = self.channels[current.channel]
            unsubscribe_url = (
                self.links.unsubscribe_url(
                    UnsubscribeRequest(
                        shop_id, recipient.customer_id, current.channel, message.category
                    )
                )
                if message.category == "marketing"
                else None
            )
            current_claim = replace(claimed, delivery=current)
            outbound = _outbound(
                current.delivery_id,
                address,
                self._instrument(current_claim, current_rendering),
                message,
                unsubscribe_url,
            )
            if isinstance(current_rendering, RenderedLine):
                outbound = replace(
                    outbound,
                    line_messages=tuple(
                        self._line_messages(replace(current_claim, rendered=current_rendering))
                    ),
                )
            result = channel.send(outbound)
            now = self.clock()
            if result.status is SendStatus.SENT:
                return self._sent(current, result, now)
            if result.status is SendStatus.RETRYABLE:
                return self._retry_or_dead(current, policy, result, now)
            # Hard failure: this channel cannot reach the person; try the next one.
            self.recipients.set_reachability(
                shop_id, recipient.customer_id, current.channel, False, now
            )
            _log.info(
                "channel hard-failed",
                extra={
                    "delivery_id": current.delivery_id,
                    "channel": current.channel,
                    "error": result.error,
                },
            )
            if not remaining:
                return self._close(
                    current,
                    DeliveryStatus.FAILED,
                    result.error or "rejected",
                    DeliveryStatus.SENDING,
                )
            next_channel = remaining.pop(0)
            at, why = self._when(now, next_channel, message, recipient, policy, True)
            if at > now:
                # e.g. LINE blocked at 22:00: mail would be allowed, SMS waits for morning.
                return self._close(
                    replace(current, channel=next_channel),
                    DeliveryStatus.DEFERRED,
                    why,
                    DeliveryStatus.SENDING,
                    at,
                )
            current_rendering = self._render(
                message, recipient, next_channel, current.variables, shop_id
            )
            current = replace(current, channel=next_channel)

    def _sent(self, delivery: Delivery, result: SendResult, now: datetime) -> SendOutcome:
        done = replace(
            delivery,
            status=DeliveryStatus.SENT,
            sent_at=now,
            provider_message_id=result.provider_message_id,
        )
        self.deliveries.transition(done, expect=DeliveryStatus.SENDING)
        self.publisher.publish(
            [
                EventEnvelope(
                    id=f"msg-{delivery.delivery_id}",
                    shop=delivery.key.shop_id,
                    type="message.sent",
                    time=now,
                    detail=details.MessageSent(
                        delivery_id=delivery.delivery_id,
                        customer_id=delivery.key.customer_id,
                        channel=delivery.channel,
                        trigger=delivery.key.trigger,
                        campaign_id=delivery.campaign_id,
                        variant=delivery.variant,
                    ).model_dump(mode="json"),
                )
            ]
        )
        _log.info(
            "message sent", extra={"delivery_id": delivery.delivery_id, "channel": delivery.channel}
        )
        return SendOutcome(delivery.delivery_id, "sent", None, delivery.channel)


def _locale(recipient: Recipient) -> str:
    return recipient.locale if recipient.locale in ("ja", "en") else "ja"


def _outbound(
    delivery_id: str, to: str, rendered: Rendered, message: Message, unsubscribe_url: str | None
) -> OutboundMessage:
    if isinstance(rendered, RenderedEmail):
        return OutboundMessage(
            delivery_id=delivery_id,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            unsubscribe_url=unsubscribe_url,
            category=message.category,
        )
    if isinstance(rendered, RenderedLine):
        return OutboundMessage(
            delivery_id=delivery_id,
            to=to,
            text=rendered.preview_text,
            line_messages=tuple(rendered.line_messages()),
            unsubscribe_url=unsubscribe_url,
            category=message.category,
        )
    assert isinstance(rendered, RenderedSms)
    return OutboundMessage(
        delivery_id=delivery_id,
        to=to,
        text=rendered.text,
        unsubscribe_url=unsubscribe_url,
        category=message.category,
    )


def _check_address(channel: str, to: str) -> None:
    if channel == "email":
        from messenger.channels.email import is_valid_address

        if not is_valid_address(to):
            raise InvalidInput("not a valid email address", field="to")
    elif channel == "sms":
        from messenger.channels.sms import normalise_phone

        if normalise_phone(to) is None:
            raise InvalidInput("not a valid phone number", field="to")
    elif not (to.startswith("U") and len(to) == 33):
        raise InvalidInput("not a LINE user id (U followed by 32 hex digits)", field="to")
