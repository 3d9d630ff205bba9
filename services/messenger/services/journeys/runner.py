"""Runs an enrolment's due steps, each recorded exactly once.

A step is executed, then recorded by one conditional write that expects the enrolment's
`seq` as read (`JourneyRepository.advance`); the counters it moves are in the same
transaction. Whoever loses that race (a retried Lambda, an overlapping dispatcher run, a
stale read of the due index) stops. A send goes through the messenger's one door with
the delivery identity (trigger `journey:<id>:<step>`, anchor = enrolment, version, step,
key), so a step executed twice, or again after a crash between the send and its record,
finds its delivery and sends nothing more; consent, caps, quiet hours and dead letters
apply as to any other send. Random choices (holdout, split) are drawn from the
enrolment's id, so a re-run draws the same.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from messenger.domain.abtest import VariantStats, thompson_pick
from messenger.domain.campaign import NO_RANK
from messenger.domain.journeys.cohorts import week_scope
from messenger.domain.journeys.definition import Journey, JourneyStatus, Step, StepType
from messenger.domain.journeys.enrolment import Enrolment, EnrolmentStatus, ExitReason
from messenger.domain.journeys.filters import Filter, fields_of, matches, profile_rules
from messenger.domain.journeys.plan import held_out, unit_draw, wake_at
from messenger.domain.journeys.records import Counter, StaleEnrolment
from messenger.domain.model import Recipient
from messenger.domain.policy import recipient_zone, zone
from messenger.services.journeys.book import JourneyBook
from messenger.services.journeys.content import JourneyContent
from messenger.services.messages import MessageLibrary
from messenger.services.ports import JourneyRepository, ProfileRules, RecipientRepository
from messenger.services.sending import SendOutcome, SendRequest, Sends
from shared.adapters.eventbridge import EventPublisher
from shared.contracts.envelope import EventEnvelope, derived_event_id
from shared.log import get_logger

_log = get_logger("kizuna.messenger.journeys")

MAX_STEPS_PER_RUN = 50
FAILED_STEP_BACKOFF = timedelta(minutes=5)
LATE_SEND_AFTER = timedelta(hours=24)
"""A send whose wait ended more than this long ago is skipped (`skipped_late`), not sent:
a backfilled or late `order.shipped` must not deliver the day-1 to day-14 step mails
together (each mail goes on its day or not at all)."""
ORDER_COUNT = "customer.order_count"
"""The person's order count as the latest `order.placed` the messenger heard reported it
(read only by a filter that names it): a second order placed before the first shipped
ends the step mails at their first send."""
WAITS = frozenset(
    {StepType.WAIT, StepType.WAIT_UNTIL, StepType.WAIT_LOCAL_TIME, StepType.WAIT_EVENT}
)
COUNTED_FROM_ENTRY = frozenset({StepType.WAIT, StepType.WAIT_EVENT})
"""A journey's first wait of these types, begun as the person enters (`seq` 0), counts
from the entry, which is the trigger's own time: a cart heard 10 minutes after it changed
waits 50 minutes more, not an hour. (One begun later, after a pause or a failed step,
counts from then, as every other wait.)"""


def customer_facts(recipient: Recipient | None) -> dict[str, Any]:
    if recipient is None:
        return {}
    return {
        "customer.locale": recipient.locale,
        "customer.timezone": recipient.timezone,
        "customer.rank": recipient.rank,
    }


@dataclass(frozen=True)
class StepRunner:
    repo: JourneyRepository
    book: JourneyBook
    recipients: RecipientRepository
    in_segment: Callable[[str, str, str], bool]
    """(shop, segment, customer): the messenger's copy of segment membership."""
    library: MessageLibrary
    sends: Sends
    publisher: EventPublisher
    status_of: Callable[[str, str], str | None]
    """(shop, journey) → the journey's status now (paused and archived hold or end people)."""
    clock: Callable[[], datetime]
    profiles: ProfileRules
    """Judges the filters' segment-language leaves on the profile (the segmenter)."""
    content: JourneyContent | None = None
    """Fills a send step's slots and coupon (the built-in journeys' cart, product, ...)."""
    choose_insert: Callable[[str, str, str, str, str], SendOutcome] | None = None
    """(shop, customer, insert, trigger, anchor): `Inserts.choose_insert`, the package
    insert into the person's next parcel, once per delivery identity."""

    def paused_now(self, shop_id: str, journey_id: str) -> bool:
        """The head read again before parking: `status_of` may be a minute stale, and an
        enrolment parked after the resume swept the parked ones would wait for good."""
        head = self.repo.head(shop_id, journey_id)
        return head is not None and head.status == JourneyStatus.PAUSED

    def check(self, rule: Filter | None, e: Enrolment, recipient: Recipient | None) -> bool:
        """The filter on this person now: the messenger's facts here, the profile's
        leaves answered by the segmenter in one request (only when the filter has any)."""
        if rule is None:
            return True
        facts = {**e.facts, **customer_facts(recipient)}
        if ORDER_COUNT in fields_of(rule) and self.content is not None:
            facts[ORDER_COUNT] = self.content.order_count(e.shop_id, e.customer_id)
        leaves = profile_rules(rule)
        answers: dict[int, bool] = {}
        if leaves:
            got = self.profiles.match(e.shop_id, e.customer_id, [leaf.source for leaf in leaves])
            answers = {id(leaf): ok for leaf, ok in zip(leaves, got, strict=True)}
        return matches(
            rule,
            facts,
            lambda seg: self.in_segment(e.shop_id, seg, e.customer_id),
            lambda leaf: answers[id(leaf)],
        )

    def run(self, e: Enrolment) -> Enrolment:
        """Execute whatever is due now, step after step, until the enrolment waits,
        finishes, or someone else recorded a step first. Returns the last state seen."""
        for _ in range(MAX_STEPS_PER_RUN):
            now = self.clock()
            if e.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.SCHEDULED):
                return e
            if e.due_at is None or e.due_at > now or e.parked:
                return e
            journey = self.book.version(e.shop_id, e.journey_id, e.version)
            if journey is None:
                return e
            try:
                after, counters = self._transition(journey, e, now)
            except StaleEnrolment:
                return e
            try:
                self.repo.advance(e, after, counters)
            except StaleEnrolment:
                return e
            e = after
        return e

    def park(self, e: Enrolment, err: Exception) -> None:
        """A step that raised (a read that failed) is tried again later; it never holds up
        the enrolments after it."""
        _log.error(
            "journey step failed",
            extra={"journey_id": e.journey_id, "step": e.step, "error": type(err).__name__},
        )
        later = replace(e, seq=e.seq + 1, due_at=self.clock() + FAILED_STEP_BACKOFF)
        with contextlib.suppress(StaleEnrolment):  # someone else moved it: nothing to park
            self.repo.advance(e, later, [])

    # ------------------------------------------------------------ one step
    def _transition(
        self, journey: Journey, e: Enrolment, now: datetime
    ) -> tuple[Enrolment, list[Counter]]:
        status = self.status_of(e.shop_id, e.journey_id)
        if status == JourneyStatus.ARCHIVED:
            return self._finish(e, now, EnrolmentStatus.EXITED, ExitReason.ARCHIVED.value)
        if status == JourneyStatus.PAUSED and self.paused_now(e.shop_id, e.journey_id):
            # Parked out of the due shards until a resume hands it back (no re-reads).
            return replace(e, seq=e.seq + 1, parked=True), [Counter("J", {"parked": 1})]
        if e.status is EnrolmentStatus.SCHEDULED:
            return self._enter_scheduled(journey, e, now)
        step = journey.step(e.step or journey.start)
        if step.type in WAITS:
            return self._wait(journey, step, e, now)
        if step.type is StepType.SEND:
            return self._send(journey, step, e, now)
        if step.type is StepType.BRANCH:
            recipient = self.recipients.get(e.shop_id, e.customer_id)
            taken = self.check(step.condition, e, recipient)
            counter = Counter(f"S#{step.step_id}", {"executed": 1, f"branch_{taken}".lower(): 1})
            return self._go(e, step.next if taken else step.else_next, now, counter)
        if step.type is StepType.SPLIT:
            name, nxt = self._pick(journey, step, e)
            moved, counters = self._go(
                e, nxt, now, Counter(f"S#{step.step_id}", {"executed": 1, f"variant_{name}": 1})
            )
            return replace(moved, variants={**e.variants, step.step_id: name}), counters
        if step.type is StepType.INSERT:
            return self._insert(journey, step, e, now)
        if step.type is StepType.TAG:
            self._tag(journey, step, e, now)
            return self._go(e, step.next, now, Counter(f"S#{step.step_id}", {"executed": 1}))
        counter = Counter(f"S#{step.step_id}", {"executed": 1})
        done, counters = self._finish(e, now, EnrolmentStatus.COMPLETED, ExitReason.EXIT_STEP)
        return done, [counter, *counters]

    def _go(
        self, e: Enrolment, nxt: str | None, now: datetime, counter: Counter
    ) -> tuple[Enrolment, list[Counter]]:
        if nxt is None:
            done, counters = self._finish(e, now, EnrolmentStatus.COMPLETED, "end")
            return done, [counter, *counters]
        return replace(e, step=nxt, waiting=False, due_at=now, seq=e.seq + 1), [counter]

    def _finish(
        self, e: Enrolment, now: datetime, status: EnrolmentStatus, reason: str
    ) -> tuple[Enrolment, list[Counter]]:
        done = replace(
            e,
            status=status,
            exit_reason=reason,
            finished_at=now,
            due_at=None,
            waiting=False,
            seq=e.seq + 1,
        )
        name = "completed" if status is EnrolmentStatus.COMPLETED else f"exited_{reason}"
        return done, [Counter("J", {name: 1})]

    def _wait(
        self, journey: Journey, step: Step, e: Enrolment, now: datetime
    ) -> tuple[Enrolment, list[Counter]]:
        counter = Counter(f"S#{step.step_id}", {"executed": 1})
        if e.waiting:  # the wait is over (a wait for an event: it timed out)
            nxt = step.timeout_next if step.type is StepType.WAIT_EVENT else step.next
            if step.type is StepType.WAIT_EVENT:
                counter = Counter(f"S#{step.step_id}", {"executed": 1, "timed_out": 1})
            return self._after_wait(journey, e, nxt, now, counter, late=now - (e.due_at or now))
        tz = None
        if step.type is StepType.WAIT_LOCAL_TIME:
            recipient = self.recipients.get(e.shop_id, e.customer_id)
            policy = self.library.policy(e.shop_id)
            # An unknown zone falls back to the shop's: one bad profile never stalls the
            # queue (Parcelvoy #610).
            tz = recipient_zone(recipient, policy) if recipient else None
            if tz is None:
                tz = zone(policy.timezone)
        started = now
        if step.type in COUNTED_FROM_ENTRY and step.step_id == journey.start and e.seq == 0:
            started = min(e.entered_at, now)  # the trigger's own time (`intake.occurred_at`)
        wake = wake_at(step, e, started, tz or UTC)
        if wake <= now and step.type is not StepType.WAIT_EVENT:
            return self._after_wait(journey, e, step.next, now, counter, late=now - wake)
        return replace(e, waiting=True, due_at=wake, seq=e.seq + 1), []

    def _after_wait(
        self,
        journey: Journey,
        e: Enrolment,
        nxt: str | None,
        now: datetime,
        counter: Counter,
        late: timedelta,
    ) -> tuple[Enrolment, list[Counter]]:
        """On to the step after a wait, but past a send that is `LATE_SEND_AFTER` late."""
        following = journey.step(nxt) if nxt is not None else None
        if following is None or following.type is not StepType.SEND or late <= LATE_SEND_AFTER:
            return self._go(e, nxt, now, counter)
        moved, counters = self._go(e, nxt, now, counter)
        skipped = Counter(f"S#{following.step_id}", {"executed": 1, "skipped_late": 1})
        past, more = self._go(moved, following.next, now, skipped)
        return past, [*counters, *more]

    def _flow_filter_fails(self, journey: Journey, e: Enrolment) -> bool:
        """The flow filter, re-checked before every send and insert (as Klaviyo does)."""
        if journey.flow_filter is None:
            return False
        recipient = self.recipients.get(e.shop_id, e.customer_id)
        return not self.check(journey.flow_filter, e, recipient)

    def _insert(
        self, journey: Journey, step: Step, e: Enrolment, now: datetime
    ) -> tuple[Enrolment, list[Counter]]:
        """The insert into the person's next parcel: a delivery on the channel `insert`
        (counted as sent, for the stats and the holdout comparison; no cap slot), under
        the same delivery identity as a send, so a re-run chooses it once."""
        if self._flow_filter_fails(journey, e):
            return self._finish(e, now, EnrolmentStatus.EXITED, ExitReason.FLOW_FILTER.value)
        if self.choose_insert is None:
            raise RuntimeError("journey insert step without the inserts service")
        outcome = self.choose_insert(
            e.shop_id,
            e.customer_id,
            step.insert_id or "",
            journey.trigger_name(step.step_id),
            e.send_anchor(step.step_id),
        )
        values: dict[str, int | Decimal] = {"executed": 1, f"status_{outcome.status}": 1}
        if outcome.status == "packed":
            values["sent"] = 1
            values[f"sent_{outcome.channel}"] = 1
        return self._go(e, step.next, now, Counter(f"S#{step.step_id}", values))

    def _send(
        self, journey: Journey, step: Step, e: Enrolment, now: datetime
    ) -> tuple[Enrolment, list[Counter]]:
        if self._flow_filter_fails(journey, e):
            return self._finish(e, now, EnrolmentStatus.EXITED, ExitReason.FLOW_FILTER.value)
        variables: dict[str, Any] = {
            "journey": {"id": e.journey_id, "step": step.step_id, "key": e.key}
        }
        if self.content is not None and (step.slots or step.coupon_pool):
            filled = self.content.fill(journey, step, e)
            if filled.skip is not None:  # nothing worth sending (sold out, told already)
                skipped = Counter(f"S#{step.step_id}", {"executed": 1, f"skipped_{filled.skip}": 1})
                return self._go(e, step.next, now, skipped)
            variables.update(filled.variables)
        request = SendRequest(
            shop_id=e.shop_id,
            message_id=step.message_id or "",
            customer_id=e.customer_id,
            trigger=journey.trigger_name(step.step_id),
            anchor=e.send_anchor(step.step_id),
            variables=variables,
            topic=journey.topic,
        )
        # The batch door: a template that fails for this person is their `failed`
        # delivery (recorded, counted) instead of an error that would retry the step.
        outcome = self.sends.send_batch([request])[0]
        values: dict[str, int | Decimal] = {"executed": 1, f"status_{outcome.status}": 1}
        if outcome.status in ("sent", "deferred", "retry_scheduled"):
            values["sent"] = 1
            if outcome.channel:  # what the message cost: analytics prices sends per channel
                values[f"sent_{outcome.channel}"] = 1
        after, counters = self._go(e, step.next, now, Counter(f"S#{step.step_id}", values))
        if "sent" in values:
            counters.append(Counter(week_scope(now), {"sent": 1}))
        return after, counters

    def _pick(self, journey: Journey, step: Step, e: Enrolment) -> tuple[str, str]:
        """Thompson sampling on each variant's goal conversions so far (the campaigns'
        sampler); the draw is seeded by the enrolment, so a re-run picks the same."""
        if step.step_id in e.variants:
            name = e.variants[step.step_id]
            return name, dict(step.variants)[name]
        totals: dict[str, int] = {}
        for version, scope, values in self.repo.counters(e.shop_id, e.journey_id):
            if version == e.version and scope == f"S#{step.step_id}":
                for k, v in values.items():
                    totals[k] = totals.get(k, 0) + int(v)
        stats = [
            VariantStats(
                name,
                trials=totals.get(f"variant_{name}", 0),
                successes=totals.get(f"converted_{name}", 0),
            )
            for name, _ in step.variants
        ]
        seed = int(unit_draw("split", e.enrolment_id, step.step_id) * 2**32)
        name = thompson_pick(stats, random.Random(seed))  # noqa: S311 - a split, not security
        return name, dict(step.variants)[name]

    def _tag(self, journey: Journey, step: Step, e: Enrolment, now: datetime) -> None:
        """Publish `profile.tagged` (same id on a re-run, so consumers deduplicate)."""
        envelope = EventEnvelope(
            id=derived_event_id("tagged", e.enrolment_id, str(e.version), step.step_id),
            shop=e.shop_id,
            type="profile.tagged",
            time=now,
            detail={
                "customer_id": e.customer_id,
                "tag": step.tag,
                "journey_id": e.journey_id,
            },
        )
        self.publisher.publish([envelope])

    def _enter_scheduled(
        self, journey: Journey, e: Enrolment, now: datetime
    ) -> tuple[Enrolment, list[Counter]]:
        """A date trigger's day has come: the entry filter is checked now, then the
        holdout draw, as for an event trigger."""
        recipient = self.recipients.get(e.shop_id, e.customer_id)
        if not self.check(journey.entry_filter, e, recipient):
            return self._finish(e, now, EnrolmentStatus.EXITED, ExitReason.ENTRY_FILTER.value)
        return entered(journey, e, now, recipient)


