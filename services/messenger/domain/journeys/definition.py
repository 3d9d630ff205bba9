"""What a journey is: a trigger, filters, a graph of steps, exits, a goal, a re-entry
rule and a holdout. Pure domain: no AWS, no HTTP, no pydantic.

A journey is written as JSON (`validation.parse_journey` turns it into these types and
names the JSON path of anything wrong). Each saved edit is a new `version`; an
enrolment runs the version it entered for good (see `README.md`, "Journeys", for what
an edit does to people already inside, node type by node type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from messenger.domain.journeys.filters import Filter, fields_of


class JourneyStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    """No one enters; due steps wait until it is resumed."""
    ARCHIVED = "archived"
    """No one enters; everyone still inside exits (`archived`) at their next step."""


class ReentryMode(StrEnum):
    ONCE = "once"
    """Once ever per person, whatever triggers it again."""
    EVERY_DAYS = "every_days"
    """Again only `days` after the last entry."""
    PER_KEY = "per_key"
    """Once per trigger key (an order id): one enrolment per order."""


@dataclass(frozen=True)
class Trigger:
    """Exactly one of `event`, `segment`, `date_field`."""

    event: str | None = None
    """An event type (`order.shipped`): each such event about a person may enrol them."""
    segment: str | None = None
    """Entering this segment (`segment.entered`) enrols."""
    date_field: str | None = None
    """A date on an event (`birthday` on `customer.upserted`): the person enters at the
    date's next occurrence plus `offset_days` (yearly when `yearly`)."""
    source: str | None = None
    """The event that carries `date_field` (default `customer.upserted`)."""
    offset_days: int = 0
    yearly: bool = False
    key: str | None = None
    """The detail field naming what the enrolment is about (`order_id`): the trigger key
    of `per_key` re-entry and part of every send's anchor."""
    restart_wait: bool = False
    """The same trigger again (same key) while the enrolment is still in its first step,
    a `wait`, starts that wait again from the new event: a cart flow's hour counts from
    the last `cart.updated`, not the first."""

    @property
    def event_types(self) -> frozenset[str]:
        """The event types that may enrol someone."""
        if self.event:
            return frozenset({self.event})
        if self.segment:
            return frozenset({"segment.entered"})
        return frozenset({self.source or "customer.upserted"})


SEND_SLOTS = frozenset({"cart", "product", "restock", "first_order", "order"})
"""What a send step may ask for (`Step.slots`):
- `cart`: the trigger cart's lines (`cart.lines`, each with `in_stock`), stock re-checked
  now; nothing left in stock skips the send (`out_of_stock`);
- `product`: the trigger's SKU (`product.sku`), skipped when it is sold out now;
- `restock`: `product`, and the person is told of this SKU's return only once, whoever
  tells them (this journey, or feedback's restock sign-up): else `already_notified`;
- `first_order`: the person's first order (`first_order.skus`, `placed_at`, `motive`);
- `order`: the trigger order (`order.skus`, `placed_at`), whose key is its id."""


class StepType(StrEnum):
    WAIT = "wait"
    WAIT_UNTIL = "wait_until"
    WAIT_LOCAL_TIME = "wait_local_time"
    WAIT_EVENT = "wait_event"
    SEND = "send"
    BRANCH = "branch"
    SPLIT = "split"
    TAG = "tag"
    INSERT = "insert"
    EXIT = "exit"


@dataclass(frozen=True)
class Step:
    """One node. Which fields count depends on `type`; `validation` checks them."""

    step_id: str
    type: StepType
    next: str | None = None
    delay: timedelta = timedelta(0)
    """`wait`: how long; `wait_until`: the offset after the anchor; `wait_event`: the timeout."""
    anchor: str | None = None
    """`wait_until`: a time on the enrolment (`entered_at`, or a trigger's `*_at` field)."""
    hour: int = 0
    minute: int = 0
    """`wait_local_time`: the next such time of day in the person's time zone."""
    event: str | None = None
    """`wait_event`: the event that ends the wait early (then `next`; else `timeout_next`)."""
    timeout_next: str | None = None
    same_key: bool = False
    """`wait_event`: only an event about the enrolment's own trigger key ends the wait
    (its trigger `key` field equal: a second view of the same SKU, not of any)."""
    message_id: str | None = None
    slots: tuple[str, ...] = ()
    """`send`: content the send needs besides the person (`SEND_SLOTS`): each is looked
    up when the step runs and handed to the templates; one that cannot be filled (the
    cart sold out, the person already told of a restock) skips the send."""
    coupon_pool: str | None = None
    """`send`: give the person a code from this pool (`{{ coupon.code }}`), once per
    enrolment; an exhausted pool skips the send (`coupon_exhausted`)."""
    condition: Filter | None = None
    """`branch`: the condition (rule language); true → `next`, false → `else_next`."""
    else_next: str | None = None
    variants: tuple[tuple[str, str], ...] = ()
    """`split`: (variant name, next step) pairs; Thompson sampling on the goal rate."""
    tag: str | None = None
    insert_id: str | None = None
    """`insert`: the package insert (同梱物: a flyer or sample) put into the person's next
    parcel, a delivery on the offline channel `insert` (no frequency-cap slot)."""

    def successors(self) -> tuple[str, ...]:
        found = [self.next, self.timeout_next, self.else_next, *(n for _, n in self.variants)]
        return tuple(s for s in found if s is not None)


@dataclass(frozen=True)
class Goal:
    event: str
    within: timedelta


@dataclass(frozen=True)
class Reentry:
    mode: ReentryMode = ReentryMode.ONCE
    days: int = 0


@dataclass(frozen=True)
class Journey:
    journey_id: str
    shop_id: str
    name: str
    trigger: Trigger
    start: str
    steps: Mapping[str, Step]
    entry_filter: Filter | None = None
    flow_filter: Filter | None = None
    """Checked again before every send: a person who no longer matches exits (`flow_filter`)."""
    exit_events: frozenset[str] = frozenset()
    goal: Goal | None = None
    reentry: Reentry = field(default_factory=Reentry)
    holdout_percent: float = 0.0
    topic: str | None = None
    version: int = 1
    status: JourneyStatus = JourneyStatus.ACTIVE
    source: Mapping[str, Any] = field(default_factory=dict)
    """The JSON as written (what the API reads back and a new version starts from)."""

    @property
    def listens_to(self) -> frozenset[str]:
        """Every event type this version reacts to once someone is inside."""
        waits = {s.event for s in self.steps.values() if s.event}
        goal = {self.goal.event} if self.goal else set()
        restart = (
            {self.trigger.event} if self.trigger.restart_wait and self.trigger.event else set()
        )
        return frozenset(self.exit_events | waits | goal | restart)

    @property
    def fields(self) -> frozenset[str]:
        """Every fact field its filters and conditions read."""
        rules = [self.entry_filter, self.flow_filter, *(s.condition for s in self.steps.values())]
        return frozenset().union(*(fields_of(r) for r in rules))

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]

    def trigger_name(self, step_id: str) -> str:
        """The delivery trigger of a send step: `journey:<id>:<step>`."""
        return f"journey:{self.journey_id}:{step_id}"
