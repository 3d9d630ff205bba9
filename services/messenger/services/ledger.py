"""What became of a delivery, written once: closed with a status and reason (giving
the person's cap slot back when nothing went out), or a retry with backoff until the
shop's `max_attempts` makes it a dead letter. The send pipeline and the due queue both
record through it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from messenger.channels.base import SendResult
from messenger.channels.names import CHANNELS
from messenger.domain.model import NOTHING_SENT, Delivery, DeliveryStatus, SkipReason
from messenger.domain.policy import ShopPolicy, retry_delay
from messenger.services.ports import DeliveryRepository
from messenger.services.sending import SendOutcome
from shared.errors import InvalidInput, NotFound
from shared.log import get_logger

_log = get_logger("kizuna.messenger.services.ledger")


@dataclass(frozen=True)
class Ledger:
    deliveries: DeliveryRepository

    def close(
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

    def retry_or_dead(
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
            return self.close(
                failed, DeliveryStatus.DEAD_LETTER, result.error or "retryable", expect
            )
        return self.close(
            failed,
            DeliveryStatus.RETRY_SCHEDULED,
            result.error or "retryable",
            expect,
            now + retry_delay(policy, attempts),
        )


def failure_reason(err: Exception) -> str:
    """A failure as a delivery reason: the field of a render error, else the error type
    (never its message, which may quote personal data)."""
    if isinstance(err, InvalidInput):
        field = err.field or "template"
        rendering = field.split(".")[0] in (*CHANNELS, "template")
        return f"{'render_error' if rendering else 'invalid'}:{field}"
    if isinstance(err, NotFound):
        return f"not_found:{err.field or 'message'}"
    return f"error:{type(err).__name__}"
