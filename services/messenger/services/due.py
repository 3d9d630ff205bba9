"""The due queue: deferred sends (cap, quiet hours, active hour) and retries when
they are due, the watches of claims whose process may have died, and an operator's
redrive of a dead letter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from messenger.channels.base import SendResult, SendStatus
from messenger.domain.model import RESUMABLE, DeliveryStatus, SkipReason
from messenger.domain.records import DueEntry, DueKind
from messenger.services.ledger import Ledger, failure_reason
from messenger.services.messages import MessageLibrary
from messenger.services.pipeline import SendPipeline
from messenger.services.ports import DeliveryRepository
from messenger.services.sending import SendOutcome
from shared.errors import Conflict, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.due")


@dataclass(frozen=True)
class Redriven:
    """What a redrive did, and whether the dead letter's last provider call may already
    have reached the person (a raised call, an unconfirmed multicast): then this send
    may be their second copy."""

    outcome: SendOutcome
    may_duplicate: bool


@dataclass(frozen=True)
class DueQueue:
    deliveries: DeliveryRepository
    library: MessageLibrary
    pipeline: SendPipeline
    ledger: Ledger
    clock: Callable[[], datetime]

    def dispatch(self, limit: int = 100) -> list[SendOutcome]:
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
                        SendOutcome(entry.key.delivery_id, "error", failure_reason(err))
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
        policy = self.library.policy(shop_id)
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
                extra={"delivery_id": delivery_id, "reason": failure_reason(err)},
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
        reason = failure_reason(err)
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
        policy = self.library.policy(entry.key.shop_id)
        failed = SendResult(SendStatus.RETRYABLE, error=reason)
        return self.ledger.retry_or_dead(
            delivery, policy, failed, self.clock(), expect=delivery.status
        )

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
        return self.ledger.close(
            replace(delivery, outcome_unknown=True),
            DeliveryStatus.DEAD_LETTER,
            SkipReason.UNCONFIRMED.value,
            DeliveryStatus.SENDING,
        )

    def _resume(self, entry: DueEntry) -> SendOutcome:
        delivery = self.deliveries.get(entry.key)
        if delivery is None or delivery.status not in RESUMABLE or delivery.due_at != entry.due_at:
            return SendOutcome(entry.key.delivery_id, "skipped", "stale_due_entry")
        message = self.library.find(entry.key.shop_id, delivery.message_id or "")
        if message is None:
            return self.ledger.close(
                delivery, DeliveryStatus.DROPPED, "message_deleted", delivery.status
            )
        return self.pipeline.resume(message, delivery)
