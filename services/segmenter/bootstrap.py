"""Composition root: wires the segmenter's real adapters (or the fakes a test passes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from segmenter.adapters.analytics_data import AnalyticsData, DynamoAnalyticsData
from segmenter.adapters.analytics_store import AnalyticsStore, S3AnalyticsStore
from segmenter.adapters.campaign_results import CampaignResults, DynamoCampaignResults
from segmenter.adapters.journey_results import (
    JourneyResults,
    MessengerJourneyResults,
    NoJourneyResults,
)
from segmenter.adapters.nightly_runs import S3NightlyRuns
from segmenter.adapters.repository import DynamoProfileRepository
from segmenter.adapters.rights import DynamoPersonalData
from segmenter.services.customers import Customers
from segmenter.services.ingest import Ingest
from segmenter.services.nightly import NightlyFanout
from segmenter.services.ports import (
    NightlyRuns,
    PersonalDataStore,
    ProfileRepository,
    ScanSegments,
)
from segmenter.services.rights import Rights
from segmenter.services.segments import SegmentCache, Segments
from shared import aws
from shared import clock as shared_clock
from shared.adapters.erasures import DynamoErasureLog, ErasureLog
from shared.adapters.eventbridge import EventBridgePublisher, EventPublisher
from shared.auth.store import DynamoKeyStore, KeyStore
from shared.settings import Settings, get_settings


@dataclass(frozen=True)
class AnalyticsPorts:
    data: AnalyticsData
    store: AnalyticsStore
    campaigns: CampaignResults
    journeys: JourneyResults = field(default_factory=NoJourneyResults)
    """Journey results for the ROI report (the messenger's stats API in `build`)."""


@dataclass(frozen=True)
class SegmenterAdapters:
    """Every port the segmenter's use cases need: the real ones from `build`, or the
    fakes a test puts in their place (`SegmenterContainer.replaced`)."""

    settings: Settings
    keys: KeyStore
    profiles: ProfileRepository
    """The segmenter's table: each use case takes the narrow ports it uses."""
    publisher: EventPublisher
    analytics: AnalyticsPorts
    personal_data: PersonalDataStore
    """What the table holds on a person, for disclosure and erasure."""
    erasures: ErasureLog
    runs: NightlyRuns
    """The nightly fan-out's working files between its steps."""
    clock: Callable[[], datetime] = shared_clock.now


@dataclass(frozen=True)
class SegmenterContainer:
    """The segmenter's use cases, each wired once from the adapters (`wire`)."""

    adapters: SegmenterAdapters
    cache: SegmentCache
    ingest: Ingest
    customers: Customers
    segments: Segments
    rights: Rights
    nightly: NightlyFanout

    @property
    def erasures(self) -> ErasureLog:
        """This service's erasure log (the shared status route reads it)."""
        return self.adapters.erasures

    @property
    def keys(self) -> KeyStore:
        """The API keys, which the shared HTTP layer authenticates with."""
        return self.adapters.keys

    @property
    def settings(self) -> Settings:
        return self.adapters.settings

    @property
    def profiles(self) -> ProfileRepository:
        return self.adapters.profiles

    @property
    def publisher(self) -> EventPublisher:
        return self.adapters.publisher

    @property
    def analytics(self) -> AnalyticsPorts:
        return self.adapters.analytics

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.adapters.clock

    def replaced(self, **adapters: Any) -> SegmenterContainer:
        """The same segmenter with some adapters swapped (a test's fakes), wired again."""
        return wire(replace(self.adapters, **adapters))


def wire(a: SegmenterAdapters) -> SegmenterContainer:
    """Build each use case once, from the adapters (the composition root)."""
    table = a.profiles
    cache = SegmentCache(table)
    segments = Segments(table, table, table, table, a.analytics.store, cache, a.publisher, a.clock)
    assert isinstance(table, ScanSegments), "the table adapter reads scan segments too"
    return SegmenterContainer(
        adapters=a,
        cache=cache,
        ingest=Ingest(table, table, table, table, table, a.publisher, a.clock, cache),
        customers=Customers(table, table, table),
        segments=segments,
        rights=Rights(table, a.personal_data, a.erasures, a.publisher, a.clock),
        nightly=NightlyFanout(
            table, a.runs, segments, lambda: [s.shop_id for s in a.keys.list_shops()]
        ),
    )


def build(settings: Settings | None = None) -> SegmenterContainer:
    settings = settings or get_settings()
    session = aws.session(settings.aws_region)
    dynamodb = aws.client(session, "dynamodb")
    return wire(
        SegmenterAdapters(
            settings=settings,
            keys=DynamoKeyStore(dynamodb, settings.platform_table),
            profiles=DynamoProfileRepository(dynamodb, settings.segmenter_table),
            publisher=EventBridgePublisher(aws.client(session, "events"), settings.event_bus_name),
            personal_data=DynamoPersonalData(dynamodb, settings.segmenter_table),
            erasures=DynamoErasureLog(dynamodb, settings.segmenter_table, "segmenter"),
            runs=S3NightlyRuns(aws.client(session, "s3"), settings.analytics_bucket),
            analytics=AnalyticsPorts(
                data=DynamoAnalyticsData(dynamodb, settings.segmenter_table),
                store=S3AnalyticsStore(aws.client(session, "s3"), settings.analytics_bucket),
                campaigns=DynamoCampaignResults(dynamodb, settings.messenger_table),
                journeys=MessengerJourneyResults(
                    settings.messenger_api_url or settings.public_base_url,
                    settings.signing_secret.get_secret_value(),
                ),
            ),
        )
    )
