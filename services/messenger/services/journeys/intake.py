"""Events into journeys: who enters, who leaves, whose wait for an event is over, who
reached the goal. Every event the messenger receives passes here once per delivery; a
replayed or concurrent duplicate changes nothing, because each change is a conditional
write (the re-entry guard, the enrolment's `seq`, `converted_at` set once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from messenger.domain.journeys.cohorts import week_scope
from messenger.domain.journeys.definition import Journey, JourneyStatus, ReentryMode, StepType
from messenger.domain.journeys.enrolment import FINISHED, Enrolment, EnrolmentStatus
from messenger.domain.journeys.plan import (
    enrolment_id,
    iso_time,
    late,
    later,
    next_occurrence,
    occurred_at,
    shard_of,
)
from messenger.domain.journeys.records import (
    AlreadyEntered,
    Counter,
    Guard,
    JourneyHead,
    StaleEnrolment,
    order_facts,
    stamp,
)
from messenger.domain.journeys.validation import MAX_WAIT_DAYS
from messenger.services.journeys.book import JourneyBook
from messenger.services.journeys.runner import StepRunner, anchors_of, entered
from messenger.services.ports import JourneyFacts, JourneyRepository, ShardQueue
from shared.log import get_logger

_log = get_logger("kizuna.messenger.journeys")
LIFT_WINDOWS = (30, 60, 90)
"""Days after entry within which conversions are also counted apart (F2 in 60/90 days)."""
RESTOCK_PAGE = 200
"""People of a restock's wish list handed over per invocation (a few requests each)."""
F2_WINDOW = timedelta(days=90)
"""How long after entry a second order counts as the journey's F2, without a goal (with
one, its window)."""


@dataclass(frozen=True)
class Received:
    """What one event did to journeys (for the handler's summary and the tests)."""

    entered: tuple[str, ...] = ()
    exited: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    converted: tuple[str, ...] = ()


def customer_of(detail: Mapping[str, Any]) -> str | None:
    if isinstance(detail.get("customer_id"), str):
        return str(detail["customer_id"])
    customer = detail.get("customer")
    if isinstance(customer, Mapping) and isinstance(customer.get("customer_id"), str):
        return str(customer["customer_id"])
    return None


def event_facts(detail: Mapping[str, Any]) -> dict[str, Any]:
    """`event.<field>` for each top-level scalar of the trigger's detail."""
    return {
        f"event.{k}": v
        for k, v in detail.items()
        if isinstance(v, str | int | float | bool) or v is None
    }


