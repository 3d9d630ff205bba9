"""Composition root: wires the segmenter's real adapters (or the fakes a test passes).

Each use case is wired on first use, once per container: a request imports and builds
only what it calls (a cold start's first request lists segments, and never loads the
ingest or nightly code)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared import clock as shared_clock

if TYPE_CHECKING:
    from segmenter.adapters.analytics_data import AnalyticsData
    from segmenter.adapters.campaign_results import CampaignResults
    from segmenter.services.customers import Customers
    from segmenter.services.ingest import Ingest
    from segmenter.services.nightly import NightlyFanout
    from segmenter.services.ports import (
        AnalyticsStore,
        JourneyResults,
        NightlyRuns,
        PersonalDataStore,
        ProfileRepository,
    )
    from segmenter.services.rights import Rights
    from segmenter.services.segments import SegmentCache, Segments
    from shared.adapters.erasures import ErasureLog
    from shared.adapters.eventbridge import EventPublisher
    from shared.auth.store import KeyStore
    from shared.settings import Settings


def _no_journeys() -> JourneyResults:
    from segmenter.adapters.journey_results import NoJourneyResults

    return NoJourneyResults()


@dataclass(frozen=True)
class AnalyticsPorts:
    data: AnalyticsData
    store: AnalyticsStore
    campaigns: CampaignResults
    journeys: JourneyResults = field(default_factory=_no_journeys)
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
    """The segmenter's use cases, each wired once from the adapters, on first use."""

    adapters: SegmenterAdapters

    @cached_property
    def cache(self) -> SegmentCache:
        """The compiled segments, shared by ingest and the segment use cases."""
        from segmenter.services.segments import SegmentCache

        return SegmentCache(self.adapters.profiles)

    @cached_property
    def ingest(self) -> Ingest:
        from segmenter.services.ingest import Ingest

        a, table = self.adapters, self.adapters.profiles
        return Ingest(table, table, table, table, table, a.publisher, a.clock, self.cache)

    @cached_property
    def customers(self) -> Customers:
        from segmenter.services.customers import Customers

        table = self.adapters.profiles
        return Customers(table, table, table)

    @cached_property
    def segments(self) -> Segments:
        from segmenter.services.segments import Segments

        a, table = self.adapters, self.adapters.profiles
        return Segments(
            table, table, table, table, a.analytics.store, self.cache, a.publisher, a.clock
        )

    @cached_property
    def rights(self) -> Rights:
        from segmenter.services.rights import Rights

        a = self.adapters
        return Rights(a.profiles, a.personal_data, a.erasures, a.publisher, a.clock)

    @cached_property
    def nightly(self) -> NightlyFanout:
        from segmenter.services.nightly import NightlyFanout
        from segmenter.services.ports import ScanSegments

        a, table = self.adapters, self.adapters.profiles
        assert isinstance(table, ScanSegments), "the table adapter reads scan segments too"
        keys = a.keys
        return NightlyFanout(
            table, a.runs, self.segments, lambda: [s.shop_id for s in keys.list_shops()]
        )

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
    """The use cases over the adapters (the composition root); each is built on first use."""
    return SegmenterContainer(adapters=a)


def build(settings: Settings | None = None) -> SegmenterContainer:
    """The real adapters: the table's and the key store's now, each other one (and its
    module) on first use."""
    from segmenter.adapters.repository import DynamoProfileRepository
    from shared.auth.store import DynamoKeyStore
    from shared.first_use import on_first_use
    from shared.settings import get_settings

    settings = settings or get_settings()
    real = _RealAdapters(settings)
    dynamodb = real.dynamodb
    return wire(
        SegmenterAdapters(
            settings=settings,
            keys=DynamoKeyStore(dynamodb, settings.platform_table),
            profiles=DynamoProfileRepository(dynamodb, settings.segmenter_table),
            publisher=on_first_use(real.publisher),
            personal_data=on_first_use(real.personal_data),
            erasures=on_first_use(real.erasures),
            runs=on_first_use(real.runs),
            analytics=real.analytics(),
        )
    )


class _RealAdapters:
    """Makes each real adapter, importing its module only then (`build` asks on first use)."""

    def __init__(self, settings: Settings) -> None:
        from shared import aws

        self.settings = settings
        self.session = aws.session(settings.aws_region)
        self.dynamodb = aws.client(self.session, "dynamodb")

    def publisher(self) -> EventPublisher:
        from shared import aws
        from shared.adapters.eventbridge import EventBridgePublisher

        s = self.settings
        return EventBridgePublisher(aws.client(self.session, "events"), s.event_bus_name)

    def personal_data(self) -> PersonalDataStore:
        from segmenter.adapters.rights import DynamoPersonalData

        return DynamoPersonalData(self.dynamodb, self.settings.segmenter_table)

    def erasures(self) -> ErasureLog:
        from shared.adapters.erasures import DynamoErasureLog

        return DynamoErasureLog(self.dynamodb, self.settings.segmenter_table, "segmenter")

    def runs(self) -> NightlyRuns:
        from segmenter.adapters.nightly_runs import S3NightlyRuns
        from shared import aws

        return S3NightlyRuns(aws.client(self.session, "s3"), self.settings.analytics_bucket)

    def analytics(self) -> AnalyticsPorts:
        """The analytics ports, each built on its own first use: the segment use cases
        hold the store, and a segment list must not build the others."""
        from shared.first_use import on_first_use

        return AnalyticsPorts(
            data=on_first_use(self._analytics_data),
            store=on_first_use(self._analytics_store),
            campaigns=on_first_use(self._campaign_results),
            journeys=on_first_use(self._journey_results),
        )

    def _analytics_data(self) -> AnalyticsData:
        from segmenter.adapters.analytics_data import DynamoAnalyticsData

        return DynamoAnalyticsData(self.dynamodb, self.settings.segmenter_table)

    def _analytics_store(self) -> AnalyticsStore:
        from segmenter.adapters.analytics_store import S3AnalyticsStore
        from shared import aws

        s = self.settings
        return S3AnalyticsStore(aws.client(self.session, "s3"), s.analytics_bucket)

    def _campaign_results(self) -> CampaignResults:
        from segmenter.adapters.campaign_results import DynamoCampaignResults

        return DynamoCampaignResults(self.dynamodb, self.settings.messenger_table)

    def _journey_results(self) -> JourneyResults:
        from segmenter.adapters.journey_results import MessengerJourneyResults

        s = self.settings
        return MessengerJourneyResults(
            s.messenger_api_url or s.public_base_url, s.signing_secret.get_secret_value()
        )
