"""Journeys, their enrolments, the built-in catalogue and product usage days."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from messenger.entrypoints.schemas.common import CustomersPage, In, Out
from shared.http.types import Schema

if TYPE_CHECKING:  # the domain types a body converts to or from: loaded on first use
    from messenger.domain.journeys.builtins import BuiltinJourney
    from messenger.domain.journeys.definition import Journey
    from messenger.domain.journeys.records import JourneyHead


class JourneyPublic(Schema):
    """A journey's head (status, latest version) and the JSON of the version shown."""

    journey_id: str
    name: str
    status: str
    version: int
    """The latest version (new enrolments run it)."""
    shown_version: int
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any]

    @classmethod
    def of(cls, head: JourneyHead, journey: Journey) -> JourneyPublic:
        return cls(
            journey_id=head.journey_id,
            name=head.name,
            status=head.status,
            version=head.version,
            shown_version=journey.version,
            created_at=head.created_at,
            updated_at=head.updated_at,
            definition=dict(journey.source),
        )


class JourneySummaryPublic(Out):
    journey_id: str
    name: str
    status: str
    version: int
    updated_at: datetime
    enrols_on: Annotated[list[str], BeforeValidator(sorted)] = Field(default_factory=list)
    """The event types that put people in (`segment.entered`: a segment's members can be
    put in on demand, `POST /v1/journeys/{id}/enrolments`)."""


class EnrolmentPublic(Out):
    """One person's way through one journey."""

    journey_id: str
    version: int
    status: str
    """active | holdout (drawn into the control group: gets nothing) | scheduled (a date
    trigger's day has not come) | exited | completed."""
    entered_at: datetime
    step: str | None
    """The step it will run next, or is waiting in."""
    exit_reason: str | None
    finished_at: datetime | None
    converted_at: datetime | None
    """When the person reached the journey's goal (once per enrolment)."""


class EnrolmentsCreate(In):
    segment_id: str = Field(min_length=1, max_length=128)
    after: str | None = Field(default=None, min_length=1, max_length=128)
    """`next_after` of the call before: the page of members after it."""


class EnrolmentsPublic(Out):
    journey_id: str
    segment_id: str
    entered: int
    """Put into the journey by this call (the holdout included)."""
    not_entered: int
    """Already in it, or refused by its entry filter or re-entry rule."""
    next_after: str | None
    """More members may follow: call again with this as `after`."""


class JourneyValidPublic(Schema):
    valid: bool
    steps: int
    enrols_on: list[str]
    listens_to: list[str]


class BuiltinJourneyPublic(Schema):
    """A built-in journey of the catalogue, and whether this shop runs it."""

    name: str
    title: dict[str, str]
    description: str
    topic: str | None
    trigger: dict[str, Any]
    steps: int
    messages: list[str]
    coupon_pool: str | None
    status: str | None
    """This shop's journey: `active`, `paused`, `archived`, or null (not enabled)."""

    @classmethod
    def of(cls, entry: BuiltinJourney, status: str | None) -> BuiltinJourneyPublic:
        return cls(
            name=entry.name,
            title=dict(entry.title),
            description=entry.description,
            topic=entry.topic,
            trigger=dict(entry.journey["trigger"]),
            steps=len(entry.journey["steps"]),
            messages=[m.message_id for m in entry.messages],
            coupon_pool=entry.coupon_pool["pool_id"] if entry.coupon_pool else None,
            status=status,
        )


class BuiltinEnabledPublic(Schema):
    model_config = ConfigDict(from_attributes=True)

    name: str
    journey_id: str
    status: str
    version: int
    created: bool
    messages_created: list[str]
    pool_created: str | None


class ProductUsagePut(In):
    """A catalog field the replenishment journey reads: how many days one unit lasts."""

    usage_days: int = Field(ge=1, le=3650, description="Days one unit lasts (days of supply).")


class ProductUsagePublic(Schema):
    sku: str
    usage_days: int


JourneyMetric = Literal[
    "entered",
    "holdout",
    "converted",
    "holdout_converted",
    "treated",
    "sent",
    "delivered",
    "opened",
    "clicked",
]
"""`journeys.people.METRICS`, written out for the query's schema (a test keeps them equal)."""


class JourneyCustomersPublic(CustomersPage):
    """The customers behind one count of a journey's stats (one page of them)."""

    journey_id: str
    step: str | None
    metric: str
    times: int
    """How often they are counted (more than `count` if one went through twice)."""
    stats: int
    """The number the stats show: more than `times` only by enrolments counted before
    each enrolment kept who it was (they cannot be listed)."""