def entered(
    journey: Journey, e: Enrolment, now: datetime, recipient: Recipient | None
) -> tuple[Enrolment, list[Counter]]:
    """An enrolment that enters now: drawn into the holdout (recorded, gets nothing) or
    active at the journey's first step, with its `entered` counters. It keeps the
    person's rank now: its numbers are also counted per entry month and rank (analytics'
    journey ROI per rank and period, `messenger.domain.journeys.cohorts`)."""
    e = replace(e, rank=(recipient.rank if recipient else None) or NO_RANK)
    if held_out(journey.journey_id, e.enrolment_id, journey.holdout_percent):
        state = replace(e, status=EnrolmentStatus.HOLDOUT, step=None, due_at=None, seq=e.seq + 1)
        return state, [Counter("J", {"entered": 1, "holdout": 1})]
    state = replace(e, status=EnrolmentStatus.ACTIVE, step=journey.start, due_at=now, seq=e.seq + 1)
    return state, [Counter("J", {"entered": 1})]


def anchors_of(detail: Mapping[str, Any], at: datetime) -> dict[str, datetime]:
    """Times a `wait_until` may count from: the entry, and each `*_at` of the trigger."""
    found = {"entered_at": at}
    for k, v in detail.items():
        if k.endswith("_at") and isinstance(v, str):
            try:
                parsed = datetime.fromisoformat(v)
            except ValueError:
                continue
            if parsed.tzinfo is not None:
                found[k] = parsed
    return found
