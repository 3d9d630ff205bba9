"""Composition root of the feedback service: wires the real adapters (or a test's fakes).

Each use case is wired on first use, once per container: a request imports and builds
only the one it calls (a cold start's first request lists surveys, say, and never loads
the restock code)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared import clock as shared_clock

if TYPE_CHECKING:
    from feedback.adapters.rights import DynamoFeedbackPersonalData
    from feedback.services.merges import Merges
    from feedback.services.ports import PersonRecords, RestockStore, SurveyStore
    from feedback.services.restock import Restock
    from feedback.services.surveys import Surveys
    from shared.adapters.erasures import ErasureLog
    from shared.adapters.eventbridge import EventPublisher
    from shared.auth.store import KeyStore
    from shared.rights import ConsumerRights, PersonalData
    from shared.settings import Settings


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


class FeedbackContainer:
    """The feedback use cases, each wired once from the adapters, on first use.

    A plain class, not a dataclass: generating a dataclass's methods costs a cold start
    about 4 M instructions, and a container is only ever built and read."""

    def __init__(self, adapters: FeedbackAdapters) -> None:
        self._adapters = adapters

    @property
    def adapters(self) -> FeedbackAdapters:
        return self._adapters

    @cached_property
    def surveys(self) -> Surveys:
        from feedback.services.surveys import Surveys

        a = self.adapters
        return Surveys(a.surveys, a.publisher, a.settings, a.clock)

    @cached_property
    def restock(self) -> Restock:
        from feedback.services.restock import Restock

        a = self.adapters
        return Restock(a.restock, a.publisher, a.settings, a.clock)

    @cached_property
    def rights(self) -> ConsumerRights:
        """Disclosure and `customer.erased` on the feedback service's side."""
        from shared.rights import ConsumerRights

        a = self.adapters
        return ConsumerRights("feedback", a.personal_data, a.erasures, a.clock)

    @cached_property
    def merges(self) -> Merges:
        """`customer.merged`: a merged-away id's answers and sign-ups follow the person."""
        from feedback.services.merges import Merges

        return Merges(self.adapters.person_records)

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
    """The use cases over the adapters (the composition root); each is built on first use."""
    return FeedbackContainer(adapters=a)


def build(settings: Settings | None = None) -> FeedbackContainer:
    from feedback.adapters.repository import DynamoFeedbackRepository
    from shared import aws
    from shared.auth.store import DynamoKeyStore
    from shared.first_use import on_first_use
    from shared.settings import get_settings

    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    table = DynamoFeedbackRepository(dynamodb, settings.feedback_table)
    table_name = settings.feedback_table

    def personal_data() -> DynamoFeedbackPersonalData:
        from feedback.adapters.rights import DynamoFeedbackPersonalData

        return DynamoFeedbackPersonalData(dynamodb, table_name)

    def publisher() -> EventPublisher:
        from shared.adapters.eventbridge import EventBridgePublisher

        return EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name)

    def erasures() -> ErasureLog:
        from shared.adapters.erasures import DynamoErasureLog

        return DynamoErasureLog(dynamodb, table_name, "feedback")

    # Built when first used: a list request publishes nothing, discloses, erases and
    # merges nobody.
    person = on_first_use(personal_data)
    return wire(
        FeedbackAdapters(
            settings=settings,
            keys=DynamoKeyStore(dynamodb, settings.platform_table),
            surveys=table,
            restock=table,
            publisher=on_first_use(publisher),
            personal_data=person,
            person_records=person,
            erasures=on_first_use(erasures),
        )
    )
