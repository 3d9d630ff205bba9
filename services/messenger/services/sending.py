"""The door into the send pipeline: what a caller asks for (`SendRequest`), what it
gets back (`SendOutcome`), and the narrow port `Sends` that campaigns (and the journey
engine next) call. The pipeline behind it is `messenger.services.pipeline`.

Sending follows one path whatever starts it (an API call, a campaign wave, a request
from another service, a due deferral or retry):

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
an operator sees and may redrive (`messenger.services.due`). A provider call that raises
instead of answering is unconfirmed too: a dead letter, never a resend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
    topic: str | None = None
    """The unsubscribe topic (``step_mails``, ``newsletter``, ``birthday``, ...): a person
    who left it gets nothing of it, and a marketing message's unsubscribe link offers to
    leave just this topic or everything."""


@dataclass(frozen=True)
class SendOutcome:
    delivery_id: str
    status: str
    reason: str | None = None
    channel: str | None = None
    due_at: datetime | None = None


class Sends(ABC):
    """The one door into the send pipeline."""

    @abstractmethod
    def send(self, request: SendRequest, *, require_customer: bool = False) -> SendOutcome:
        """One send whose caller waits for the answer: a template that fails to render
        raises (a 422 naming the field) with nothing written or sent; so does, with
        `require_customer`, a customer the messenger does not know (a 404)."""

    @abstractmethod
    def send_batch(self, requests: Sequence[SendRequest]) -> list[SendOutcome]:
        """Each request through the one path; what fails for one person is their own
        `failed` outcome, recorded with the reason, and never holds up the others."""
