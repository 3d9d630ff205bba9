"""Messenger use cases for stored messages: save, preview, send one, dispatch what is due.

Sending follows one path whatever starts it (an API call now; campaigns and journey
steps later):

1. read the message, the shop's policy and the recipient (profile + unsubscribes: one
   Query);
2. choose the channels (consent, reachability, policy order) and the earliest time
   (quiet hours, active hour, frequency cap); later than now → record the delivery as
   deferred with a due entry (or drop it with the reason if that is past its validity);
3. render (a template error on a single send is a 422 naming the field, with nothing
   written or sent; in a batch or a due send it is that person's `failed` delivery,
   with the reason, and the others go on);
4. claim: one transaction records the intent, checks unsubscribes and suppression and
   reserves the cap slot (a conditional write on the person's counter, so concurrent
   sends cannot overshoot the cap);
5. send; a hard failure (the person cannot be reached there) marks the channel
   unreachable, a rejection (the content) does not; either falls back to the next
   channel, which is claimed like the first (unsubscribes, suppression); a retryable
   failure schedules a retry with backoff (same delivery id, so LINE sees the same
   retry key) and, after `max_attempts`, a dead letter.

A crash between the provider call and the final write leaves the claim in `sending`;
nothing ever re-sends a `sending` delivery, so the effect is at most once. The claim
writes a watch due entry for `unconfirmed_after` later (the final write removes it): a
delivery still `sending` then becomes a dead letter (`unconfirmed`, may duplicate) that
an operator sees and may redrive. A provider call that raises instead of answering is
unconfirmed too: a dead letter, never a resend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from messenger.adapters.messages import MessageRepository
from messenger.adapters.recipients import RecipientRepository
from messenger.adapters.recommendations import NoRecommendations, RecommendationSource
from messenger.adapters.repository import (
    CapUpdate,
    ClaimResult,
    DeliveryRepository,
    DueEntry,
    DueKind,
)
from messenger.channels.base import Channel, OutboundMessage, SendResult, SendStatus
from messenger.channels.line import check_content as check_line_content
from messenger.domain.builtin import BUILTIN_PREFIX, builtin_message
from messenger.domain.links import UnsubscribeRequest
from messenger.domain.message import CHANNELS, Message, check_channel
from messenger.domain.model import (
    NOTHING_SENT,
    RESUMABLE,
    ConsentState,
    Delivery,
    DeliveryKey,
    DeliveryStatus,
    Recipient,
    SkipReason,
)
from messenger.domain.policy import (
    SenderIdentity,
    ShopPolicy,
    cap_window_times,
    choose_channels,
    earliest_send_time,
    next_free_slot,
    retry_delay,
    send_deadline,
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
from messenger.services.common import LinkSigner
from messenger.services.line_accounts import LineAccounts
from shared import clock as shared_clock
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import Conflict, DependencyFailed, InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.sending")
_MAX_CLAIM_TRIES = 8
UNCONFIRMED_AFTER = timedelta(minutes=15)
"""Lambda's longest timeout: a claim older than this has no process left to record it."""


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
class Redriven:
    """What a redrive did, and whether the dead letter's last provider call may already
    have reached the person (a raised call, an unconfirmed multicast): then this send
    may be their second copy."""

    outcome: SendOutcome
    may_duplicate: bool


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
    sender: SenderIdentity
    links: LinkSigner
    recommendations: RecommendationSource = field(default_factory=NoRecommendations)
    clock: Callable[[], datetime] = field(default=shared_clock.now)
    line_accounts: LineAccounts | None = None
    """The shops' own LINE channels; `channels["line"]` is the platform's, if any."""
    verified_sender: Callable[[str], bool] | None = None
    """Whether SES may send from an address (it or its domain is a verified identity);
    None: not checked (tests without SES)."""
    unconfirmed_after: timedelta = UNCONFIRMED_AFTER
    """How long a claim may stay `sending` before the dispatcher calls it unconfirmed."""

    # ------------------------------------------------------------ channels
    def _channel(self, shop_id: str, name: str) -> Channel | None:
        """What carries this shop's messages on `name`: on LINE the shop's own channel,
        else the platform's; None when the shop has no account there."""
        if name == "line" and self.line_accounts is not None:
            own = self.line_accounts.channel_of(shop_id)
            if own is not None:
                return own
        return self.channels.get(name)

    def _unavailable(
        self, shop_id: str, policy: ShopPolicy, recipient: Recipient
    ) -> frozenset[str]:
        """The policy's channels this shop cannot send on (asked only where the person has
        an address, so a mail-only person costs no LINE lookup)."""
        return frozenset(
            c
            for c in policy.channel_order
            if recipient.address(c) and self._channel(shop_id, c) is None
        )

    # ------------------------------------------------------------ messages
    def save_message(self, message: Message) -> Message:
        message.validate()
        check_message(message)
        if message.line is not None:
            check_line_content(message.line, message.shop_id)
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
        """A sender SES cannot send from is refused now, not every mail of the shop later."""
        policy.validate()
        if policy.sender is not None and self.verified_sender is not None:
            try:
                verified = self.verified_sender(policy.sender.email)
            except Exception as err:
                raise DependencyFailed(
                    "could not check the sender with SES; try again", field="sender.email"
                ) from err
            if not verified:
                raise InvalidInput(
                    "sender.email is not a verified SES identity: verify the address or its "
                    "domain in Amazon SES first",
                    field="sender.email",
                )
        self.messages.save_policy(shop_id, policy)
        return policy

    # ------------------------------------------------------------ rendering
    def _sender_of(self, shop_id: str) -> SenderIdentity:
        """The shop's own identity if it set one (the policy is cached), else the platform's."""
        return self.messages.policy(shop_id).sender or self.sender

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
                "sender": vars(self._sender_of(shop_id)),
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
        carrier = self._channel(shop_id, channel)
        if carrier is None:
            raise InvalidInput(
                f"this shop has no {channel} channel"
                + (" (connect one: PUT /v1/messenger/line-channel)" if channel == "line" else ""),
                field="channel",
            )
        rendered = self._render(message, recipient, channel, {}, shop_id)
        delivery_id = f"test-{self.clock().timestamp():.6f}"
        result = carrier.send(
            _outbound(delivery_id, to, rendered, message, None, self._sender_of(shop_id))
        )
        if result.status is not SendStatus.SENT:
            return SendOutcome(delivery_id, "failed", result.error, channel)
        return SendOutcome(delivery_id, "sent", None, channel)

    # ------------------------------------------------------------ sending
    def send(self, request: SendRequest, *, require_customer: bool = False) -> SendOutcome:
        """One send whose caller waits for the answer: a template that fails to render
        raises (a 422 naming the field) with nothing written or sent; so does, with
        `require_customer`, a customer the messenger does not know (a 404), instead of a
        `no_address` record that would stand for that (trigger, customer, anchor)."""
        return self._send_all([request], strict=True, require_customer=require_customer)[0]

    def send_batch(self, requests: Sequence[SendRequest]) -> list[SendOutcome]:
        """Send each request through the one path; LINE messages whose content comes out
        identical for several people go as one multicast (up to the channel's limit).
        What fails for one person (a template that does not render for them) is their
        own `failed` outcome, recorded with the reason; it never holds up the others."""
        return self._send_all(requests, strict=False)

    def _send_all(
        self, requests: Sequence[SendRequest], *, strict: bool, require_customer: bool = False
    ) -> list[SendOutcome]:
        prepared: list[SendOutcome | _Claimed] = []
        for request in requests:
            try:
                prepared.append(self._prepare(request, strict, require_customer))
            except Exception as err:
                if strict:
                    raise
                prepared.append(self._request_failed(request, err))
        return self._deliver_all(prepared)

    def _prepare(
        self, request: SendRequest, strict: bool, require_customer: bool
    ) -> SendOutcome | _Claimed:
        """Decide, render and claim one request (nothing is sent yet)."""
        message = self.get_message(request.shop_id, request.message_id)
        for c in request.channels:
            check_channel(c)
        now = self.clock()
        expires_at = send_deadline(now, message, self.messages.policy(request.shop_id))
        if request.expires_at is not None:
            expires_at = min(expires_at, request.expires_at)
        delivery = Delivery(
            key=DeliveryKey(request.shop_id, request.trigger, request.customer_id, request.anchor),
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
            return self._close(delivery, DeliveryStatus.DROPPED, SkipReason.EXPIRED.value, None)
        if strict:
            return self._attempt(
                message, delivery, expect=None, strict=True, require_customer=require_customer
            )
        try:
            return self._attempt(message, delivery, expect=None)
        except Exception as err:
            return self._record_failure(delivery, err, expect=None)

    def _request_failed(self, request: SendRequest, err: Exception) -> SendOutcome:
        """A batch request that failed before it became a delivery (e.g. its message is
        gone): its outcome says why; there is nothing of it to record."""
        delivery_id = DeliveryKey(
            request.shop_id, request.trigger, request.customer_id, request.anchor
        ).delivery_id
        reason = _failure_reason(err)
        _log.error(
            "send request failed",
            extra={"delivery_id": delivery_id, "shop": request.shop_id, "reason": reason},
        )
        return SendOutcome(delivery_id, DeliveryStatus.FAILED.value, reason)

    def _record_failure(
        self, delivery: Delivery, err: Exception, expect: DeliveryStatus | None
    ) -> SendOutcome:
        """One person's send failed before its claim (nothing went out): recorded as
        failed with the reason, so it shows in the delivery log and the batch goes on."""
        reason = _failure_reason(err)
        _log.error(
            "delivery failed before sending",
            extra={
                "delivery_id": delivery.delivery_id,
                "shop": delivery.key.shop_id,
                "reason": reason,
            },
        )
        try:
            return self._close(delivery, DeliveryStatus.FAILED, reason, expect)
        except Exception as again:
            _log.error(
                "failed delivery not recorded",
                extra={"delivery_id": delivery.delivery_id, "error": type(again).__name__},
            )
            return SendOutcome(delivery.delivery_id, DeliveryStatus.FAILED.value, reason)

    def _deliver_all(self, prepared: Sequence[SendOutcome | _Claimed]) -> list[SendOutcome]:
        outcomes: dict[int, SendOutcome] = {}
        groups: dict[tuple[str, str], list[int]] = {}
        for i, p in enumerate(prepared):
            if isinstance(p, SendOutcome):
                outcomes[i] = p
                continue
            shop_id = p.delivery.key.shop_id
            channel = self._channel(shop_id, p.delivery.channel)
            if p.delivery.channel == "line" and getattr(channel, "max_recipients", 1) > 1:
                # One multicast per shop: each shop's goes out through its own channel.
                content = json.dumps(self._line_messages(p), sort_keys=True, ensure_ascii=False)
                groups.setdefault((shop_id, content), []).append(i)
            else:
                outcomes[i] = self._deliver_guarded(p)
        for (shop_id, _), members in groups.items():
            size = max(getattr(self._channel(shop_id, "line"), "max_recipients", 1), 1)
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                claims = [c for c in (prepared[i] for i in chunk) if isinstance(c, _Claimed)]
                if len(claims) == 1:
                    outcomes[chunk[0]] = self._deliver_guarded(claims[0])
                    continue
                try:
                    results = self._multicast(claims)
                except Exception as err:
                    results = [self._unconfirmed(c.delivery, err) for c in claims]
                outcomes.update(zip(chunk, results, strict=True))
        return [outcomes[i] for i in range(len(prepared))]

    def _deliver_guarded(
        self, claimed: _Claimed, answered: SendResult | None = None
    ) -> SendOutcome:
        try:
            return self._deliver(claimed, answered)
        except Exception as err:
            return self._unconfirmed(claimed.delivery, err)

    def _unconfirmed(self, delivery: Delivery, err: Exception) -> SendOutcome:
        """A claimed delivery whose send raised instead of answering: the provider may
        have taken it, so it becomes a dead letter an operator can look at (never a
        resend), and the rest of the batch goes on."""
        reason = f"error:{type(err).__name__}"
        _log.error(
            "send raised after the claim",
            extra={
                "delivery_id": delivery.delivery_id,
                "channel": delivery.channel,
                "reason": reason,
            },
        )
        dead = replace(
            delivery,
            status=DeliveryStatus.DEAD_LETTER,
            skip_reason=reason,
            due_at=None,
            outcome_unknown=True,
        )
        try:
            if self.deliveries.transition(dead, expect=DeliveryStatus.SENDING):
                return SendOutcome(
                    delivery.delivery_id, dead.status.value, reason, delivery.channel
                )
            current = self.deliveries.get(delivery.key)
        except Exception:
            current = None
        status = current.status.value if current is not None else "unknown"
        return SendOutcome(delivery.delivery_id, status, reason, delivery.channel)

    def _line_messages(self, claimed: _Claimed) -> list[dict[str, Any]]:
        assert isinstance(claimed.rendered, RenderedLine)
        d = claimed.delivery
        return instrument_line(
            claimed.rendered.line_messages(),
            self.links.secret,
            Postback(d.key.shop_id, d.key.trigger, d.key.anchor, d.campaign_id, d.variant, ""),
        )

    def _multicast(self, claims: list[_Claimed]) -> list[SendOutcome]:
        """One LINE multicast for people of one shop who get the very same content."""
        channel = self._channel(claims[0].delivery.key.shop_id, "line")
        if channel is None:  # disconnected since the claim: each person the normal way
            return [self._deliver_guarded(c) for c in claims]
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
                unknown = replace(c.delivery, outcome_unknown=True)
                outcomes.append(
                    self._close(unknown, DeliveryStatus.DEAD_LETTER, reason, DeliveryStatus.SENDING)
                )
            else:
                # Refused as a whole (400): nothing was delivered, so each person goes the
                # normal way: a push (one unknown user id fails only that person), then
                # the next channel. Content LINE refused would be refused again: straight
                # to the next channel, with LINE still reachable.
                answered = result if result.status is SendStatus.REJECTED else None
                outcomes.append(self._deliver_guarded(c, answered))
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
        frequency cap has fewer free slots than due messages, the important ones win),
        and the watches of claims whose process may have died."""
        entries = sorted(
            self.deliveries.due(self.clock(), limit), key=lambda e: (-e.priority, e.due_at)
        )
        outcomes = []
        for entry in entries:
            # One entry must not hold up every other due send, of any shop: a render or
            # provider failure is already its own outcome; anything else raised (a read
            # that fails) parks it with backoff.
            try:
                if entry.kind is DueKind.UNCONFIRMED:
                    outcome = self._sweep(entry)
                else:
                    outcome = self._resume(entry)
            except Exception as err:
                try:
                    outcome = self._park(entry, err)
                except Exception as again:
                    _log.error(
                        "due send kept for the next tick",
                        extra={
                            "delivery_id": entry.key.delivery_id,
                            "shop": entry.key.shop_id,
                            "error": type(again).__name__,
                        },
                    )
                    outcomes.append(
                        SendOutcome(entry.key.delivery_id, "error", _failure_reason(err))
                    )
                    continue
            outcomes.append(outcome)
            self.deliveries.remove_due(entry)
        return outcomes

    def redrive(self, shop_id: str, customer_id: str, delivery_id: str) -> Redriven:
        """An operator puts a dead letter back for one more attempt through the normal
        path: same delivery id (so LINE's retry key and SES's idempotency hold), with
        consent, unsubscribes, suppression, cap and quiet hours checked again at the claim.
        Only a dead letter: anything else is a 409 naming its status."""
        found = self.deliveries.find(shop_id, customer_id, delivery_id)
        if found is None:
            raise NotFound(f"no delivery {delivery_id!r} for this customer", field="delivery_id")
        if found.status is not DeliveryStatus.DEAD_LETTER:
            raise Conflict(
                f"delivery is {found.status.value}; only dead_letter deliveries can be redriven",
                field="status",
            )
        now = self.clock()
        if found.expires_at is not None and found.expires_at <= now:
            raise Conflict(
                f"delivery expired at {found.expires_at.isoformat()}; it is no longer sent",
                field="expires_at",
            )
        policy = self.messages.policy(shop_id)
        again = replace(
            found,
            status=DeliveryStatus.RETRY_SCHEDULED,
            skip_reason="redriven",
            due_at=now,
            attempts=max(policy.max_attempts - 1, 0),  # one more provider attempt
            outcome_unknown=False,
            # A send that may have reached the person keeps its cap slot for good.
            cap_slot=None if found.outcome_unknown else found.cap_slot,
        )
        # Written with its due entry first: if this request dies, the dispatcher sends it.
        if not self.deliveries.transition(again, expect=DeliveryStatus.DEAD_LETTER):
            raise Conflict("delivery is being redriven already", field="status")
        _log.info(
            "dead letter redriven",
            extra={"delivery_id": delivery_id, "may_duplicate": found.outcome_unknown},
        )
        entry = DueEntry(now, found.key, found.priority)
        try:
            outcome = self._resume(entry)
        except Exception as err:
            _log.error(
                "redrive left to the dispatcher",
                extra={"delivery_id": delivery_id, "reason": _failure_reason(err)},
            )
            outcome = SendOutcome(
                delivery_id, DeliveryStatus.RETRY_SCHEDULED.value, "redriven", found.channel, now
            )
            return Redriven(outcome, found.outcome_unknown)
        self.deliveries.remove_due(entry)
        return Redriven(outcome, found.outcome_unknown)

    def _park(self, entry: DueEntry, err: Exception) -> SendOutcome:
        """A due send whose resume raised before its claim: tried again later with
        backoff like a provider failure, then a dead letter; never in the way of others."""
        if entry.kind is DueKind.UNCONFIRMED:
            raise err  # nothing to park: the watch stays and is looked at next tick
        reason = _failure_reason(err)
        _log.error(
            "due send failed",
            extra={
                "delivery_id": entry.key.delivery_id,
                "shop": entry.key.shop_id,
                "reason": reason,
            },
        )
        delivery = self.deliveries.get(entry.key)
        if delivery is None or delivery.status not in RESUMABLE or delivery.due_at != entry.due_at:
            return SendOutcome(entry.key.delivery_id, "skipped", "stale_due_entry")
        policy = self.messages.policy(entry.key.shop_id)
        failed = SendResult(SendStatus.RETRYABLE, error=reason)
        return self._retry_or_dead(delivery, policy, failed, self.clock(), expect=delivery.status)

    def _sweep(self, entry: DueEntry) -> SendOutcome:
        """A claim's watch is due: a delivery still `sending` now lost its process between
        the claim and the record (timeout, out of memory). The provider may have taken it,
        so it becomes a dead letter that may duplicate (never a resend), its cap slot
        kept; an operator sees it and may redrive it. Anything else: the entry is stale."""
        delivery = self.deliveries.get(entry.key)
        if (
            delivery is None
            or delivery.status is not DeliveryStatus.SENDING
            or delivery.unconfirmed_at != entry.due_at
        ):
            return SendOutcome(entry.key.delivery_id, "skipped", "stale_due_entry")
        _log.error(
            "send left unconfirmed",
            extra={"delivery_id": delivery.delivery_id, "channel": delivery.channel},
        )
        return self._close(
            replace(delivery, outcome_unknown=True),
            DeliveryStatus.DEAD_LETTER,
            SkipReason.UNCONFIRMED.value,
            DeliveryStatus.SENDING,
        )

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
        give_back = (
            status in NOTHING_SENT and final.cap_slot is not None and not final.outcome_unknown
        )
        if give_back:
            final = replace(final, cap_counted=False, cap_slot=None)
        if not self.deliveries.transition(final, expect=expect):
            return SendOutcome(delivery.delivery_id, "skipped", SkipReason.ALREADY_DELIVERED.value)
        if give_back:
            assert delivery.cap_slot is not None
            self._give_back_slot(delivery, delivery.cap_slot)
        _log.info(
            "delivery closed",
            extra={"delivery_id": delivery.delivery_id, "status": status.value, "reason": reason},
        )
        return SendOutcome(
            delivery.delivery_id, status.value, reason, delivery.channel or None, due_at
        )

    def _give_back_slot(self, delivery: Delivery, slot: datetime) -> None:
        """The person got nothing: their cap slot is free for the next message. A failure
        here only leaves the slot taken until it ages out of the window."""
        try:
            self.deliveries.release_cap_slot(delivery.key.shop_id, delivery.key.customer_id, slot)
        except Exception as err:
            _log.error(
                "cap slot not given back",
                extra={"delivery_id": delivery.delivery_id, "error": type(err).__name__},
            )

    def _attempt(
        self,
        message: Message,
        delivery: Delivery,
        expect: DeliveryStatus | None,
        *,
        strict: bool = False,
        require_customer: bool = False,
    ) -> SendOutcome | _Claimed:
        """Decide, render and claim; the claimed delivery is then handed to a provider.
        `strict` (a single send): a render error raises with nothing written; otherwise
        it closes this delivery as failed, with the field in the reason."""
        shop_id = delivery.key.shop_id
        policy = self.messages.policy(shop_id)
        if delivery.only_channels:
            policy = replace(policy, channel_order=delivery.only_channels)
        for _ in range(_MAX_CLAIM_TRIES):
            now = self.clock()
            recipient = self.recipients.get(shop_id, delivery.key.customer_id)
            if recipient is None:
                return self._unknown_customer(delivery, expect, require_customer)
            unavailable = self._unavailable(shop_id, policy, recipient)
            channels, reason = choose_channels(message, recipient, policy, unavailable)
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
            try:
                rendered = self._render(message, recipient, channel, delivery.variables, shop_id)
            except InvalidInput as err:
                if strict:
                    raise
                return self._record_failure(replace(delivery, channel=channel), err, expect)
            claiming = replace(
                delivery,
                channel=channel,
                status=DeliveryStatus.SENDING,
                skip_reason=None,
                due_at=None,
                cap_counted=message.category == "marketing",
                rank=delivery.rank or recipient.rank,
                claims=delivery.claims + 1,
                unconfirmed_at=now + self.unconfirmed_after,
            )
            cap = None
            if not counted:
                kept = cap_window_times(recipient.cap_times, now, policy.cap_window)
                cap = CapUpdate(recipient.cap_version, (*kept, now))
                claiming = replace(claiming, cap_slot=now)
            claimed = self.deliveries.claim_send(
                claiming, expect=expect, cap=cap, address=_suppressible(recipient, channel)
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

    def _unknown_customer(
        self, delivery: Delivery, expect: DeliveryStatus | None, raise_it: bool
    ) -> SendOutcome:
        if raise_it:
            raise NotFound(
                f"no customer {delivery.key.customer_id!r} known to the messenger",
                field="customer_id",
            )
        return self._close(delivery, DeliveryStatus.SKIPPED, SkipReason.NO_ADDRESS, expect)

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
        self,
        delivery: Delivery,
        policy: ShopPolicy,
        result: SendResult,
        now: datetime,
        expect: DeliveryStatus = DeliveryStatus.SENDING,
    ) -> SendOutcome:
        attempts = delivery.attempts + 1
        failed = replace(delivery, attempts=attempts)
        if attempts >= policy.max_attempts:
            return self._close(
                failed, DeliveryStatus.DEAD_LETTER, result.error or "retryable", expect
            )
        return self._close(
            failed,
            DeliveryStatus.RETRY_SCHEDULED,
            result.error or "retryable",
            expect,
            now + retry_delay(policy, attempts),
        )

    def _deliver(self, claimed: _Claimed, answered: SendResult | None = None) -> SendOutcome:
        """Send on the claimed channel and fall back through the person's other channels.
        `answered`: what the claimed channel already said (a multicast refused whole)."""
        recipient, policy, channels = claimed.recipient, claimed.policy, claimed.channels
        remaining = channels[channels.index(claimed.delivery.channel) + 1 :]
        current, rendering = claimed.delivery, claimed.rendered
        while True:
            result = answered or self._send_on(replace(claimed, delivery=current), rendering)
            answered = None
            now = self.clock()
            if result.status is SendStatus.SENT:
                return self._sent(current, result, now)
            if result.status is SendStatus.RETRYABLE:
                return self._retry_or_dead(current, policy, result, now)
            if result.status is SendStatus.HARD_FAILED:
                # This channel cannot reach the person (unknown LINE user, bad address).
                # A rejection is about the message: the person stays reachable here.
                self.recipients.set_reachability(
                    current.key.shop_id, recipient.customer_id, current.channel, False, now
                )
            _log.info(
                "channel failed",
                extra={
                    "delivery_id": current.delivery_id,
                    "channel": current.channel,
                    "status": result.status.value,
                    "error": result.error,
                },
            )
            step = self._fall_back(claimed, current, remaining, result.error or "rejected", now)
            if isinstance(step, SendOutcome):
                return step
            current, rendering = step

    def _send_on(self, claimed: _Claimed, rendering: Rendered) -> SendResult:
        """One provider call for the claimed delivery on its current channel."""
        message, delivery, recipient = claimed.message, claimed.delivery, claimed.recipient
        unsubscribe_url = (
            self.links.unsubscribe_url(
                UnsubscribeRequest(
                    delivery.key.shop_id, recipient.customer_id, delivery.channel, message.category
                )
            )
            if message.category == "marketing"
            else None
        )
        outbound = _outbound(
            delivery.delivery_id,
            recipient.address(delivery.channel) or "",
            self._instrument(claimed, rendering),
            message,
            unsubscribe_url,
            self._sender_of(delivery.key.shop_id),
        )
        if isinstance(rendering, RenderedLine):
            outbound = replace(
                outbound,
                line_messages=tuple(self._line_messages(replace(claimed, rendered=rendering))),
            )
        carrier = self._channel(delivery.key.shop_id, delivery.channel)
        if carrier is None:
            # Disconnected since the claim: not the person's fault, the next channel goes.
            return SendResult(SendStatus.REJECTED, error=SkipReason.CHANNEL_NOT_CONNECTED.value)
        return carrier.send(outbound)

    def _fall_back(
        self,
        claimed: _Claimed,
        current: Delivery,
        remaining: list[str],
        reason: str,
        now: datetime,
    ) -> SendOutcome | tuple[Delivery, Rendered]:
        """The next channel that may carry the message, claimed exactly like the first
        one (its unsubscribes, its address's suppression) and rendered; or the outcome
        when none is left (failed with the provider's reason) or it has to wait."""
        message, recipient, policy = claimed.message, claimed.recipient, claimed.policy
        shop_id = current.key.shop_id
        while remaining:
            next_channel = remaining.pop(0)
            at, why = self._when(now, next_channel, message, recipient, policy, True)
            if at > now:
                # e.g. LINE blocked at 22:00: mail would be allowed, SMS waits for morning
                # (and is claimed, with every check, when it is due).
                return self._close(
                    replace(current, channel=next_channel),
                    DeliveryStatus.DEFERRED,
                    why,
                    DeliveryStatus.SENDING,
                    at,
                )
            try:
                rendering = self._render(
                    message, recipient, next_channel, current.variables, shop_id
                )
            except InvalidInput as err:
                _log.info(
                    "fallback skipped",
                    extra={
                        "delivery_id": current.delivery_id,
                        "channel": next_channel,
                        "reason": _failure_reason(err),
                    },
                )
                continue
            moved = replace(current, channel=next_channel, claims=current.claims + 1)
            claim = self.deliveries.claim_send(
                moved,
                expect=DeliveryStatus.SENDING,
                cap=None,  # the first claim reserved the slot
                address=_suppressible(recipient, next_channel),
            )
            if claim is ClaimResult.CLAIMED:
                return moved, rendering
            if claim is ClaimResult.ALREADY_DELIVERED:
                return SendOutcome(
                    current.delivery_id, "skipped", SkipReason.ALREADY_DELIVERED.value
                )
            if claim is ClaimResult.SUPPRESSED:
                self.recipients.set_reachability(
                    shop_id, recipient.customer_id, next_channel, False, now
                )
            _log.info(
                "fallback skipped",
                extra={
                    "delivery_id": current.delivery_id,
                    "channel": next_channel,
                    "reason": claim.value,
                },
            )
        return self._close(current, DeliveryStatus.FAILED, reason, DeliveryStatus.SENDING)

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


def _failure_reason(err: Exception) -> str:
    """A failure as a delivery reason: the field of a render error, else the error type
    (never its message, which may quote personal data)."""
    if isinstance(err, InvalidInput):
        field = err.field or "template"
        rendering = field.split(".")[0] in (*CHANNELS, "template")
        return f"{'render_error' if rendering else 'invalid'}:{field}"
    if isinstance(err, NotFound):
        return f"not_found:{err.field or 'message'}"
    return f"error:{type(err).__name__}"


def _suppressible(recipient: Recipient, channel: str) -> str | None:
    """The address a claim checks against the suppression list: mail only (SES bounces
    and complaints are what suppress an address)."""
    return recipient.email if channel == "email" else None


def _locale(recipient: Recipient) -> str:
    return recipient.locale if recipient.locale in ("ja", "en") else "ja"


def _outbound(
    delivery_id: str,
    to: str,
    rendered: Rendered,
    message: Message,
    unsubscribe_url: str | None,
    sender: SenderIdentity | None = None,
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
            sender_name=sender.name if sender else None,
            sender_email=sender.email if sender else None,
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