@dataclass(frozen=True)
class JourneyIntake:
    repo: JourneyRepository
    book: JourneyBook
    runner: StepRunner
    shards: int
    facts: JourneyFacts | None = None
    """Carts, stock, who wants a sold-out SKU, survey motives: what the built-in journeys'
    slots read (None: not kept)."""
    queue: ShardQueue | None = None
    """Where the next page of a long restock wish list goes (None: worked here)."""
    restock_page: int = RESTOCK_PAGE
    scanned: set[str] = field(default_factory=set, compare=False)
    """The days whose date-trigger scan this process has claimed or seen claimed."""

    def received(
        self, shop_id: str, event_type: str, event_id: str, at: datetime, detail: Mapping[str, Any]
    ) -> Received:
        """One event heard at `at`. What it may do counts from when it happened
        (`occurred_at`: an order's `placed_at`, a cart's `updated_at`): a replayed
        order ends, converts and resumes only enrolments it comes after, and a cart
        heard a day late (`late`) starts no cart flow."""
        if event_type == "inventory.changed":
            return self._inventory(shop_id, event_id, at, detail)
        customer_id = customer_of(detail)
        if customer_id is None:
            return Received()
        if event_type == "order.placed" and isinstance(detail.get("order_id"), str):
            self.repo.record_order(shop_id, customer_id, detail["order_id"], order_facts(detail))
        if event_type == "customer.upserted" and self.facts is not None:
            birthday = detail.get(CALENDAR_FIELD)
            if isinstance(birthday, str) and len(birthday) >= 10:
                self.facts.record_birthday(shop_id, customer_id, birthday[:10])
        heads = self.repo.heads(shop_id)
        when = occurred_at(event_type, detail, at)
        if self.facts is not None:
            self._keep_facts(shop_id, customer_id, event_type, when, detail, heads)
        if late(event_type, when, at):
            return Received()
        done = Received()
        second_order = event_type == "order.placed" and detail.get("order_count") == 2
        if second_order or any(event_type in h.listens_to for h in heads):
            done = self._inside(shop_id, customer_id, event_type, when, detail)
        new: list[str] = []
        for head in heads:
            if head.status != JourneyStatus.ACTIVE or event_type not in head.enrols_on:
                continue
            journey = self.book.version(shop_id, head.journey_id, head.version)
            if journey is None:
                continue
            if self.enrol(journey, customer_id, event_id, when, detail):
                new.append(journey.journey_id)
        return replace(done, entered=tuple(new))

    # ------------------------------------------------------------ built-in facts
    def _keep_facts(
        self,
        shop_id: str,
        customer_id: str,
        event_type: str,
        at: datetime,
        detail: Mapping[str, Any],
        heads: list[JourneyHead],
    ) -> None:
        """Keep what a slot will read later, only while some journey can use it: the
        cart's lines, who carted or viewed a sold-out SKU (for back-in-stock), motives."""
        assert self.facts is not None
        if not heads:
            return
        restock = any(
            "inventory.changed" in h.enrols_on and h.status == JourneyStatus.ACTIVE for h in heads
        )
        skus: list[str] = []
        if event_type == "cart.updated" and isinstance(detail.get("cart_id"), str):
            lines = [dict(i) for i in detail.get("items") or [] if isinstance(i, Mapping)]
            self.facts.record_cart(shop_id, customer_id, detail["cart_id"], lines, at)
            skus = [str(i.get("sku")) for i in lines]
        elif event_type == "product.viewed" and isinstance(detail.get("sku"), str):
            skus = [detail["sku"]]
        elif event_type == "survey.answered" and isinstance(detail.get("preferences"), Mapping):
            self.facts.record_preferences(shop_id, customer_id, detail["preferences"])
        if restock and skus:
            for sku, quantity in self.facts.stock(shop_id, skus).items():
                if quantity <= 0:
                    self.facts.want(shop_id, sku, customer_id, at)

    def _inventory(
        self, shop_id: str, event_id: str, at: datetime, detail: Mapping[str, Any]
    ) -> Received:
        """Stock kept for the slots' re-check; a SKU back in stock (0 → more) enrols
        everyone who carted or viewed it while it was sold out, each as their own
        trigger (the journey's re-entry rule, per SKU, makes it once per person), and
        then forgets that they wanted it: a retry after a timeout goes on with the
        people not yet handed over, and the next sell-out starts a new list."""
        sku, quantity = detail.get("sku"), detail.get("quantity")
        if self.facts is None or not isinstance(sku, str) or not isinstance(quantity, int):
            return Received()
        if not self.facts.record_stock(shop_id, sku, quantity, at):
            return Received()  # an older event than the stock we hold
        previous = detail.get("previous_quantity")
        if not (isinstance(previous, int) and previous <= 0 < quantity):
            return Received()
        return self.restock(
            {"shop_id": shop_id, "sku": sku, "event_id": event_id, "at": at, "detail": detail}
        )

    def restock(self, restock: Mapping[str, Any]) -> Received:
        """One page (`restock_page` people) of a restocked SKU's wish list handed to the
        shop's active back-in-stock journeys, each person then forgotten; a longer list
        goes on as the next page on the shards queue (another invocation, so a SKU that
        thousands wait for never outlasts one), or here without a queue. `restock` is
        what `_inventory` saw: shop, SKU, the event's id, time and detail."""
        assert self.facts is not None
        shop_id, sku, event_id = restock["shop_id"], restock["sku"], restock["event_id"]
        at, detail = restock["at"], restock["detail"]
        if isinstance(at, str):  # from the queue's JSON
            at = datetime.fromisoformat(at)
        journeys = [
            journey
            for head in self.repo.heads(shop_id)
            if head.status == JourneyStatus.ACTIVE and "inventory.changed" in head.enrols_on
            for journey in [self.book.version(shop_id, head.journey_id, head.version)]
            if journey is not None
        ]
        entered: list[str] = []
        while journeys:  # none: nobody to tell, the list waits for a journey that will
            people = self.facts.wanting(shop_id, sku, self.restock_page + 1)
            for customer_id in people[: self.restock_page]:
                person = {**detail, "customer_id": customer_id}
                for journey in journeys:
                    if self.enrol(journey, customer_id, f"{event_id}:{customer_id}", at, person):
                        entered.append(journey.journey_id)
                self.facts.forget_want(shop_id, sku, customer_id)
            if len(people) <= self.restock_page:
                break
            if self.queue is not None:
                self.queue.restock_page({**restock, "at": at.isoformat()})
                break
        return Received(entered=tuple(entered))

    # ------------------------------------------------------------ date triggers
    def date_scan(self, now: datetime) -> int:
        """Once a day (the first tick of a UTC day claims it): everyone born tomorrow
        (29 February too, in a year without one) enters each active journey triggered by
        `birthday`, as a `customer.upserted` would enrol them, so a birthday comes every
        year to everyone the messenger has a birthday of, not only to those whose profile
        changed. The date key (`k#<date>`) makes both ways one enrolment."""
        today = now.date().isoformat()
        if self.facts is None or today in self.scanned:
            return 0
        self.scanned.add(today)  # a warm worker asks once a day, not every minute
        if not self.facts.claim_scan(today):
            return 0
        tomorrow = (now + timedelta(days=1)).date()
        days = [tomorrow.strftime("%m-%d")]
        if days[0] == "02-28" and not _leap(tomorrow.year):
            days.append("02-29")
        journeys: dict[str, list[Journey]] = {}
        entered = 0
        for month_day in days:
            for shop_id, customer_id, birthday in self.facts.born_on(month_day):
                if shop_id not in journeys:
                    journeys[shop_id] = self._date_journeys(shop_id)
                detail = {"customer_id": customer_id, CALENDAR_FIELD: birthday}
                for journey in journeys[shop_id]:
                    event_id = f"calendar:{tomorrow.isoformat()}:{customer_id}"
                    entered += self.enrol(journey, customer_id, event_id, now, detail)
        _log.info("journey date scan", extra={"day": tomorrow.isoformat(), "entered": entered})
        return entered

    def _date_journeys(self, shop_id: str) -> list[Journey]:
        found = []
        for head in self.repo.heads(shop_id):
            if head.status != JourneyStatus.ACTIVE:
                continue
            journey = self.book.version(shop_id, head.journey_id, head.version)
            if journey is not None and journey.trigger.date_field == CALENDAR_FIELD:
                found.append(journey)
        return found

    # ------------------------------------------------------------ merges
    def merged(self, shop_id: str, merged_ids: list[str], at: datetime) -> tuple[str, ...]:
        """`customer.merged`: the merged-away ids are the survivor now, so their active
        enrolments end (exit `merged`) instead of sending a second flow to one person
        under an id that no longer resolves. The survivor's own enrolments go on. A
        redelivery finds them finished and ends nothing more."""
        exited: list[str] = []
        for customer_id in merged_ids:
            for e in self.repo.enrolments_of(shop_id, customer_id):
                if e.status is EnrolmentStatus.ACTIVE and self._exit(e, at, "merged"):
                    exited.append(e.journey_id)
        return tuple(exited)

    # ------------------------------------------------------------ people inside
    def _inside(
        self,
        shop_id: str,
        customer_id: str,
        event_type: str,
        at: datetime,
        detail: Mapping[str, Any],
    ) -> Received:
        exited: list[str] = []
        resumed: list[str] = []
        converted: list[str] = []
        for found in self.repo.enrolments_of(shop_id, customer_id):
            e = found
            journey = self.book.version(shop_id, e.journey_id, e.version)
            if journey is None or at <= e.entered_at:
                # Only what happens after entering counts (not the trigger itself), by
                # the event's own time: an order replayed today but placed before the
                # entry ends, converts and resumes nothing.
                continue
            goal = journey.goal
            if (
                goal is not None
                and goal.event == event_type
                and e.converted_at is None
                and at <= e.entered_at + goal.within
                and detail.get("order_id", None) != e.key
                and e.counted
            ):
                e = self._convert(e, at, detail) or e
                if e.converted_at is not None:
                    converted.append(e.journey_id)
            if (
                event_type == "order.placed"
                and detail.get("order_count") == 2
                and e.counted
                and at <= e.entered_at + (goal.within if goal else F2_WINDOW)
            ):
                self._second_order(e, at)
            if e.status is not EnrolmentStatus.ACTIVE:
                continue
            if self._restart(journey, e, event_type, at, detail):
                resumed.append(e.journey_id)
                continue
            if event_type in journey.exit_events:
                if self._exit(e, at, f"event:{event_type}"):
                    exited.append(e.journey_id)
                continue
            step = journey.steps.get(e.step or "")
            if (
                e.waiting
                and step is not None
                and step.type is StepType.WAIT_EVENT
                and step.event == event_type
                and (not step.same_key or str(detail.get(journey.trigger.key or "")) == e.key)
            ):
                after = replace(e, step=step.next, waiting=False, due_at=at, seq=e.seq + 1)
                counter = Counter(f"S#{step.step_id}", {"executed": 1, "event_arrived": 1})
                try:
                    self.repo.advance(e, after, [counter])
                except StaleEnrolment:
                    continue
                resumed.append(e.journey_id)
                self.runner.run(after)
        return Received(exited=tuple(exited), resumed=tuple(resumed), converted=tuple(converted))

    def _restart(
        self,
        journey: Journey,
        e: Enrolment,
        event_type: str,
        at: datetime,
        detail: Mapping[str, Any],
    ) -> bool:
        """The trigger again (same key) while the enrolment waits in its first step: the
        wait starts again from this event (`restart_wait`). An older event than the one
        the wait counts from (a late or replayed delivery) moves nothing."""
        trigger = journey.trigger
        if not (trigger.restart_wait and event_type == trigger.event and trigger.key):
            return False
        if not (e.waiting and e.step == journey.start) or str(detail.get(trigger.key)) != e.key:
            return False
        due = at + journey.step(journey.start).delay
        if e.due_at is not None and due <= e.due_at:
            return False
        after = replace(e, due_at=due, seq=e.seq + 1)
        try:
            self.repo.advance(e, after, [Counter(f"S#{journey.start}", {"restarted": 1})])
        except StaleEnrolment:
            return False
        return True

    def _exit(self, e: Enrolment, at: datetime, reason: str) -> bool:
        after = replace(
            e,
            status=EnrolmentStatus.EXITED,
            exit_reason=reason,
            finished_at=at,
            due_at=None,
            waiting=False,
            seq=e.seq + 1,
        )
        try:
            self.repo.advance(e, after, [Counter("J", {f"exited_{reason}": 1})])
        except StaleEnrolment:
            return False
        return True

    def _second_order(self, e: Enrolment, at: datetime) -> None:
        """The person's second order (F2) after entering: counted once per enrolment, for
        its group, overall and within each lift window (whatever the journey's goal), so
        every journey shows its F2 rate against the holdout."""
        group = "h" if e.status is EnrolmentStatus.HOLDOUT else "t"
        days = (at - e.entered_at).total_seconds() / 86400
        values: dict[str, int | Decimal] = {f"f2_{group}": 1}
        for w in LIFT_WINDOWS:
            if days <= w:
                values[f"f2_{group}_d{w}"] = 1
        self.repo.count_once(e, f"f2#{e.enrolment_id}", [Counter("J", values)])

    def _convert(self, e: Enrolment, at: datetime, detail: Mapping[str, Any]) -> Enrolment | None:
        """The goal reached: counted once per enrolment, for its group (t: treated,
        h: holdout), with the revenue (and its square, for the lift's interval), within
        each lift window, and for each split variant it went through."""
        group = "h" if e.status is EnrolmentStatus.HOLDOUT else "t"
        revenue = Decimal(str(detail.get("total") or 0))
        days = (at - e.entered_at).total_seconds() / 86400
        values: dict[str, int | Decimal] = {
            f"conv_{group}": 1,
            f"rev_{group}": revenue,
            f"revsq_{group}": revenue * revenue,
        }
        discount = _discount(detail, revenue)
        if discount:  # the offer's cost, for the journey's ROI in analytics
            values[f"disc_{group}"] = discount
        for w in LIFT_WINDOWS:
            if days <= w:
                values[f"conv_{group}_d{w}"] = 1
        counters = [Counter("J", values)]
        counters += [
            Counter(f"S#{step_id}", {f"converted_{name}": 1})
            for step_id, name in e.variants.items()
        ]
        if group == "t":
            counters.append(Counter(week_scope(at), {"converted": 1}))
        after = replace(e, converted_at=at, seq=e.seq + 1)
        try:
            self.repo.advance(e, after, counters)
        except StaleEnrolment:
            return None
        return after

    # ------------------------------------------------------------ entering
    def enrol(
        self,
        journey: Journey,
        customer_id: str,
        event_id: str,
        at: datetime,
        detail: Mapping[str, Any],
    ) -> bool:
        """One person into one journey as its trigger would put them (entry filter,
        holdout draw, re-entry guard); False when they did not enter."""
        trigger = journey.trigger
        if trigger.segment is not None and detail.get("segment_id") != trigger.segment:
            return False
        raw_key = detail.get(trigger.key) if trigger.key else None
        key = str(raw_key) if raw_key is not None else None
        facts = event_facts(detail)
        order_id = detail.get("order_id")
        if isinstance(order_id, str) and any(f.startswith("order.") for f in journey.fields):
            facts.update(self.repo.order(journey.shop_id, customer_id, order_id))
        scheduled_at = None
        if trigger.date_field is not None:
            scheduled_at = self._date(detail, trigger.date_field, trigger, at)
            if scheduled_at is None:
                return False
            key = key or scheduled_at.date().isoformat()
        key, guard, eid = reentry_of(journey, customer_id, key, event_id, at)
        e = Enrolment(
            shop_id=journey.shop_id,
            journey_id=journey.journey_id,
            version=journey.version,
            customer_id=customer_id,
            enrolment_id=eid,
            key=key,
            entered_at=scheduled_at or at,
            status=EnrolmentStatus.SCHEDULED,
            step=None,
            due_at=scheduled_at,
            anchors=self._anchors(journey, customer_id, detail, scheduled_at or at),
            facts=facts,
            shard=shard_of(eid, self.shards),
        )
        counters: list[Counter] = []
        if scheduled_at is None:
            recipient = self.runner.recipients.get(journey.shop_id, customer_id)
            if journey.entry_filter is not None and not self.runner.check(
                journey.entry_filter, e, recipient
            ):
                return False
            e, counters = entered(journey, e, at, recipient)
            e = replace(e, seq=0)
        try:
            self.repo.enrol(e, guard, counters)
        except AlreadyEntered:
            return False
        _log.info("journey entered", extra={"journey_id": journey.journey_id, "status": e.status})
        if e.status in FINISHED or e.status is EnrolmentStatus.HOLDOUT:
            return True
        try:
            self.runner.run(e)
        except Exception as err:  # the dispatcher picks it up: it is due now
            self.runner.park(e, err)
        return True

    def _anchors(
        self, journey: Journey, customer_id: str, detail: Mapping[str, Any], at: datetime
    ) -> dict[str, datetime]:
        """The trigger's times, and `replenish_at` when a step counts from it."""
        found = anchors_of(detail, at)
        wants = any(s.anchor == REPLENISH_ANCHOR for s in journey.steps.values())
        if wants and self.facts is not None:
            placed_at = found.get("placed_at", at)
            lines = [i for i in detail.get("items") or [] if isinstance(i, Mapping)]
            usage = self.facts.usage_days(journey.shop_id, [str(i.get("sku")) for i in lines])
            supply = [
                usage[str(i.get("sku"))] * max(int(i.get("quantity") or 1), 1)
                for i in lines
                if str(i.get("sku")) in usage
            ]
            if supply:  # the product's usage days say when the first line runs out
                days = min(*supply, MAX_WAIT_DAYS)  # 10 years: a quantity can be anything
                found[REPLENISH_ANCHOR] = later(placed_at, timedelta(days=days))
            else:
                orders = self.facts.orders_of(journey.shop_id, customer_id)
                found[REPLENISH_ANCHOR] = replenish_at(orders, placed_at)
        return found

    @staticmethod
    def _date(detail: Mapping[str, Any], field: str, trigger: Any, at: datetime) -> datetime | None:
        raw = detail.get(field)
        if raw is None and isinstance(detail.get("customer"), Mapping):
            raw = detail["customer"].get(field)
        day = iso_time(raw, UTC)
        if day is None:
            return None
        return next_occurrence(day, at, trigger.offset_days, trigger.yearly)


