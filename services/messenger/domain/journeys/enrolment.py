"""One person's way through one journey version. Pure domain.

An enrolment is pinned to the version it entered. `seq` counts the steps it has
executed: every step is recorded by one conditional write that expects the `seq` it
read, so two workers (a retried Lambda, overlapping dispatcher runs) cannot both
record the same step, and a send step's delivery identity (trigger
`journey:<id>:<step>`, anchor `<enrolment>:<version>:<step>:<key>`) makes the send
itself at most once even when a crash comes between the send and its record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from messenger.domain.journeys.cohorts import SHOP_TIME, cohort_scope


class EnrolmentStatus(StrEnum):
    ACTIVE = "active"
    HOLDOUT = "holdout"
    """Drawn into the control group: recorded, gets nothing, counted for the lift."""
    SCHEDULED = "scheduled"
    """A date trigger: enters (entry filter, holdout draw) when the date comes."""
    EXITED = "exited"
    COMPLETED = "completed"


FINISHED = frozenset({EnrolmentStatus.EXITED, EnrolmentStatus.COMPLETED})


class ExitReason(StrEnum):
    EVENT = "event"
    """An exit event (`exit_events`): the reason is recorded as `event:<type>`."""
    FLOW_FILTER = "flow_filter"
    EXIT_STEP = "exit_step"
    ARCHIVED = "archived"
    ENTRY_FILTER = "entry_filter"
    """A date trigger whose person no longer matched the entry filter on the day."""


@dataclass(frozen=True)
class Enrolment:
    shop_id: str
    journey_id: str
    version: int
    customer_id: str
    enrolment_id: str
    key: str
    """What it is about: the trigger key (an order id), else the entry's date."""
    entered_at: datetime
    status: EnrolmentStatus
    step: str | None
    """The step to execute next, or the wait step it is in (`waiting`)."""
    due_at: datetime | None
    seq: int = 0
    waiting: bool = False
    anchors: Mapping[str, datetime] = field(default_factory=dict)
    """Times a `wait_until` may count from: `entered_at` and the trigger's `*_at` fields."""
    facts: Mapping[str, Any] = field(default_factory=dict)
    """What filters read besides the person: `event.*` and `order.*` of the trigger."""
    variants: Mapping[str, str] = field(default_factory=dict)
    """Split step id → the variant drawn."""
    exit_reason: str | None = None
    finished_at: datetime | None = None
    converted_at: datetime | None = None
    shard: int = 0
    parked: bool = False
    """Its journey is paused: kept out of the dispatcher's due shards (in the journey's
    own `PAUSED` partition of the due index) until a resume or archive hands it back."""

    rank: str | None = None
    """The person's RFM rank when they entered (the messenger's copy; `unranked` without
    one): the cohort its numbers are also counted in. None: entered before cohorts were
    counted, or not entered yet."""

    @property
    def cohort(self) -> str | None:
        """The cohort scope its numbers are also counted under (`cohorts.cohort_scope`):
        the month it entered, shop time, and its rank then; None without a rank."""
        if self.rank is None:
            return None
        local = self.entered_at.astimezone(SHOP_TIME)
        return cohort_scope(f"{local.year:04d}-{local.month:02d}", self.rank)

    @property
    def active(self) -> bool:
        return self.status is EnrolmentStatus.ACTIVE

    @property
    def counted(self) -> bool:
        """In the journey's numbers: it entered (treated or holdout). A date trigger's
        enrolment still waiting for its day, or refused by the entry filter on the day,
        never entered: its goal and F2 must not reach the lift's numerators."""
        return self.status is not EnrolmentStatus.SCHEDULED and (
            self.exit_reason != ExitReason.ENTRY_FILTER.value
        )

    def send_anchor(self, step_id: str) -> str:
        """The idempotency key of a send: (enrolment, version, step, anchor)."""
        return f"{self.enrolment_id}:{self.version}:{step_id}:{self.key}"
