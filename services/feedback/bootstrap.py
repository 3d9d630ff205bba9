"""Composition root of the feedback service: wires the real adapters (or a test's fakes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from feedback.adapters.repository import DynamoFeedbackRepository
from feedback.adapters.rights import DynamoFeedbackPersonalData
from feedback.services.merges import Merges
from feedback.services.ports import PersonRecords, RestockStore, SurveyStore
from feedback.services.restock import Restock
from feedback.services.surveys import Surveys
from shared import aws
from shared import clock as shared_clock
from shared.adapters.erasures import DynamoErasureLog, ErasureLog
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.rights import ConsumerRights, PersonalData
from shared.settings import Settings, get_settings


@dataclass(frozen=True)
class FeedbackAdapters:
    """Every port the feedback use cases need: the real ones from `build`, or the fakes a
    test puts in their place (`FeedbackContainer.replaced`)."""

    settings: Settings
    keys: KeyStore
    surveys: SurveyStore
    restock: RestockStore
    publisher: EventPublisher
    personal_data: PersonalData
    """What the table holds on a person (disclosure, erasure)."""
    person_records: PersonRecords
    """The same, moved to the survivor of a merge."""
    erasures: ErasureLog
    clock: Callable[[], datetime] = shared_clock.now


@dataclass(frozen=True)
class FeedbackContainer:
    """The feedback use cases, each wired once from the adapters (`wire`)."""

    adapters: FeedbackAdapters
    surveys: Surveys
    restock: Restock
    rights: ConsumerRights
    """Disclosure and `customer.erased` on the feedback service's side."""
    merges: Merges
    """`customer.merged`: a merged-away id's answers and sign-ups follow the person."""

    @property
    def keys(self) -> KeyStore:
        """The API keys, which the shared HTTP layer authenticates with."""
        return self.adapters.keys

    @property
    def publisher(self) -> EventPublisher:
        return self.adapters.publisher

    @property
    def erasures(self) -> ErasureLog:
        """This service's erasure log (the shared status route reads it)."""
        return self.adapters.erasures

    def replaced(self, **adapters: Any) -> FeedbackContainer:
        """The same service with some adapters swapped (a test's fakes), wired again."""
        return wire(replace(self.adapters, **adapters))


def wire(a: FeedbackAdapters) -> FeedbackContainer:
    """Build each use case once, from the adapters (the composition root)."""
    return FeedbackContainer(
        adapters=a,
        surveys=Surveys(a.surveys, a.publisher, a.settings, a.clock),
        restock=Restock(a.restock, a.publisher, a.settings, a.clock),
        rights=ConsumerRights("feedback", a.personal_data, a.erasures, a.clock),
        merges=Merges(a.person_records),
    )


def build(settings: Settings | None = None) -> FeedbackContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    table = DynamoFeedbackRepository(dynamodb, settings.feedback_table)
    person = DynamoFeedbackPersonalData(dynamodb, settings.feedback_table)
    return wire(
        FeedbackAdapters(
            settings=settings,
            keys=DynamoKeyStore(dynamodb, settings.platform_table),
            surveys=table,
            restock=table,
            publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
            personal_data=person,
            person_records=person,
            erasures=DynamoErasureLog(dynamodb, settings.feedback_table, "feedback"),
        )
    )
