"""The send pipeline: decide, render, claim, deliver, fall back, retry; LINE multicast
for people who get the very same content. The steps are told in
`messenger.services.sending`, the door callers use."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from messenger.channels.base import (
    Addressing,
    OutboundMessage,
    SendResult,
    SendStatus,
    Tracking,
)
from messenger.channels.kinds import kind
from messenger.domain.links import unsubscribe_request
from messenger.domain.message import Message, check_channel
from messenger.domain.model import (
    Delivery,
    DeliveryKey,
    DeliveryStatus,
    Recipient,
    SkipReason,
    check_topic,
)
from messenger.domain.policy import (
    ShopPolicy,
    cap_window_times,
    choose_channels,
    earliest_send_time,
    next_free_slot,
    send_deadline,
)
from messenger.domain.records import CapUpdate, ClaimResult
from messenger.domain.rendering import Rendered
from messenger.domain.tracking import (
    Postback,
    TrackedDelivery,
    TrackingUrls,
)
from messenger.services.carriers import Carriers
from messenger.services.common import LinkSigner
from messenger.services.ledger import Ledger, failure_reason
from messenger.services.messages import MessageLibrary
from messenger.services.ports import DeliveryRepository, RecipientRepository
from messenger.services.rendering import Rendering
from messenger.services.sending import SendOutcome, SendRequest, Sends
from shared.adapters.eventbridge import EventPublisher
from shared.contracts import details
from shared.contracts.envelope import EventEnvelope
from shared.errors import InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.pipeline")
_MAX_CLAIM_TRIES = 8


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
class SendPipeline(Sends):
    deliveries: DeliveryRepository
    recipients: RecipientRepository
    library: MessageLibrary
    rendering: Rendering
    carriers: Carriers
    ledger: Ledger
    publisher: EventPublisher
    links: LinkSigner
    clock: Callable[[], datetime]
    unconfirmed_after: timedelta
    """How long a claim may stay `sending` before the dispatcher calls it unconfirmed."""

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
        message = self.library.get(request.shop_id, request.message_id)
        for c in request.channels:
            check_channel(c)
        check_topic(request.topic)
        now = self.clock()
        expires_at = send_deadline(now, message, self.library.policy(request.shop_id))
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
            topic=request.topic,
        )
        if expires_at <= now:
            return self.ledger.close(
                delivery, DeliveryStatus.DROPPED, SkipReason.EXPIRED.value, None
            )
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
        reason = failure_reason(err)
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
        reason = failure_reason(err)
        _log.error(
            "delivery failed before sending",
            extra={
                "delivery_id": delivery.delivery_id,
                "shop": delivery.key.shop_id,
                "reason": reason,
            },
        )
        try:
            return self.ledger.close(delivery, DeliveryStatus.FAILED, reason, expect)
        except Exception as again:
            _log.error(
                "failed delivery not recorded",
                extra={"delivery_id": delivery.delivery_id, "error": type(again).__name__},
            )
            return SendOutcome(delivery.delivery_id, DeliveryStatus.FAILED.value, reason)

    def _deliver_all(self, prepared: Sequence[SendOutcome | _Claimed]) -> list[SendOutcome]:
        outcomes: dict[int, SendOutcome] = {}
        groups: dict[tuple[str, str, str], list[int]] = {}
        payloads: dict[int, OutboundMessage] = {}
        for i, p in enumerate(prepared):
            if isinstance(p, SendOutcome):
                outcomes[i] = p
                continue
            shop_id, name = p.delivery.key.shop_id, p.delivery.channel
            carrier = self.carriers.carrier(shop_id, name)
            if carrier is not None and carrier.max_recipients > 1:
                # One call per shop and content: each shop's goes out through its own channel.
                payloads[i] = self._outbound(p, p.rendered)
                groups.setdefault((shop_id, name, carrier.content_key(payloads[i])), []).append(i)
            else:
                outcomes[i] = self._deliver_guarded(p)
        for (shop_id, name, _), members in groups.items():
            carrier = self.carriers.carrier(shop_id, name)
            size = max(carrier.max_recipients if carrier is not None else 1, 1)
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                claims = [c for c in (prepared[i] for i in chunk) if isinstance(c, _Claimed)]
                if len(claims) == 1:
                    outcomes[chunk[0]] = self._deliver_guarded(claims[0])
                    continue
                try:
                    results = self._multicast(claims, payloads[chunk[0]])
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

    def _multicast(self, claims: list[_Claimed], payload: OutboundMessage) -> list[SendOutcome]:
        """One call for people of one shop who get the very same content (LINE multicast);
        `payload` is the first person's, built when the group was formed."""
        first = claims[0]
        channel = self.carriers.carrier(first.delivery.key.shop_id, first.delivery.channel)
        if channel is None:  # disconnected since the claim: each person the normal way
            return [self._deliver_guarded(c) for c in claims]
        ids = sorted(c.delivery.delivery_id for c in claims)
        group_id = "mc-" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:29]
        outbound = replace(payload, delivery_id=group_id, to="", unsubscribe_url=None)
        addresses = [c.recipient.address(c.delivery.channel) or "" for c in claims]
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
                    self.ledger.close(
                        unknown, DeliveryStatus.DEAD_LETTER, reason, DeliveryStatus.SENDING
                    )
                )
            else:
                # Refused as a whole (400): nothing was delivered, so each person goes the
                # normal way: a push (one unknown user id fails only that person), then
                # the next channel. Content LINE refused would be refused again: straight
                # to the next channel, with LINE still reachable.
                answered = result if result.status is SendStatus.REJECTED else None
                outcomes.append(self._deliver_guarded(c, answered))
        return outcomes

    def resume(self, message: Message, delivery: Delivery) -> SendOutcome:
        """A due delivery (deferred or retried) through the path again, from its status."""
        return self._deliver_all([self._attempt(message, delivery, expect=delivery.status)])[0]

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
        policy = self.library.policy(shop_id)
        if delivery.only_channels:
            policy = replace(policy, channel_order=delivery.only_channels)
        for _ in range(_MAX_CLAIM_TRIES):
            now = self.clock()
            recipient = self.recipients.get(shop_id, delivery.key.customer_id)
            if recipient is None:
                return self._unknown_customer(delivery, expect, require_customer)
            unavailable = self.carriers.unavailable(shop_id, policy, recipient)
            channels, reason = choose_channels(
                message, recipient, policy, unavailable, delivery.topic
            )
            if reason is not None:
                return self.ledger.close(delivery, DeliveryStatus.SKIPPED, reason.value, expect)
            channel = channels[0]
            exempt = policy.cap_exempt(message.category, delivery.topic)
            counted = delivery.cap_counted or exempt
            at, why = self._when(now, channel, message, recipient, policy, counted)
            if at > now:
                if delivery.expires_at is not None and at > delivery.expires_at:
                    return self.ledger.close(
                        replace(delivery, channel=channel),
                        DeliveryStatus.DROPPED,
                        f"{SkipReason.EXPIRED.value}:{why}",
                        expect,
                    )
                return self.ledger.close(
                    replace(delivery, channel=channel), DeliveryStatus.DEFERRED, why, expect, at
                )
            try:
                rendered = self.rendering.render(
                    message, recipient, channel, delivery.variables, shop_id, delivery.topic
                )
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
                cap_counted=not exempt,
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
        return self.ledger.close(delivery, DeliveryStatus.SKIPPED, "contention", expect)

    def _unknown_customer(
        self, delivery: Delivery, expect: DeliveryStatus | None, raise_it: bool
    ) -> SendOutcome:
        if raise_it:
            raise NotFound(
                f"no customer {delivery.key.customer_id!r} known to the messenger",
                field="customer_id",
            )
        return self.ledger.close(delivery, DeliveryStatus.SKIPPED, SkipReason.NO_ADDRESS, expect)

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

    def _tracking(self, d: Delivery) -> Tracking:
        return Tracking(
            TrackedDelivery(
                d.key.shop_id, d.delivery_id, d.key.customer_id, d.channel, d.campaign_id, d.variant
            ),
            Postback(d.key.shop_id, d.key.trigger, d.key.anchor, d.campaign_id, d.variant, ""),
            TrackingUrls(self.links.public_base_url, self.links.secret),
        )

    def _outbound(self, claimed: _Claimed, rendering: Rendered) -> OutboundMessage:
        """The provider's payload for the claimed delivery on its current channel, built by
        that channel: tracked, with the signed unsubscribe link on marketing messages."""
        message, delivery, recipient = claimed.message, claimed.delivery, claimed.recipient
        unsubscribe_url = (
            self.links.unsubscribe_url(
                unsubscribe_request(
                    delivery.key.shop_id,
                    recipient.customer_id,
                    delivery.channel,
                    message.category,
                    delivery.topic,
                )
            )
            if message.category == "marketing"
            else None
        )
        to = Addressing(
            delivery.delivery_id,
            recipient.address(delivery.channel) or "",
            message.category,
            unsubscribe_url,
            self.library.sender_of(delivery.key.shop_id),
            self._tracking(delivery),
        )
        return kind(delivery.channel).outbound(rendering, to)

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
                return self.ledger.retry_or_dead(current, policy, result, now)
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
        outbound = self._outbound(claimed, rendering)
        delivery = claimed.delivery
        carrier = self.carriers.carrier(delivery.key.shop_id, delivery.channel)
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
                return self.ledger.close(
                    replace(current, channel=next_channel),
                    DeliveryStatus.DEFERRED,
                    why,
                    DeliveryStatus.SENDING,
                    at,
                )
            try:
                rendering = self.rendering.render(
                    message, recipient, next_channel, current.variables, shop_id, current.topic
                )
            except InvalidInput as err:
                _log.info(
                    "fallback skipped",
                    extra={
                        "delivery_id": current.delivery_id,
                        "channel": next_channel,
                        "reason": failure_reason(err),
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
        return self.ledger.close(current, DeliveryStatus.FAILED, reason, DeliveryStatus.SENDING)

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


def _suppressible(recipient: Recipient, channel: str) -> str | None:
    """The address a claim checks against the suppression list, on a channel whose
    addresses are suppressed (mail: SES bounces and complaints)."""
    return recipient.address(channel) if kind(channel).suppressible else None