CALENDAR_FIELD = "birthday"
"""The date field the messenger keeps a calendar of (`customer.upserted`'s birthday)."""


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


REPLENISH_ANCHOR = "replenish_at"
REPLENISH_DEFAULT_DAYS = 30
"""A person with a single order has no interval yet: reminded this long after it."""


def replenish_at(orders: list[Mapping[str, Any]], placed_at: datetime) -> datetime:
    """The order plus the person's average purchase interval (first to last order over
    the gaps between them), or `REPLENISH_DEFAULT_DAYS` with fewer than two orders."""
    times = sorted(
        {
            datetime.fromisoformat(str(o["order.placed_at"]))
            for o in orders
            if o.get("order.placed_at")
        }
    )
    if len(times) < 2:
        return placed_at + timedelta(days=REPLENISH_DEFAULT_DAYS)
    return placed_at + (times[-1] - times[0]) / (len(times) - 1)


def reentry_of(
    journey: Journey, customer_id: str, key: str | None, event_id: str, at: datetime
) -> tuple[str, Guard, str]:
    """The enrolment's key, its re-entry guard and its id, by the re-entry rule: once
    ever, once per trigger key, or again only `days` after the last entry."""
    mode = journey.reentry.mode
    if mode is ReentryMode.PER_KEY:
        key = key or event_id
        return key, Guard(f"k#{key}"), enrolment_id(journey.journey_id, customer_id, f"k#{key}")
    if mode is ReentryMode.EVERY_DAYS:
        guard = Guard("every", not_since=at - timedelta(days=journey.reentry.days))
        eid = enrolment_id(journey.journey_id, customer_id, f"t#{stamp(at)}")
        return key or stamp(at), guard, eid
    return key or "once", Guard("once"), enrolment_id(journey.journey_id, customer_id, "once")


def enrols_on(journey: Journey) -> frozenset[str]:
    return journey.trigger.event_types


def head_for(journey: Journey, at: datetime, status: str, rev: int = 0) -> JourneyHead:
    return JourneyHead(
        shop_id=journey.shop_id,
        journey_id=journey.journey_id,
        name=journey.name,
        status=status,
        version=journey.version,
        enrols_on=journey.trigger.event_types,
        listens_to=journey.listens_to,
        created_at=at,
        updated_at=at,
        rev=rev,
    )


def _discount(detail: Mapping[str, Any], total: Decimal) -> Decimal:
    """What an order took off its lines' prices (a coupon or order-level discount), as the
    analytics snapshot counts it; 0 when the lines are unknown or cost less than the total."""
    try:
        lines = sum(
            (Decimal(str(i["unit_price"])) * int(i["quantity"]) for i in detail.get("items") or ()),
            Decimal(0),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return Decimal(0)
    return max(lines - total, Decimal(0))
